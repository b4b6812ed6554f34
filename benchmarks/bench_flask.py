"""Benchmark the REST API over real HTTP on 127.0.0.1: speed, then robustness.

    python benchmarks/bench_flask.py                       # everything, about 5 minutes
    python benchmarks/bench_flask.py --backends litert --seconds 3 --no-robustness

Speed. For each backend it starts `flask_deploy.py` exactly as users do (the
production server and worker settings from config.py), then three references:
the ceiling (the same server and request parsing, with a route that only decodes
the PNG and answers JSON: what any model path could at best reach), the same
ceiling app on granian's own WSGI interface without wsgi_bridge.py (what the
bridge costs), and the naive baseline (Flask's development server calling
`model.predict` per request). For each, with one MNIST digit uploaded as a multipart PNG:
  - latency p50/p99 at concurrency 1 (one connection, requests back to back),
  - requests/s, p50 and p99 at concurrency 16, and the server's CPU time per request,
and batch throughput (images/s) for JSON batches of MAX_BATCH_SIZE base64 PNGs.
The load generator is `wrk` when installed (apt-get install wrk): a Python client
on this 2-core machine saturates a core itself and caps the figure it reports.

Robustness, on the project default (MODEL_BACKEND unset): 256 stalled
half-requests (how fast /health and /predict still answer, when the stalled
ones are closed), overload at c=32 and c=64 with keep-alive (wrk, 2 s timeout),
a worker killed with SIGKILL under load, SIGTERM under load (requests lost, time
to exit), and resident memory of the whole server tree over 20,000+ requests.

Prints markdown tables and writes benchmarks/results/flask.json. The machine may
be shared: the load average is recorded with every measurement.
"""
import argparse
import base64
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import config  # noqa: E402
from tests.helpers.load_probes import (KeepAliveLoad, closed_by_server, descendants, multipart_png, stall,  # noqa: E402
                         timed_request, tree_rss_bytes)
from tests.helpers.local_server import free_port, start_server, stop_server  # noqa: E402

DEPLOY = Path(__file__).resolve().parents[1] / "flask_deploy.py"
SELF = Path(__file__).resolve()


def load_average():
    return round(os.getloadavg()[0], 2)


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


def batch_body(pngs):
    instances = [base64.b64encode(png).decode() for png in pngs]
    return json.dumps({"instances": instances}).encode(), "application/json"


# --- Load generators: both return {"requests", "seconds", "rps", "p50_ms", "p99_ms", "errors", ...} ---
WRK_SCRIPT = """
local f = assert(io.open("BODY_PATH", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "CONTENT_TYPE"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "max_ms": %f, '
    .. '"errors": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def run_wrk(port, body, ctype, connections, seconds, workdir, timeout_s=30):
    body_path = Path(workdir) / f"body-{len(body)}.bin"
    body_path.write_bytes(body)
    script = Path(workdir) / f"post-{len(body)}.lua"
    script.write_text(WRK_SCRIPT.replace("BODY_PATH", str(body_path)).replace("CONTENT_TYPE", ctype))
    out = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
                          "--timeout", f"{timeout_s}s", "-s", str(script), f"http://127.0.0.1:{port}/predict"],
                         capture_output=True, text=True, timeout=seconds + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def run_python(port, body, ctype, connections, seconds, workdir=None, timeout_s=30):
    """Fallback: one thread and one keep-alive connection per simulated client."""
    started = time.perf_counter()
    load = KeepAliveLoad(port, body, ctype, clients=connections, timeout_s=timeout_s).start()
    time.sleep(seconds)
    load.stop()
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1e3 for x in load.latencies) or [0.0]
    errors = sum(n for outcome, n in load.statuses.items() if outcome != 200)
    return {"requests": load.count, "seconds": elapsed, "rps": load.count / elapsed,
            "p50_ms": statistics.median(ms), "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
            "max_ms": ms[-1], "errors": errors}


# --- The two references: the naive baseline and the ceiling -------------------------------
def serve_baseline(port):
    """What a first attempt looks like: Flask's development server, model.predict per request."""
    import numpy as np
    import keras
    from flask import Flask, request
    from mnist_digits.imaging.payloads import parse_json_payload
    from mnist_digits.imaging.preprocessing import preprocess_image

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


def ceiling_app():
    """The production app's request handling with no model and no preprocessing: the
    body read and parsed as /predict reads it, each image decoded, a small JSON answer."""
    from flask import Flask
    from mnist_digits.imaging.decoding import to_grayscale
    from flask_deploy import read_predict_request

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.MAX_REQUEST_BYTES

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict():
        images, _, _ = read_predict_request()
        return {"shapes": [list(to_grayscale(image).shape) for image in images]}

    return app


def serve_ceiling(port):
    from mnist_digits.serving import server as serving
    serving.serve(ceiling_app, "127.0.0.1", port)


def serve_bare_ceiling(port):
    """The ceiling's app under granian's own WSGI interface, without wsgi_bridge.py:
    what the bridge (reading each body on the event loop first) costs. Not what
    flask_deploy.py runs: here a client that stalls mid-body holds a Python thread."""
    from granian.server import Server
    Server("bench_flask:ceiling_app", address="127.0.0.1", port=port, interface="wsgi", factory=True,
           workers=config.WSGI_WORKERS, blocking_threads=config.WSGI_THREADS,
           working_dir=SELF.parent, log_enabled=False).serve()


REFERENCES = {"baseline": serve_baseline, "ceiling": serve_ceiling, "bare-ceiling": serve_bare_ceiling}


# --- Speed: one server, three measurements --------------------------------------------------
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
        load(port, single, single_type, 4, 1, workdir)  # warm-up: every worker, every code path
        c1 = load(port, single, single_type, 1, seconds, workdir)
        c1["load_average"] = load_average()
        # The server's own CPU time per request depends far less than req/s on what
        # else runs on this shared machine: 2 cores / that time bounds req/s here.
        cpu_before = server_cpu_s(proc.pid)
        c16 = load(port, single, single_type, 16, seconds, workdir)
        c16["server_cpu_ms_per_request"] = (server_cpu_s(proc.pid) - cpu_before) * 1e3 / max(1, c16["requests"])
        c16["load_average"] = load_average()
        # Batches take long enough that Python's client costs nothing, and unlike wrk
        # it counts a request still in flight at the deadline.
        b = run_python(port, batch, batch_type, 2, seconds)
    finally:
        stop_server(proc)
        log.close()
    print(f"  {name}: c1 p50 {c1['p50_ms']:.2f} ms, c16 {c16['rps']:.0f} req/s "
          f"(load {c16['load_average']}), batch {b['rps'] * bodies['batch_size']:.0f} images/s",
          file=sys.stderr, flush=True)
    return {"name": name, "startup_s": round(startup_s, 1), "c1": c1, "c16": c16,
            "batch": b, "batch_images_per_s": b["rps"] * bodies["batch_size"]}


def preprocessing_ms(png, repeats=300):
    """Median time of preprocess_image alone on the benchmark PNG (in this process)."""
    from mnist_digits.imaging.preprocessing import preprocess_image
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
    from mnist_digits.artifacts import load_metrics
    recorded = load_metrics().get("artifacts", {})
    return [name for name, (path, _) in BACKENDS.items() if path.is_file() and path.name in recorded]


def speed_table(rows):
    ceiling = next((r["c16"]["rps"] for r in rows if r["name"].startswith("ceiling")), None)
    baseline = next((r["c16"]["rps"] for r in rows if r["name"].startswith("naive")), None)
    lines = ["| server | p50 ms (c=1) | p99 ms (c=1) | req/s (c=16) | p50 / p99 ms (c=16) | of ceiling "
             "| vs naive | server CPU ms/request | batch images/s | errors | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        of_ceiling = f"{100 * r['c16']['rps'] / ceiling:.0f} %" if ceiling else "-"
        speedup = f"{r['c16']['rps'] / baseline:.0f}x" if baseline else "-"
        errors = r["c1"]["errors"] + r["c16"]["errors"] + r["batch"]["errors"]
        lines.append(f"| {r['name']} | {r['c1']['p50_ms']:.2f} | {r['c1']['p99_ms']:.2f} | "
                     f"{r['c16']['rps']:,.0f} | {r['c16']['p50_ms']:.2f} / {r['c16']['p99_ms']:.2f} | "
                     f"{of_ceiling} | {speedup} | {r['c16']['server_cpu_ms_per_request']:.2f} | "
                     f"{r['batch_images_per_s']:,.0f} | {errors} | {r['c16']['load_average']} |")
    return "\n".join(lines)


# --- Robustness, on the project default ------------------------------------------------------
def slow_clients(port, upload, count=256):
    """/health and /predict while `count` connections stall halfway, then how long until
    the server has closed the stalled ones."""
    socks = stall(port, count // 2, "headers") + stall(port, count - count // 2, "body")
    stalled_at = time.monotonic()
    try:
        time.sleep(0.3)
        health = [timed_request(port, "GET", "/health") for _ in range(10)]
        predict = [timed_request(port, "POST", "/predict", upload[0], {"Content-Type": upload[1]})
                   for _ in range(10)]
        closed, answers, _ = closed_by_server(socks, config.HTTP_BODY_TIMEOUT_S + config.HTTP_HEADER_TIMEOUT_S + 10)
        closed_after = time.monotonic() - stalled_at
    finally:
        for sock in socks:
            sock.close()
    worst = lambda results: max(seconds for _, seconds in results) * 1e3  # noqa: E731
    return {"stalled": count, "health_ok": sum(s == 200 for s, _ in health), "health_max_ms": worst(health),
            "predict_ok": sum(s == 200 for s, _ in predict), "predict_max_ms": worst(predict),
            "stalled_closed": closed, "closed_after_s": round(closed_after, 1), "answers_to_stalled": answers,
            "timeouts_s": [config.HTTP_HEADER_TIMEOUT_S, config.HTTP_BODY_TIMEOUT_S],
            "load_average": load_average()}


def overload(port, upload, connections, seconds, workdir):
    r = run_wrk(port, *upload, connections, seconds, workdir, timeout_s=2)
    r["connections"] = connections
    r["load_average"] = load_average()
    return r


def worker_killed(proc, port, upload, log_path):
    """SIGKILL one worker under load: how long until a new one is forked and until it
    serves (granian logs "Started worker-N"), what failed meanwhile, and whether every
    request after that succeeds."""
    started_lines = lambda: Path(log_path).read_text().count("[INFO] Started worker-")  # noqa: E731
    workers, started_before = sorted(p for p in descendants(proc.pid) if p != proc.pid), started_lines()
    load = KeepAliveLoad(port, *upload, clients=8, timeout_s=5).start()
    time.sleep(1)
    killed_at = time.monotonic()
    os.kill(workers[0], signal.SIGKILL)
    forked_s = serving_s = None
    while time.monotonic() - killed_at < 120 and serving_s is None:
        now = sorted(p for p in descendants(proc.pid) if p != proc.pid)
        if forked_s is None and len(now) == len(workers) and workers[0] not in now:
            forked_s = time.monotonic() - killed_at
        if started_lines() > started_before:
            serving_s = time.monotonic() - killed_at
        time.sleep(0.05)
    load.stop()
    after = KeepAliveLoad(port, *upload, clients=8, timeout_s=5, requests=1000).start()
    after.join(120)
    return {"forked_after_s": forked_s and round(forked_s, 2), "serving_after_s": serving_s and round(serving_s, 2),
            "during": {str(k): v for k, v in load.statuses.items()},
            "after": {str(k): v for k, v in after.statuses.items()}, "load_average": load_average()}


def sigterm(proc, port, upload):
    """SIGTERM to the main process under load: requests lost, and seconds until it exited."""
    load = KeepAliveLoad(port, *upload, clients=16, timeout_s=10, stop_on_error=True).start()
    time.sleep(2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=config.SHUTDOWN_GRACE_S + 30)
    exited_s = time.monotonic() - sent
    load.stop()
    before = [outcome for began, _, outcome in load.records if began < sent]
    return {"exit_s": round(exited_s, 2), "exit_code": proc.returncode,
            "sent_before_signal": len(before), "failed_of_those": sum(o != 200 for o in before),
            "in_flight_at_signal": sum(began < sent < ended for began, ended, _ in load.records),
            "grace_period_s": config.SHUTDOWN_GRACE_S, "load_average": load_average()}


def memory(proc, port, upload, workdir, target=20000):
    run_wrk(port, *upload, 32, 3, workdir)                  # warm: every path, every thread
    before = tree_rss_bytes(proc.pid)
    done, rounds = 0, []
    while done < target:
        r = run_wrk(port, *upload, 32, 10, workdir)
        done += r["requests"]
        rounds.append(r["errors"])
    after = tree_rss_bytes(proc.pid)
    return {"requests": done, "rss_before_mib": round(before / 2**20, 1), "rss_after_mib": round(after / 2**20, 1),
            "growth_percent": round(100 * (after - before) / before, 2), "errors": sum(rounds),
            "load_average": load_average()}


def robustness(upload, workdir, load):
    port = free_port()
    results = {}
    log_path = Path(workdir) / "robustness.log"
    with open(log_path, "w") as log:
        proc = start_server([DEPLOY, "--port", port], port, log=log)
        try:
            results["slow_clients"] = slow_clients(port, upload)
            print(f"  slow clients: {results['slow_clients']}", file=sys.stderr, flush=True)
            if load is run_wrk:
                results["overload"] = [overload(port, upload, c, 30, workdir) for c in (32, 64)]
                print(f"  overload: {results['overload']}", file=sys.stderr, flush=True)
                results["memory"] = memory(proc, port, upload, workdir)
                print(f"  memory: {results['memory']}", file=sys.stderr, flush=True)
            results["worker_killed"] = worker_killed(proc, port, upload, log_path)
            print(f"  worker killed: {results['worker_killed']}", file=sys.stderr, flush=True)
            results["sigterm"] = sigterm(proc, port, upload)
            print(f"  sigterm: {results['sigterm']}", file=sys.stderr, flush=True)
        finally:
            stop_server(proc)
    return results


def robustness_table(r):
    """One row per check: (what was done, what happened, load average meanwhile)."""
    s, k, t = r["slow_clients"], r["worker_killed"], r["sigterm"]
    rows = [(f"{s['stalled']} stalled half-requests (half headers / headers + part of body)",
             f"/health {s['health_ok']}/10 answered, slowest {s['health_max_ms']:.1f} ms; /predict "
             f"{s['predict_ok']}/10, slowest {s['predict_max_ms']:.1f} ms; {s['stalled_closed']}/{s['stalled']} "
             f"stalled closed after {s['closed_after_s']} s (timeouts {s['timeouts_s'][0]:g} s / "
             f"{s['timeouts_s'][1]:g} s)", s["load_average"])]
    rows += [(f"overload c={o['connections']}, keep-alive, 30 s, 2 s timeout",
              f"{o['requests']:,} requests, {o['rps']:,.0f} req/s, p99 {o['p99_ms']:.0f} ms, max {o['max_ms']:.0f} ms; "
              f"socket errors {o['connect'] + o['read'] + o['write']}, timeouts {o['timeout']}, non-2xx {o['status']}",
              o["load_average"]) for o in r.get("overload", [])]
    if "memory" in r:
        m = r["memory"]
        rows.append((f"memory, {m['requests']:,} requests at c=32",
                     f"whole server tree {m['rss_before_mib']} -> {m['rss_after_mib']} MiB "
                     f"({m['growth_percent']:+.1f} %), errors {m['errors']}", m["load_average"]))
    rows.append(("worker SIGKILLed under load (8 clients)",
                 f"new worker forked after {k['forked_after_s']} s, serving after {k['serving_after_s']} s; "
                 f"meanwhile {k['during']}; "
                 f"the next 1,000 requests: {k['after']}", k["load_average"]))
    rows.append(("SIGTERM under load (16 clients)",
                 f"exit {t['exit_code']} after {t['exit_s']} s (grace {t['grace_period_s']} s); "
                 f"{t['in_flight_at_signal']} requests in flight, {t['failed_of_those']} of "
                 f"{t['sent_before_signal']} sent before the signal failed", t["load_average"]))
    return "\n".join(["| check | result | load avg |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=None,
                        help=f"comma-separated, of {', '.join(BACKENDS)} (default: those whose model is there)")
    parser.add_argument("--seconds", type=float, default=5, help="length of each speed measurement")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-robustness", action="store_true", help="speed only")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--out", type=Path, default=SELF.parent / "results" / "flask.json")
    parser.add_argument("--serve", choices=list(REFERENCES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)  # the references'
    return parser


def _backends(args, parser):
    """The backends asked for, or those whose model file is there; an unknown name is a usage error."""
    backends = args.backends.split(",") if args.backends else available_backends()
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {list(BACKENDS)}")
    return backends


def _measure_all(backends, args, bodies, load, seconds):
    """(speed rows, robustness results or None): the app per backend, then the references it is held to."""
    server = f"granian {config.WSGI_WORKERS}x{config.WSGI_THREADS}"
    rows, robust = [], None
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            default = " (default)" if backend == config.MODEL_BACKEND else ""
            rows.append(measure(f"flask_deploy.py, {backend}{default}, {server}", [DEPLOY],
                                BACKENDS[backend][1], bodies, load, seconds, workdir))
        rows.append(measure(f"ceiling: same server, decode the PNG only, {server}", [SELF, "--serve", "ceiling"],
                            {}, bodies, load, seconds, workdir))
        rows.append(measure(f"bare ceiling: the same app on granian's own WSGI, no bridge, {server}",
                            [SELF, "--serve", "bare-ceiling"], {}, bodies, load, seconds, workdir))
        if not args.no_baseline:
            rows.append(measure("naive baseline (Flask dev server, model.predict)",
                                [SELF, "--serve", "baseline"], {}, bodies, load, seconds, workdir))
        if not args.no_robustness:
            robust = robustness(bodies["single"], workdir, load)
    return rows, robust


def _method_note(batch_size, seconds, tool, load_before, prep_ms):
    """How the figures were taken, printed and stored beside the tables so they are never read without it."""
    return (f"One 28x28 PNG per multipart request; batch = {batch_size} base64 PNGs per JSON request "
            f"(2 connections, Python client); {seconds} s per measurement; load generator: {tool}, on the same "
            f"{os.cpu_count()} CPU cores as the server (load average {load_before} at the start, and at each "
            f"measurement in the last column). preprocess_image alone on that PNG: {prep_ms:.3f} ms "
            f"(median, in-process).")


def _write_results(out, record):
    """The JSON the README's tables are copied from, with the settings and machine they were measured on."""
    from mnist_digits.artifacts import write_json_atomic
    write_json_atomic(out, {**record,
                            "settings": {k: getattr(config, k) for k in (
                                "WSGI_WORKERS", "WSGI_THREADS", "BATCH_MAX_IMAGES", "HTTP_HEADER_TIMEOUT_S",
                                "HTTP_BODY_TIMEOUT_S", "HTTP_MAX_CONNECTIONS", "SHUTDOWN_GRACE_S")},
                            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                            "command": " ".join(["python", *sys.argv])})
    print(f"wrote {out}", file=sys.stderr)


def main():
    parser = _parser()
    args = parser.parse_args()
    if args.serve:   # this script also runs the reference servers it measures against
        return REFERENCES[args.serve](args.port)

    backends = _backends(args, parser)
    tool = "wrk" if args.load == "wrk" or (args.load == "auto" and shutil.which("wrk")) else "python"
    load = run_wrk if tool == "wrk" else run_python
    load_before = load_average()
    pngs = digit_pngs(config.MAX_BATCH_SIZE)
    bodies = {"single": multipart_png(pngs[0]), "batch": batch_body(pngs), "batch_size": len(pngs)}
    seconds = max(1, round(args.seconds))

    rows, robust = _measure_all(backends, args, bodies, load, seconds)
    prep_ms = preprocessing_ms(pngs[0])
    table = speed_table(rows)
    note = _method_note(len(pngs), seconds, tool, load_before, prep_ms)
    robust_table = robustness_table(robust) if robust else None
    print(table, "", note, sep="\n")
    if robust_table:
        print("", robust_table, sep="\n")
    _write_results(args.out, {"table_markdown": table, "robustness_markdown": robust_table, "note": note,
                              "load_generator": tool, "seconds": seconds, "preprocess_ms": prep_ms,
                              "results": rows, "robustness": robust, "load_average_at_start": load_before})
    return 0


if __name__ == "__main__":
    sys.exit(main())
