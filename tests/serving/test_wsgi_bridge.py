"""The bridge between granian and Flask (wsgi_bridge.py): the WSGI environ it builds
and what it logs when it cannot answer (with a stand-in for granian's scope and
protocol); then through the real server: slow clients that stall halfway through
a request neither block others nor stay open past their time limit. Bodies and
limits over HTTP are in test_flask_deploy.py."""
import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from granian.rsgi import ProtocolClosed
from werkzeug.wrappers import Request

from helpers.load_probes import closed_by_server, multipart_png, stall, timed_request
from helpers.local_server import free_port, start_server, stop_server
from mnist_digits.serving.wsgi_bridge import WSGIBridge

TIMEOUT_S = 2
BRIDGE_LOG = "mnist_digits.serving.wsgi_bridge"


class _Headers:
    """granian's RSGIHeaders as the bridge uses it: items() lists a repeated header once per line."""

    def __init__(self, pairs):
        self.pairs = pairs

    def items(self):
        return list(self.pairs)

    def get(self, key, default=None):
        return next((value for name, value in self.pairs if name == key), default)


def _scope(headers=(), method="GET"):
    return SimpleNamespace(proto="http", method=method, path="/predict", query_string="", server="127.0.0.1:5000",
                           client="127.0.0.1:40000", http_version="1.1", scheme="http",
                           headers=_Headers(list(headers)))


class _Protocol:
    """granian's RSGI protocol: `await protocol()` reads the body; response_bytes answers."""

    def __init__(self, read):
        self.read, self.answers = read, []

    async def __call__(self):
        return await self.read()

    def response_bytes(self, status, headers, body):
        self.answers.append((status, headers, body))


def _bridge(app=None, body_timeout_s=5):
    # What __rsgi_init__ sets up, without its signal handlers (this is the test process).
    bridge = WSGIBridge(lambda: app, threads=1, body_timeout_s=body_timeout_s, max_body_bytes=1000)
    bridge.app, bridge.pool = app, ThreadPoolExecutor(1)
    return bridge


def _serve(bridge, scope, protocol):
    try:
        asyncio.run(bridge.__rsgi__(scope, protocol))
    finally:
        bridge.__rsgi_del__(None)
    return protocol.answers


async def _body():
    return b"{}"


def test_repeated_headers_join_with_a_comma_and_cookies_with_a_semicolon():
    environ = WSGIBridge(None, 1, 1, 1000)._environ(_scope([
        ("cookie", "a=1"), ("cookie", "b=2"), ("accept", "image/png"), ("accept", "*/*"), ("x-request-id", "r1")]),
        b"")
    request = Request(environ)
    assert request.cookies.to_dict() == {"a": "1", "b": "2"}
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_ACCEPT"] == "image/png, */*"
    assert request.headers["X-Request-ID"] == "r1"


def test_headers_spelled_with_an_underscore_are_dropped():
    environ = WSGIBridge(None, 1, 1, 1000)._environ(_scope([("x-api-key", "real"), ("x_api_key", "forged")]), b"")
    assert environ["HTTP_X_API_KEY"] == "real"


def test_an_app_that_raises_is_logged_with_its_trace_and_answered_500(caplog):
    def app(environ, start_response):
        raise ZeroDivisionError("boom")

    with caplog.at_level(logging.INFO, logger=BRIDGE_LOG):
        answers = _serve(_bridge(app), _scope([("content-length", "2")], "POST"), _Protocol(_body))
    assert [status for status, _, _ in answers] == [500]
    assert json.loads(answers[0][2])["error"]["code"] == "internal_error"
    [record] = [r for r in caplog.records if r.name == BRIDGE_LOG]
    assert record.levelno == logging.ERROR and "POST /predict" in record.getMessage()
    assert record.exc_info[0] is ZeroDivisionError


@pytest.mark.parametrize("error, level", [
    (ProtocolClosed("RSGI transport is closed"), logging.INFO),  # the client went away: not our fault
    (ValueError("a bug"), logging.ERROR),                         # a bug in the bridge: its trace
])
def test_a_body_that_cannot_be_read_is_logged_not_answered(caplog, error, level):
    async def fail():
        raise error

    with caplog.at_level(logging.INFO, logger=BRIDGE_LOG):
        answers = _serve(_bridge(), _scope([("content-length", "10")], "POST"), _Protocol(fail))
    assert answers == []
    [record] = [r for r in caplog.records if r.name == BRIDGE_LOG]
    assert record.levelno == level and "POST /predict" in record.getMessage()
    assert (record.exc_info is not None) == (level == logging.ERROR)


def test_a_late_body_is_logged_and_answered_408(caplog):
    async def late():
        await asyncio.sleep(1)

    with caplog.at_level(logging.INFO, logger=BRIDGE_LOG):
        answers = _serve(_bridge(body_timeout_s=0.05), _scope([("content-length", "10")], "POST"), _Protocol(late))
    assert [status for status, _, _ in answers] == [408]
    [record] = [r for r in caplog.records if r.name == BRIDGE_LOG]
    assert record.levelno == logging.INFO and "408" in record.getMessage()


@pytest.fixture(scope="module")
def server_port():
    """The real server with short slow-client limits; yields its port."""
    port = free_port()
    proc = start_server(["flask_deploy.py", "--port", port], port,
                        env={"MODEL_BACKEND": "litert", "HTTP_HEADER_TIMEOUT_S": str(TIMEOUT_S),
                             "HTTP_BODY_TIMEOUT_S": str(TIMEOUT_S)})
    yield port
    stop_server(proc)


def test_stalled_half_requests_do_not_block_anyone(server_port, digit_pngs):
    port = server_port
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
def test_stalled_connections_are_closed_after_the_timeout(server_port, part):
    port = server_port
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
