"""A small local stand-in for Cerebrium's default runtime, for tests and trying the client offline.

    python cerebrium_deploy/build.py
    CEREBRIUM_API_KEY=dev-token python cerebrium_deploy/local_runtime.py --port 8192
    CEREBRIUM_API_KEY=dev-token python cerebrium_deploy/test_server.py examples/mnist_7.png \
        --endpoint http://127.0.0.1:8192/v4/p-local/mnist-digits/predict

What it copies from Cerebrium's documented REST behaviour (not from its code):
POST /v4/<project>/<app>/<function> with a JSON object calls <function>(**body)
from the app's main.py (names starting with "_" are private); the answer is
{"run_id", "run_time_ms", "result"}; a "status_code" in a returned dict becomes
the HTTP status; a missing or wrong `Authorization: Bearer <token>` gives 401;
an exception in the function gives a 5xx. It listens on 127.0.0.1 only.
"""
import argparse
import importlib
import inspect
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"   # never reachable from other machines
MAX_BODY_BYTES = 16 * 1024 * 1024


def make_handler(app, token):
    """The request handler class for one app module and the bearer token its callers must send."""
    return type("Handler", (_Handler,), {"app": app, "token": token})


def _function_at(app, path):
    """The app's public function that /v4/<project>/<app>/<function> names, or None."""
    parts = path.split("?")[0].strip("/").split("/")
    function = getattr(app, parts[-1], None) if len(parts) == 4 and parts[0] == "v4" else None
    if function is None or parts[-1].startswith("_") or not inspect.isfunction(function):
        return None   # "_" names are private on Cerebrium, and imported modules/constants are not endpoints
    return function


def _keyword_arguments(function, body):
    """The JSON body as keyword arguments the function accepts; ValueError/TypeError (-> 422) otherwise."""
    kwargs = json.loads(body or b"{}")
    if not isinstance(kwargs, dict):
        raise ValueError("the JSON body must be an object of keyword arguments")
    inspect.signature(function).bind(**kwargs)   # refuse a wrong call before running it, as Cerebrium does
    return kwargs


class _Handler(BaseHTTPRequestHandler):
    app = token = None   # set per server by make_handler

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(405, {"message": "use POST"})

    def do_POST(self):
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(401, {"message": "Unauthorized"})
        function = _function_at(self.app, self.path)
        if function is None:
            return self._send(404, {"message": f"no function at {self.path}"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self._send(413, {"message": "request body too large"})
        try:
            kwargs = _keyword_arguments(function, self.rfile.read(length))
        except (ValueError, TypeError) as exc:
            return self._send(422, {"message": str(exc)})
        self._run(function, kwargs)

    def _run(self, function, kwargs):
        """Call the function and answer in Cerebrium's envelope; its "status_code" becomes the HTTP status."""
        run_id, start = str(uuid.uuid4()), time.perf_counter()
        try:
            result = function(**kwargs)
        except Exception as exc:
            return self._send(500, {"run_id": run_id, "message": f"{type(exc).__name__}: {exc}"})
        status = result.get("status_code", 200) if isinstance(result, dict) else 200
        self._send(status, {"run_id": run_id,
                            "run_time_ms": round((time.perf_counter() - start) * 1000, 3),
                            "result": result})

    def log_message(self, format, *args):  # keep test output quiet
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, default=Path(__file__).resolve().parent,
                        help="folder holding main.py (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8192, help="0 picks a free port")
    args = parser.parse_args(argv)
    token = os.environ.get("CEREBRIUM_API_KEY")
    if not token:
        sys.exit("error: set CEREBRIUM_API_KEY to the token clients must send")
    sys.path.insert(0, str(args.app_dir.resolve()))
    app = importlib.import_module("main")   # loads the model, as a replica does at start-up
    server = ThreadingHTTPServer((HOST, args.port), make_handler(app, token))
    print(f"listening on http://{HOST}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
