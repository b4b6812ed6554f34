"""The Open Inference Protocol (KServe V2): the routes through Flask's test client, then the
official client, tritonclient.http, against the real server on 127.0.0.1."""
import base64
import json

import numpy as np
import pytest

import config
from mnist_digits.serving import probes
from flask_deploy import create_app
from helpers.http_cases import bad_infer_requests, tensor
from helpers.local_server import free_port, start_server, stop_server
from utils import Predictor

INFER = f"/v2/models/{config.V2_MODEL_NAME}/infer"
PNGS = {int(path.stem.split("_")[1]): path.read_bytes() for path in config.EXAMPLES_DIR.glob("mnist_*.png")}


@pytest.fixture(scope="module")
def client(predictor):
    return create_app(predictor).test_client()


@pytest.fixture(scope="module")
def pixels(mnist_test):
    """Four MNIST test digits as float32 (4, 28, 28, 1) in [0, 1], and their labels."""
    x, y = mnist_test
    return (x[:4].astype(np.float32) / 255.0)[..., None], y[:4]


def outputs_of(answer):
    return {out["name"]: np.array(out["data"]).reshape(out["shape"]) for out in answer["outputs"]}


# --- The routes ------------------------------------------------------------------------------
def test_server_and_model_metadata(client, predictor):
    assert client.get("/v2").get_json()["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get(f"/v2/models/{config.V2_MODEL_NAME}/ready").get_json()["ready"] is True
    meta = client.get(f"/v2/models/{config.V2_MODEL_NAME}").get_json()
    assert meta["name"] == config.V2_MODEL_NAME and meta["versions"] == [predictor.version]
    assert {(t["name"], t["datatype"]) for t in meta["inputs"]} == {("input", "FP32"), ("image", "BYTES")}
    assert {(t["name"], t["datatype"], tuple(t["shape"])) for t in meta["outputs"]} == {
        ("probabilities", "FP32", (-1, 10)), ("prediction", "INT64", (-1,)),
        ("is_digit", "BOOL", (-1,)), ("digit_score", "FP32", (-1,))}


@pytest.mark.parametrize("layout", ["nested 28x28x1", "flat 28x28x1", "nested 784", "flat 784"])
def test_infer_fp32_in_every_layout(client, predictor, pixels, layout):
    x, labels = pixels
    shape = [4, 28, 28, 1] if "28x28" in layout else [4, 784]
    data = x.reshape(shape).tolist() if layout.startswith("nested") else x.reshape(-1).tolist()
    response = client.post(INFER, json={"id": "req-42", "inputs": [tensor("input", "FP32", shape, data)]})
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["id"] == "req-42" and answer["model_name"] == config.V2_MODEL_NAME
    assert answer["model_version"] == predictor.version
    out = outputs_of(answer)
    assert out["probabilities"].shape == (4, 10) and out["prediction"].shape == (4,)
    assert np.allclose(out["probabilities"], predictor.predict_proba(x), atol=1e-6)
    assert out["prediction"].tolist() == labels.tolist()
    probs, scores = predictor.predict_scores(x)
    assert np.allclose(out["digit_score"], scores, atol=1e-6)
    assert out["is_digit"].tolist() == predictor.is_digit(scores).tolist() == [True] * 4
    assert {o["datatype"] for o in answer["outputs"]} == {"FP32", "INT64", "BOOL"}


def test_infer_bytes_images_are_preprocessed_like_predict(client, predictor):
    digits = sorted(PNGS)
    data = [base64.b64encode(PNGS[d]).decode() for d in digits]
    answer = client.post(INFER, json={"inputs": [tensor("image", "BYTES", [len(data), ], data)],
                                      "outputs": [{"name": "prediction"}]}).get_json()
    assert [o["name"] for o in answer["outputs"]] == ["prediction"] and "id" not in answer
    assert outputs_of(answer)["prediction"].tolist() == digits
    basic = client.post(INFER, json={"inputs": [tensor("image", "BYTES", [1], data[:1])],
                                     "parameters": {"preprocess": "basic"}}).get_json()
    expected = predictor.predict_images([PNGS[digits[0]]], "basic")[0]["probabilities"]
    assert np.allclose(outputs_of(basic)["probabilities"][0], expected, atol=1e-6)


@pytest.mark.parametrize("case", bad_infer_requests(), ids=lambda case: case[0])
def test_bad_infer_requests_get_a_400_with_a_sentence(client, case):
    name, body, in_message = case
    response = client.post(INFER, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert isinstance(error, str) and error
    if in_message:
        assert in_message in error


def test_header_length_that_does_not_fit(client):
    response = client.post(INFER, data=b'{"inputs": []}', headers={"Inference-Header-Content-Length": "999"})
    assert response.status_code == 400 and "does not fit" in response.get_json()["error"]


def test_not_ready_while_shutting_down(predictor):
    app = create_app(predictor)
    client = app.test_client()
    probes.readiness(app).set_not_ready("the server is shutting down")
    for path in ("/v2/health/ready", f"/v2/models/{config.V2_MODEL_NAME}/ready"):
        response = client.get(path)
        assert response.status_code == 503 and response.get_json() == {"error": "the server is shutting down"}
    assert client.get("/v2/health/live").status_code == 200


# --- The official client against the real server ----------------------------------------------
@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    """tritonclient.http talking to `python flask_deploy.py` (LiteRT backend: starts fast)."""
    import tritonclient.http as httpclient

    port = free_port()
    log_path = tmp_path_factory.mktemp("v2") / "server.log"
    with open(log_path, "w") as log:
        proc = start_server(["flask_deploy.py", "--port", port], port, env={"MODEL_BACKEND": "litert"}, log=log)
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}", network_timeout=60.0)
        yield client, httpclient
        client.close()
        stop_server(proc)


@pytest.fixture(scope="module")
def litert_predictor():
    return Predictor(backend="litert", model_path=config.TFLITE_MODEL_PATH)


def test_tritonclient_health_and_metadata(triton, litert_predictor):
    client, _ = triton
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(config.V2_MODEL_NAME)
    meta = client.get_model_metadata(config.V2_MODEL_NAME)
    assert meta["versions"] == [litert_predictor.version]
    assert [t["name"] for t in meta["outputs"]] == ["probabilities", "prediction", "is_digit", "digit_score"]
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize("shape", [(3, 28, 28, 1), (3, 784)])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infer_fp32(triton, litert_predictor, pixels, shape, binary):
    client, httpclient = triton
    x, labels = pixels
    x = x[:3]
    inp = httpclient.InferInput("input", list(shape), "FP32")
    inp.set_data_from_numpy(x.reshape(shape), binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ("probabilities", "prediction")]
    result = client.infer(config.V2_MODEL_NAME, [inp], outputs=outputs, request_id="trace-1")
    assert result.get_response()["id"] == "trace-1"
    probabilities, prediction = result.as_numpy("probabilities"), result.as_numpy("prediction")
    assert probabilities.dtype == np.float32 and prediction.dtype == np.int64
    assert np.allclose(probabilities, litert_predictor.predict_proba(x), atol=1e-6)
    assert prediction.tolist() == labels[:3].tolist()


def test_tritonclient_defaults_and_encoded_images(triton):
    """The client's defaults (binary input, binary outputs) with a BYTES input of PNG files."""
    client, httpclient = triton
    digits = sorted(PNGS)
    inp = httpclient.InferInput("image", [len(digits)], "BYTES")
    inp.set_data_from_numpy(np.array([PNGS[d] for d in digits], dtype=np.object_))
    result = client.infer(config.V2_MODEL_NAME, [inp])
    assert result.as_numpy("prediction").tolist() == digits
    assert result.as_numpy("probabilities").shape == (len(digits), 10)
    assert result.as_numpy("is_digit").tolist() == [True] * len(digits)


def test_infer_says_when_an_image_is_not_a_digit(client, predictor):
    from helpers.images import drawn_symbol, encode
    data = [base64.b64encode(encode(drawn_symbol(char))).decode() for char in "#@"]
    answer = client.post(INFER, json={"inputs": [tensor("image", "BYTES", [2], data)]}).get_json()
    out = outputs_of(answer)
    assert out["is_digit"].tolist() == [False, False]
    assert out["prediction"].shape == (2,)    # the best guess is still there


def test_tritonclient_sees_a_clear_error(triton):
    client, httpclient = triton
    from tritonclient.utils import InferenceServerException
    inp = httpclient.InferInput("input", [1, 784], "FP32")
    inp.set_data_from_numpy(np.full((1, 784), 3.0, np.float32), binary_data=False)
    with pytest.raises(InferenceServerException, match=r"\[0, 1\]") as raised:
        client.infer(config.V2_MODEL_NAME, [inp])
    assert raised.value.status() == "400"
