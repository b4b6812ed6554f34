"""Liveness and readiness: ready only after a warm-up answer, not ready once shutting down."""
import pytest

from mnist_digits.serving import probes
from flask_deploy import create_app


@pytest.fixture
def app(predictor):
    return create_app(predictor)


def test_live_and_ready_once_the_warm_up_answered(app, predictor):
    client = app.test_client()
    assert client.get("/health/live").get_json() == {"status": "alive"}
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "model_version": predictor.version}
    assert client.get("/health").get_json() == {"status": "ok", "model_version": predictor.version,
                                                "backend": predictor.backend}  # unchanged


def test_a_new_state_is_not_ready():
    state = probes.Readiness()
    assert not state.ready and state.reason == "the model is loading"


def test_a_failed_warm_up_keeps_the_app_unready_but_alive(predictor):
    class Broken:
        version, backend = predictor.version, predictor.backend

        def predict_images(self, images, preprocess="enhanced"):
            raise RuntimeError("the model cannot answer")

    client = create_app(Broken()).test_client()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json() == {"status": "not_ready",
                                   "reason": "the model failed its warm-up (RuntimeError)"}
    assert client.get("/health/live").status_code == 200


def test_ready_is_503_once_the_production_server_is_told_to_stop(app, monkeypatch):
    """server.py flags SIGTERM in memory its workers share; every readiness route follows it."""
    from mnist_digits.serving import server
    client = app.test_client()
    assert client.get("/health/ready").status_code == 200
    monkeypatch.setattr(server._SHUTTING_DOWN, "value", 1)
    response = client.get("/health/ready")
    assert response.status_code == 503 and response.get_json()["reason"] == probes.SHUTTING_DOWN
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/health/live").status_code == 200   # still alive: it finishes what is in flight
