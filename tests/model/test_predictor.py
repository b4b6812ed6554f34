"""mnist_digits/model: the shared Predictor over each backend (checked, calibrated, one
model_version per trained model), resolve_model's one-sentence refusals, and
LiteRT serving without TensorFlow."""
import json
import os

import numpy as np
import pytest

import config
from mnist_digits.artifacts import file_md5, load_metrics
from mnist_digits.errors import InvalidInput, ModelFileError
from helpers import EXPORTS
from helpers.scripts import run_helper_json
from helpers.local_server import ROOT
from mnist_digits.imaging.preprocessing import to_model_input
from utils import Predictor, resolve_model


@pytest.fixture(scope="session", params=sorted(EXPORTS))
def litert(request):
    """A litert Predictor for each committed export (name, predictor)."""
    return request.param, Predictor(EXPORTS[request.param], backend="litert")


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


def test_every_answer_says_whether_it_is_a_digit(predictor, mnist_test):
    from helpers.images import drawn_symbol, encode
    # Real digits as users draw them (dark on white): nearly all are digits (the study
    # measures 0.33 % refused on MNIST test).
    digits = predictor.predict_images([encode(255 - x) for x in mnist_test[0][:1000]])
    assert np.mean([answer["is_digit"] for answer in digits]) >= 0.99
    assert all(answer["is_digit"] == (answer["digit_score"] >= predictor.digit_threshold) for answer in digits)
    symbols = predictor.predict_images([drawn_symbol(char) for char in "#@&"])
    for answer in symbols:
        assert answer["is_digit"] is False and 0 <= answer["digit_score"] < predictor.digit_threshold
        assert 0 <= answer["prediction"] <= 9 and len(answer["top_k"]) == 3   # still the best guess


@pytest.mark.xfail(strict=True, reason="the committed model accepts a typed % (score 0.66): two rings and a "
                                       "slash, close to the slashed 0s it learnt (docs/digit_gate.md)")
def test_a_typed_percent_sign_is_not_a_digit(predictor):
    from helpers.images import drawn_symbol
    assert predictor.predict_images([drawn_symbol("%")])[0]["is_digit"] is False


def test_a_model_without_a_digit_threshold_is_refused(model_copy):
    metrics = json.loads((model_copy / "metrics.json").read_text())
    del metrics["digit_threshold"]
    (model_copy / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ModelFileError, match="no digit_threshold"):
        Predictor(model_copy / "mnist_cnn.h5", backend="keras", metrics_path=model_copy / "metrics.json")


def test_unknown_backend_is_refused():
    with pytest.raises(ModelFileError, match="unknown MODEL_BACKEND"):
        Predictor(backend="onnx")


# --- Keras -------------------------------------------------------------------------------
def test_the_keras_runner_answers_as_the_keras_model_itself(mnist_test):
    """The served graph (weights as constants, batch norms folded into the convolutions)
    against the model's own call: float noise only, the same digit and the same verdict,
    and every row of a batch of any size equals the row in one batch of all."""
    from mnist_digits.model.quiet_tensorflow import import_tensorflow
    from mnist_digits.model.runners import make_runner
    _, keras = import_tensorflow()
    x = to_model_input(mnist_test[0][:1000])
    out = keras.models.load_model(config.KERAS_MODEL_PATH, compile=False)(x, training=False)
    # The runner reads the two named outputs and packs them: the 10 probabilities, then the score.
    expected = np.concatenate([out["probabilities"].numpy(), out["digit_score"].numpy()], axis=1)
    run = make_runner("keras", config.KERAS_MODEL_PATH)
    threshold = load_metrics()["digit_threshold"]
    whole = run(x)
    np.testing.assert_allclose(whole, expected, atol=1e-5)
    assert (whole[:, :10].argmax(axis=1) == expected[:, :10].argmax(axis=1)).all()
    assert ((whole[:, 10] >= threshold) == (expected[:, 10] >= threshold)).all()
    for size in (1, 2, 3, 8, 32):
        parts = np.concatenate([run(x[start:start + size]) for start in range(0, 96, size)])
        np.testing.assert_allclose(parts, whole[:len(parts)], atol=1e-6)


# --- LiteRT ------------------------------------------------------------------------------
def test_export_loads_and_answers_calibrated_probabilities(litert, mnist_test):
    name, predictor = litert
    recorded = load_metrics()["artifacts"][EXPORTS[name].name]
    assert predictor.backend == "litert"
    assert recorded["source_md5"] == load_metrics()["artifacts"]["mnist_cnn.h5"]["md5"]
    assert predictor.version == recorded["source_md5"][:8]   # one model_version for every export
    probs = predictor.predict_proba(to_model_input(mnist_test[0][:32]))
    assert probs.shape == (32, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_batches_of_any_size_match_single_images(litert, mnist_test, monkeypatch):
    """Single images, odd sizes and chunked batches all take their own path through the runner."""
    _, predictor = litert
    x = to_model_input(mnist_test[0][:23])
    one_by_one = np.concatenate([predictor.predict_proba(x[i:i + 1]) for i in range(len(x))])
    monkeypatch.setattr(config, "LITERT_BATCH_CHUNK", 5)   # 23 images -> chunks of 5, 5, 5, 5, 3
    np.testing.assert_allclose(predictor.predict_proba(x), one_by_one, atol=1e-6)
    for size in (2, 7, 2):                                   # resized between calls
        np.testing.assert_allclose(predictor.predict_proba(x[:size]), one_by_one[:size], atol=1e-6)


def test_a_non_litert_file_is_refused_clearly():
    from mnist_digits.errors import ModelFileError
    with pytest.raises(ModelFileError, match="MODEL_BACKEND=litert serves .tflite files"):
        Predictor(config.KERAS_MODEL_PATH, backend="litert")


@pytest.mark.process
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_litert_serves_without_tensorflow(name, digit_pngs, tmp_path):
    png, _ = digit_pngs[0]
    (tmp_path / "digit.png").write_bytes(png)
    found = run_helper_json("no_tensorflow.py", EXPORTS[name], tmp_path / "digit.png")
    assert found["keras_refused"], "the import blocker did not block TensorFlow"
    assert found["loaded"] == []
    expected = Predictor(EXPORTS[name], backend="litert").predict_images([png])
    assert found["results"] == expected


# --- One model_version per trained model -------------------------------------------------
def test_every_export_of_one_model_reports_the_version_of_its_h5(predictor, litert):
    _, exported = litert
    assert exported.version == predictor.version == file_md5(config.KERAS_MODEL_PATH)[:8]


@pytest.mark.parametrize("variant", sorted(config.MODEL_VARIANTS))
def test_resolve_model_gives_every_variant_the_h5_version(variant):
    backend, path = config.MODEL_VARIANTS[variant]
    found = resolve_model(backend, path, config.METRICS_PATH)
    assert found[:2] == (backend, path)
    assert found[3] == file_md5(config.KERAS_MODEL_PATH)[:8]


# --- resolve_model: which model, and one sentence when it cannot be served ----------------
def environment(**overrides):
    """os.environ without any model settings of the caller's, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_BACKEND", "MODEL_PATH", "METRICS_PATH")}
    return {**env, "PYTHONPATH": str(ROOT), **overrides}


def with_temperature(folder, temperature):
    """Give the metrics.json in `folder` another temperature, so the test can tell which file was read."""
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["temperature"] = temperature
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.mark.process
def test_metrics_are_found_beside_model_path_alone(model_copy):
    """MODEL_PATH set, METRICS_PATH not: the metrics.json beside the model vouches for it."""
    with_temperature(model_copy, 1.2345)
    found = run_helper_json("resolved_model.py", env=environment(MODEL_PATH=str(model_copy / "mnist_cnn.h5")),
                            replace_env=True)
    assert found["model_path"] == str(model_copy / "mnist_cnn.h5")
    assert found["metrics_path"] == str(model_copy / "metrics.json")
    assert found["temperature"] == 1.2345
    assert found["version"] == file_md5(config.KERAS_MODEL_PATH)[:8]


def test_a_model_path_argument_reads_the_metrics_beside_it(model_copy):
    with_temperature(model_copy, 1.2345)
    _, _, metrics, _ = resolve_model("keras", model_copy / "mnist_cnn.h5")
    assert metrics["temperature"] == 1.2345
    assert Predictor(model_copy / "mnist_cnn.h5", backend="keras").temperature == 1.2345


def test_a_model_without_metrics_beside_it_names_the_file_looked_for(model_copy):
    (model_copy / "metrics.json").unlink()
    with pytest.raises(ModelFileError) as info:
        resolve_model("keras", model_copy / "mnist_cnn.h5")
    assert str(model_copy / "metrics.json") in str(info.value) and "METRICS_PATH" in str(info.value)


@pytest.mark.parametrize("backend, path, message", [
    ("torch", None, "unknown MODEL_BACKEND 'torch'; choose one of keras, litert"),
    ("litert", config.KERAS_MODEL_PATH, "MODEL_BACKEND=litert serves .tflite files"),
    ("keras", config.TFLITE_MODEL_PATH, "MODEL_BACKEND=keras serves .h5 files"),
])
def test_resolve_model_refuses_in_one_sentence(backend, path, message):
    with pytest.raises(ModelFileError) as info:
        resolve_model(backend, path)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "object at 0x" not in str(info.value)


def test_a_corrupt_metrics_file_is_refused(model_copy):
    (model_copy / "metrics.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        resolve_model("keras", model_copy / "mnist_cnn.h5")
