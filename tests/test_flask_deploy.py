"""flask_deploy.py, the REST API: through Flask's test client (every input form, every
error, random bodies), then the real server (`python flask_deploy.py`, production WSGI
server) as a subprocess on 127.0.0.1 (every input form over HTTP, the bad-input table,
concurrent clients, the README's curl examples), then the command line and its
start-up refusals."""
import base64
import io
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

import config
from mnist_digits.artifacts import load_metrics
from flask_deploy import create_app
from helpers import EXPORTS
from helpers.cli import BAD_MODEL_SETUPS, assert_refused_before_serving, bad_model_setups, run_script
from helpers.http_cases import MULTIPART, bad_requests, multipart
from helpers.images import encode
from helpers.scripts import run_helper_json
from helpers.local_server import ROOT, free_port, serving, start_server, stop_server

FIELDS = {"prediction", "confidence", "probabilities", "top_k", "is_digit", "digit_score", "preprocess",
          "model_version"}


def assert_prediction(body, expected):
    """`body` is a well-formed answer and says what the predictor says for the same image."""
    assert set(body) == FIELDS
    assert len(body["probabilities"]) == config.NUM_CLASSES
    assert abs(sum(body["probabilities"]) - 1) < 1e-3
    assert [k["digit"] for k in body["top_k"]][0] == body["prediction"]
    assert len(body["top_k"]) == config.TOP_K
    assert body == expected


def assert_error(response, statuses, code=None):
    assert response.status_code in statuses, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) in ({"code", "message"}, {"code", "message", "index"})  # index: the bad item of a batch
    assert error["message"] and isinstance(error["message"], str)
    assert_no_object_repr(error["message"])
    if code:
        assert error["code"] == code


def assert_no_object_repr(message):
    """A client reads the message: no Python object reprs or memory addresses in it."""
    assert "object at 0x" not in message and "<_io." not in message, message


# --- Every input form -----------------------------------------------------------------
def test_multipart_upload_answers_like_the_predictor(flask_client, predictor, digit_pngs):
    labels_right = 0
    for png, label in digit_pngs:
        response = flask_client.post("/predict", data={"image": (io.BytesIO(png), "digit.png")})
        assert response.status_code == 200
        assert_prediction(response.get_json(), predictor.predict_images([png])[0])
        labels_right += response.get_json()["prediction"] == label
    assert labels_right >= len(digit_pngs) - 2  # the model really reads the digits


@pytest.mark.parametrize("fmt,ctype", [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                       ("BMP", "image/bmp"), ("WEBP", "image/webp")])
def test_raw_image_body(flask_client, predictor, mnist_test, fmt, ctype):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(255 - mnist_test[0][3]).save(buf, format=fmt)
    response = flask_client.post("/predict", data=buf.getvalue(), content_type=ctype)
    assert response.status_code == 200
    assert_prediction(response.get_json(), predictor.predict_images([buf.getvalue()])[0])


def test_json_base64_and_data_url(flask_client, predictor, digit_pngs):
    png = digit_pngs[1][0]
    expected = predictor.predict_images([png])[0]
    encoded = base64.b64encode(png).decode()
    for image in (encoded, "data:image/png;base64," + encoded):
        response = flask_client.post("/predict", json={"image": image})
        assert response.status_code == 200
        assert_prediction(response.get_json(), expected)


def test_json_pixels_0_255_and_0_1(flask_client, predictor, mnist_test):
    x = mnist_test[0][2]
    expected = predictor.predict_images([x])[0]
    for pixels in (x.tolist(), (x / 255.0).tolist()):
        response = flask_client.post("/predict", json={"pixels": pixels})
        assert response.status_code == 200
        assert_prediction(response.get_json(), expected)


def test_json_batch_mixes_base64_and_pixels(flask_client, predictor, digit_pngs, mnist_test):
    pngs = [png for png, _ in digit_pngs[:4]]
    arrays = list(mnist_test[0][4:7])
    instances = [base64.b64encode(p).decode() for p in pngs] + [a.tolist() for a in arrays]
    response = flask_client.post("/predict", json={"instances": instances, "preprocess": "basic"})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["predictions"]
    assert body["predictions"] == predictor.predict_images(pngs + arrays, "basic")


def test_batch_at_the_limit_is_answered(flask_client):
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    response = flask_client.post("/predict", json={"instances": [digit.tolist()] * config.MAX_BATCH_SIZE})
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == config.MAX_BATCH_SIZE


def test_preprocess_from_form_field_query_and_json(flask_client, predictor, digit_pngs):
    png = digit_pngs[2][0]
    basic = predictor.predict_images([png], "basic")[0]
    encoded = base64.b64encode(png).decode()
    answers = [
        flask_client.post("/predict", data={"image": (io.BytesIO(png), "d.png"), "preprocess": "basic"}),
        flask_client.post("/predict?preprocess=basic", data={"image": (io.BytesIO(png), "d.png")}),
        flask_client.post("/predict?preprocess=basic", data=png, content_type="image/png"),
        flask_client.post("/predict", json={"image": encoded, "preprocess": "basic"}),
        flask_client.post("/predict?preprocess=basic", json={"image": encoded}),
    ]
    for response in answers:
        assert response.status_code == 200
        assert_prediction(response.get_json(), basic)
    # The JSON key wins over the query parameter, the form field over the query parameter.
    response = flask_client.post("/predict?preprocess=basic", json={"image": encoded, "preprocess": "enhanced"})
    assert response.get_json()["preprocess"] == "enhanced"
    response = flask_client.post("/predict?preprocess=basic",
                           data={"image": (io.BytesIO(png), "d.png"), "preprocess": "enhanced"})
    assert response.get_json()["preprocess"] == "enhanced"


def test_health(flask_client, predictor):
    response = flask_client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": predictor.version, "backend": predictor.backend}


def test_health_names_the_backend_and_the_version_of_the_trained_model(predictor, litert_predictor):
    health = create_app(litert_predictor).test_client().get("/health").get_json()
    assert health == {"status": "ok", "model_version": predictor.version, "backend": "litert"}


# The backend chosen by environment only, through the Flask app factory and its test client.
@pytest.mark.process
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_flask_app_serves_the_backend_the_environment_picks(name, predictor, digit_pngs, tmp_path):
    png, label = digit_pngs[0]
    (tmp_path / "digit.png").write_bytes(png)
    # MODEL_BACKEND=litert alone serves the float file; MODEL_PATH picks another one.
    env = {"MODEL_BACKEND": "litert", "MODEL_PATH": str(EXPORTS[name]) if name == "int8" else ""}
    found = run_helper_json("flask_predict.py", tmp_path / "digit.png", env=env)
    assert found["status"] == 200, found["body"]
    assert found["backend"] == "litert"
    body = found["body"]
    assert body["model_version"] == load_metrics()["artifacts"]["mnist_cnn.h5"]["md5"][:8]
    keras_answer = predictor.predict_images([png])[0]
    assert set(body) == set(keras_answer)
    assert body["prediction"] == keras_answer["prediction"] == label
    if name == "float":
        np.testing.assert_allclose(body["probabilities"], keras_answer["probabilities"], atol=1e-4)


# --- Every error ----------------------------------------------------------------------
@pytest.mark.parametrize("case", bad_requests(), ids=lambda case: case[0])
def test_bad_input_gets_a_clear_json_error(flask_client, case):
    name, method, path, headers, body, statuses, code = case
    response = flask_client.open(path, method=method, headers=headers, data=body)
    assert_error(response, statuses, code)


def test_a_batch_error_names_the_bad_item(flask_client, digit_pngs):
    good = base64.b64encode(digit_pngs[0][0]).decode()
    blank = base64.b64encode(encode(np.full((28, 28), 255).astype(np.uint8))).decode()
    corrupt = base64.b64encode(digit_pngs[0][0][:60]).decode()
    cases = [([good, "%%%"], 1, "invalid_input"),           # caught while reading the JSON
             ([good, good, [[0] * 27] * 28], 2, "invalid_input"),
             ([good, corrupt], 1, "invalid_image"),          # caught while decoding the image
             ([blank], 0, "no_digit_found"),                 # caught by preprocessing
             ([good, good, good, blank], 3, "no_digit_found")]
    for instances, index, code in cases:
        response = flask_client.post("/predict", json={"instances": instances})
        assert response.status_code == 400
        assert response.get_json()["error"]["index"] == index and response.get_json()["error"]["code"] == code
    # One image is not an item of a batch: its errors keep the plain shape.
    for single in ({"image": blank}, {"image": corrupt}):
        assert set(flask_client.post("/predict", json=single).get_json()["error"]) == {"code", "message"}


def test_a_picture_that_is_not_a_digit_says_so(flask_client):
    from helpers.images import drawn_symbol, encode
    response = flask_client.post("/predict", data={"image": (io.BytesIO(encode(drawn_symbol("#"))), "hash.png")},
                                 content_type="multipart/form-data")
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["is_digit"] is False and set(answer) == FIELDS   # the best guess is still all there


def test_405_keeps_the_allow_header(flask_client):
    response = flask_client.get("/predict")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_a_bug_is_a_json_500_and_logged(predictor, caplog):
    class Broken:
        version = predictor.version

        def predict_images(self, images, preprocess):
            raise RuntimeError("simulated bug")

    response = create_app(Broken()).test_client().post("/predict", json={"pixels": [[0] * 28] * 28})
    assert_error(response, {500}, "internal_error")
    assert "simulated bug" not in response.get_data(as_text=True)  # no internals leak to clients
    assert "simulated bug" in caplog.text


def test_model_is_loaded_once_at_creation(predictor, monkeypatch):
    import flask_deploy
    calls = []
    monkeypatch.setattr(flask_deploy, "get_predictor", lambda: calls.append(1) or predictor)
    client = flask_deploy.create_app().test_client()
    for _ in range(3):
        client.post("/predict", json={"pixels": [[0] * 28] * 27 + [[255] * 28]})
    assert calls == [1]


# --- Random bodies: never a 5xx ------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)
json_bodies = json_values | st.fixed_dictionaries(
    {}, optional={"image": json_values | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
                  "pixels": json_values | st.lists(st.lists(st.integers(-5, 300), min_size=28, max_size=28),
                                                   min_size=27, max_size=29),
                  "instances": st.lists(json_values, max_size=4),
                  "preprocess": json_values | st.sampled_from(["basic", "enhanced"])})


@settings(max_examples=150, deadline=None)
@given(body=json_bodies)
def test_random_json_never_gets_a_5xx(flask_client, body):
    response = flask_client.post("/predict", data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert_error(response, {response.status_code})


@settings(max_examples=100, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["image", "preprocess", "other"]),
                              st.binary(max_size=300) | st.text(max_size=20), max_size=3),
       raw=st.binary(max_size=300), mangle=st.booleans())
def test_random_multipart_never_gets_a_5xx(flask_client, fields, raw, mangle):
    # Either a well-formed multipart body with random fields, or random bytes claiming to be one.
    body = raw if mangle else multipart(fields)
    response = flask_client.post("/predict", data=body, content_type=MULTIPART)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert_error(response, {response.status_code})


# --- The real server ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The production server as users start it; yields (base_url, process, log_path)."""
    with serving(tmp_path_factory.mktemp("server"), {"MODEL_BACKEND": "keras"}) as running:
        yield running


@pytest.fixture
def url(server):
    return server[0]


def test_every_input_form(url, predictor, digit_pngs, mnist_test):
    png = digit_pngs[0][0]
    expected = predictor.predict_images([png])[0]
    encoded = base64.b64encode(png).decode()
    answers = [
        requests.post(f"{url}/predict", files={"image": ("digit.png", png, "image/png")}, timeout=30),
        requests.post(f"{url}/predict", data=png, headers={"Content-Type": "image/png"}, timeout=30),
        requests.post(f"{url}/predict", json={"image": encoded}, timeout=30),
        requests.post(f"{url}/predict", json={"image": "data:image/png;base64," + encoded}, timeout=30),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["prediction"] == expected["prediction"]
        assert body["model_version"] == predictor.version
        assert body["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-4)

    x = mnist_test[0][:3]
    response = requests.post(f"{url}/predict", json={"pixels": x[0].tolist(), "preprocess": "basic"}, timeout=30)
    assert response.status_code == 200
    assert response.json()["preprocess"] == "basic"
    assert response.json()["prediction"] == predictor.predict_images([x[0]], "basic")[0]["prediction"]

    response = requests.post(f"{url}/predict?preprocess=basic", files={"image": ("d.png", png)}, timeout=30)
    assert response.json()["preprocess"] == "basic"

    response = requests.post(f"{url}/predict", json={"instances": [a.tolist() for a in x] + [encoded]}, timeout=30)
    assert response.status_code == 200
    predicted = [p["prediction"] for p in response.json()["predictions"]]
    assert predicted == [r["prediction"] for r in predictor.predict_images(list(x) + [png])]


def test_health_and_openapi(url, predictor):
    health = requests.get(f"{url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model_version": predictor.version, "backend": predictor.backend}
    spec = requests.get(f"{url}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.") and "/predict" in spec["paths"]


@pytest.mark.parametrize("case", bad_requests(), ids=lambda case: case[0])
def test_bad_input_over_http(url, case):
    name, method, path, headers, body, statuses, code = case
    response = requests.request(method, url + path, headers=headers, data=body, timeout=60)
    assert response.status_code in statuses, response.text[:300]
    error = response.json()["error"]
    assert error["message"]
    assert_no_object_repr(error["message"])
    if code:
        assert error["code"] == code


def test_oversized_streamed_body_is_refused(url):
    """A chunked upload (no Content-Length) one chunk past the limit: 413, not a truncated image."""
    chunk = b"\0" * 65536

    def body():
        for _ in range(config.MAX_REQUEST_BYTES // len(chunk) + 1):
            yield chunk

    response = requests.post(f"{url}/predict", data=body(), headers={"Content-Type": "image/png"}, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_streamed_body_under_the_limit_is_answered(url, digit_pngs):
    png = digit_pngs[4][0]
    response = requests.post(f"{url}/predict", data=iter([png[:50], png[50:]]),
                             headers={"Content-Type": "image/png"}, timeout=30)
    assert response.status_code == 200, response.text


def test_concurrent_clients_get_their_own_answers(url, predictor, mnist_test):
    images = list(mnist_test[0][:48])
    expected = [r["prediction"] for r in predictor.predict_images(images)]

    def ask(i):
        with requests.Session() as session:  # a keep-alive connection per client
            return session.post(f"{url}/predict", json={"pixels": images[i].tolist()}, timeout=60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(ask, range(len(images))))
    assert [r.status_code for r in responses] == [200] * len(images)
    assert [r.json()["prediction"] for r in responses] == expected


def test_concurrent_good_and_bad_requests(url, digit_pngs):
    png = digit_pngs[5][0]
    cases = [c for c in bad_requests() if c[0] in ("truncated PNG", "NaN in pixels", "huge raw body")]

    def ask(i):
        if i % 2:
            return requests.post(f"{url}/predict", data=png, headers={"Content-Type": "image/png"},
                                 timeout=60).status_code, {200}
        _, method, path, headers, body, statuses, _ = cases[i // 2 % len(cases)]
        return requests.request(method, url + path, headers=headers, data=body, timeout=60).status_code, statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        for status, allowed in pool.map(ask, range(24)):
            assert status in allowed


def readme_curl_examples():
    """Every line of README.md that starts with `curl ` and talks to the local REST API."""
    return [line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("curl ") and "127.0.0.1:5000" in line]


@pytest.mark.process
def test_readme_curl_examples_work_as_pasted(url):
    """Each README curl line, run with bash from the repo root against the real server (its
    port swapped in), answers JSON without an error, and every /predict answer says 7 (they
    send examples/mnist_7.png). Lines with "..." or "<" are placeholders for the reader to
    fill in (a 28x28 array, a base64 string), so they are skipped."""
    port = url.rsplit(":", 1)[1]
    runnable = [line for line in readme_curl_examples() if "..." not in line and "<" not in line]
    assert any("/predict" in line for line in runnable), "README.md has no runnable curl example for /predict"
    for line in runnable:
        proc = subprocess.run(["bash", "-c", line.replace("127.0.0.1:5000", f"127.0.0.1:{port}")], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (line, proc.stderr[-1000:])
        try:
            body = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"{line}\nanswered something that is not JSON: {proc.stdout[:300]!r}")
        assert "error" not in body, (line, body)
        if "/predict" in line:
            predictions = [answer["prediction"] for answer in body.get("predictions", [body])]
            assert predictions and set(predictions) == {7}, (line, body)


def test_server_still_answers_after_all_that(server, digit_pngs):
    url, proc, log_path = server
    assert proc.poll() is None
    assert requests.get(f"{url}/health", timeout=10).status_code == 200
    png, label = digit_pngs[0]
    response = requests.post(f"{url}/predict", files={"image": ("d.png", png)}, timeout=30)
    assert response.status_code == 200
    # No request above was a bug on our side: nothing was logged as one.
    log = log_path.read_text()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]


# --- The command line ------------------------------------------------------------------------
def run_cli(*args, env=None, timeout=60):
    return run_script("flask_deploy.py", *args, env=env, timeout=timeout)


@pytest.mark.process
@pytest.mark.parametrize("args", [["--port", "abc"], ["--port", "0"], ["--port", "70000"], ["--bogus"]])
def test_cli_rejects_bad_arguments(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


@pytest.mark.process
def test_cli_reports_a_missing_model(tmp_path):
    result = run_cli("--port", str(free_port()), env={"MODEL_PATH": str(tmp_path / "missing.h5")})
    assert result.returncode == 1
    assert "missing.h5" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.process
def test_cli_reports_a_port_in_use(server):
    port = server[0].rsplit(":", 1)[1]
    result = run_cli("--port", port)
    assert result.returncode == 1
    assert "cannot serve" in result.stderr


@pytest.mark.process
def test_waitress_from_env_host_and_port(digit_pngs):
    """The fallback server, configured only through the environment (HOST, PORT)."""
    port = free_port()
    proc = start_server(["flask_deploy.py"], port,
                        env={"HOST": "127.0.0.1", "PORT": str(port), "WSGI_SERVER": "waitress"})
    try:
        url = f"http://127.0.0.1:{port}"
        response = requests.post(f"{url}/predict", files={"image": ("d.png", digit_pngs[0][0])}, timeout=30)
        assert response.status_code == 200
        response = requests.post(f"{url}/predict", data=b"\0" * (config.MAX_REQUEST_BYTES + 1),
                                 headers={"Content-Type": "image/png"}, timeout=30)
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        assert requests.get(f"{url}/nope", timeout=10).json()["error"]["code"] == "not_found"
    finally:
        stop_server(proc)


@pytest.mark.process
@pytest.mark.parametrize("setup", BAD_MODEL_SETUPS)
def test_a_bad_model_setup_is_one_line_before_serving(setup, tmp_path):
    env, expected = bad_model_setups(tmp_path)[setup]
    port = free_port()
    assert_refused_before_serving(run_cli("--host", "127.0.0.1", "--port", port, env=env), port, expected)
