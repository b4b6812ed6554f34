"""openapi_spec.py: the document /openapi.json serves is valid OpenAPI 3, lists exactly
the routes the Flask app serves, and its schemas match the app's real answers and errors."""
import base64
import json

import pytest

import config
from helpers.http_cases import bad_infer_requests, bad_requests
from helpers.images import number_png


@pytest.fixture(scope="module")
def spec(flask_client):
    response = flask_client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_is_valid(spec):
    from openapi_spec_validator import validate
    validate(spec)


def test_openapi_paths_and_methods_match_the_app(spec, flask_app):
    served = {(rule.rule, method.lower()) for rule in flask_app.url_map.iter_rules()
              if rule.endpoint.rpartition(".")[2] != "static"  # files (Swagger UI's), not API
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served


def test_openapi_schemas_match_real_answers(spec, flask_client, digit_pngs):
    from openapi_schema_validator import OAS30Validator
    schemas = spec["components"]["schemas"]
    png = digit_pngs[0][0]
    single = flask_client.post("/predict", data=png, content_type="image/png").get_json()
    OAS30Validator(schemas["Prediction"]).validate(single)
    assert set(schemas["Prediction"]["required"]) == set(single)
    batch = flask_client.post("/predict", json={"instances": [base64.b64encode(png).decode()]}).get_json()
    for item in batch["predictions"]:
        OAS30Validator(schemas["Prediction"]).validate(item)
    reading = flask_client.post("/read", data=number_png("42"), content_type="image/png").get_json()
    OAS30Validator(schemas["Reading"]).validate(reading)
    assert set(schemas["Reading"]["required"]) == set(reading)
    assert set(schemas["Reading"]["properties"]["digits"]["items"]["required"]) == set(reading["digits"][0])
    readings = flask_client.post("/read", json={"instances": [base64.b64encode(png).decode()]}).get_json()
    for item in readings["readings"]:
        OAS30Validator(schemas["Reading"]).validate(item)
    health_schema = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    OAS30Validator(health_schema).validate(flask_client.get("/health").get_json())
    # Every error status the app answers is documented, with the documented shape.
    for name, method, path, headers, body, statuses, code in bad_requests():
        if path.split("?")[0] not in ("/predict", "/read") or method != "POST":
            continue
        response = flask_client.open(path, method=method, headers=headers, data=body)
        assert str(response.status_code) in spec["paths"][path.split("?")[0]]["post"]["responses"], name
        OAS30Validator(schemas["Error"]).validate(response.get_json())
    for path in ("/predict", "/read"):
        assert set(spec["paths"][path]["post"]["requestBody"]["content"]) == {
            "multipart/form-data", "image/*", "application/json"}


def test_openapi_describes_the_operations_routes(spec, flask_client, predictor, monkeypatch):
    from openapi_schema_validator import OAS30Validator

    from flask_deploy import create_app

    def check(path, method, response, status="200"):
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        OAS30Validator(schema).validate(response.get_json())

    check("/health/ready", "get", flask_client.get("/health/ready"))
    infer = f"/v2/models/{config.V2_MODEL_NAME}/infer"
    request = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784}]}
    OAS30Validator(spec["paths"][infer]["post"]["requestBody"]["content"]["application/json"]["schema"]).validate(request)
    check(infer, "post", flask_client.post(infer, json=request))
    check(infer, "post", flask_client.post(infer, json={"inputs": []}), "400")
    monkeypatch.setattr(config, "API_KEYS", ("k",))
    refused = create_app(predictor).test_client().post("/predict", json={"pixels": [[0] * 28] * 28})
    assert refused.status_code == 401
    OAS30Validator(spec["components"]["schemas"]["Error"]).validate(refused.get_json())


def _json_body(body):
    """A case's body as strict JSON (no NaN), or None where it is not."""
    def refuse(token):
        raise ValueError(token)
    try:
        return json.loads(body, parse_constant=refuse)
    except (ValueError, RecursionError):
        return None


def test_predict_json_the_server_refuses_as_malformed_breaks_the_schema(spec):
    """The document does not allow what the server refuses: a JSON body answered invalid_input
    (two image keys, bad base64, a wrong shape, ...) is invalid against the documented schema."""
    from openapi_schema_validator import OAS30Validator
    schema = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for name, method, path, headers, body, statuses, code in bad_requests():
        payload = _json_body(body) if headers.get("Content-Type") == "application/json" else None
        if code == "invalid_input" and path == "/predict" and payload is not None:
            assert not OAS30Validator(schema).is_valid(payload), name
    both = {"image": "AAAA", "pixels": [[0] * 28] * 28}
    assert not OAS30Validator(schema).is_valid(both)   # the server answers: send exactly one


def test_the_refusals_a_schema_cannot_rule_out_are_described(spec, flask_client):
    """A valid PNG of blank paper matches the schema and is refused no_digit_found; the document
    says so, with invalid_image (bytes that decode to no image), for /predict and V2 infer."""
    from mnist_digits.serving.openapi_spec import CONTENT_REFUSALS, READ_CONTENT_REFUSALS
    described = spec["paths"]["/predict"]["post"]["responses"]["400"]["description"]
    assert all(f"`{code}`" in described for code in CONTENT_REFUSALS)
    blank = [case for case in bad_requests() if case[0] == "blank white image"][0]
    answer = flask_client.open(blank[2], method=blank[1], headers=blank[3], data=blank[4])
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] in CONTENT_REFUSALS
    read = spec["paths"]["/read"]["post"]["responses"]["400"]["description"]
    assert all(f"`{code}`" in read for code in READ_CONTENT_REFUSALS)
    infer = spec["paths"][f"/v2/models/{config.V2_MODEL_NAME}/infer"]["post"]["responses"]["400"]["description"]
    assert "blank" in infer and "decodes" in infer and "`shape`" in infer


def test_v2_inputs_and_outputs_are_the_ones_the_server_takes(spec, predictor):
    """Names and datatypes: the schema allows exactly the model's inputs and outputs."""
    from mnist_digits.serving.kserve_v2 import OUTPUTS, model_metadata
    request = spec["paths"][f"/v2/models/{config.V2_MODEL_NAME}/infer"]["post"]["requestBody"]
    schema = request["content"]["application/json"]["schema"]
    tensors = schema["properties"]["inputs"]["items"]["oneOf"]
    documented = {(t["properties"]["name"]["enum"][0], t["properties"]["datatype"]["enum"][0]) for t in tensors}
    assert all(len(t["properties"][key]["enum"]) == 1 for t in tensors for key in ("name", "datatype"))
    assert documented == {(i["name"], i["datatype"]) for i in model_metadata(predictor)["inputs"]}
    assert schema["properties"]["outputs"]["items"]["properties"]["name"]["enum"] == list(OUTPUTS)


def test_v2_requests_the_server_refuses_break_the_schema_or_are_described(spec, flask_client):
    """Each bad infer request of test_kserve_v2's table is invalid against the schema, or is one of
    the refusals the document describes (those the contract test lets through)."""
    from openapi_schema_validator import OAS30Validator
    from helpers.api_contract_hooks import V2_DESCRIBED
    infer = f"/v2/models/{config.V2_MODEL_NAME}/infer"
    validator = OAS30Validator(spec["paths"][infer]["post"]["requestBody"]["content"]["application/json"]["schema"])
    described = 0
    for name, body, _ in bad_infer_requests():
        payload = _json_body(body)
        if payload is not None and validator.is_valid(payload):
            error = flask_client.post(infer, data=body, content_type="application/json").get_json()["error"]
            assert V2_DESCRIBED.search(error), (name, error)
            described += 1
    assert described >= 3   # shape and data disagree, blank or corrupt images, binary size
