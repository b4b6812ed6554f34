"""The LiteRT exports: they load, agree with the Keras model, and serve without TensorFlow."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import config
from conftest import ROOT
from artifacts import load_metrics
from utils import Predictor

EXPORTS = {"float": config.TFLITE_MODEL_PATH, "int8": config.TFLITE_INT8_MODEL_PATH}


@pytest.fixture(scope="session", params=sorted(EXPORTS))
def litert(request):
    """A litert Predictor for each committed export (name, predictor)."""
    return request.param, Predictor(EXPORTS[request.param], backend="litert")


@pytest.fixture(scope="session")
def litert_float():
    return Predictor(config.TFLITE_MODEL_PATH, backend="litert")


def as_input(x):
    return (x.astype(np.float32) / 255.0)[..., None]


def run_python(code, *args, **env):
    """Run `code` with `args` in a fresh interpreter at the repo root; its last output line as JSON."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_exports_were_made_from_the_committed_keras_model():
    metrics = load_metrics()
    assert metrics.get("litert_export", {}).get("source_md5") == metrics["artifacts"]["mnist_cnn.h5"]["md5"], (
        "the .tflite files are stale: run python export_model.py")


@pytest.mark.slow
def test_export_script_writes_checked_files_beside_the_model(tmp_path, mnist_test):
    for path in (config.KERAS_MODEL_PATH, config.METRICS_PATH):
        shutil.copy(path, tmp_path / path.name)
    proc = subprocess.run([sys.executable, "export_model.py", "--model", str(tmp_path / "mnist_cnn.h5")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = load_metrics(tmp_path / "metrics.json")
    assert metrics["litert_export"]["source_md5"] == metrics["artifacts"]["mnist_cnn.h5"]["md5"]
    # The same model exported again answers like the committed files (the int8 calibration
    # may round differently on another CPU, so it is held to its accuracy, not its bytes).
    committed = load_metrics()["artifacts"]
    for name, path in EXPORTS.items():
        fresh = Predictor(tmp_path / path.name, backend="litert", metrics_path=tmp_path / "metrics.json")
        assert metrics["artifacts"][path.name]["test_accuracy"] == pytest.approx(
            committed[path.name]["test_accuracy"], abs=0 if name == "float" else 0.001)
        assert fresh.predict_proba(as_input(mnist_test[0][:10])).shape == (10, 10)


def test_export_loads_and_answers_calibrated_probabilities(litert, mnist_test):
    name, predictor = litert
    recorded = load_metrics()["artifacts"][EXPORTS[name].name]
    assert predictor.backend == "litert"
    assert recorded["source_md5"] == load_metrics()["artifacts"]["mnist_cnn.h5"]["md5"]
    assert predictor.version == recorded["source_md5"][:8]   # one model_version for every export
    probs = predictor.predict_proba(as_input(mnist_test[0][:32]))
    assert probs.shape == (32, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_int8_export_is_integer_inside_with_float_input_and_output():
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(config.TFLITE_INT8_MODEL_PATH))
    tensors = interpreter.get_tensor_details()
    floats = {t["index"] for t in tensors if t["dtype"] == np.float32}
    ends = {interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]}
    assert floats == ends           # everything between the Quantize and Dequantize ops is integer
    assert sum(t["dtype"] == np.int8 for t in tensors) >= 10


def test_float_export_matches_keras(predictor, litert_float, mnist_test):
    x = as_input(mnist_test[0][:300])
    np.testing.assert_allclose(litert_float.predict_proba(x), predictor.predict_proba(x), atol=1e-4, rtol=0)


def test_batches_of_any_size_match_single_images(litert, mnist_test, monkeypatch):
    """Single images, odd sizes and chunked batches all take their own path through the runner."""
    _, predictor = litert
    x = as_input(mnist_test[0][:23])
    one_by_one = np.concatenate([predictor.predict_proba(x[i:i + 1]) for i in range(len(x))])
    monkeypatch.setattr(config, "LITERT_BATCH_CHUNK", 5)   # 23 images -> chunks of 5, 5, 5, 5, 3
    np.testing.assert_allclose(predictor.predict_proba(x), one_by_one, atol=1e-6)
    for size in (2, 7, 2):                                   # resized between calls
        np.testing.assert_allclose(predictor.predict_proba(x[:size]), one_by_one[:size], atol=1e-6)


@pytest.mark.slow
def test_exports_reach_their_recorded_accuracy_and_int8_agrees_with_keras(predictor, mnist_test):
    x, y = as_input(mnist_test[0]), mnist_test[1]
    keras_pred = predictor.predict_proba(x).argmax(axis=1)
    accuracy = {}
    for name, path in EXPORTS.items():
        pred = Predictor(path, backend="litert").predict_proba(x).argmax(axis=1)
        accuracy[name] = float((pred == y).mean())
        assert accuracy[name] == pytest.approx(load_metrics()["artifacts"][path.name]["test_accuracy"], abs=1e-4)
        if name == "int8":
            assert (pred == keras_pred).mean() >= 0.995
    assert accuracy["int8"] >= accuracy["float"] - 0.001      # at most 0.1 point lost to int8


def test_a_non_litert_file_is_refused_clearly():
    from errors import ModelFileError
    with pytest.raises(ModelFileError, match="MODEL_BACKEND=litert serves .tflite files"):
        Predictor(config.KERAS_MODEL_PATH, backend="litert")


# In a fresh process where importing TensorFlow or Keras fails, as in a deployment without them.
NO_TENSORFLOW = """
import importlib.abc, json, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            raise ImportError(f"{name} is not installed here")
sys.meta_path.insert(0, Blocked())
from utils import Predictor
try:
    Predictor(backend="keras")
    keras_refused = False
except ImportError:
    keras_refused = True
results = Predictor(backend="litert", model_path=sys.argv[1]).predict_images([open(sys.argv[2], "rb").read()])
print(json.dumps({"keras_refused": keras_refused, "results": results,
                  "loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_litert_serves_without_tensorflow(name, digit_pngs, tmp_path):
    png, _ = digit_pngs[0]
    (tmp_path / "digit.png").write_bytes(png)
    found = run_python(NO_TENSORFLOW, EXPORTS[name], tmp_path / "digit.png")
    assert found["keras_refused"], "the import blocker did not block TensorFlow"
    assert found["loaded"] == []
    expected = Predictor(EXPORTS[name], backend="litert").predict_images([png])
    assert found["results"] == expected


# The backend chosen by environment only, through the Flask app factory and its test client.
FLASK_PREDICT = """
import io, json, sys
import config
from flask_deploy import create_app
client = create_app().test_client()
png = open(sys.argv[1], "rb").read()
response = client.post("/predict", data={"image": (io.BytesIO(png), "digit.png")},
                       content_type="multipart/form-data")
print(json.dumps({"status": response.status_code, "body": response.get_json(),
                  "backend": config.MODEL_BACKEND}))
"""


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_flask_app_serves_the_backend_the_environment_picks(name, predictor, digit_pngs, tmp_path):
    png, label = digit_pngs[0]
    (tmp_path / "digit.png").write_bytes(png)
    # MODEL_BACKEND=litert alone serves the float file; MODEL_PATH picks another one.
    env = {"MODEL_BACKEND": "litert", "MODEL_PATH": str(EXPORTS[name]) if name == "int8" else ""}
    found = run_python(FLASK_PREDICT, tmp_path / "digit.png", **env)
    assert found["status"] == 200, found["body"]
    assert found["backend"] == "litert"
    body = found["body"]
    assert body["model_version"] == load_metrics()["artifacts"]["mnist_cnn.h5"]["md5"][:8]
    keras_answer = predictor.predict_images([png])[0]
    assert set(body) == set(keras_answer)
    assert body["prediction"] == keras_answer["prediction"] == label
    if name == "float":
        np.testing.assert_allclose(body["probabilities"], keras_answer["probabilities"], atol=1e-4)
