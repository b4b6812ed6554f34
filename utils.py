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
from pathlib import Path

import numpy as np

import config
from calibration import apply_temperature
from errors import InvalidInput, ModelFileError
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
    raise NotImplementedError("the litert backend arrives with the LiteRT issue")


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
        batch = np.stack([preprocess_image(image, mode=preprocess) for image in images])
        return [format_prediction(p, preprocess, self.version) for p in self.predict_proba(batch)]


@functools.lru_cache(maxsize=None)
def get_predictor(model_path=None, backend=None):
    """The process-wide predictor (built on first use, from config/environment)."""
    return Predictor(model_path=model_path, backend=backend)
