"""openapi_spec.py: the document /openapi.json serves is valid OpenAPI 3, lists exactly
the routes the Flask app serves, and its schemas match the app's real answers and errors."""
import base64

import pytest

import config
from helpers.http_cases import bad_requests


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
    health_schema = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    OAS30Validator(health_schema).validate(flask_client.get("/health").get_json())
    # Every error status the app answers is documented, with the documented shape.
    documented = set(spec["paths"]["/predict"]["post"]["responses"])
    for name, method, path, headers, body, statuses, code in bad_requests():
        if path != "/predict":
            continue
        response = flask_client.open(path, method=method, headers=headers, data=body)
        assert str(response.status_code) in documented, name
        OAS30Validator(schemas["Error"]).validate(response.get_json())
    assert set(spec["paths"]["/predict"]["post"]["requestBody"]["content"]) == {
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
