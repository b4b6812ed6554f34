"""The REST API's image (Containerfile), built and run here with podman or docker.

One build (deploy/build_image.sh, cached by the engine's layers) and one container,
published on 127.0.0.1 with settings from the environment as a deployment passes
them: it must answer ready, predict, speak V2 to the official client, run as no
root process, and stop on SIGTERM with status 0 within its grace period.
"""
import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import config
from helpers import container as image
from helpers.local_server import free_port

pytestmark = [
    pytest.mark.image,
    pytest.mark.process,
    pytest.mark.skipif(image.engine() is None, reason="neither podman nor a running docker is installed "
                       "(make container-engine installs podman)"),
    pytest.mark.timeout(900),   # a cold build here takes ~3 min; cached, seconds
]
GRACE_S = 10            # SHUTDOWN_GRACE_S given to the container
DELAY_S = 2             # SHUTDOWN_DELAY_S: after SIGTERM it serves this long, answering "not ready"
WORKERS = 1             # WSGI_WORKERS given to it: one worker process under the main one
INNER_PORT = 5080       # PORT given to it: the server must listen where the environment says


@pytest.fixture(scope="module")
def served():
    """The image, running -> (container id, base URL)."""
    image.build()
    port = free_port()
    container = image.run(port, env={"PORT": INNER_PORT, "WSGI_WORKERS": WORKERS,
                                     "SHUTDOWN_GRACE_S": GRACE_S, "SHUTDOWN_DELAY_S": DELAY_S,
                                     "LOG_FORMAT": "text"})
    try:
        url = f"http://127.0.0.1:{port}"
        image.wait_ready(container, f"{url}/health/ready")
        yield container, url
    finally:
        image.remove(container)


def get_json(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.load(response)


def test_ready_with_the_checked_model(served):
    _, url = served
    status, body = get_json(f"{url}/health/ready")
    assert status == 200 and body["status"] == "ready"
    assert get_json(f"{url}/health")[1]["backend"] == "litert"


def test_predict_an_uploaded_png(served):
    _, url = served
    png = (config.EXAMPLES_DIR / "mnist_7.png").read_bytes()
    status, body = get_json(f"{url}/predict", data=png, headers={"Content-Type": "image/png"})
    assert status == 200 and body["prediction"] == 7 and body["is_digit"] is True


def test_v2_infer_with_tritonclient(served):
    import tritonclient.http as httpclient
    _, url = served
    client = httpclient.InferenceServerClient(url=url.removeprefix("http://"), network_timeout=30.0)
    try:
        assert client.is_model_ready(config.V2_MODEL_NAME)
        digits = [0, 7]
        inp = httpclient.InferInput("image", [len(digits)], "BYTES")
        inp.set_data_from_numpy(np.array([(config.EXAMPLES_DIR / f"mnist_{d}.png").read_bytes()
                                          for d in digits], dtype=np.object_))
        assert client.infer(config.V2_MODEL_NAME, [inp]).as_numpy("prediction").tolist() == digits
    finally:
        client.close()


def test_no_process_runs_as_root_and_workers_follow_the_environment(served):
    container, _ = served
    # Every process's Uid line: real, effective, saved and filesystem uid.
    lines = image.call("exec", container, "sh", "-c", "grep -h '^Uid:' /proc/[0-9]*/status").splitlines()
    uids = {uid for line in lines for uid in line.split()[1:]}
    assert uids and "0" not in uids, lines
    # The main process and WSGI_WORKERS workers ("[.]": the pattern does not match its own command line).
    servers = image.call("exec", container, "sh", "-c", "grep -l 'flask_deploy[.]py' /proc/[0-9]*/cmdline")
    assert len(servers.splitlines()) == 1 + WORKERS


def test_serves_without_tensorflow_or_gradio(served):
    container, _ = served
    probe = "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'gradio') if u.find_spec(m)])"
    assert image.call("exec", container, "python", "-c", probe) == "[]"


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sigterm_drains_and_stops_it_with_status_0_within_the_grace_period(served):
    """As outside a container: readiness fails at once, requests are still answered for
    SHUTDOWN_DELAY_S, then the server stops. The signal must reach the server (PID 1)."""
    container, url = served
    start = time.monotonic()
    image.call("kill", "--signal", "TERM", container)
    while status_of(f"{url}/health/ready") != 503 and time.monotonic() - start < DELAY_S / 2:
        time.sleep(0.05)   # the signal is handled within milliseconds
    assert status_of(f"{url}/health/ready") == 503
    png = (config.EXAMPLES_DIR / "mnist_7.png").read_bytes()
    assert get_json(f"{url}/predict", data=png, headers={"Content-Type": "image/png"})[1]["prediction"] == 7
    status = int(image.call("wait", container, timeout_s=DELAY_S + GRACE_S + 20))
    seconds = time.monotonic() - start
    assert status == 0, image.logs(container)
    assert DELAY_S <= seconds < DELAY_S + GRACE_S, f"took {seconds:.1f} s"
