"""Start a server script as a subprocess on 127.0.0.1 and wait until it answers.

Shared by the real-server tests (tests/test_flask_deploy.py, tests/serving/) and benchmarks/bench_flask.py, which
need the real server (not the test client) on a free local port.
"""
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # the repo root (this file is tests/helpers/local_server.py)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, proc, timeout_s):
    """Poll `url` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"no answer from {url} within {timeout_s:.0f} s")


def start_server(args, port, health_path="/health", env=None, timeout_s=180, log=None):
    """Run `python <args...>` from the repo root and return the Popen once
    http://127.0.0.1:<port><health_path> answers. `env` adds to os.environ;
    output goes to `log` (a file object) or is discarded."""
    proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}{health_path}", proc, timeout_s)
    except BaseException as exc:
        stop_server(proc)
        if log is not None and isinstance(exc, RuntimeError):  # say why, from the server's own words
            log.flush()
            raise RuntimeError(f"{exc}; its output ends with:\n{Path(log.name).read_text()[-2000:]}") from None
        raise
    return proc


def stop_server(proc, timeout_s=20):
    """SIGTERM the server's process group (its worker processes included), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def serving(log_dir, env=None):
    """flask_deploy.py as users start it, on a free 127.0.0.1 port, for the length of the block
    -> (base URL, process, path of its log in `log_dir`)."""
    port = free_port()
    log_path = Path(log_dir) / "server.log"
    with open(log_path, "w") as log:
        proc = start_server(["flask_deploy.py", "--host", "127.0.0.1", "--port", port], port, env=env, log=log)
        try:
            yield f"http://127.0.0.1:{port}", proc, log_path
        finally:
            stop_server(proc)
