"""cerebrium_deploy/main.py called directly, as Cerebrium calls it: in the built app
folder, without TensorFlow (the CPU image) or without LiteRT (the GPU image)."""
import json

import pytest

import config
from helpers.cerebrium import b64, clean_env
from helpers.images import encode, number_png
from utils import read_number
from helpers.scripts import run_helper_json


def call_main(app, calls, missing, cwd):
    """main.predict(**kwargs) for each of `calls`, in a fresh interpreter in the app folder
    with the repo nowhere on sys.path and the `missing` packages uninstallable."""
    return run_helper_json("call_cerebrium_main.py", app, ",".join(missing), stdin=json.dumps(calls),
                           cwd=cwd, env=clean_env(), replace_env=True)


@pytest.mark.process
def test_main_predicts_like_the_shared_predictor_without_tensorflow(cerebrium_bundle, digit_pngs,
                                                                     litert_predictor, mnist_test):
    pngs = [png for png, _ in digit_pngs]
    pixels = mnist_test[0][0].tolist()
    calls = [
        {"image": b64(pngs[0])},
        {"image": "data:image/png;base64," + b64(pngs[0]), "preprocess": "basic"},
        {"instances": [b64(png) for png in pngs]},
        {"instances": [pixels]},
        {"_function": "read", "image": b64(number_png("2026"))},
        {"_function": "read", "instances": [b64(number_png("42")), b64(number_png("7"))]},
        {"_function": "read", "image": b64(encode([[255] * 28] * 28))},
    ]
    found = call_main(cerebrium_bundle, calls, missing=["tensorflow", "keras"], cwd=cerebrium_bundle)
    assert found["backend"] == "litert" and found["loaded"] == ["ai_edge_litert"]
    assert found["root"] == str(cerebrium_bundle), "the copied config must resolve paths from its own folder"
    assert found["endpoints"] == ["predict", "read"], "Cerebrium would serve every public callable of main.py"
    single, basic, batch, from_pixels, number, numbers, blank = found["answers"]
    # Exactly the object the shared predictor (and so Flask's /predict) gives.
    assert single == litert_predictor.predict_images([pngs[0]])[0]
    assert single["prediction"] == digit_pngs[0][1]
    assert basic == litert_predictor.predict_images([pngs[0]], "basic")[0]
    assert batch == {"predictions": litert_predictor.predict_images(pngs)}
    assert from_pixels == {"predictions": litert_predictor.predict_images([mnist_test[0][0]])}
    # read(): exactly what Flask's /read answers, from the same Python call.
    assert number == read_number(number_png("2026"), litert_predictor) and number["number"] == "2026"
    assert [r["number"] for r in numbers["readings"]] == ["42", "7"]
    assert blank["status_code"] == 400 and blank["error"]["code"] == "no_digit_found"


@pytest.mark.process
def test_main_answers_bad_input_with_an_error_and_a_status_code(cerebrium_bundle):
    blank = b64(encode([[255] * 28] * 28))
    cases = [
        ({}, 400, "invalid_input"),
        ({"image": blank, "instances": [blank]}, 400, "invalid_input"),
        ({"image": "this is not base64!"}, 400, "invalid_input"),
        ({"image": 123}, 400, "invalid_input"),
        ({"image": b64(b"plain text, not an image")}, 400, "invalid_image"),
        ({"image": blank}, 400, "no_digit_found"),
        ({"image": blank, "preprocess": "fancy"}, 400, "invalid_input"),
        ({"instances": []}, 400, "invalid_input"),
        ({"instances": "abc"}, 400, "invalid_input"),
        ({"instances": [[1, 2, 3]]}, 400, "invalid_input"),
        ({"instances": ["x"] * (config.MAX_BATCH_SIZE + 1)}, 413, "payload_too_large"),
        ({"instances": [[[0] * 28] * 27 + [[255] * 28], blank]}, 400, "no_digit_found"),
        ({"instances": [[[0] * 28] * 27 + [[255] * 28], "%%%"]}, 400, "invalid_input"),
    ]
    found = call_main(cerebrium_bundle, [kwargs for kwargs, _, _ in cases], missing=["tensorflow"],
                      cwd=cerebrium_bundle)
    # Batch errors name the bad item: {position in `cases`: index of the bad instance}.
    batch_errors = {9: 0, len(cases) - 2: 1, len(cases) - 1: 1}
    assert all("instances" in cases[i][0] for i in batch_errors)
    for i, ((kwargs, status, code), answer) in enumerate(zip(cases, found["answers"])):
        assert "raised" not in answer, f"predict({kwargs}) raised {answer.get('raised')}"
        assert answer["status_code"] == status, answer
        assert answer["error"]["code"] == code and answer["error"]["message"], answer
        assert set(answer) == {"error", "status_code"}
        # A batch error names the bad item (as Flask's does); a single image's has no index.
        assert answer["error"].get("index") == batch_errors.get(i)


@pytest.mark.process
def test_main_serves_keras_where_tensorflow_is_installed_instead(cerebrium_bundle, tmp_path, digit_pngs, predictor):
    """The GPU variant installs TensorFlow, not LiteRT: main.py must pick the keras backend.
    Run from another directory, so the model is found relative to main.py, not the CWD."""
    png, label = digit_pngs[0]
    found = call_main(cerebrium_bundle, [{"image": b64(png)}], missing=["ai_edge_litert"], cwd=tmp_path)
    assert found["backend"] == "keras" and "ai_edge_litert" not in found["loaded"]
    answer, expected = found["answers"][0], predictor.predict_images([png])[0]
    assert answer["prediction"] == expected["prediction"] == label
    assert answer["model_version"] == expected["model_version"]
    assert answer["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
