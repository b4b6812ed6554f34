"""Call the deployed Cerebrium app: classify one image, or run preset checks against it.

    export CEREBRIUM_ENDPOINT=https://api.aws.us-east-1.cerebrium.ai/v4/<project-id>/mnist-digits/predict
    export CEREBRIUM_API_KEY=<JWT from the dashboard's API Keys page>
    python cerebrium_deploy/test_server.py examples/mnist_7.png        # prints the digit and its confidence
    python cerebrium_deploy/test_server.py --read examples/number_2026.png   # a whole number, via read()
    python cerebrium_deploy/test_server.py --run-tests      # known digits, latency, bad input; exit 1 on failure

The token is read from the environment only and sent as `Authorization: Bearer ...`.
Cerebrium wraps the function's answer in {"run_id", "run_time_ms", "result"};
this client unwraps it. Network trouble and HTTP errors end with one clear
line on stderr and a non-zero exit, never a traceback.
"""
import argparse
import base64
import io
import os
import statistics
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent


class ClientError(Exception):
    """The request failed: no answer, or an answer that is not a prediction."""


# --- One request -------------------------------------------------------------------
def call(endpoint, payload, token, timeout):
    """POST payload -> (HTTP status, the function's result, round-trip ms, server ms or None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start = time.perf_counter()
    try:
        response = requests.post(endpoint, json=payload, headers=headers, timeout=timeout)
    except requests.exceptions.Timeout:
        raise ClientError(f"no answer from {endpoint} within {timeout:g} s (--timeout)") from None
    except requests.exceptions.ConnectionError as exc:
        raise ClientError(f"cannot connect to {endpoint}: {_reason(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise ClientError(f"request to {endpoint} failed: {exc}") from None
    elapsed_ms = (time.perf_counter() - start) * 1000
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code in (401, 403):
        raise ClientError(f"HTTP {response.status_code}: authentication failed; "
                          "set CEREBRIUM_API_KEY to an API key of the project")
    if response.status_code == 404:
        raise ClientError(f"HTTP 404: no app or function at {endpoint}; check the endpoint URL")
    if not isinstance(body, dict):
        raise ClientError(f"HTTP {response.status_code}: the answer is not JSON: {response.text[:200]!r}")
    # The envelope: {"run_id", "run_time_ms", "result"}; tolerate an unwrapped body too.
    result = body.get("result", body)
    return response.status_code, result, elapsed_ms, body.get("run_time_ms")


def error_of(status, result):
    """The server's error sentence, or None when the answer is a success."""
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        error = result["error"]
        return f"HTTP {status} {error.get('code', 'error')}: {error.get('message', '')}"
    if status >= 400:
        message = (result.get("message") or result.get("error")) if isinstance(result, dict) else None
        return f"HTTP {status}: {message or 'the server reported an error'}"
    return None


def predict(endpoint, payload, token, timeout):
    """A successful prediction result, or ClientError saying why not."""
    status, result, elapsed_ms, server_ms = call(endpoint, payload, token, timeout)
    problem = error_of(status, result)
    if problem:
        raise ClientError(problem)
    if not isinstance(result, dict) or not ("prediction" in result or "predictions" in result):
        raise ClientError(f"HTTP {status}: the answer holds no prediction: {str(result)[:200]}")
    return result, elapsed_ms, server_ms


def read(endpoint, payload, token, timeout):
    """A successful reading of a whole number (the app's read()), or ClientError saying why not."""
    status, result, elapsed_ms, server_ms = call(read_endpoint(endpoint), payload, token, timeout)
    problem = error_of(status, result)
    if problem:
        raise ClientError(problem)
    if not isinstance(result, dict) or "number" not in result:
        raise ClientError(f"HTTP {status}: the answer holds no number: {str(result)[:200]}")
    return result, elapsed_ms, server_ms


def read_endpoint(endpoint):
    """The app's read() URL: the predict() URL with its last part renamed."""
    base, _, last = endpoint.rstrip("/").rpartition("/")
    return endpoint if last == "read" else f"{base}/read"


def encode_file(path):
    try:
        return base64.b64encode(Path(path).read_bytes()).decode()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None


def _reason(exc):
    """The innermost cause of a connection error (e.g. 'Connection refused')."""
    while exc.__context__ is not None or exc.__cause__ is not None:
        exc = exc.__cause__ or exc.__context__
    return str(exc).split("] ")[-1] or type(exc).__name__


# --- Preset checks ---------------------------------------------------------------------
def known_digits():
    """The first MNIST test image of each class, as dark-on-white PNG base64 (like a drawing)."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(REPO))  # the repo's loader and its config, ahead of any build copies here
    from load_mnist_local import load_file

    images = load_file("t10k-images-idx3-ubyte.gz")
    labels = load_file("t10k-labels-idx1-ubyte.gz")
    digits = []
    for label in range(10):
        index = int(np.flatnonzero(labels == label)[0])
        buffer = io.BytesIO()
        Image.fromarray(255 - images[index]).save(buffer, format="PNG")
        digits.append((base64.b64encode(buffer.getvalue()).decode(), label, index))
    return digits


def number_png(digit_b64s):
    """Digit PNGs (base64) pasted side by side, half a digit apart -> one PNG, base64."""
    from PIL import Image
    digits = [Image.open(io.BytesIO(base64.b64decode(b))) for b in digit_b64s]
    page = Image.new("L", (42 * len(digits) + 14, 42), 255)
    for i, digit in enumerate(digits):
        page.paste(digit, (14 + 42 * i, 7))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def blank_png():
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("L", (28, 28), 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class Checks:
    """The PASS/FAIL line of each check as it ends, and how many failed."""

    def __init__(self):
        self.failures = 0

    def report(self, name, ok, detail):
        self.failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def run_tests(endpoint, token, timeout, max_latency_ms, preprocess):
    """Run every check, print PASS/FAIL lines, return the number of failures."""
    checks = Checks()
    try:
        digits = known_digits()
    except Exception as exc:  # missing/corrupt data files: the checks cannot run
        checks.report("known digits", False, f"cannot load the MNIST test digits: {exc}")
        return checks.failures
    round_trips, server_times = check_known_digits(checks, digits, preprocess, endpoint, token, timeout)
    check_latency(checks, round_trips, server_times, max_latency_ms)
    check_batch(checks, digits, endpoint, token, timeout)
    check_number(checks, digits, endpoint, token, timeout)
    check_bad_input(checks, endpoint, token, timeout)
    return checks.failures


def check_known_digits(checks, digits, preprocess, endpoint, token, timeout):
    """One request per known digit -> (round-trip ms, server ms) of the warm ones: the
    first request also absorbs a cold start, so it is not timed."""
    wrong, round_trips, server_times = [], [], []
    try:
        for i, (b64, label, index) in enumerate(digits):
            result, elapsed_ms, server_ms = predict(endpoint, {"image": b64, "preprocess": preprocess},
                                                    token, timeout)
            if result.get("prediction") != label:
                wrong.append(f"test image {index} (a {label}) answered {result.get('prediction')}")
            if i > 0:
                round_trips.append(elapsed_ms)
                server_times.append(server_ms)
        checks.report("known digits", not wrong, "; ".join(wrong) or f"all {len(digits)} answered correctly")
    except ClientError as exc:
        checks.report("known digits", False, str(exc))
    return round_trips, server_times


def check_latency(checks, round_trips, server_times, max_latency_ms):
    """The slowest warm round trip within the bound (and the time inside the function, when told)."""
    if not round_trips:
        checks.report("latency", False, "no successful request to time")
        return
    slowest = max(round_trips)
    detail = (f"slowest {slowest:.0f} ms, median {statistics.median(round_trips):.0f} ms "
              f"round trip over {len(round_trips)} warm requests (bound {max_latency_ms:g} ms)")
    if all(t is not None for t in server_times):
        detail += f"; median {statistics.median(server_times):.1f} ms inside the function"
    checks.report("latency", slowest <= max_latency_ms, detail)


def check_batch(checks, digits, endpoint, token, timeout):
    """All the known digits in one request, answered in order."""
    try:
        result, _, _ = predict(endpoint, {"instances": [b64 for b64, _, _ in digits]}, token, timeout)
        answers = [p.get("prediction") for p in result.get("predictions", [])]
        labels = [label for _, label, _ in digits]
        checks.report("batch", answers == labels, f"answered {answers}, expected {labels}")
    except ClientError as exc:
        checks.report("batch", False, str(exc))


def check_number(checks, digits, endpoint, token, timeout):
    """The known digits 2, 0, 2, 6 side by side on one page, through read()."""
    try:
        number = number_png([digits[d][0] for d in (2, 0, 2, 6)])
        result, _, _ = read(endpoint, {"image": number}, token, timeout)
        checks.report("number", result["number"] == "2026", f"read {result['number']!r}, expected '2026'")
    except ClientError as exc:
        checks.report("number", False, str(exc))


def check_bad_input(checks, endpoint, token, timeout):
    """Input the app must refuse with a 4xx and an error that says why."""
    for name, payload in [("bad input: not base64", {"image": "this is not base64!"}),
                          ("bad input: blank image", {"image": blank_png()})]:
        try:
            status, result, _, _ = call(endpoint, payload, token, timeout)
            problem = error_of(status, result)
            checks.report(name, problem is not None and 400 <= status < 500,
                          problem or f"HTTP {status} and no error in the answer")
        except ClientError as exc:
            checks.report(name, False, str(exc))


# --- Command line ----------------------------------------------------------------------
def parse_args(argv):
    """The command line, checked: a missing endpoint or image, or a bad bound, stops here (exit 2)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", help="image file of one digit (PNG, JPEG, ...), or of a number with --read")
    parser.add_argument("--read", action="store_true",
                        help="read a whole number with the app's read() (its URL: the endpoint's last part "
                             "renamed to read)")
    parser.add_argument("--endpoint", default=os.environ.get("CEREBRIUM_ENDPOINT"),
                        help="full URL of the predict function (default: $CEREBRIUM_ENDPOINT)")
    parser.add_argument("--preprocess", default="enhanced", choices=["enhanced", "basic"])
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for each answer (a cold start can take a while; default %(default)s)")
    parser.add_argument("--run-tests", action="store_true", help="run the preset checks instead")
    parser.add_argument("--max-latency-ms", type=float, default=2000.0,
                        help="bound on a warm request's round trip for --run-tests (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("give --endpoint or set CEREBRIUM_ENDPOINT")
    if not args.run_tests and not args.image:
        parser.error("give an IMAGE file, or --run-tests")
    if args.timeout <= 0 or args.max_latency_ms < 0:
        parser.error("--timeout must be positive and --max-latency-ms not negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    token = os.environ.get("CEREBRIUM_API_KEY")
    if not token:
        print("warning: CEREBRIUM_API_KEY is not set; sending no token", file=sys.stderr)

    if args.run_tests:
        failures = run_tests(args.endpoint, token, args.timeout, args.max_latency_ms, args.preprocess)
        print(f"{failures} check(s) failed" if failures else "all checks passed")
        return 1 if failures else 0
    try:
        if args.read:
            return print_reading(*read(args.endpoint, {"image": encode_file(args.image)}, token, args.timeout))
        payload = {"image": encode_file(args.image), "preprocess": args.preprocess}
        return print_prediction(*predict(args.endpoint, payload, token, args.timeout))
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def print_prediction(result, elapsed_ms, server_ms):
    """Print one digit's prediction -> exit status 0."""
    top = ", ".join(f"{t['digit']}: {t['probability']:.3f}" for t in result.get("top_k", []))
    print(f"digit {result['prediction']} (confidence {result['confidence']:.4f})")
    print(f"top {len(result.get('top_k', []))}: {top}; model {result.get('model_version')}; "
          f"{timing(elapsed_ms, server_ms)}")
    return 0


def timing(elapsed_ms, server_ms):
    return f"{elapsed_ms:.0f} ms round trip" + (f", {server_ms:.1f} ms in the function" if server_ms else "")


def print_reading(result, elapsed_ms, server_ms):
    """Print a reading of a whole number -> exit status 0."""
    verdict = "a number" if result.get("is_number") else "not all of it looks like digits"
    print(f"number {result['number']} ({verdict}; confidence {result.get('confidence', 0):.4f})")
    for digit in result.get("digits", []):
        print(f"  {digit['prediction']} at {digit['box']} (confidence {digit['confidence']:.3f}"
              f"{'' if digit['is_digit'] else ', not a digit'})")
    print(f"model {result.get('model_version')}; {timing(elapsed_ms, server_ms)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
