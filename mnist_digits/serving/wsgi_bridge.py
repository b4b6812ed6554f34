"""Run a WSGI app (Flask) under granian's RSGI interface, buffering each body first.

Why not granian's own WSGI interface: it hands the app a body stream that a
worker thread reads with a blocking call, so a client that sends its headers
and then stalls halfway through the body holds one of the few Python threads
for as long as it likes, and enough of them stop the server. Here the body is
read on the event loop (one coroutine per connection, no thread), with a time
limit and a size cap; only a complete request reaches a thread of the pool
that runs the WSGI app. That is what a buffering proxy in front would do,
without a second process to install and run.

    bridge = WSGIBridge(create_app, threads=4, body_timeout_s=10, max_body_bytes=8 << 20)

granian calls `__rsgi_init__` in each worker process after it has started
(after the fork): the app, and so the model, is built there, once per worker.
"""
import asyncio
import io
import json
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from granian.rsgi import ProtocolClosed

# Headers WSGI passes without the HTTP_ prefix.
_PLAIN_HEADERS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
# How a header sent more than once becomes one environ value: RFC 9110 5.3 joins
# field lines with a comma; Cookie is the exception (RFC 6265 5.4, RFC 9113 8.2.3:
# "; "), and Werkzeug's cookie parser splits on ";" only, so "a=1,b=2" would read
# as one cookie a with the value "1,b=2".
_JOINERS = {"HTTP_COOKIE": "; "}
log = logging.getLogger(__name__)


def error_body(code, message):
    """The JSON error every entrypoint answers with (see errors.py)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _exit_while_starting(signum, frame):
    os._exit(0)


def _restore_handlers(handlers):
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def _split_host(address):
    host, _, port = (address or "").rpartition(":")
    return host.strip("[]"), port


class WSGIBridge:
    """An RSGI application that serves `app_factory()` (a WSGI app) on a thread pool."""

    def __init__(self, app_factory, threads, body_timeout_s, max_body_bytes):
        self.app_factory = app_factory
        self.threads = threads
        self.body_timeout_s = body_timeout_s
        # One byte past the limit is read, so the app itself sees an oversized body
        # and refuses it with its own 413 (a JSON error like any other).
        self.read_limit = max_body_bytes + 1
        self.app = self.pool = None

    # --- granian's worker life cycle ------------------------------------------------
    def __rsgi_init__(self, loop):
        # Building the app loads the model: seconds. A stop signal meanwhile would be
        # held until the worker serves (and then until the grace period kills it),
        # though nothing is in flight yet; so until the worker's event loop runs, it
        # ends the process. The loop's own handlers come back from its first callback,
        # not before: uvloop only acts on a signal that arrives once it runs (one that
        # came between would be recorded, never handled, and the worker would serve on
        # until the grace period killed it: 1 stop in 8 right after a container's start).
        stop_handlers = {sig: signal.signal(sig, _exit_while_starting) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.app = self.app_factory()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
        loop.call_soon(_restore_handlers, stop_handlers)

    def __rsgi_del__(self, loop):
        # granian calls this once it has answered every request in flight.
        self.pool.shutdown(wait=True)

    # --- One request ------------------------------------------------------------------
    async def __rsgi__(self, scope, protocol):
        if scope.proto != "http":
            return
        try:
            body = await asyncio.wait_for(self._read_body(scope, protocol), self.body_timeout_s)
        except asyncio.TimeoutError:
            # The app never sees this request, so its access log does not either: say it here.
            log.info("%s %s: the body did not arrive within %g s; answered 408",
                     scope.method, scope.path, self.body_timeout_s)
            protocol.response_bytes(408, [("content-type", "application/json"), ("connection", "close")],
                                    error_body("request_timeout", f"the request body did not arrive within "
                                               f"{self.body_timeout_s:g} s"))
            return
        except ProtocolClosed:  # the client went away mid-body: nobody to answer
            log.info("%s %s: the client closed the connection before its body arrived; not answered",
                     scope.method, scope.path)
            return
        except Exception:  # a bug in reading the body: the connection is dropped, the trace kept
            log.exception("%s %s: reading the request body failed; not answered", scope.method, scope.path)
            return
        environ = self._environ(scope, body)
        loop = asyncio.get_running_loop()
        try:
            status, headers, content = await loop.run_in_executor(self.pool, self._call_app, environ)
        except Exception:  # a WSGI app answers its own errors; this is a bug in the app itself
            log.exception("%s %s: the app raised instead of answering; answered 500", scope.method, scope.path)
            status, headers = 500, [("content-type", "application/json")]
            content = error_body("internal_error", "the server failed to answer; this is a bug on our side")
        protocol.response_bytes(status, headers, content)

    async def _read_body(self, scope, protocol):
        """The body, or its first read_limit bytes when it is bigger (never more)."""
        declared = scope.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) >= self.read_limit or int(declared) == 0:
                return b""      # the app refuses it by its Content-Length alone; nothing to read
            return await protocol()   # at most the declared length, under the limit: one read
        elif scope.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return b""
        chunks, size = [], 0
        async for chunk in protocol:
            chunks.append(chunk)
            size += len(chunk)
            if size >= self.read_limit:
                break
        return b"".join(chunks)[:self.read_limit]

    def _environ(self, scope, body):
        server_name, server_port = _split_host(scope.server)
        client_addr, client_port = _split_host(scope.client)
        environ = {
            "REQUEST_METHOD": scope.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": scope.path,
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": client_addr,
            "REMOTE_PORT": client_port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for name, value in scope.headers.items():
            if "_" in name:
                # "X_Api-Key" would land on the same key as "X-Api-Key" (a client could
                # pass one header off as another behind a proxy that checks only the
                # first spelling); Werkzeug's server and nginx drop these too.
                continue
            key = _PLAIN_HEADERS.get(name) or "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]}{_JOINERS.get(key, ', ')}{value}" if key in environ else value
        if "CONTENT_LENGTH" not in environ or body:
            # A chunked body, now buffered, or the bytes actually read: the app sees
            # the real length (one past the limit tells it the body was too big).
            environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return environ

    def _call_app(self, environ):
        """Run the WSGI app in a pool thread -> (status, headers, body bytes)."""
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = int(status[:3]), headers

        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return answer["status"], answer["headers"], content
