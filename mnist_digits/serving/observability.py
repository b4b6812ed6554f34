"""Request IDs, one log line per request, and Prometheus metrics for the Flask app.

    observability.install(app, predictor)      # in create_app(), before any other hook
    observability.note_predictions(digits)     # in a route that answered digits

Every request gets an ID (the client's X-Request-ID if it is sane, else a new
one), returned in the X-Request-ID header and written in every log line the
request causes. Each request ends with one log line (JSON or text, LOG_FORMAT)
and updates the metrics served at GET /metrics.

Metrics stay right with several worker processes through prometheus_client's
multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set, every process writes its
values to files there and /metrics adds them up. The variable must be set before
prometheus_client is first imported (it picks its storage at import), so this
module imports it only when an app is built; flask_deploy.main() sets and empties
the directory in the parent, before any worker starts.
"""
import json
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Response, g, has_request_context, request

import config

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from a client as its request ID: short, printable, no spaces or
# quotes, so it can go into a header and a log line without escaping.
_CLIENT_REQUEST_ID = re.compile(r"[\w.:@/+=-]{1,128}")
LOG_FORMATS = ("json", "text")
LATENCY_BUCKETS_S = (.001, .002, .003, .005, .0075, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
access_log = logging.getLogger("digits.access")


# --- Logs ----------------------------------------------------------------------------------
class _StderrHandler(logging.StreamHandler):
    """A StreamHandler that looks up sys.stderr at each write, so it survives
    anything that swaps sys.stderr (pytest's capture, daemonising servers)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _RequestIdFilter(logging.Filter):
    """Stamps every record logged during a request with that request's ID."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            notes = g.get(_NOTES) if has_request_context() else None
            record.request_id = notes.request_id if notes is not None else None
        return True


def _timestamp(record):
    return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; request lines carry their fields at the top level."""

    def format(self, record):
        line = {"time": _timestamp(record), "level": record.levelname, "logger": record.name,
                "pid": record.process, "request_id": record.request_id}
        fields = getattr(record, "fields", None)
        if fields is not None:
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class TextFormatter(logging.Formatter):
    """The same content for a person reading a terminal: key=value after the message."""

    def format(self, record):
        fields = getattr(record, "fields", None)
        text = " ".join(f"{key}={value}" for key, value in fields.items()) if fields else record.getMessage()
        line = (f"{_timestamp(record)} {record.levelname} pid={record.process} [{record.request_id or '-'}] "
                f"{record.name}: {text}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level=None, fmt=None):
    """Send every log record of this process to stderr in LOG_FORMAT, at LOG_LEVEL.
    Safe to call again (each app factory call does): it replaces its own handler."""
    level, fmt = (level or config.LOG_LEVEL).upper(), (fmt or config.LOG_FORMAT).lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {LOG_FORMATS}, got {fmt!r}")
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)


# --- Metrics -------------------------------------------------------------------------------
class Metrics:
    """The app's Prometheus metrics: per process, or shared through the multiprocess directory."""

    def __init__(self, predictor):
        import prometheus_client as prom
        from prometheus_client import multiprocess, values

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if self.multiprocess and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus_client was imported before the variable was set: choose again,
            # otherwise this process would count in memory and /metrics miss its counts.
            values.ValueClass = values.get_value_class()
        self._prom, self._multiprocess_collector = prom, multiprocess.MultiProcessCollector
        # Single process: a registry of this app's own (tests build many apps).
        # Multiprocess: values live in files; /metrics reads them all.
        registry = None if self.multiprocess else prom.CollectorRegistry()
        self._registry = registry
        self.requests = prom.Counter("digits_http_requests", "HTTP requests answered, by route and status",
                                     ["route", "method", "status"], registry=registry)
        self.latency = prom.Histogram("digits_http_request_duration_seconds",
                                      "Time from reading the request to the answer, by route", ["route"],
                                      buckets=LATENCY_BUCKETS_S, registry=registry)
        self.predictions = prom.Counter("digits_predictions", "Images classified, by predicted digit",
                                        ["digit"], registry=registry)
        self.errors = prom.Counter("digits_errors", "Error answers, by error code", ["code"], registry=registry)
        self.batch_size = prom.Histogram("digits_batch_size", "Images per classifying request",
                                         buckets=BATCH_BUCKETS, registry=registry)
        model = prom.Gauge("digits_model_info", "The served model (always 1)", ["version", "backend"],
                           multiprocess_mode="max", registry=registry)
        model.labels(version=predictor.version, backend=getattr(predictor, "backend", "unknown")).set(1)

    def observe(self, route, method, status, duration_s, predictions, error_code):
        """Count one answered request: its status, time, digits (if any) and error code (if any)."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(duration_s)
        if predictions is not None:
            self.batch_size.observe(len(predictions))
            for digit in predictions:
                self.predictions.labels(str(digit)).inc()
        if error_code is not None:
            self.errors.labels(error_code).inc()

    def exposition(self):
        """The text the /metrics route answers."""
        registry = self._registry
        if self.multiprocess:
            registry = self._prom.CollectorRegistry()
            self._multiprocess_collector(registry)
        return self._prom.generate_latest(registry)


def prepare_multiprocess_dir(path=None):
    """Called by the server's parent process before any worker starts: point
    PROMETHEUS_MULTIPROC_DIR at an empty directory (the given one, emptied of a
    previous run's files, or a new temporary one). -> the directory."""
    path = path or config.PROMETHEUS_MULTIPROC_DIR or tempfile.mkdtemp(prefix="digits-metrics-")
    os.makedirs(path, exist_ok=True)
    for stale in Path(path).glob("*.db"):  # counts start at zero with each server run
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


# --- Wiring --------------------------------------------------------------------------------
_NOTES = "digits_request"  # the name of this request's _RequestNotes in flask.g


class _RequestNotes:
    """What the hooks and routes note about one request for its log line and metrics.
    One object in flask.g rather than an attribute each: every access through the g
    and request proxies costs a context lookup (about 0.7 us here), so the hooks
    make as few as they can."""

    __slots__ = ("started", "request_id", "predictions", "error_code")

    def __init__(self, started, request_id):
        self.started, self.request_id = started, request_id
        self.predictions = self.error_code = None


def note_predictions(digits):
    """Called by a route with the digits (ints) it answered: counted and logged."""
    notes = g.get(_NOTES)
    if notes is not None:
        notes.predictions = digits


def note_error(code):
    """Called by a route whose error body has no code field (the V2 protocol's)."""
    notes = g.get(_NOTES)
    if notes is not None:
        notes.error_code = code


def _error_code(response, notes):
    if notes is not None and notes.error_code is not None:
        return notes.error_code
    body = response.get_json(silent=True) if response.is_json else None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else "error"


def _log_request(request_id, fields, predictions, error_code):
    """The one access-log line a request ends with."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    if predictions is not None:
        fields["prediction" if len(predictions) == 1 else "predictions"] = (
            predictions[0] if len(predictions) == 1 else predictions)
    if error_code is not None:
        fields["error_code"] = error_code
    # makeRecord + handle is what .info() does, minus findCaller's walk up the
    # stack for a file and line number that this line would never show.
    access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, "request", (), None,
                                            extra={"fields": fields, "request_id": request_id}))


def install(app, predictor):
    """Request IDs, the per-request log line and metrics, and GET /metrics."""
    metrics = Metrics(predictor)
    app.extensions["metrics"] = metrics
    version = predictor.version

    @app.before_request
    def start_request():
        started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        setattr(g, _NOTES, _RequestNotes(started, request_id))

    @app.after_request
    def finish_request(response):
        # No notes: the request failed before start_request ran.
        notes = g.get(_NOTES) or _RequestNotes(time.perf_counter(), uuid.uuid4().hex)
        duration = time.perf_counter() - notes.started
        response.headers[REQUEST_ID_HEADER] = notes.request_id
        rule, method, status = request.url_rule, request.method, response.status_code
        route = rule.rule if rule is not None else "unmatched"
        error_code = _error_code(response, notes) if status >= 400 else None
        metrics.observe(route, method, status, duration, notes.predictions, error_code)
        _log_request(notes.request_id, {"method": method, "path": request.path, "status": status,
                                        "duration_ms": round(duration * 1000, 3), "model_version": version},
                     notes.predictions, error_code)
        return response

    @app.get("/metrics")
    def prometheus_metrics():
        return Response(metrics.exposition(), mimetype="text/plain", headers={
            "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    return metrics
