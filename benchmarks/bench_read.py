"""Reading whole numbers (POST /read, utils.read_number): accuracy, then speed.

    python benchmarks/bench_read.py                        # MNIST test digits, ~5 minutes on 2 cores
    python benchmarks/bench_read.py --source usps          # USPS test digits (other writers, 16x16)
    python benchmarks/bench_read.py --source sites         # real digits of the held-out writer sites (UNIPEN)
    python benchmarks/bench_read.py --source validation    # what the reader's constants were chosen on
    python benchmarks/bench_read.py --speed                # /read vs /predict over HTTP on 127.0.0.1

Accuracy. Numbers are composed (mnist_digits.reading.compose) from digit images
the model never trained on, each written with a random style: slant up to 0.15,
baseline jitter 0.05, sizes +-15 %, either polarity, a lit grey page one time in
four, JPEG (quality 60-90) one time in two. Reported: exact-number accuracy and
how often the digit count is right,
  - by length, 1-8 digits, gaps 0.15-0.5 of the digit height;
  - by spacing, for 4-digit numbers: every neighbour touching, one pair of the
    three touching ("a third"), tight (0.02-0.1), normal (0.15-0.5), wide (0.6-1.2);
  - and how often a row of letters comes back as a number (`is_number` true):
    "HELLO" and random 5-letter rows from UNIPEN's handwritten letters of the test
    writer sites (writers the model never saw: datasets/real_handwriting.py), and
    "HELLO" in the 40 committed handwriting fonts.
Speed: the real server (flask_deploy.py as shipped), one keep-alive client,
POST /predict with one MNIST digit vs POST /read with a 4-digit number, both
PNG uploads, alternating in rounds so load drifts hit both alike.

Writes benchmarks/results/read_<source>.json (or read_speed.json) and prints
markdown tables. The machine may be shared: the load average is recorded.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import config  # noqa: E402



def _one_pair_touching(rng, pairs):
    """Normal gaps but one pair of neighbours touching (a third of the pairs of a 4-digit number)."""
    touching = rng.integers(pairs)
    return [None if i == touching else rng.uniform(0.15, 0.5) for i in range(pairs)]


SPACINGS = {   # name -> a function of (rng, pairs) giving the gaps between neighbours (None: touching)
    "touching": lambda rng, n: [None] * n,
    "a third touching": _one_pair_touching,
    "tight": lambda rng, n: list(rng.uniform(0.02, 0.1, n)),
    "normal": lambda rng, n: list(rng.uniform(0.15, 0.5, n)),
    "wide": lambda rng, n: list(rng.uniform(0.6, 1.2, n)),
}


def digit_source(name):
    """(images light on black, labels) of digits the model did not train on."""
    from load_mnist_local import load_data
    if name == "sites":      # real digits of the writer sites held out for testing
        from mnist_digits.datasets import real_handwriting
        return real_handwriting.digits("test")
    if name == "usps":
        data = np.load(config.USPS_PATH)
        test = data["split"] == 1
        return data["images"][test], data["labels"][test]
    (x_train, y_train), (x_test, y_test) = load_data()
    if name == "validation":   # the training run's validation split: what constants were tuned on
        return x_train[-config.VALIDATION_SIZE:], y_train[-config.VALIDATION_SIZE:]
    return x_test, y_test


def random_style(rng, gaps):
    from mnist_digits.reading.compose import Style
    return Style(gap=gaps, slant=rng.uniform(-0.15, 0.15), jitter=0.05, size=0.15,
                 dark_on_light=bool(rng.integers(2)), lighting=rng.random() < 0.25,
                 jpeg=int(rng.integers(60, 91)) if rng.random() < 0.5 else None)


def score(predictor, images, labels, length, spacing, count, rng):
    """Compose `count` numbers and read them -> (exact fraction, count-right fraction, failures)."""
    from mnist_digits.reading.compose import compose
    from utils import read_number
    exact = right_count = 0
    failures = []
    for _ in range(count):
        pick = rng.integers(len(images), size=length)
        truth = "".join(str(int(d)) for d in labels[pick])
        png, _ = compose(images[pick], random_style(rng, SPACINGS[spacing](rng, length - 1)), rng)
        number = read_number(png, predictor)["number"]
        exact += number == truth
        right_count += len(number) == len(truth)
        if number != truth and len(failures) < 8:
            failures.append(f"{truth} -> {number}")
    return {"exact": exact / count, "count_right": right_count / count, "n": count, "failures": failures}


def letter_rows(rng, count):
    """'HELLO' and random 5-letter rows of UNIPEN handwritten capitals of the test sites (light on black)."""
    from mnist_digits.datasets import real_handwriting
    letters = real_handwriting.load("unipen_latin_letters")
    test = letters.split == "test"
    images, text = letters.images[test], letters.labels[test]
    by_letter = {c: np.flatnonzero(text == c) for c in set(text.tolist())}
    capitals = [c for c in by_letter if c.isupper()]
    for i in range(count):
        word = "HELLO" if i % 2 == 0 else "".join(rng.choice(capitals, 5))
        yield word, images[[rng.choice(by_letter[c]) for c in word]]


def letters_as_numbers(predictor, rng, count):
    """How often rows of letters come back as a number (is_number true)."""
    from PIL import Image, ImageDraw, ImageFont

    from mnist_digits.reading.compose import compose
    from utils import read_number
    result = {}
    rows = list(letter_rows(rng, count))
    numbers = [read_number(compose(glyphs, random_style(rng, list(rng.uniform(0.1, 0.4, 4))), rng)[0],
                           predictor) for _, glyphs in rows]
    result["unipen"] = {"read_as_number": sum(r["is_number"] for r in numbers) / count, "n": count,
                        "examples": [f"{w} -> {r['number']}" for (w, _), r in zip(rows, numbers) if r["is_number"]][:8]}
    fonts = sorted(config.HANDWRITING_FONT_DIR.glob("*.woff"))
    hits = []
    for path in fonts:
        image = Image.new("L", (400, 110), 255)
        ImageDraw.Draw(image).text((20, 20), "HELLO", fill=0, font=ImageFont.truetype(str(path), 60))
        if read_number(image, predictor)["is_number"]:
            hits.append(path.stem)
    result["fonts"] = {"read_as_number": len(hits) / len(fonts), "n": len(fonts), "fonts": hits}
    return result


def accuracy(args):
    from utils import Predictor
    predictor = Predictor(backend="keras")
    images, labels = digit_source(args.source)
    rng = np.random.default_rng(args.seed)
    started, load = time.time(), os.getloadavg()[0]
    by_length = {n: score(predictor, images, labels, n, "normal", args.count, rng) for n in range(1, 9)}
    by_spacing = {s: score(predictor, images, labels, 4, s, args.count, rng) for s in SPACINGS}
    letters = letters_as_numbers(predictor, rng, args.count)
    result = {"command": " ".join(sys.argv), "source": args.source, "seed": args.seed,
              "load_average_at_start": load, "load_average_at_end": os.getloadavg()[0],
              "seconds": round(time.time() - started, 1), "model_version": predictor.version,
              "by_length": by_length, "by_spacing": by_spacing, "letters": letters}
    print_accuracy(result)
    return result


def print_accuracy(result):
    print(f"\n{result['source']} digits, {result['by_length'][1]['n']} numbers per row, load "
          f"{result['load_average_at_start']:.2f}-{result['load_average_at_end']:.2f}, {result['seconds']} s\n")
    print("| length (normal gaps) | exact | count right |\n|---|---|---|")
    for n, r in result["by_length"].items():
        print(f"| {n} | {100 * r['exact']:.1f} % | {100 * r['count_right']:.1f} % |")
    print("\n| spacing (4 digits) | exact | count right |\n|---|---|---|")
    for s, r in result["by_spacing"].items():
        print(f"| {s} | {100 * r['exact']:.1f} % | {100 * r['count_right']:.1f} % |")
    print("\n| letters | read as a number |\n|---|---|")
    for kind, r in result["letters"].items():
        print(f"| {kind} ({r['n']}) | {100 * r['read_as_number']:.1f} % |")


def timed_posts(session, url, body, rounds):
    latencies = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = session.post(url, files={"image": ("x.png", body, "image/png")})
        latencies.append(time.perf_counter() - start)
        response.raise_for_status()
    return latencies


def speed(args):
    """/read on a 4-digit number vs /predict on one digit, over HTTP on 127.0.0.1."""
    import requests

    from tests.helpers.images import number_png
    from tests.helpers.local_server import free_port, start_server, stop_server
    port = free_port()
    digit, number = number_png("7"), number_png("2026")
    load = os.getloadavg()[0]
    proc = start_server([Path(__file__).resolve().parents[1] / "flask_deploy.py", "--port", port], port)
    try:
        with requests.Session() as session:
            base = f"http://127.0.0.1:{port}"
            assert session.post(f"{base}/read", files={"image": number}).json()["number"] == "2026"
            times = {"predict": [], "read": []}
            for _ in range(args.rounds):      # alternate, so drifting load hits both alike
                times["predict"] += timed_posts(session, f"{base}/predict", digit, 20)
                times["read"] += timed_posts(session, f"{base}/read", number, 20)
    finally:
        stop_server(proc)
    p50 = {k: float(np.median(v)) * 1000 for k, v in times.items()}
    result = {"command": " ".join(sys.argv), "load_average_at_start": load, "load_average_at_end": os.getloadavg()[0],
              "requests_each": len(times["read"]), "p50_ms": p50,
              "p90_ms": {k: float(np.percentile(v, 90)) * 1000 for k, v in times.items()},
              "ratio_p50": p50["read"] / p50["predict"]}
    print(f"\n| route | p50 | p90 |\n|---|---|---|\n| /predict, one digit | {p50['predict']:.2f} ms | "
          f"{result['p90_ms']['predict']:.2f} ms |\n| /read, 4 digits | {p50['read']:.2f} ms | "
          f"{result['p90_ms']['read']:.2f} ms |\n\n/read / /predict at p50: {result['ratio_p50']:.2f}x "
          f"(load {load:.2f}-{result['load_average_at_end']:.2f}, {len(times['read'])} requests each)")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=("mnist", "usps", "sites", "validation"), default="mnist")
    parser.add_argument("--count", type=int, default=200, help="numbers per row of the tables (default 200)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--speed", action="store_true", help="time /read against /predict instead")
    parser.add_argument("--rounds", type=int, default=10, help="speed: rounds of 20 requests per route")
    args = parser.parse_args(argv)
    if args.count < 1 or args.rounds < 1:
        parser.error("--count and --rounds must be at least 1")
    result = speed(args) if args.speed else accuracy(args)
    name = "read_speed.json" if args.speed else f"read_{args.source}.json"
    config.BENCHMARK_RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = config.BENCHMARK_RESULTS_DIR / f".{name}.tmp"
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(config.BENCHMARK_RESULTS_DIR / name)   # atomic: a reader never sees half a file
    return 0


if __name__ == "__main__":
    sys.exit(main())
