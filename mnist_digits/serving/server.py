"""The production server behind `python flask_deploy.py`: granian, pre-forked workers.

granian (a Rust HTTP server: hyper and tokio) owns the sockets: it accepts,
parses HTTP/1.1 and keeps connections alive without a Python thread per
connection, so stalled or idle clients cost a small task, not a worker. The
main process binds the port, forks WSGI_WORKERS worker processes, replaces
one that dies (SIGKILL, a crash) and, on SIGTERM or SIGINT, stops them
gracefully: each stops accepting, answers what it has in flight, and is
killed only past SHUTDOWN_GRACE_S. Each worker builds the app, and so loads
the model, once, after the fork (TensorFlow is not fork-safe). The Flask app
runs behind wsgi_bridge.WSGIBridge, which reads each body on the event loop
with a time limit before a thread of the app's pool sees the request.

Readiness: `shutting_down()` is True in every process of the server from the
moment the main process receives SIGTERM/SIGINT. A readiness probe should
answer 503 then; SHUTDOWN_DELAY_S keeps serving that long first, so a load
balancer that polls the probe stops sending before the workers stop.
"""
import functools
import multiprocessing
import os
import threading

import config
from mnist_digits.serving.wsgi_bridge import WSGIBridge

# One byte in shared memory, created before the workers fork, so they see it too.
_SHUTTING_DOWN = multiprocessing.RawValue("b", 0)


def shutting_down():
    """True once the server has been told to stop (the hook for a readiness probe)."""
    return bool(_SHUTTING_DOWN.value)


def _load_bridge(target, app_factory):
    """granian's target loader: runs in each worker process, before it serves."""
    # The cores are shared out between the workers: TensorFlow's default (a thread
    # per core in every worker) makes the workers' thread pools spin against each other.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(config.WSGI_MODEL_THREADS))
    return WSGIBridge(app_factory, threads=config.WSGI_THREADS, body_timeout_s=config.HTTP_BODY_TIMEOUT_S,
                      max_body_bytes=config.MAX_REQUEST_BYTES)


def build_server(app_factory, host, port):
    """A granian server that serves `app_factory()` (a WSGI app built in each worker)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    class DigitServer(Server):
        def signal_handler_interrupt(self, *args, **kwargs):
            first = not _SHUTTING_DOWN.value
            _SHUTTING_DOWN.value = 1
            if first and config.SHUTDOWN_DELAY_S > 0:
                stop = functools.partial(Server.signal_handler_interrupt, self, *args, **kwargs)
                threading.Timer(config.SHUTDOWN_DELAY_S, stop).start()
            else:
                super().signal_handler_interrupt(*args, **kwargs)

    server = DigitServer(
        "flask_deploy:create_app",  # a label only: the loader below builds the app
        address=host, port=port, interface=Interfaces.RSGI, http=HTTPModes.http1, websockets=False,
        workers=config.WSGI_WORKERS,
        # Connections each worker holds at once. Idle keep-alive and stalled clients
        # count too, so this is set far above the Python threads: they cost a task each.
        backpressure=config.HTTP_MAX_CONNECTIONS, backlog=max(128, config.HTTP_MAX_CONNECTIONS),
        http1_settings=HTTP1Settings(header_read_timeout=int(config.HTTP_HEADER_TIMEOUT_S * 1000),
                                     keep_alive=True),
        respawn_failed_workers=True, respawn_interval=0,
        workers_kill_timeout=config.SHUTDOWN_GRACE_S,
        log_access=False, log_level=LogLevels.debug if config.LOG_LEVEL == "DEBUG" else LogLevels.info,
    )
    return server, functools.partial(_load_bridge, app_factory=app_factory)


def serve(app_factory, host, port):
    """Serve until SIGTERM/SIGINT; returns once every worker has stopped."""
    server, loader = build_server(app_factory, host, port)
    server.serve(target_loader=loader)
