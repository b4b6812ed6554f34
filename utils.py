"""The one predictor every entrypoint shares, and small file helpers.

Flask, Gradio, Cerebrium and the confidence study all do the same thing:

    predictor = get_predictor()                  # once, at start-up
    results = predictor.predict_images([png_bytes, pil_image, array], "enhanced")

`Predictor` loads the model once, checks its md5 against models/metrics.json,
warms it up, and answers batches through a compiled call: `model.predict`
costs ~50 ms per call, the compiled call well under 1 ms.
"""
import functools
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

import config
from calibration import apply_temperature
from errors import InvalidInput, ModelFileError, batch_item
from preprocessing import check_mode, preprocess_image

__all__ = ["Predictor", "get_predictor", "preprocess_image", "format_prediction",
           "file_md5", "write_atomic", "write_json_atomic", "load_metrics"]

BACKENDS = ("keras", "litert")


# --- Files -----------------------------------------------------------------------
def file_md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_atomic(path, write):
    """Call write(tmp_path), then rename over `path` only if that succeeded, so an
    interrupted run never replaces a good file with a broken one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the mode a plain open() would, so a
        # server running as another user can still read the model it replaces.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path, data):
    write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def load_metrics(path=None):
    path = Path(path or config.METRICS_PATH)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: metrics file is missing (run python train_model.py)") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None


def verify_model_file(model_path, metrics):
    """The file's md5, after checking it against the one metrics.json records."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: model file is missing (run python train_model.py)")
    expected = metrics.get("artifacts", {}).get(model_path.name, {}).get("md5")
    if expected is None:
        raise ModelFileError(f"{model_path}: no checksum recorded for it in metrics.json")
    actual = file_md5(model_path)
    if actual != expected:
        raise ModelFileError(f"{model_path}: md5 {actual} does not match {expected} in metrics.json")
    return actual


# --- Backends: each returns fn(float32 (N, 28, 28, 1)) -> probabilities (N, 10) ---
def _keras_runner(model_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    model = keras.models.load_model(model_path, compile=False)
    spec = tf.TensorSpec([None, config.IMAGE_SIZE, config.IMAGE_SIZE, 1], tf.float32)
    call = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return lambda batch: call(batch).numpy()


def _litert_runner(model_path):
    # LiteRT's own interpreter, not tf.lite's: it imports no TensorFlow, so a litert
    # deployment starts in a fraction of a second with a fraction of the memory.
    from ai_edge_litert.interpreter import Interpreter

    content = Path(model_path).read_bytes()
    shape = [config.IMAGE_SIZE, config.IMAGE_SIZE, 1]

    def interpreter_for(batch_size, threads):
        try:
            interpreter = Interpreter(model_content=content, num_threads=threads)
        except ValueError as exc:
            raise ModelFileError(f"{model_path}: not a LiteRT model ({exc})") from None
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        # Both exported files take and return float32 (the int8 one quantises inside).
        if (inp["dtype"], out["dtype"], list(inp["shape"][1:]), out["shape"][-1]) != (
                np.float32, np.float32, shape, config.NUM_CLASSES):
            raise ModelFileError(f"{model_path}: expected float32 (N, 28, 28, 1) -> (N, 10), got "
                                 f"{inp['dtype'].__name__} {inp['shape']} -> {out['dtype'].__name__} {out['shape']}")
        interpreter.resize_tensor_input(inp["index"], [batch_size] + shape)
        interpreter.allocate_tensors()
        return interpreter, inp["index"], out["index"]

    # One image per request is the common case: it gets its own interpreter, sized
    # once and single-threaded (a second thread costs more than it saves on one
    # image). Batches share a second one, fed in chunks of LITERT_BATCH_CHUNK and
    # resized only when the chunk size changes (a few microseconds).
    single = interpreter_for(1, 1)
    many, many_in, many_out = interpreter_for(1, config.LITERT_THREADS)
    many_size = 1
    lock = threading.Lock()  # an interpreter must not run two calls at once (threaded servers)

    def invoke(interpreter, inp, out, batch):
        interpreter.set_tensor(inp, batch)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    def run(batch):
        nonlocal many_size
        with lock:
            if len(batch) == 1:
                return invoke(*single, batch)
            outputs = [np.empty((0, config.NUM_CLASSES), np.float32)]
            for start in range(0, len(batch), config.LITERT_BATCH_CHUNK):
                chunk = batch[start:start + config.LITERT_BATCH_CHUNK]
                if len(chunk) != many_size:
                    many.resize_tensor_input(many_in, [len(chunk)] + shape)
                    many.allocate_tensors()
                    many_size = len(chunk)
                outputs.append(invoke(many, many_in, many_out, chunk))
            return np.concatenate(outputs)

    return run


_RUNNERS = {"keras": _keras_runner, "litert": _litert_runner}


# --- Results ----------------------------------------------------------------------
def format_prediction(probs, preprocess, model_version):
    """The JSON object every API answers with, for one probability row."""
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs)[:config.TOP_K]
    return {
        "prediction": int(order[0]),
        "confidence": round(float(probs[order[0]]), 6),
        "probabilities": [round(float(p), 6) for p in probs],
        "top_k": [{"digit": int(d), "probability": round(float(probs[d]), 6)} for d in order],
        "preprocess": preprocess,
        "model_version": model_version,
    }


class Predictor:
    """Load once, predict many times (calibrated probabilities)."""

    def __init__(self, model_path=None, backend=None, metrics_path=None):
        self.backend = (backend or config.MODEL_BACKEND).lower()
        if self.backend not in BACKENDS:
            raise ModelFileError(f"unknown MODEL_BACKEND {self.backend!r}; choose one of {BACKENDS}")
        if model_path is None:
            model_path = config.MODEL_PATH if self.backend == config.MODEL_BACKEND else (
                config.KERAS_MODEL_PATH if self.backend == "keras" else config.TFLITE_MODEL_PATH)
        self.model_path = Path(model_path)
        self.metrics = load_metrics(metrics_path)
        self.version = verify_model_file(self.model_path, self.metrics)[:8]
        self.temperature = float(self.metrics.get("temperature", 1.0))
        self._run = _RUNNERS[self.backend](self.model_path)
        self.predict_proba(np.zeros((1, config.IMAGE_SIZE, config.IMAGE_SIZE, 1), np.float32))  # warm-up

    def predict_proba(self, batch):
        """float32 (N, 28, 28, 1) in [0, 1] -> calibrated probabilities (N, 10)."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.shape[1:] != (config.IMAGE_SIZE, config.IMAGE_SIZE, 1):
            raise InvalidInput(f"expected images of shape (28, 28, 1), got {batch.shape[1:]}")
        return apply_temperature(self._run(batch), self.temperature)

    def predict_images(self, images, preprocess="enhanced"):
        """Preprocess each image (bytes, PIL image or array) and answer them in one call."""
        preprocess = check_mode(preprocess)
        if not images:
            raise InvalidInput("no images given")
        inputs = []
        for index, image in enumerate(images):
            with batch_item(index):  # a blank or corrupt image names its place in the list
                inputs.append(preprocess_image(image, mode=preprocess))
        batch = np.stack(inputs)
        return [format_prediction(p, preprocess, self.version) for p in self.predict_proba(batch)]


@functools.lru_cache(maxsize=None)
def get_predictor(model_path=None, backend=None):
    """The process-wide predictor (built on first use, from config/environment)."""
    return Predictor(model_path=model_path, backend=backend)
