"""The bridge between granian and Flask (wsgi_bridge.py), through the real server:
slow clients that stall halfway through a request neither block others nor stay
open past their time limit. Bodies and limits over HTTP are in test_flask_server.py."""
import time

import pytest

from helpers.load_probes import closed_by_server, multipart_png, stall, timed_request
from helpers.local_server import free_port, start_server, stop_server

TIMEOUT_S = 2


@pytest.fixture(scope="module")
def port():
    port = free_port()
    proc = start_server(["flask_deploy.py", "--port", port], port,
                        env={"MODEL_BACKEND": "litert", "HTTP_HEADER_TIMEOUT_S": str(TIMEOUT_S),
                             "HTTP_BODY_TIMEOUT_S": str(TIMEOUT_S)})
    yield port
    stop_server(proc)


def test_stalled_half_requests_do_not_block_anyone(port, digit_pngs):
    body, ctype = multipart_png(digit_pngs[0][0])
    socks = stall(port, 128, "headers") + stall(port, 128, "body")
    try:
        time.sleep(0.3)
        for _ in range(5):
            status, seconds = timed_request(port, "GET", "/health")
            assert status == 200 and seconds < 0.5, seconds
            status, seconds = timed_request(port, "POST", "/predict", body, {"Content-Type": ctype})
            assert status == 200 and seconds < 0.5, seconds
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("part", ["headers", "body"])
def test_stalled_connections_are_closed_after_the_timeout(port, part):
    started = time.monotonic()
    socks = stall(port, 32, part)
    try:
        early, _, _ = closed_by_server(socks, TIMEOUT_S / 2)
        assert early == 0                       # nobody is cut off before the limit...
        closed, answers, _ = closed_by_server(socks, 3 * TIMEOUT_S)
        assert closed == len(socks)             # ...and everyone after it
        assert time.monotonic() - started < 3 * TIMEOUT_S
        if part == "body":                      # a late body is told why
            assert answers == {"HTTP/1.1 408 Request Timeout": len(socks)}, answers
    finally:
        for sock in socks:
            sock.close()


def test_a_stop_signal_ends_a_starting_worker_until_its_event_loop_runs():
    """A granian worker sets its loop's signal handlers, builds the app, then runs the loop.
    uvloop acts only on a signal that comes once it runs, so until then the bridge's own
    handler must end the process; the loop's handler comes back from its first callback."""
    import asyncio
    import signal

    import uvloop

    from mnist_digits.serving import wsgi_bridge
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    loop = uvloop.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: None)
    loops_own = signal.getsignal(signal.SIGTERM)
    bridge = wsgi_bridge.WSGIBridge(lambda: "the app", threads=1, body_timeout_s=1, max_body_bytes=1)
    try:
        bridge.__rsgi_init__(loop)
        assert signal.getsignal(signal.SIGTERM) is wsgi_bridge._exit_while_starting
        loop.run_until_complete(asyncio.sleep(0))
        assert signal.getsignal(signal.SIGTERM) == loops_own
    finally:
        bridge.pool.shutdown()
        loop.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)
