"""The committed model: it loads, is verified, and earns the accuracy metrics.json claims."""
import json
import shutil

import numpy as np
import pytest

import config
from errors import InvalidInput, ModelFileError
from artifacts import load_metrics
from utils import Predictor


@pytest.mark.slow
def test_committed_model_reaches_its_recorded_accuracy(predictor, mnist_test):
    x, y = mnist_test
    probs = predictor.predict_proba(x[..., None].astype(np.float32) / 255.0)
    accuracy = float((probs.argmax(axis=1) == y).mean())
    recorded = load_metrics()["test_accuracy"]
    assert accuracy == pytest.approx(recorded, abs=1e-4)
    assert accuracy >= 0.996


def test_probabilities_are_calibrated_distributions(predictor, mnist_test):
    x, _ = mnist_test
    probs = predictor.predict_proba(x[:64, ..., None].astype(np.float32) / 255.0)
    assert probs.shape == (64, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert predictor.temperature == load_metrics()["temperature"]


def test_predict_proba_rejects_wrong_shapes(predictor):
    with pytest.raises(InvalidInput, match="28, 28, 1"):
        predictor.predict_proba(np.zeros((1, 27, 28, 1), np.float32))


def test_model_version_is_the_md5_prefix(predictor):
    assert predictor.version == load_metrics()["artifacts"]["mnist_cnn.h5"]["md5"][:8]


@pytest.fixture
def model_copy(tmp_path):
    shutil.copy(config.KERAS_MODEL_PATH, tmp_path / "mnist_cnn.h5")
    shutil.copy(config.METRICS_PATH, tmp_path / "metrics.json")
    return tmp_path


def test_checksum_mismatch_is_refused(model_copy):
    with open(model_copy / "mnist_cnn.h5", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelFileError, match="does not match"):
        Predictor(model_copy / "mnist_cnn.h5", backend="keras", metrics_path=model_copy / "metrics.json")


def test_missing_model_is_refused(model_copy):
    (model_copy / "mnist_cnn.h5").unlink()
    with pytest.raises(ModelFileError, match="model file is missing"):
        Predictor(model_copy / "mnist_cnn.h5", backend="keras", metrics_path=model_copy / "metrics.json")


def test_unrecorded_model_is_refused(model_copy):
    metrics = json.loads((model_copy / "metrics.json").read_text())
    metrics["artifacts"].pop("mnist_cnn.h5")
    (model_copy / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ModelFileError, match="no checksum recorded"):
        Predictor(model_copy / "mnist_cnn.h5", backend="keras", metrics_path=model_copy / "metrics.json")


def test_unknown_backend_is_refused():
    with pytest.raises(ModelFileError, match="unknown MODEL_BACKEND"):
        Predictor(backend="onnx")
