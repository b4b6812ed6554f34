"""API keys and CORS: off by default, and when on, exactly the routes the issue names are open."""
import pytest

from mnist_digits.serving import access
import config
from flask_deploy import create_app

KEYS = ("s3cret-key-one", "another-key-2")
PROTECTED = [("POST", "/predict"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/v2"),
             ("GET", f"/v2/models/{config.V2_MODEL_NAME}"), ("POST", f"/v2/models/{config.V2_MODEL_NAME}/infer")]
PIXELS = {"pixels": [[0] * 28] * 27 + [[255] * 28]}


@pytest.fixture
def keyed(predictor, monkeypatch):
    monkeypatch.setattr(config, "API_KEYS", KEYS)
    return create_app(predictor).test_client()


def test_off_by_default(predictor):
    client = create_app(predictor).test_client()
    assert client.post("/predict", json=PIXELS).status_code == 200
    response = client.get("/health", headers={"Origin": "https://example.org"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("method,path", PROTECTED)
def test_every_other_route_needs_a_key(keyed, method, path):
    response = keyed.open(path, method=method, json=PIXELS)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", sorted(access.OPEN_PATHS))
def test_probes_and_metrics_stay_open(keyed, path):
    assert keyed.get(path).status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEYS[0]}"}, {"Authorization": f"bearer {KEYS[1]}"},
                                     {"X-API-Key": KEYS[1]}])
def test_a_valid_key_in_either_header_is_let_in(keyed, headers):
    assert keyed.post("/predict", json=PIXELS, headers=headers).status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEYS[0]}"},
                                     {"X-API-Key": KEYS[0][:-1]}, {"X-API-Key": KEYS[0] + "x"},
                                     {"Authorization": "Bearer ключ"}])
def test_a_wrong_key_is_refused(keyed, headers):
    response = keyed.post("/predict", json=PIXELS, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["message"]


def test_keys_never_reach_the_log(keyed, capsys):
    capsys.readouterr()
    keyed.post("/predict", json=PIXELS, headers={"Authorization": f"Bearer {KEYS[0]}"})
    keyed.post("/predict", json=PIXELS, headers={"X-API-Key": "a-wrong-guess"})
    err = capsys.readouterr().err
    assert '"status": 200' in err and '"status": 401' in err  # both requests were logged
    assert KEYS[0] not in err and "a-wrong-guess" not in err


def test_cors_for_the_configured_origins_only(predictor, monkeypatch):
    monkeypatch.setattr(config, "CORS_ORIGINS", ("https://app.example.org",))
    monkeypatch.setattr(config, "API_KEYS", KEYS)
    client = create_app(predictor).test_client()
    allowed = {"Origin": "https://app.example.org", "Authorization": f"Bearer {KEYS[0]}"}
    response = client.post("/predict", json=PIXELS, headers=allowed)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    other = client.post("/predict", json=PIXELS, headers={**allowed, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # The browser's preflight carries no key; it must still be answered.
    preflight = client.options("/predict", headers={"Origin": "https://app.example.org",
                                                    "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
