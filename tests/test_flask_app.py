"""The REST API through Flask's test client: every input form, every error, the OpenAPI document."""
import base64
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import config
from flask_deploy import create_app
from http_cases import MULTIPART, bad_requests, multipart, png_bytes

FIELDS = {"prediction", "confidence", "probabilities", "top_k", "preprocess", "model_version"}


@pytest.fixture(scope="module")
def app(predictor):
    return create_app(predictor)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


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
    if code:
        assert error["code"] == code


# --- Every input form -----------------------------------------------------------------
def test_multipart_upload_answers_like_the_predictor(client, predictor, digit_pngs):
    labels_right = 0
    for png, label in digit_pngs:
        response = client.post("/predict", data={"image": (io.BytesIO(png), "digit.png")})
        assert response.status_code == 200
        assert_prediction(response.get_json(), predictor.predict_images([png])[0])
        labels_right += response.get_json()["prediction"] == label
    assert labels_right >= len(digit_pngs) - 2  # the model really reads the digits


@pytest.mark.parametrize("fmt,ctype", [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                       ("BMP", "image/bmp"), ("WEBP", "image/webp")])
def test_raw_image_body(client, predictor, mnist_test, fmt, ctype):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(255 - mnist_test[0][3]).save(buf, format=fmt)
    response = client.post("/predict", data=buf.getvalue(), content_type=ctype)
    assert response.status_code == 200
    assert_prediction(response.get_json(), predictor.predict_images([buf.getvalue()])[0])


def test_json_base64_and_data_url(client, predictor, digit_pngs):
    png = digit_pngs[1][0]
    expected = predictor.predict_images([png])[0]
    encoded = base64.b64encode(png).decode()
    for image in (encoded, "data:image/png;base64," + encoded):
        response = client.post("/predict", json={"image": image})
        assert response.status_code == 200
        assert_prediction(response.get_json(), expected)


def test_json_pixels_0_255_and_0_1(client, predictor, mnist_test):
    x = mnist_test[0][2]
    expected = predictor.predict_images([x])[0]
    for pixels in (x.tolist(), (x / 255.0).tolist()):
        response = client.post("/predict", json={"pixels": pixels})
        assert response.status_code == 200
        assert_prediction(response.get_json(), expected)


def test_json_batch_mixes_base64_and_pixels(client, predictor, digit_pngs, mnist_test):
    pngs = [png for png, _ in digit_pngs[:4]]
    arrays = list(mnist_test[0][4:7])
    instances = [base64.b64encode(p).decode() for p in pngs] + [a.tolist() for a in arrays]
    response = client.post("/predict", json={"instances": instances, "preprocess": "basic"})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["predictions"]
    assert body["predictions"] == predictor.predict_images(pngs + arrays, "basic")


def test_batch_at_the_limit_is_answered(client):
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    response = client.post("/predict", json={"instances": [digit.tolist()] * config.MAX_BATCH_SIZE})
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == config.MAX_BATCH_SIZE


def test_preprocess_from_form_field_query_and_json(client, predictor, digit_pngs):
    png = digit_pngs[2][0]
    basic = predictor.predict_images([png], "basic")[0]
    encoded = base64.b64encode(png).decode()
    answers = [
        client.post("/predict", data={"image": (io.BytesIO(png), "d.png"), "preprocess": "basic"}),
        client.post("/predict?preprocess=basic", data={"image": (io.BytesIO(png), "d.png")}),
        client.post("/predict?preprocess=basic", data=png, content_type="image/png"),
        client.post("/predict", json={"image": encoded, "preprocess": "basic"}),
        client.post("/predict?preprocess=basic", json={"image": encoded}),
    ]
    for response in answers:
        assert response.status_code == 200
        assert_prediction(response.get_json(), basic)
    # The JSON key wins over the query parameter, the form field over the query parameter.
    response = client.post("/predict?preprocess=basic", json={"image": encoded, "preprocess": "enhanced"})
    assert response.get_json()["preprocess"] == "enhanced"
    response = client.post("/predict?preprocess=basic",
                           data={"image": (io.BytesIO(png), "d.png"), "preprocess": "enhanced"})
    assert response.get_json()["preprocess"] == "enhanced"


def test_health(client, predictor):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": predictor.version}


# --- Every error ----------------------------------------------------------------------
@pytest.mark.parametrize("case", bad_requests(), ids=lambda case: case[0])
def test_bad_input_gets_a_clear_json_error(client, case):
    name, method, path, headers, body, statuses, code = case
    response = client.open(path, method=method, headers=headers, data=body)
    assert_error(response, statuses, code)


def test_a_batch_error_names_the_bad_item(client, digit_pngs):
    good = base64.b64encode(digit_pngs[0][0]).decode()
    blank = base64.b64encode(png_bytes(np.full((28, 28), 255))).decode()
    corrupt = base64.b64encode(digit_pngs[0][0][:60]).decode()
    cases = [([good, "%%%"], 1, "invalid_input"),           # caught while reading the JSON
             ([good, good, [[0] * 27] * 28], 2, "invalid_input"),
             ([good, corrupt], 1, "invalid_image"),          # caught while decoding the image
             ([blank], 0, "no_digit_found"),                 # caught by preprocessing
             ([good, good, good, blank], 3, "no_digit_found")]
    for instances, index, code in cases:
        response = client.post("/predict", json={"instances": instances})
        assert response.status_code == 400
        assert response.get_json()["error"]["index"] == index and response.get_json()["error"]["code"] == code
    # One image is not an item of a batch: its errors keep the plain shape.
    for single in ({"image": blank}, {"image": corrupt}):
        assert set(client.post("/predict", json=single).get_json()["error"]) == {"code", "message"}


def test_405_keeps_the_allow_header(client):
    response = client.get("/predict")
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
def test_random_json_never_gets_a_5xx(client, body):
    response = client.post("/predict", data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert_error(response, {response.status_code})


@settings(max_examples=100, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["image", "preprocess", "other"]),
                              st.binary(max_size=300) | st.text(max_size=20), max_size=3),
       raw=st.binary(max_size=300), mangle=st.booleans())
def test_random_multipart_never_gets_a_5xx(client, fields, raw, mangle):
    # Either a well-formed multipart body with random fields, or random bytes claiming to be one.
    body = raw if mangle else multipart(fields)
    response = client.post("/predict", data=body, content_type=MULTIPART)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert_error(response, {response.status_code})


# --- The OpenAPI document ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_is_valid(spec):
    from openapi_spec_validator import validate
    validate(spec)


def test_openapi_paths_and_methods_match_the_app(spec, app):
    served = {(rule.rule, method.lower()) for rule in app.url_map.iter_rules()
              if rule.endpoint.rpartition(".")[2] != "static"  # files (Swagger UI's), not API
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served


def test_openapi_schemas_match_real_answers(spec, client, digit_pngs):
    from openapi_schema_validator import OAS30Validator
    schemas = spec["components"]["schemas"]
    png = digit_pngs[0][0]
    single = client.post("/predict", data=png, content_type="image/png").get_json()
    OAS30Validator(schemas["Prediction"]).validate(single)
    assert set(schemas["Prediction"]["required"]) == set(single)
    batch = client.post("/predict", json={"instances": [base64.b64encode(png).decode()]}).get_json()
    for item in batch["predictions"]:
        OAS30Validator(schemas["Prediction"]).validate(item)
    health_schema = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    OAS30Validator(health_schema).validate(client.get("/health").get_json())
    # Every error status the app answers is documented, with the documented shape.
    documented = set(spec["paths"]["/predict"]["post"]["responses"])
    for name, method, path, headers, body, statuses, code in bad_requests():
        if path != "/predict":
            continue
        response = client.open(path, method=method, headers=headers, data=body)
        assert str(response.status_code) in documented, name
        OAS30Validator(schemas["Error"]).validate(response.get_json())
    assert set(spec["paths"]["/predict"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data", "image/*", "application/json"}


def test_openapi_describes_the_operations_routes(spec, client, predictor, monkeypatch):
    from openapi_schema_validator import OAS30Validator

    def check(path, method, response, status="200"):
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        OAS30Validator(schema).validate(response.get_json())

    check("/health/ready", "get", client.get("/health/ready"))
    infer = f"/v2/models/{config.V2_MODEL_NAME}/infer"
    request = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784}]}
    OAS30Validator(spec["paths"][infer]["post"]["requestBody"]["content"]["application/json"]["schema"]).validate(request)
    check(infer, "post", client.post(infer, json=request))
    check(infer, "post", client.post(infer, json={"inputs": []}), "400")
    monkeypatch.setattr(config, "API_KEYS", ("k",))
    refused = create_app(predictor).test_client().post("/predict", json={"pixels": [[0] * 28] * 28})
    assert refused.status_code == 401
    OAS30Validator(spec["components"]["schemas"]["Error"]).validate(refused.get_json())
