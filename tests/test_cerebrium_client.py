"""cerebrium_deploy/test_server.py (the client) end to end against
cerebrium_deploy/local_runtime.py, a local stand-in for Cerebrium's default
runtime on 127.0.0.1: the bearer token, the answer envelope, --run-tests, and
one clear error line for every way a call goes wrong."""
import re
import secrets
import shutil
import socket
import subprocess
import sys

import pytest
import requests

from helpers.cerebrium import DEPLOY, b64, clean_env
from helpers.images import number_png
from helpers.scripts import HERE
from helpers.local_server import ROOT, free_port

BROKEN_APP = HERE / "broken_cerebrium_app" / "main.py"


def start_runtime(app, token, stderr_path):
    """Start local_runtime.py serving `app`; (process, base URL) once it listens."""
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(DEPLOY / "local_runtime.py"), "--app-dir", str(app),
                                 "--port", "0"], cwd=ROOT, env=clean_env(CEREBRIUM_API_KEY=token), text=True,
                                stdout=subprocess.PIPE, stderr=stderr)
    # It prints "listening on URL" once the model is loaded; EOF means it died first.
    for line in iter(proc.stdout.readline, ""):
        if line.startswith("listening on "):
            return proc, line.split()[-1]
    stop(proc)
    raise AssertionError(f"the local runtime did not start: {stderr_path.read_text()[-2000:]}")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)
    proc.stdout.close()


@pytest.fixture(scope="module")
def token():
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def endpoint(cerebrium_bundle, token, tmp_path_factory):
    proc, base = start_runtime(cerebrium_bundle, token, tmp_path_factory.mktemp("logs") / "runtime.err")
    yield f"{base}/v4/p-local/mnist-digits/predict"
    stop(proc)


@pytest.fixture(scope="module")
def broken_base(token, tmp_path_factory):
    """tests/helpers/broken_cerebrium_app served by the local runtime."""
    app = tmp_path_factory.mktemp("broken_app")
    shutil.copy(BROKEN_APP, app / "main.py")
    proc, base = start_runtime(app, token, app / "runtime.err")
    yield f"{base}/v4/p-local/broken"
    stop(proc)


def client(*args, **env):
    proc = subprocess.run([sys.executable, str(DEPLOY / "test_server.py"), *map(str, args)], cwd=ROOT,
                          env=clean_env(**env), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_runtime_wants_the_bearer_token_and_wraps_answers_in_the_envelope(endpoint, token, digit_pngs,
                                                                           litert_predictor):
    png, _ = digit_pngs[0]
    body = {"image": b64(png)}
    assert requests.post(endpoint, json=body, timeout=30).status_code == 401
    assert requests.post(endpoint, json=body, timeout=30, headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}

    response = requests.post(endpoint, json=body, headers=auth, timeout=30)
    assert response.status_code == 200
    envelope = response.json()
    assert set(envelope) == {"run_id", "run_time_ms", "result"} and envelope["run_time_ms"] >= 0
    assert envelope["result"] == litert_predictor.predict_images([png])[0]

    response = requests.post(endpoint, json={"image": "%%%"}, headers=auth, timeout=30)
    assert response.status_code == 400
    assert response.json()["result"]["error"]["code"] == "invalid_input"


@pytest.mark.process
def test_client_prints_the_digit_and_its_confidence(endpoint, token, digit_pngs, tmp_path):
    png, label = digit_pngs[0]
    (tmp_path / "digit.png").write_bytes(png)
    proc = client(tmp_path / "digit.png", CEREBRIUM_ENDPOINT=endpoint, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^digit {label} \(confidence [01]\.\d+\)$", proc.stdout, re.MULTILINE), proc.stdout


@pytest.mark.process
def test_client_reads_a_whole_number_with_read(endpoint, token, tmp_path):
    (tmp_path / "number.png").write_bytes(number_png("2026"))
    proc = client("--read", tmp_path / "number.png", CEREBRIUM_ENDPOINT=endpoint, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^number 2026 \(a number; confidence [01]\.\d+\)$", proc.stdout, re.MULTILINE), proc.stdout
    assert len(re.findall(r"^  \d at \[\d+, \d+, \d+, \d+\]", proc.stdout, re.MULTILINE)) == 4, proc.stdout


@pytest.mark.process
def test_client_run_tests_passes_against_the_deployed_app(endpoint, token):
    proc = client("--run-tests", "--endpoint", endpoint, "--max-latency-ms", 60000, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("known digits", "latency", "batch", "number", "bad input: not base64", "bad input: blank image"):
        assert re.search(rf"^PASS  {check}:", proc.stdout, re.MULTILINE), proc.stdout
    assert "FAIL" not in proc.stdout


@pytest.mark.process
def test_client_run_tests_fails_a_latency_bound_nothing_meets(endpoint, token):
    proc = client("--run-tests", "--endpoint", endpoint, "--max-latency-ms", 0, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 1
    assert re.search(r"^FAIL  latency:", proc.stdout, re.MULTILINE), proc.stdout


@pytest.mark.process
def test_client_run_tests_fails_an_app_that_answers_wrongly(broken_base, token):
    proc = client("--run-tests", "--endpoint", f"{broken_base}/predict", "--max-latency-ms", 60000,
                  CEREBRIUM_API_KEY=token)
    assert proc.returncode == 1
    for check in ("known digits", "batch", "bad input: not base64", "bad input: blank image"):
        assert re.search(rf"^FAIL  {check}:", proc.stdout, re.MULTILINE), proc.stdout


@pytest.mark.process
def test_client_run_tests_fails_clearly_when_nothing_answers(token):
    port = free_port()
    proc = client("--run-tests", "--endpoint", f"http://127.0.0.1:{port}/v4/p/a/predict", CEREBRIUM_API_KEY=token)
    assert proc.returncode == 1
    assert "cannot connect" in proc.stdout and "PASS" not in proc.stdout


@pytest.mark.process
def test_client_errors_are_one_clear_line(endpoint, broken_base, token, digit_pngs, tmp_path):
    image = tmp_path / "digit.png"
    image.write_bytes(digit_pngs[0][0])
    (tmp_path / "notes.txt").write_text("not an image")
    with socket.socket() as silent:        # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/v4/p/a/predict"
        cases = [
            ((image, "--endpoint", endpoint), {}, "HTTP 401: authentication failed; set CEREBRIUM_API_KEY"),
            ((image, "--endpoint", endpoint.replace("/predict", "/nope")), {"CEREBRIUM_API_KEY": token}, "HTTP 404"),
            ((image, "--endpoint", f"{broken_base}/crash"), {"CEREBRIUM_API_KEY": token}, "HTTP 500: RuntimeError: boom"),
            ((tmp_path / "notes.txt", "--endpoint", endpoint), {"CEREBRIUM_API_KEY": token}, "HTTP 400 invalid_image"),
            ((tmp_path / "missing.png", "--endpoint", endpoint), {"CEREBRIUM_API_KEY": token}, "cannot read"),
            ((image, "--endpoint", silent_url, "--timeout", 1), {"CEREBRIUM_API_KEY": token}, "no answer from"),
        ]
        for args, env, message in cases:
            proc = client(*args, **env)
            assert proc.returncode == 1, (args, proc.stdout)
            errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and message in errors[0], (args, proc.stderr)


@pytest.mark.process
def test_client_needs_an_endpoint():
    proc = client("digit.png")
    assert proc.returncode == 2 and "CEREBRIUM_ENDPOINT" in proc.stderr
