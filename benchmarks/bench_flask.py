"""Benchmark the REST API against a naive baseline, over real HTTP on 127.0.0.1.

    python benchmarks/bench_flask.py                       # keras, litert, litert-int8 (those present)
    python benchmarks/bench_flask.py --backends litert --seconds 5

For each backend it starts `flask_deploy.py` exactly as users do (the production
WSGI server and worker settings from config.py), then the naive baseline: Flask's
development server calling `model.predict` per request. For each it measures,
with a single MNIST digit uploaded as a multipart PNG:
  - latency p50/p99 at concurrency 1 (one connection, requests back to back),
  - requests/s at concurrency 16, and the server's CPU time per request meanwhile,
and batch throughput (images/s) for JSON batches of MAX_BATCH_SIZE base64 PNGs.
The load generator is `wrk` when installed (apt-get install wrk): a Python client
on this 2-core machine saturates a core itself and caps the figure it reports.
Prints a markdown table and writes benchmarks/results/flask.json. Bounded: about
(3 x --seconds + start-up) per server, under 3 minutes with the defaults. The
machine may be shared: the load average at the start is recorded with the numbers.
"""
import argparse
import base64
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import config  # noqa: E402
from local_server import free_port, start_server, stop_server  # noqa: E402

BOUNDARY = "digitbenchboundary"


# --- Request bodies ------------------------------------------------------------------
def digit_pngs(count):
    """`count` MNIST test digits as PNG bytes, dark ink on white like a user's drawing."""
    import io
    from PIL import Image
    from load_mnist_local import load_data
    x_test = load_data()[1][0]
    pngs = []
    for image in x_test[:count]:
        buf = io.BytesIO()
        Image.fromarray(255 - image).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    return pngs


def multipart_body(png):
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="digit.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()
    return head + png + f"\r\n--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def batch_body(pngs):
    instances = [base64.b64encode(png).decode() for png in pngs]
    return json.dumps({"instances": instances}).encode(), "application/json"


# --- Load generators: both return {"requests", "seconds", "rps", "p50_ms", "p99_ms", "errors"} ---
WRK_SCRIPT = """
local f = assert(io.open("BODY_PATH", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "CONTENT_TYPE"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(port, body, ctype, connections, seconds, workdir):
    body_path = Path(workdir) / f"body-{len(body)}.bin"
    body_path.write_bytes(body)
    script = Path(workdir) / f"post-{len(body)}.lua"
    script.write_text(WRK_SCRIPT.replace("BODY_PATH", str(body_path)).replace("CONTENT_TYPE", ctype))
    out = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
                          "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}/predict"],
                         capture_output=True, text=True, timeout=seconds + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def run_python(port, body, ctype, connections, seconds, workdir=None):
    """Fallback: one thread and one keep-alive connection per simulated client."""
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                conn.request("POST", "/predict", body=body, headers={"Content-Type": ctype})
                response = conn.getresponse()
                response.read()
                bad += response.status != 200
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1e3 for x in latencies)
    return {"requests": len(ms), "seconds": elapsed, "rps": len(ms) / elapsed,
            "p50_ms": statistics.median(ms), "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
            "errors": errors[0]}


# --- The naive baseline ------------------------------------------------------------------
def serve_baseline(port):
    """What a first attempt looks like: Flask's development server, model.predict per request."""
    import numpy as np
    import keras
    from flask import Flask, request
    from payloads import parse_json_payload
    from preprocessing import preprocess_image

    model = keras.models.load_model(config.KERAS_MODEL_PATH, compile=False)
    app = Flask(__name__)

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict():
        if request.is_json:
            images, _, mode = parse_json_payload(request.get_json())
        else:
            images, mode = [request.files["image"].read()], "enhanced"
        probs = model.predict(np.stack([preprocess_image(im, mode) for im in images]), verbose=0)
        return {"predictions": [int(p.argmax()) for p in probs]}

    app.run(host="127.0.0.1", port=port)


# --- One server, three measurements ---------------------------------------------------------
def server_cpu_s(pgid):
    """CPU seconds used so far by every process in the server's process group (Linux)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def measure(name, args, env, bodies, load, seconds, workdir):
    port = free_port()
    log = open(Path(workdir) / f"{name}.log", "w")
    started = time.perf_counter()
    proc = start_server([*args, "--port", port], port, env=env, log=log)
    startup_s = time.perf_counter() - started
    try:
        single, single_type = bodies["single"]
        batch, batch_type = bodies["batch"]
        load(port, single, single_type, 1, 1, workdir)  # warm-up: every worker, every code path
        c1 = load(port, single, single_type, 1, seconds, workdir)
        # The server's own CPU time per request depends far less than req/s on what
        # else runs on this shared machine: 2 cores / that time bounds req/s here.
        cpu_before = server_cpu_s(proc.pid)
        c16 = load(port, single, single_type, 16, seconds, workdir)
        c16["server_cpu_ms_per_request"] = (server_cpu_s(proc.pid) - cpu_before) * 1e3 / max(1, c16["requests"])
        # Batches take long enough that Python's client costs nothing, and unlike wrk
        # it counts a request still in flight at the deadline.
        b = run_python(port, batch, batch_type, 2, seconds)
    finally:
        stop_server(proc)
        log.close()
    print(f"  {name}: c1 p50 {c1['p50_ms']:.2f} ms, c16 {c16['rps']:.0f} req/s, "
          f"batch {b['rps'] * bodies['batch_size']:.0f} images/s", file=sys.stderr)
    return {"name": name, "startup_s": round(startup_s, 1), "c1": c1, "c16": c16,
            "batch": b, "batch_images_per_s": b["rps"] * bodies["batch_size"]}


def preprocessing_ms(png, repeats=300):
    """Median time of preprocess_image alone on the benchmark PNG (in this process)."""
    from preprocessing import preprocess_image
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        preprocess_image(png, "enhanced")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


# name -> (model file, the environment that makes flask_deploy.py serve it)
BACKENDS = {name: (path, {"MODEL_BACKEND": backend, "MODEL_PATH": str(path)})
            for name, (backend, path) in config.MODEL_VARIANTS.items()}


def available_backends():
    """The backends whose model file is there with a checksum in metrics.json (else the server refuses)."""
    from artifacts import load_metrics
    recorded = load_metrics().get("artifacts", {})
    return [name for name, (path, _) in BACKENDS.items() if path.is_file() and path.name in recorded]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=None,
                        help=f"comma-separated, of {', '.join(BACKENDS)} (default: those whose model is there)")
    parser.add_argument("--seconds", type=float, default=5, help="length of each measurement")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "flask.json")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)  # the baseline's
    args = parser.parse_args()
    if args.serve_baseline:
        return serve_baseline(args.port)

    backends = args.backends.split(",") if args.backends else available_backends()
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {list(BACKENDS)}")
    tool = "wrk" if args.load == "wrk" or (args.load == "auto" and shutil.which("wrk")) else "python"
    load = run_wrk if tool == "wrk" else run_python
    load_before = os.getloadavg()[0]
    pngs = digit_pngs(config.MAX_BATCH_SIZE)
    bodies = {"single": multipart_body(pngs[0]), "batch": batch_body(pngs), "batch_size": len(pngs)}
    seconds = max(1, round(args.seconds))
    deploy = Path(__file__).resolve().parents[1] / "flask_deploy.py"

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            server = f"{config.WSGI_SERVER} {config.WSGI_WORKERS}x{config.WSGI_THREADS}" \
                if config.WSGI_SERVER == "gunicorn" else f"waitress x{config.WSGI_THREADS}"
            rows.append(measure(f"flask_deploy.py ({backend}, {server})", [deploy],
                                BACKENDS[backend][1], bodies, load, seconds, workdir))
        if not args.no_baseline:
            rows.append(measure("naive baseline (Flask dev server, model.predict)",
                                [Path(__file__).resolve(), "--serve-baseline"], {}, bodies, load,
                                seconds, workdir))
    prep_ms = preprocessing_ms(pngs[0])

    baseline = rows[-1]["c16"]["rps"] if not args.no_baseline else None
    lines = ["| server | p50 ms (c=1) | p99 ms (c=1) | req/s (c=16) | vs baseline | server CPU ms/request "
             "| batch images/s | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speedup = f"{r['c16']['rps'] / baseline:.0f}x" if baseline else "-"
        errors = r["c1"]["errors"] + r["c16"]["errors"] + r["batch"]["errors"]
        lines.append(f"| {r['name']} | {r['c1']['p50_ms']:.2f} | {r['c1']['p99_ms']:.2f} | "
                     f"{r['c16']['rps']:.0f} | {speedup} | {r['c16']['server_cpu_ms_per_request']:.2f} | "
                     f"{r['batch_images_per_s']:.0f} | {errors} |")
    table = "\n".join(lines)
    note = (f"Single 28x28 PNG as multipart upload; batch = {len(pngs)} base64 PNGs per JSON request "
            f"(2 connections, Python client); {seconds} s per measurement; single-image load generator: {tool}; "
            f"{os.cpu_count()} CPU cores shared by server and load generator "
            f"(load average {load_before:.1f} at the start). "
            f"preprocess_image alone on that PNG: {prep_ms:.2f} ms (median, in-process).")
    print(table)
    print()
    print(note)

    from artifacts import write_json_atomic
    write_json_atomic(args.out, {"table_markdown": table, "note": note, "load_generator": tool,
                                 "seconds": seconds, "preprocess_ms": prep_ms, "results": rows,
                                 "load_average_at_start": load_before,
                                 "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                                 "command": " ".join(["python", *sys.argv])})
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
