"""Request IDs, the per-request log line and the Prometheus metrics: in process through
Flask's test client, and across the real server's worker processes."""
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import config
from mnist_digits.serving import observability
from flask_deploy import create_app
from helpers.local_server import ROOT, free_port, start_server, stop_server

EXAMPLES = {int(path.stem.split("_")[1]): path.read_bytes() for path in config.EXAMPLES_DIR.glob("mnist_*.png")}


def samples(metrics_text):
    """{(sample name, frozenset of labels): value} from Prometheus text, via prometheus_client's parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(metrics_text) for s in family.samples}


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0.0)


def log_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def client(predictor):
    return create_app(predictor).test_client()


# --- Request IDs and log lines ----------------------------------------------------------------
def test_a_request_id_is_made_returned_and_logged(client, capsys):
    capsys.readouterr()
    first, second = client.get("/health"), client.get("/health")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]
    lines = log_lines(capsys.readouterr().err)
    assert [line["request_id"] for line in lines if line["logger"] == "digits.access"] == ids


@pytest.mark.parametrize("given,kept", [("abc-123", True), ("trace.7f3a:span/1", True),
                                        ("has space", False), ("x" * 129, False), ('quo"te', False)])
def test_the_clients_request_id_is_kept_when_sane(client, given, kept):
    returned = client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert (returned == given) is kept
    assert re.fullmatch(r"[\w.:@/+=-]{1,128}", returned)


def test_one_json_line_per_request_with_prediction_or_error(client, capsys):
    capsys.readouterr()
    client.post("/predict", data=EXAMPLES[7], content_type="image/png", headers={"X-Request-ID": "req-ok"})
    client.post("/predict", data=b"not an image", content_type="image/png", headers={"X-Request-ID": "req-bad"})
    client.post("/predict", json={"instances": [[[0] * 28] * 28, "%%%"]}, headers={"X-Request-ID": "req-batch"})
    # The V2 protocol's error body has no code: the route notes it for the log line.
    client.post(f"/v2/models/{config.V2_MODEL_NAME}/infer", json={"inputs": []}, headers={"X-Request-ID": "req-v2"})
    lines = {line["request_id"]: line for line in log_lines(capsys.readouterr().err)
             if line["logger"] == "digits.access"}
    ok, bad, batch, v2 = lines["req-ok"], lines["req-bad"], lines["req-batch"], lines["req-v2"]
    assert set(ok) >= {"time", "request_id", "method", "path", "status", "duration_ms", "model_version"}
    assert (ok["method"], ok["path"], ok["status"], ok["prediction"]) == ("POST", "/predict", 200, 7)
    assert ok["duration_ms"] > 0 and ok["time"].endswith("+00:00")
    assert (bad["status"], bad["error_code"]) == (400, "invalid_image") and "prediction" not in bad
    assert (batch["status"], batch["error_code"]) == (400, "invalid_input")
    assert (v2["status"], v2["error_code"]) == (400, "invalid_input")


def test_lines_logged_inside_a_request_carry_its_id(predictor, capsys):
    class Broken:
        version, backend = predictor.version, predictor.backend

        def predict_images(self, images, preprocess):
            if images[0] is not None and isinstance(images[0], bytes):
                raise RuntimeError("simulated bug")
            return predictor.predict_images(images, preprocess)

    client = create_app(Broken()).test_client()
    capsys.readouterr()
    assert client.post("/predict", data=b"x", content_type="image/png",
                       headers={"X-Request-ID": "bug-1"}).status_code == 500
    lines = log_lines(capsys.readouterr().err)
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["request_id"] == "bug-1" and "simulated bug" in error["exception"]


def test_text_format_and_level_from_config(predictor, capsys, monkeypatch):
    try:
        monkeypatch.setattr(config, "LOG_FORMAT", "text")
        client = create_app(predictor).test_client()
        capsys.readouterr()
        client.get("/health", headers={"X-Request-ID": "txt-1"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "[txt-1]" in line and "path=/health" in line and "status=200" in line and not line.startswith("{")
        monkeypatch.setattr(config, "LOG_LEVEL", "WARNING")
        client = create_app(predictor).test_client()
        capsys.readouterr()
        client.get("/health")
        assert capsys.readouterr().err == ""  # request lines are INFO
    finally:
        observability.configure_logging(level="INFO", fmt="json")


@pytest.mark.parametrize("level,fmt", [("LOUD", "json"), ("INFO", "xml")])
def test_bad_log_settings_are_refused(level, fmt):
    with pytest.raises(ValueError, match="LOG_LEVEL" if level == "LOUD" else "LOG_FORMAT"):
        observability.configure_logging(level=level, fmt=fmt)


# --- Metrics in one process -------------------------------------------------------------------
def test_metrics_count_requests_predictions_errors_and_batches(client):
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    for _ in range(3):
        client.post("/predict", data=EXAMPLES[7], content_type="image/png")
    client.post("/predict", json={"instances": [digit.tolist()] * 5})
    client.post("/predict", data=b"junk", content_type="image/png")
    client.get("/no-such-page")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = samples(response.get_data(as_text=True))
    assert value(found, "digits_http_requests_total", route="/predict", method="POST", status="200") == 4
    assert value(found, "digits_http_requests_total", route="/predict", method="POST", status="400") == 1
    assert value(found, "digits_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(found, "digits_http_request_duration_seconds_count", route="/predict") == 5
    assert value(found, "digits_predictions_total", digit="7") == 3
    assert sum(v for (name, _), v in found.items() if name == "digits_predictions_total") == 8
    assert value(found, "digits_errors_total", code="invalid_image") == 1
    assert value(found, "digits_errors_total", code="not_found") == 1
    assert value(found, "digits_batch_size_count") == 4 and value(found, "digits_batch_size_sum") == 8
    assert value(found, "digits_batch_size_bucket", le="1.0") == 3
    assert value(found, "digits_model_info", version=predictor_version(client), backend="keras") == 1


def predictor_version(client):
    return client.get("/health").get_json()["model_version"]


# --- Metrics across worker processes: the real server ----------------------------------------
@pytest.fixture
def two_workers(tmp_path):
    """The real server with two worker processes and JSON logs: (base URL, its open log, the log's path)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = start_server(["flask_deploy.py", "--port", port], port, log=log,
                            env={"MODEL_BACKEND": "litert", "WSGI_WORKERS": "2", "LOG_FORMAT": "json",
                                 "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})
        try:
            yield f"http://127.0.0.1:{port}", log, log_path
        finally:
            stop_server(proc)


def ask(url, digits, i):
    """(digit sent, status), or (None, status) for every 10th request, which is junk so 400s are counted too.
    A new connection each time, so both workers get a share."""
    if i % 10 == 9:
        return None, requests.post(f"{url}/predict", data=b"junk", timeout=30,
                                   headers={"Content-Type": "image/png"}).status_code
    d = digits[i % len(digits)]
    return d, requests.post(f"{url}/predict", data=EXAMPLES[d], timeout=30,
                            headers={"Content-Type": "image/png"}).status_code


def predict_pids(log_path):
    """The worker pids whose access log lines show a /predict."""
    return {line["pid"] for line in log_lines(log_path.read_text())
            if line.get("logger") == "digits.access" and line["path"] == "/predict"}


def send_until_both_workers_served(url, log, log_path):
    """({digit: 200s}, number of 400s) once both workers have served /predict; fails if one never does."""
    digits = sorted(EXAMPLES)
    sent, bad = {d: 0 for d in digits}, 0
    pids, rounds = set(), 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(pids) < 2 and rounds < 10:  # bounded: at most 10 x 100 requests
            rounds += 1
            for d, status in pool.map(lambda i: ask(url, digits, i), range(100)):
                if d is None:
                    assert status == 400
                    bad += 1
                else:
                    assert status == 200
                    sent[d] += 1
            log.flush()
            pids = predict_pids(log_path)
    assert len(pids) == 2, f"one worker served everything in {rounds} rounds: {pids}"
    return sent, bad


@pytest.mark.process
def test_metrics_add_up_across_worker_processes(two_workers):
    """Two workers each count what they serve; /metrics must show the exact totals."""
    url, log, log_path = two_workers
    sent, bad = send_until_both_workers_served(url, log, log_path)

    found = samples(requests.get(f"{url}/metrics", timeout=30).text)
    good = sum(sent.values())
    assert value(found, "digits_http_requests_total", route="/predict", method="POST", status="200") == good
    assert value(found, "digits_http_requests_total", route="/predict", method="POST", status="400") == bad
    assert value(found, "digits_http_request_duration_seconds_count", route="/predict") == good + bad
    for d, count in sent.items():
        assert value(found, "digits_predictions_total", digit=str(d)) == count
    assert value(found, "digits_errors_total", code="invalid_image") == bad
    assert value(found, "digits_batch_size_count") == good
    info = [labels for (name, labels), v in found.items() if name == "digits_model_info" and v == 1]
    assert [dict(labels)["backend"] for labels in info] == ["litert"]


def test_the_metrics_directory_is_emptied_at_start(tmp_path, monkeypatch):
    """Counts from a previous run in a reused PROMETHEUS_MULTIPROC_DIR are not added in."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # restored after: this process stays single-process
    stale = tmp_path / "metrics"
    stale.mkdir()
    (stale / "counter_999999.db").write_bytes(b"\0" * 16)
    (stale / "keep.txt").write_text("not ours")
    path = observability.prepare_multiprocess_dir(str(stale))
    assert path == str(stale) and sorted(p.name for p in stale.iterdir()) == ["keep.txt"]


@pytest.mark.process
@pytest.mark.parametrize("env,named", [({"LOG_FORMAT": "xml"}, "LOG_FORMAT"), ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL")])
def test_the_server_refuses_bad_log_settings_in_one_line(env, named):
    result = subprocess.run([sys.executable, "flask_deploy.py", "--port", str(free_port())], cwd=ROOT, timeout=60,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, env={**os.environ, **env})
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr
