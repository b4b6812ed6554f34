"""Keras vs LiteRT float vs LiteRT int8: latency, throughput, size, cold start, memory.

    python benchmarks/bench_backends.py              # ~1-2 minutes on 2 cores
    python benchmarks/bench_backends.py --quick      # a few seconds per backend, for a smoke run

Every backend is measured in fresh processes of its own, started by this script, so
that nothing one backend imports or allocates is counted for another:
- cold start: from spawning `python` to the first answered prediction (imports,
  model load and checksum, warm-up, preprocessing one PNG, predicting it), the
  median of --cold-starts processes: what a serverless replica pays before its
  first request;
- peak RSS: the process's high-water mark right after that first prediction, and
  again after the speed runs below (batch-256 buffers included);
- latency: `Predictor.predict_proba` on one preprocessed MNIST test digit (the
  path every API takes after preprocessing, temperature scaling included), p50/p99;
- throughput: `predict_proba` on batches of 256 test digits, images per second.
The machine is shared, so read the numbers as ratios; the load average at the
start is recorded with them. Writes a markdown table to stdout and JSON to
benchmarks/results/backends.json.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import config  # noqa: E402  (light: no numpy, no TensorFlow)

BACKENDS = config.MODEL_VARIANTS   # label -> (backend, model file)


def peak_rss_mb():
    """This process's peak resident memory. Linux's VmHWM, because getrusage's
    ru_maxrss survives exec and would count the parent that spawned us."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024       # kB
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def child(backend, model_path, inputs, seconds):
    """One fresh process: the first prediction, then (seconds > 0) the speed runs."""
    from utils import Predictor
    predictor = Predictor(model_path, backend=backend)
    predictor.predict_images([(Path(inputs) / "digit.png").read_bytes()])
    result = {"first_prediction_at": time.time(), "rss_first_mb": peak_rss_mb()}
    if seconds > 0:
        import numpy as np
        from mnist_digits.imaging.preprocessing import to_model_input
        x = to_model_input(np.load(Path(inputs) / "digits.npy"))

        latencies, deadline = [], time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(latencies) < 100:
            image = x[len(latencies) % len(x)][None]
            start = time.perf_counter()
            predictor.predict_proba(image)
            latencies.append(time.perf_counter() - start)

        batch, runs, deadline = x[:256], [], time.perf_counter() + seconds
        predictor.predict_proba(batch)     # the first call at this size sets up its buffers
        while time.perf_counter() < deadline or len(runs) < 3:
            start = time.perf_counter()
            predictor.predict_proba(batch)
            runs.append(time.perf_counter() - start)
        result.update({
            "latency_ms_p50": 1e3 * float(np.percentile(latencies, 50)),
            "latency_ms_p99": 1e3 * float(np.percentile(latencies, 99)),
            "latency_samples": len(latencies),
            "throughput_img_s": len(batch) / float(np.median(runs)),
            "rss_peak_mb": peak_rss_mb(),
        })
    print(json.dumps(result))


def spawn(backend, model_path, inputs, seconds):
    """Run child() in a fresh interpreter; its result plus the measured cold start."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.time()
    proc = subprocess.run([sys.executable, __file__, "--child", backend, str(model_path), str(inputs),
                           str(seconds)], capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        sys.exit(f"error: the {backend} process for {model_path} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["cold_start_s"] = result.pop("first_prediction_at") - started
    return result


def measure(label, backend, model_path, inputs, cold_starts, seconds):
    import statistics
    print(f"measuring {label} ...", file=sys.stderr)
    runs = [spawn(backend, model_path, inputs, 0) for _ in range(cold_starts - 1)]
    runs.append(spawn(backend, model_path, inputs, seconds))       # the last one also times calls
    row = dict(runs[-1])
    row["cold_start_s"] = statistics.median(r["cold_start_s"] for r in runs)
    row["rss_first_mb"] = statistics.median(r["rss_first_mb"] for r in runs)
    row["file_bytes"] = Path(model_path).stat().st_size
    row["model_file"] = Path(model_path).name
    return row


def markdown(rows):
    lines = ["| backend | file | size | latency p50 (batch 1) | p99 | throughput (batch 256) "
             "| cold start to 1st prediction | peak RSS at 1st prediction | peak RSS after batch 256 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r in rows.items():
        lines.append(f"| {label} | `{r['model_file']}` | {r['file_bytes'] / 1e6:.2f} MB "
                     f"| {r['latency_ms_p50']:.3f} ms | {r['latency_ms_p99']:.3f} ms "
                     f"| {r['throughput_img_s']:,.0f} img/s | {r['cold_start_s']:.2f} s "
                     f"| {r['rss_first_mb']:.0f} MB | {r['rss_peak_mb']:.0f} MB |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=4.0, help="time spent on each speed measurement")
    p.add_argument("--cold-starts", type=int, default=3, help="fresh processes per backend (median)")
    p.add_argument("--quick", action="store_true", help="shorthand for --seconds 0.5 --cold-starts 1")
    p.add_argument("--output", type=Path, default=config.BENCHMARK_RESULTS_DIR / "backends.json")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.cold_starts = 0.5, 1
    if args.seconds <= 0 or args.cold_starts < 1:
        p.error("--seconds must be > 0 and --cold-starts >= 1")
    missing = [str(path) for _, path in BACKENDS.values() if not path.is_file()]
    if missing:
        sys.exit(f"error: missing model files {missing} (run python export_model.py)")

    import numpy as np
    from PIL import Image
    from load_mnist_local import load_data
    from mnist_digits.artifacts import write_json_atomic

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as inputs:
        # Real test digits, handed over as files so the measured processes load no data set:
        # one as a user's drawing (dark ink on white), 1024 as model inputs.
        x_test = load_data()[1][0]
        Image.fromarray(255 - x_test[0]).save(Path(inputs) / "digit.png")
        np.save(Path(inputs) / "digits.npy", x_test[:1024])
        rows = {label: measure(label, backend, path, inputs, args.cold_starts, args.seconds)
                for label, (backend, path) in BACKENDS.items()}

    table = markdown(rows)
    print(table)
    print(f"\n{platform.machine()}, {os.cpu_count()} CPU cores, load average {load:.2f} at start; "
          f"litert batches use {config.LITERT_THREADS} threads; numpy {np.__version__}")
    write_json_atomic(args.output, {
        "rows": rows, "table_markdown": table, "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_average_at_start": round(load, 2), "litert_threads": config.LITERT_THREADS,
        "seconds_per_measurement": args.seconds, "cold_starts": args.cold_starts,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        main()
