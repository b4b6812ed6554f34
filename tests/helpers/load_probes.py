"""Client-side probes of a server running on 127.0.0.1, shared by tests and benchmarks.

Stalled half-requests (slow clients), timed single requests, keep-alive load
from threads, and the resident memory of the server's whole process tree.
"""
import http.client
import socket
import threading
import time
from pathlib import Path

MULTIPART_BOUNDARY = "digitprobeboundary"


def multipart_png(png):
    """(body, content type) of a /predict upload carrying `png` in the field "image"."""
    head = (f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="digit.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()
    return (head + png + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode(),
            f"multipart/form-data; boundary={MULTIPART_BOUNDARY}")


def stall(port, count, part="body"):
    """Open `count` connections that send part of a /predict request and then stall:
    half the headers (part="headers") or the headers and a tenth of the body
    (part="body"). -> the open sockets (close them when done)."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if part == "headers":
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ima")
        else:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b"\x89PNG" + b"\0" * 96)
        socks.append(sock)
    return socks


def closed_by_server(socks, timeout_s):
    """Wait up to timeout_s for the server to answer or close each socket.
    -> (how many it closed, {status line: count} of what it answered, seconds waited)."""
    started = time.monotonic()
    pending, closed, answers = list(socks), 0, {}
    while pending and time.monotonic() - started < timeout_s:
        still = []
        for sock in pending:
            sock.settimeout(0.005)
            try:
                data = sock.recv(4096)
            except (TimeoutError, socket.timeout, BlockingIOError):
                still.append(sock)
                continue
            except OSError:     # reset: closed
                data = b""
            closed += 1
            if data:
                status = data.split(b"\r\n", 1)[0].decode("latin-1")
                answers[status] = answers.get(status, 0) + 1
        pending = still
        time.sleep(0.05)
    return closed, answers, time.monotonic() - started


def timed_request(port, method, path, body=None, headers=None, timeout_s=5):
    """One request on a new connection -> (status or None on failure, seconds)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    except (OSError, http.client.HTTPException):
        return None, time.perf_counter() - started
    finally:
        conn.close()


class KeepAliveLoad:
    """`clients` threads, each with one keep-alive connection, sending the same request
    back to back until stop() (or until `requests` in all; or, with stop_on_error, until
    its first failure). Records every outcome."""

    def __init__(self, port, body, content_type, clients, timeout_s=2.0, requests=None, path="/predict",
                 stop_on_error=False):
        self.port, self.body, self.path = port, body, path
        self.headers = {"Content-Type": content_type}
        self.timeout_s = timeout_s
        self.budget = requests
        self.stop_on_error = stop_on_error
        self.statuses = {}          # status (or an error class name) -> count
        self.latencies = []
        self.records = []           # (time.monotonic() at its start, at its end, outcome) of every request
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    @property
    def count(self):
        return sum(self.statuses.values())

    def _take(self):
        with self._lock:
            if self.budget is None:
                return True
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def _client(self):
        conn = None
        while not self._stop.is_set() and self._take():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            started, began = time.perf_counter(), time.monotonic()
            try:
                conn.request("POST", self.path, body=self.body, headers=self.headers)
                response = conn.getresponse()
                response.read()
                outcome = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                conn.close()
                conn = None
            elapsed = time.perf_counter() - started
            with self._lock:
                self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
                self.latencies.append(elapsed)
                self.records.append((began, time.monotonic(), outcome))
            if self.stop_on_error and not isinstance(outcome, int):
                break
        if conn is not None:
            conn.close()

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout_s=None):
        for thread in self._threads:
            thread.join(timeout_s)

    def stop(self):
        self._stop.set()
        self.join()
        return self


def descendants(pid):
    """pid and every process below it (Linux /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_bytes(pid):
    """Resident memory of pid and all its descendants, in bytes."""
    total = 0
    for member in descendants(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
