"""Liveness and readiness, for load balancers and Kubernetes.

    GET /health/live    200 while the process answers at all
    GET /health/ready   200 once the model has loaded and answered a warm-up request,
                        503 {"status": "not_ready", "reason": ...} before that and
                        once the server is shutting down

The production server (server.py) flags its shutdown in memory all its workers
share, from the moment it gets SIGTERM, so a load balancer stops sending new
requests while those in flight finish. (waitress has no graceful stop to wait
for: SIGTERM ends it at once.)
"""
import logging

import numpy as np
from flask import current_app

import config
from mnist_digits.serving import server

SHUTTING_DOWN = "the server is shutting down"
log = logging.getLogger(__name__)


class Readiness:
    """Whether this app should get traffic, and if not, why."""

    def __init__(self):
        self._reason = "the model is loading"

    @property
    def reason(self):
        # The production server flags its shutdown in memory every worker shares.
        return SHUTTING_DOWN if server.shutting_down() else self._reason

    @property
    def ready(self):
        return self.reason is None

    def set_ready(self):
        self._reason = None

    def set_not_ready(self, reason):
        self._reason = reason


def readiness(app=None):
    return (app or current_app).extensions["readiness"]


def warm_up(predictor):
    """One request through preprocessing and the model, as a client would send it."""
    digit = np.zeros((config.IMAGE_SIZE, config.IMAGE_SIZE), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    (result,) = predictor.predict_images([digit], "enhanced")
    if len(result["probabilities"]) != config.NUM_CLASSES:
        raise RuntimeError(f"the warm-up answered {len(result['probabilities'])} probabilities")


def install(app, predictor):
    """The probe routes; warms the predictor up and marks the app ready if it answers."""
    state = Readiness()
    app.extensions["readiness"] = state

    @app.get("/health/ready")
    def ready():
        if not state.ready:
            return {"status": "not_ready", "reason": state.reason}, 503
        return {"status": "ready", "model_version": predictor.version}

    app.add_url_rule("/health/live", "live", lambda: {"status": "alive"})  # answering at all is the answer

    try:
        warm_up(predictor)
    except Exception as exc:  # stay up and say why: a probe reports it, an operator reads it
        log.exception("warm-up failed; the app stays not ready")
        state.set_not_ready(f"the model failed its warm-up ({exc.__class__.__name__})")
    else:
        state.set_ready()
    return state
