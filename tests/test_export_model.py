"""export_model.py: the committed LiteRT exports were made from the committed model,
the script writes checked files, and the exports keep the Keras model's answers."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

import config
from mnist_digits.artifacts import load_metrics
from helpers import EXPORTS
from helpers.local_server import ROOT
from mnist_digits.imaging.preprocessing import to_model_input
from utils import Predictor


def test_exports_were_made_from_the_committed_keras_model():
    metrics = load_metrics()
    assert metrics.get("litert_export", {}).get("source_md5") == metrics["artifacts"]["mnist_cnn.h5"]["md5"], (
        "the .tflite files are stale: run python export_model.py")


@pytest.mark.process
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
        assert fresh.predict_proba(to_model_input(mnist_test[0][:10])).shape == (10, 10)
        # Every export reports the version of the .h5 it came from.
        assert metrics["artifacts"][path.name]["source_md5"] == metrics["artifacts"]["mnist_cnn.h5"]["md5"]
        assert fresh.version == metrics["artifacts"]["mnist_cnn.h5"]["md5"][:8]


def test_int8_export_is_integer_inside_with_float_input_and_output():
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(config.TFLITE_INT8_MODEL_PATH))
    tensors = interpreter.get_tensor_details()
    floats = {t["index"] for t in tensors if t["dtype"] == np.float32}
    ends = {interpreter.get_input_details()[0]["index"], *(o["index"] for o in interpreter.get_output_details())}
    assert len(ends) == 3           # the image in; probabilities and digit_score out
    assert floats == ends           # everything between the Quantize and Dequantize ops is integer
    assert sum(t["dtype"] == np.int8 for t in tensors) >= 10


def test_both_exports_keep_both_outputs_by_name():
    from ai_edge_litert.interpreter import Interpreter
    for name, path in EXPORTS.items():
        outputs = Interpreter(model_path=str(path)).get_signature_runner().get_output_details()
        assert set(outputs) == {"probabilities", "digit_score"}, name
        assert [list(outputs[k]["shape_signature"]) for k in ("probabilities", "digit_score")] == [[-1, 10], [-1, 1]]


def test_float_export_matches_keras(predictor, litert_predictor, mnist_test):
    x = to_model_input(mnist_test[0][:300])
    np.testing.assert_allclose(litert_predictor.predict_proba(x), predictor.predict_proba(x), atol=1e-4, rtol=0)


def test_every_export_gives_the_keras_digit_verdict(predictor, mnist_test):
    """is_digit agrees between Keras and both LiteRT files on digits and on non-digits."""
    from mnist_digits.gate.non_digits import make_non_digits, to_model_inputs
    non_digits = np.concatenate([to_model_inputs(make_non_digits(family, 300, 5)[0])[0]
                                 for family in ("training", "heldout")])
    x = np.concatenate([to_model_input(mnist_test[0][:600]), non_digits])
    keras_verdict = predictor.is_digit(predictor.predict_scores(x)[1])
    assert 0.3 < keras_verdict.mean() < 0.9       # both kinds of answer are in the sample
    for name, path in EXPORTS.items():
        litert = Predictor(path, backend="litert")
        agreement = (litert.is_digit(litert.predict_scores(x)[1]) == keras_verdict).mean()
        assert agreement >= (1.0 if name == "float" else 0.99), name


@pytest.mark.slow
def test_exports_reach_their_recorded_accuracy_and_int8_agrees_with_keras(predictor, mnist_test):
    x, y = to_model_input(mnist_test[0]), mnist_test[1]
    keras_pred = predictor.predict_proba(x).argmax(axis=1)
    accuracy = {}
    for name, path in EXPORTS.items():
        pred = Predictor(path, backend="litert").predict_proba(x).argmax(axis=1)
        accuracy[name] = float((pred == y).mean())
        assert accuracy[name] == pytest.approx(load_metrics()["artifacts"][path.name]["test_accuracy"], abs=1e-4)
        if name == "int8":
            assert (pred == keras_pred).mean() >= 0.995
    assert accuracy["int8"] >= accuracy["float"] - 0.001      # at most 0.1 point lost to int8
