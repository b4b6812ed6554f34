"""The one predictor every entrypoint shares.

Flask, Gradio, Cerebrium and the confidence study all do the same thing:

    predictor = get_predictor()                  # once, at start-up
    results = predictor.predict_images([png_bytes, pil_image, array], "enhanced")

`Predictor` checks the model file against its metrics file, loads it once,
warms it up, and answers batches through a compiled call (`model.predict`
costs far more per call than the model itself); requests that arrive together
from several threads share one model call (batching.py).

A request flows: bytes -> preprocess_image -> Predictor -> format_prediction -> JSON.
"""
import functools
from pathlib import Path

import numpy as np

import config
from mnist_digits.artifacts import load_metrics, model_version
from mnist_digits.errors import InvalidInput, ModelFileError, batch_item
from mnist_digits.imaging.preprocessing import check_mode, preprocess_image
from mnist_digits.model.batching import Batcher
from mnist_digits.model.calibration import apply_temperature
from mnist_digits.model.runners import make_runner


def resolve_model(backend=None, model_path=None, metrics_path=None):
    """Check which model a predictor would serve, without loading it.

    -> (backend, model_path, metrics, version). Raises ModelFileError with one
    sentence for an unknown backend, a file of the wrong kind, a missing or
    unreadable metrics file, or a model whose md5 it does not vouch for.
    Defaults come from config (MODEL_BACKEND, MODEL_PATH, METRICS_PATH); the
    metrics file is looked for beside the model unless it is given.
    """
    backend = (backend or config.MODEL_BACKEND).lower()
    if backend not in config.BACKEND_MODEL_FILES:
        raise ModelFileError(f"unknown MODEL_BACKEND {backend!r}; choose one of "
                             f"{', '.join(config.BACKEND_MODEL_FILES)}")
    if model_path is None:
        model_path = config.MODEL_PATH if backend == config.MODEL_BACKEND else config.BACKEND_MODEL_FILES[backend]
    model_path = Path(model_path)
    suffix = config.BACKEND_SUFFIXES[backend]
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: model file is missing (run python train_model.py, or set MODEL_PATH)")
    if model_path.suffix != suffix:
        raise ModelFileError(f"MODEL_BACKEND={backend} serves {suffix} files, but the model is {model_path}")
    if metrics_path is None:
        metrics_path = (config.METRICS_PATH if model_path == config.MODEL_PATH
                        else model_path.parent / config.METRICS_FILENAME)
    metrics = load_metrics(metrics_path)
    return backend, model_path, metrics, model_version(model_path, metrics)



def split_output(out, temperature):
    """A runner's (N, 11) rows (the model's `probabilities`, then its `digit_score`)
    -> (calibrated probabilities (N, 10), digit scores (N,))."""
    return apply_temperature(out[:, :config.NUM_CLASSES], temperature), out[:, config.NUM_CLASSES]


def format_prediction(probs, digit_score, is_digit, preprocess, model_version):
    """The JSON object every API answers with, for one image. `prediction` and its
    probabilities are the best guess even when `is_digit` is false."""
    probs = np.asarray(probs, dtype=np.float64)
    # Python ints and floats from one tolist() each: the same values as indexing the
    # arrays item by item, without a numpy scalar made for every number.
    order, values = np.argsort(-probs)[:config.TOP_K].tolist(), probs.tolist()
    return {
        "prediction": order[0],
        "confidence": round(values[order[0]], 6),
        "probabilities": [round(p, 6) for p in values],
        "top_k": [{"digit": d, "probability": round(values[d], 6)} for d in order],
        "is_digit": bool(is_digit),
        "digit_score": round(float(digit_score), 6),
        "preprocess": preprocess,
        "model_version": model_version,
    }


class Predictor:
    """Load once, predict many times: calibrated probabilities and the digit verdict."""

    def __init__(self, model_path=None, backend=None, metrics_path=None):
        self.backend, self.model_path, self.metrics, self.version = resolve_model(
            backend, model_path, metrics_path)
        self.temperature = float(self.metrics.get("temperature", 1.0))
        if "digit_threshold" not in self.metrics:
            raise ModelFileError(f"{self.model_path}: its metrics file has no digit_threshold "
                                 "(a model from before the digit gate: run python train_model.py)")
        self.digit_threshold = float(self.metrics["digit_threshold"])
        # Concurrent callers (a server's threads) share model calls: see batching.py.
        self._run = Batcher(make_runner(self.backend, self.model_path), max_rows=config.BATCH_MAX_IMAGES)
        self.predict_scores(np.zeros((1, config.IMAGE_SIZE, config.IMAGE_SIZE, 1), np.float32))  # warm-up

    def predict_scores(self, batch):
        """float32 (N, 28, 28, 1) in [0, 1] -> (calibrated probabilities (N, 10),
        digit scores (N,)); an image is a digit when its score >= digit_threshold."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.shape[1:] != (config.IMAGE_SIZE, config.IMAGE_SIZE, 1):
            raise InvalidInput(f"expected images of shape (28, 28, 1), got {batch.shape[1:]}")
        out = self._run(batch)
        if out.shape[1:] != (config.NUM_OUTPUTS,):
            raise ModelFileError(f"{self.model_path}: answers {out.shape[1:]}, expected "
                                 f"({config.NUM_OUTPUTS},): retrain with python train_model.py")
        return split_output(out, self.temperature)

    def predict_proba(self, batch):
        """float32 (N, 28, 28, 1) in [0, 1] -> calibrated probabilities (N, 10)."""
        return self.predict_scores(batch)[0]

    def is_digit(self, digit_scores):
        return np.asarray(digit_scores) >= self.digit_threshold

    def predict_images(self, images, preprocess="enhanced"):
        """Preprocess each image (bytes, PIL image or array) and answer them in one call."""
        preprocess = check_mode(preprocess)
        if not images:
            raise InvalidInput("no images given")
        inputs = []
        for index, image in enumerate(images):
            with batch_item(index):  # a blank or corrupt image names its place in the list
                inputs.append(preprocess_image(image, mode=preprocess))
        return self.answer(inputs, preprocess)

    def answer(self, inputs, preprocess="enhanced"):
        """Model inputs already preprocessed (a list of float32 (28, 28, 1)) -> one /predict
        answer each, from one model call (none for an empty list)."""
        if not inputs:
            return []
        probs, scores = self.predict_scores(inputs[0][None] if len(inputs) == 1 else np.stack(inputs))
        return [format_prediction(p, score, verdict, preprocess, self.version)
                for p, score, verdict in zip(probs, scores, self.is_digit(scores))]


@functools.lru_cache(maxsize=None)
def get_predictor(model_path=None, backend=None):
    """The process-wide predictor (built on first use, from config/environment)."""
    return Predictor(model_path=model_path, backend=backend)
