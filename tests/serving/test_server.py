"""The production server (server.py) as users start it, on 127.0.0.1, under abuse:
overload with keep-alive, a worker killed, SIGTERM in the middle of work, a long
run's memory. Each test is bounded in requests and seconds. Slow clients are in
tests/serving/test_wsgi_bridge.py."""
import base64
import json
import os
import signal
import time

import pytest

from mnist_digits.serving import server as production_server
from helpers.load_probes import KeepAliveLoad, descendants, multipart_png, timed_request, tree_rss_bytes
from helpers.local_server import free_port, start_server, stop_server

# The LiteRT backend starts in a fraction of a second: these tests are about the server.
FAST_MODEL = {"MODEL_BACKEND": "litert"}


def workers_of(proc):
    return sorted(pid for pid in descendants(proc.pid) if pid != proc.pid)


@pytest.fixture
def server(tmp_path):
    """A fresh server per test (they kill and stop it); yields (port, process, log path)."""
    started = []

    def start(**env):
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        with open(log_path, "w") as log:
            proc = start_server(["flask_deploy.py", "--port", port], port, env={**FAST_MODEL, **env}, log=log)
        started.append(proc)
        deadline = time.monotonic() + 30
        while len(workers_of(proc)) < int(env.get("WSGI_WORKERS", 2)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return port, proc, log_path

    yield start
    for proc in started:
        stop_server(proc)


@pytest.fixture(scope="module")
def upload(digit_pngs):
    return multipart_png(digit_pngs[0][0])


@pytest.mark.process
@pytest.mark.parametrize("clients", [32, 64])
def test_overload_with_keep_alive_answers_every_request(server, upload, clients):
    """More keep-alive clients than threads: each is answered within 2 s, none starves."""
    port, proc, _ = server()
    load = KeepAliveLoad(port, *upload, clients=clients, timeout_s=2.0).start()
    time.sleep(8)
    load.stop()
    assert set(load.statuses) == {200}, load.statuses
    assert load.count > 4 * clients          # every client got through, repeatedly
    assert max(load.latencies) < 2.0


@pytest.mark.process
def test_a_killed_worker_is_replaced(server, upload):
    port, proc, _ = server()
    before = workers_of(proc)
    assert len(before) == 2
    load = KeepAliveLoad(port, *upload, clients=8, timeout_s=5.0).start()
    time.sleep(1)
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = workers_of(proc)
        if len(now) == 2 and before[0] not in now:
            break
        time.sleep(0.1)
    load.stop()
    assert len(now) == 2 and before[0] not in now and before[1] in now, (before, now)
    assert proc.poll() is None
    # Every request after the replacement succeeds, on new connections and on kept ones.
    after = KeepAliveLoad(port, *upload, clients=8, timeout_s=5.0, requests=400).start()
    after.join(60)
    assert after.statuses == {200: 400}, after.statuses
    assert all(timed_request(port, "GET", "/health")[0] == 200 for _ in range(10))


@pytest.mark.process
def test_sigterm_finishes_requests_in_flight_then_exits(server, digit_pngs):
    """Batches of 256 images take long enough to be caught mid-way by SIGTERM."""
    port, proc, _ = server(SHUTDOWN_GRACE_S="20")
    instances = [base64.b64encode(png).decode() for png, _ in digit_pngs] * 25
    body = json.dumps({"instances": instances}).encode()
    load = KeepAliveLoad(port, body, "application/json", clients=6, timeout_s=30.0, stop_on_error=True).start()
    time.sleep(2)
    assert load.count > 0
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)          # the main process only, as an orchestrator does
    proc.wait(timeout=25)
    exited = time.monotonic() - sent
    load.stop()
    assert proc.returncode == 0
    # Every request sent before the signal was answered; after it, clients may find
    # the server gone (refused, or a kept connection closed), and stop there.
    before = [outcome for began, _, outcome in load.records if began < sent]
    assert before and set(before) == {200}, load.statuses
    assert sum(began < sent < ended for began, ended, _ in load.records) >= 3   # caught in flight
    assert sum(began >= sent and outcome != 200 for began, _, outcome in load.records) <= 6
    assert exited < 20
    assert timed_request(port, "GET", "/health", timeout_s=2)[0] is None   # nothing listens any more


@pytest.mark.process
def test_sigterm_grace_period_bounds_the_wait(server):
    """A request that would take longer than SHUTDOWN_GRACE_S does not hold the exit."""
    from helpers.load_probes import stall
    port, proc, _ = server(SHUTDOWN_GRACE_S="2", HTTP_BODY_TIMEOUT_S="60")
    socks = stall(port, 4, part="body")       # in flight, and would be for 60 s
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert time.monotonic() - sent < 6
    for sock in socks:
        sock.close()


@pytest.mark.process
def test_sigterm_while_a_worker_loads_its_model_exits_at_once(server):
    """A worker still loading (here: the Keras model, seconds) has nothing in flight:
    the stop signal must not wait for the grace period to kill it."""
    port, proc, _ = server(MODEL_BACKEND="keras", SHUTDOWN_GRACE_S="25")
    os.kill(workers_of(proc)[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while len(workers_of(proc)) < 2 and time.monotonic() < deadline:   # the replacement is forked...
        time.sleep(0.02)
    time.sleep(0.3)                                                       # ...and is loading TensorFlow
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert time.monotonic() - sent < 10


@pytest.mark.process
def test_memory_stays_flat_over_20000_requests(server, upload):
    port, proc, _ = server()
    warm = KeepAliveLoad(port, *upload, clients=32, timeout_s=10.0, requests=2000).start()
    warm.join(60)
    before = tree_rss_bytes(proc.pid)
    load = KeepAliveLoad(port, *upload, clients=32, timeout_s=10.0, requests=20000).start()
    load.join(120)
    after = tree_rss_bytes(proc.pid)
    assert load.statuses == {200: 20000}, load.statuses
    assert after < 1.10 * before, f"resident memory grew from {before / 2**20:.0f} to {after / 2**20:.0f} MiB"


# --- The readiness hook -------------------------------------------------------------------------
def test_shutting_down_turns_true_on_the_stop_signal(monkeypatch):
    """What a readiness probe reads: False while serving, True from the stop signal on."""
    monkeypatch.setattr(production_server._SHUTTING_DOWN, "value", 0)
    built, _ = production_server.build_server(lambda: None, "127.0.0.1", free_port())
    assert not production_server.shutting_down()
    built.signal_handler_interrupt()
    assert production_server.shutting_down() and built.interrupt_signal


def test_shutdown_delay_keeps_serving_first(monkeypatch):
    monkeypatch.setattr(production_server._SHUTTING_DOWN, "value", 0)
    monkeypatch.setattr(production_server.config, "SHUTDOWN_DELAY_S", 0.5)
    built, _ = production_server.build_server(lambda: None, "127.0.0.1", free_port())
    built.signal_handler_interrupt()
    assert production_server.shutting_down() and not built.interrupt_signal   # still serving
    time.sleep(1.0)
    assert built.interrupt_signal                                   # now stopping
