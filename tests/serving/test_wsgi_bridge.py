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
