"""Serve the digit classifier as a REST API.

    python flask_deploy.py                          # http://127.0.0.1:5000, production server
    curl -F image=@examples/mnist_7.png http://127.0.0.1:5000/predict
    curl -F image=@examples/number_2026.png http://127.0.0.1:5000/read     # a whole number

`create_app()` builds the Flask app (tests and WSGI servers import it) with the
shared predictor loaded once; `main()` runs it behind the production server
(mnist_digits/serving/server.py: granian worker processes; waitress where granian cannot run)
unless --debug asks for Flask's development server. Every mistake a client
can make is answered with JSON {"error": {"code", "message"}} and a 4xx
status; only a bug on our side is a 500.
"""
import argparse
import io
import json
import os
import shutil
import socket
import sys

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from mnist_digits.serving import access
from mnist_digits.serving import api_docs
import config
from mnist_digits.serving import kserve_v2
from mnist_digits.serving import observability
from mnist_digits.serving import probes
from mnist_digits.serving import server
from mnist_digits.errors import (DigitError, InvalidInput, ModelFileError, PayloadTooLarge, UnsupportedMediaType,
                                 batch_item)
from mnist_digits.serving.openapi_spec import build_spec
from mnist_digits.imaging.payloads import parse_json_payload
from mnist_digits.serving.multipart import split_form
from utils import get_predictor, read_number, resolve_model

ACCEPTED_TYPES = "multipart/form-data (file in field \"image\"), image/* or application/json"
# Werkzeug's HTTP errors mapped onto the codes our own errors use.
_HTTP_CODES = {400: InvalidInput.code, 413: PayloadTooLarge.code, 415: UnsupportedMediaType.code}


def read_predict_request():
    """The /predict (and /read) body in whichever form it came -> (images, is_batch, preprocess)."""
    query_mode = request.args.get("preprocess")
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        parts = split_form(request.get_data(), request.mimetype_params.get("boundary"))
        if parts is None:   # not the plain form this fast path knows: Werkzeug parses it
            upload = request.files.get("image")
            image = None if upload is None else upload.read()
            mode = request.form.get("preprocess", query_mode)
        else:
            image = next((content for name, filename, content in parts
                          if name == "image" and filename is not None), None)
            mode = next((content.decode("utf-8", "replace") for name, filename, content in parts
                         if name == "preprocess" and filename is None), query_mode)
        if image is None:
            raise InvalidInput('multipart requests must carry the image file in the field "image"')
        return [image], False, mode
    if mimetype.startswith("image/"):
        return [request.get_data(cache=False)], False, query_mode
    if request.is_json:
        try:
            payload = json.loads(request.get_data(cache=False))
        except (ValueError, RecursionError) as exc:  # bad syntax, bad UTF-8, absurd nesting
            raise InvalidInput(f"the body is not valid JSON ({exc.__class__.__name__})") from None
        if isinstance(payload, dict) and "preprocess" not in payload and query_mode is not None:
            payload = {**payload, "preprocess": query_mode}
        return parse_json_payload(payload)
    raise UnsupportedMediaType(f"Content-Type {mimetype or '(none)'!r} is not supported; "
                               f"send {ACCEPTED_TYPES}")


def limit_streamed_bodies(wsgi_app, limit):
    """WSGI middleware for bodies sent without Content-Length (chunked uploads).

    Werkzeug silently cuts such a body off at MAX_CONTENT_LENGTH, so one byte too
    many would be parsed as a truncated image (400) instead of refused (413).
    Read it here, up to one byte past the limit, and give it a Content-Length:
    Werkzeug then refuses an oversized one with 413 like any other."""
    def middleware(environ, start_response):
        if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # now it is a plain body of known length
        return wsgi_app(environ, start_response)
    return middleware


def create_app(predictor=None):
    """The Flask app. `predictor` defaults to the shared one, loaded here, once."""
    predictor = get_predictor() if predictor is None else predictor
    observability.configure_logging()
    app = Flask(__name__)
    observability.install(app, predictor)  # first: every request, refused ones too, gets an ID and a log line
    access.install(app, config.API_KEYS, config.CORS_ORIGINS)
    probes.install(app, predictor)
    app.register_blueprint(kserve_v2.create_blueprint(predictor))
    app.register_blueprint(api_docs.create_blueprint("Handwritten digit classifier"))
    _limit_body_size(app)
    app.json.sort_keys = False
    _add_predict_routes(app, predictor)
    _add_info_routes(app, predictor)
    _add_error_handlers(app)
    return app


def _limit_body_size(app):
    """Werkzeug refuses bigger bodies (413) before reading them, raw and chunked ones included."""
    app.config["MAX_CONTENT_LENGTH"] = config.MAX_REQUEST_BYTES
    app.wsgi_app = limit_streamed_bodies(app.wsgi_app, config.MAX_REQUEST_BYTES)


def _add_predict_routes(app, predictor):
    """POST /predict (one digit per image) and POST /read (a whole number per image)."""
    @app.post("/predict")
    def predict():
        images, is_batch, preprocess = read_predict_request()
        try:
            results = predictor.predict_images(images, preprocess)
        except DigitError as exc:
            exc.index = exc.index if is_batch else None  # one image is not an item of a batch
            raise
        observability.note_predictions([result["prediction"] for result in results])
        return {"predictions": results} if is_batch else results[0]

    @app.post("/read")
    def read():
        images, is_batch, preprocess = read_predict_request()
        if preprocess not in (None, "enhanced"):
            raise InvalidInput('/read always preprocesses "enhanced" (it finds the digits on the page first)')
        readings = []
        for index, image in enumerate(images):
            with batch_item(index if is_batch else None):   # one picture is not an item of a batch
                readings.append(read_number(image, predictor))
        observability.note_predictions([d["prediction"] for reading in readings for d in reading["digits"]])
        return {"readings": readings} if is_batch else readings[0]


def _add_info_routes(app, predictor):
    """GET /health and GET /openapi.json (the spec is built once, here)."""
    spec = build_spec(predictor.version)

    @app.get("/health")
    def health():
        return {"status": "ok", "model_version": predictor.version, "backend": predictor.backend}

    @app.get("/openapi.json")
    def openapi():
        return spec


def _add_error_handlers(app):
    """Every error answers JSON {"error": {"code", "message"}}: ours and Werkzeug's with their 4xx,
    anything else as a 500 that is logged with its traceback."""
    @app.errorhandler(DigitError)
    def client_error(exc):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc):
        # Keep Werkzeug's status and headers (e.g. Allow on 405), answer JSON.
        response = exc.get_response()
        code = _HTTP_CODES.get(exc.code) or exc.name.lower().replace(" ", "_")
        message = (f"the request body is over the {config.MAX_REQUEST_BYTES}-byte limit"
                   if exc.code == 413 else exc.description)
        response.data = app.json.dumps({"error": {"code": code, "message": message}})
        response.content_type = "application/json"
        return response

    @app.errorhandler(Exception)
    def server_error(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": {"code": "internal_error",
                                  "message": "the server failed to answer; this is a bug on our side"}}), 500


# --- Production servers -------------------------------------------------------------
def serve_waitress(host, port, threads):
    """waitress: one process, one model, `threads` threads (works on any OS)."""
    import waitress
    # Bodies a little over the limit still reach Flask, which answers a JSON 413;
    # waitress itself refuses anything absurd before buffering it.
    waitress.serve(create_app(), host=host, port=port, threads=threads,
                   max_request_body_size=2 * config.MAX_REQUEST_BYTES, ident=None)


def ensure_port_free(host, port):
    """Bind and release (host, port) now, so a taken port is reported in one line
    before any worker starts or any model is loaded."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)


def parse_args(argv):
    """The command line, checked: a bad port, server or logging setting stops here in one line (exit 2)."""
    parser = argparse.ArgumentParser(description="Serve the digit classifier REST API.")
    parser.add_argument("--host", default=config.HOST, help="interface to bind (env HOST; default %(default)s)")
    parser.add_argument("--port", type=int, default=config.PORT, help="port (env PORT; default %(default)s)")
    parser.add_argument("--debug", action="store_true",
                        help="Flask's development server with its debugger (never in production)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1-65535, got {args.port}")
    if config.WSGI_SERVER not in ("granian", "waitress"):
        parser.error(f"WSGI_SERVER must be granian or waitress, got {config.WSGI_SERVER!r}")
    try:
        observability.configure_logging()
    except ValueError as exc:  # LOG_LEVEL or LOG_FORMAT
        parser.error(str(exc))
    return args


def preflight_error(host, port):
    """Why serving cannot start (a missing model file, a taken port), or None.

    Checked before any worker starts, so the failure is one clear line, not a
    traceback from each worker."""
    try:
        resolve_model()
        ensure_port_free(host, port)
    except ModelFileError as exc:
        return f"error: {exc}"
    except OSError as exc:  # port taken, unknown host, address not available
        return f"error: cannot serve on {host}:{port}: {exc}"
    return None


def run_server(args):
    """Serve until stopped: Flask's debug server, granian or waitress."""
    if args.debug:
        # No reloader: it would run this script again in a child and load the model twice.
        create_app().run(host=args.host, port=args.port, debug=True, use_reloader=False)
    elif config.WSGI_SERVER == "granian":
        server.serve(create_app, args.host, args.port)
    else:
        serve_waitress(args.host, args.port, config.WSGI_THREADS)


def main(argv=None):
    args = parse_args(argv)
    problem = preflight_error(args.host, args.port)
    if problem:
        print(problem, file=sys.stderr)
        return 1

    print(f"Serving on http://{args.host}:{args.port} (backend {config.MODEL_BACKEND}, "
          f"{'Flask debug server' if args.debug else config.WSGI_SERVER})", file=sys.stderr, flush=True)
    # Before any worker exists: workers inherit the variable and count into files there.
    metrics_dir, parent = observability.prepare_multiprocess_dir(), os.getpid()
    try:
        run_server(args)
    except OSError as exc:  # port taken, address not available
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        # Only the parent, and only a directory it made: a forked worker that exits
        # unwinds through here too, and must not take its siblings' metrics along.
        if os.getpid() == parent and not config.PROMETHEUS_MULTIPROC_DIR:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
