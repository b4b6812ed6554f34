"""Measure the REST API's container image: build time, size, time from `run` to ready, memory, stop.

    python benchmarks/bench_image.py                   # the LiteRT image, cached build, 5 starts
    python benchmarks/bench_image.py --cold            # remove the image and the local base first
    python benchmarks/bench_image.py --backend keras   # the TensorFlow variant (mnist-digits:keras)

Builds with deploy/build_image.sh (what `make image` runs; podman, or docker where that is
what the machine has), then starts the image RUNS times as tests/deploy/test_image.py does
(published on 127.0.0.1, read-only root, /tmp writable). Run-to-ready is the wall time from
just before `<engine> run` until /health/ready answers 200, polled every 50 ms. Prints a
markdown table and writes benchmarks/results/image_<backend>.json, with the load average of each step.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import container  # noqa: E402
from tests.helpers.local_server import free_port  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"   # image_<backend>.json
TAGS = {"litert": container.IMAGE, "keras": "mnist-digits:keras"}
LOCAL_BASE = "localhost/mnist-digits-base:bookworm"   # deploy/build_image.sh's


def load_average():
    return round(os.getloadavg()[0], 2)


def remove_images(tag):
    """A cold build: the image, the local base and the dangling layers of earlier builds go."""
    for name in (tag, LOCAL_BASE):
        container.call("rmi", "-f", name, check=False)
    container.call("image", "prune", "-f", check=False)


def start_once(tag):
    """One start -> (seconds from `run` to ready, memory in use once ready, seconds to stop, exit status)."""
    port = free_port()
    start = time.monotonic()
    ident = container.run(port, tag=tag)
    try:
        container.wait_ready(ident, f"http://127.0.0.1:{port}/health/ready")
        ready_s = time.monotonic() - start
        memory = container.call("stats", "--no-stream", "--format", "{{.MemUsage}}", ident).split("/")[0].strip()
        status, stop_s = container.terminate(ident, timeout_s=60)
    finally:
        container.remove(ident)
    return ready_s, memory, stop_s, status


def measure(backend, runs, cold):
    tag = TAGS[backend]
    if cold:
        remove_images(tag)
    results = {"engine": container.engine(), "backend": backend, "tag": tag, "cold_build": cold,
               "load_before_build": load_average()}
    results["build_s"] = round(container.build(tag, backend=backend), 1)
    results["image_mb"] = round(container.image_bytes(tag) / 1e6, 1)
    results["load_before_starts"] = load_average()
    starts = [start_once(tag) for _ in range(runs)]
    results["run_to_ready_s"] = [round(s[0], 3) for s in starts]
    results["run_to_ready_median_s"] = round(statistics.median(results["run_to_ready_s"]), 3)
    results["memory_when_ready"] = [s[1] for s in starts]
    results["stop_s"] = [round(s[2], 2) for s in starts]
    results["exit_status"] = sorted({s[3] for s in starts})
    results["load_after"] = load_average()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=sorted(TAGS), default="litert")
    parser.add_argument("--runs", type=int, default=5, help="starts to time (default %(default)s)")
    parser.add_argument("--cold", action="store_true", help="remove the image and the local base first")
    args = parser.parse_args(argv)
    if container.engine() is None:
        parser.error("neither podman nor a running docker is installed (make container-engine installs podman)")
    results = measure(args.backend, args.runs, args.cold)
    results.update(command=" ".join(["python", "benchmarks/bench_image.py", *(argv or sys.argv[1:])]),
                   machine=f"{platform.node()} ({os.cpu_count()} CPUs)", when=time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                            time.gmtime()))
    print("| image | build | size | run to ready (median of {}) | memory when ready | stop (SIGTERM) | exit |".format(
        args.runs))
    print("|---|---|---|---|---|---|---|")
    print(f"| {results['tag']} ({results['engine']}) | {results['build_s']} s ({'cold' if args.cold else 'cached'}) "
          f"| {results['image_mb']} MB | {results['run_to_ready_median_s']} s {results['run_to_ready_s']} "
          f"| {results['memory_when_ready'][0]} | {max(results['stop_s'])} s | {results['exit_status']} |")
    print(f"load average: {results['load_before_build']} before the build, {results['load_before_starts']} "
          f"before the starts, {results['load_after']} after")
    (RESULTS_DIR / f"image_{args.backend}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
