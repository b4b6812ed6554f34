"""How sure is the model, and how right, on digits that do not look like MNIST?

Compares the two preprocessing modes, `basic` (grayscale, resize, scale) and
`enhanced` (MNIST-style: polarity, background, crop, 20x20 box, centre of
mass), through the shared calibrated predictor on:

  (a) the MNIST test set as it is;
  (b) MNIST test digits changed the way real inputs differ (see VARIANTS);
  (c) USPS, scanned ZIP-code digits from another source entirely (data/usps/);
  (d) real digits written on tablets at the test writer sites (UNIPEN), which no
      training or choice ever saw, and those of the validation sites ("chosen on":
      they picked the recipe and the threshold);
  (e) pictures that are not digits: drawn ones (non_digits.py: the training family
      drawn with another seed, the held-out family, drawn differently from anything
      the model was trained on, and letters in handwriting fonts it never saw), and
      real ones (datasets/real_handwriting.py): the held-out source (handwritten
      symbols: never trained on, never chosen on), letters of the test sites, and the
      validation letters and doodles ("chosen on"). Look-alikes (O, l, Z, S, "}", an
      apple...: a person may mean a digit) are reported apart.

For each set and mode it reports accuracy, mean confidence on correct and on
wrong answers, expected calibration error (ECE) and how many digits the model
calls "not a digit"; for (d), how many non-digits it accepts as digits. It
writes reports/confidence_comparison.{md,json,png} and the digit gate's ROC
curve, reports/digit_gate_roc.png.

    python test_model_confidence.py              # full run, a few minutes on 2 cores
    python test_model_confidence.py --limit 300  # quick look: 300 images per set
"""
import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

import config
from mnist_digits.model.calibration import expected_calibration_error
from mnist_digits.errors import DigitError, ModelFileError
from load_mnist_local import MnistFileError, load_data
from mnist_digits.gate.non_digits import make_non_digits, to_model_inputs
from mnist_digits.imaging.preprocessing import PREPROCESS_MODES, preprocess_image
from mnist_digits.artifacts import write_atomic, write_json_atomic
from mnist_digits.datasets import real_handwriting
from utils import Predictor

BATCH = 1000
NON_DIGITS = 4000                 # pictures per non-digit family (--limit caps it too)
NON_DIGIT_SEED = 1009             # not a seed the gate's training or threshold used
CHOSEN_ON = " (chosen on)"        # validation sets: they picked the recipe and the threshold
# The real non-digit sets reported: (set, split, look-alikes, name).
REAL_NON_DIGITS = (
    (config.HELD_OUT_NON_DIGIT_SOURCE, "test", False, "real symbols, held-out source"),
    (config.HELD_OUT_NON_DIGIT_SOURCE, "test", "only", "real symbols, held-out source, look-alikes"),
    ("unipen_latin_letters", "test", False, "real letters, test sites"),
    ("unipen_latin_letters", "test", "only", "real letters, test sites, look-alikes"),
    ("quickdraw_6cat", "test", "only", "real doodles, look-alike category"),
    ("unipen_latin_letters", "validation", False, "real letters, validation sites" + CHOSEN_ON),
    ("quickdraw_6cat", "validation", False, "real doodles, validation category" + CHOSEN_ON),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=None, help="use the first N images of each set (quick runs)")
    p.add_argument("--output-dir", type=Path, default=config.REPORTS_DIR,
                   help="where confidence_comparison.{md,json,png} go (default: reports/)")
    p.add_argument("--seed", type=int, default=config.SEED, help="seed for the random transforms")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 10:
        p.error("--limit must be at least 10")
    return args


# --- (b) MNIST digits the way users send them -------------------------------------------
# Every variant starts from a white-on-black MNIST test digit (uint8 28x28) and
# returns what a user might send instead: an array, or encoded image bytes.
def _paper(digit):
    """Dark ink on white paper, like a drawing or a scan."""
    return 255 - digit


def _upscale(digit, factor):
    return np.asarray(Image.fromarray(digit).resize((28 * factor, 28 * factor), Image.BICUBIC))


def inverted(digit, rng):
    return _paper(digit)


def small_in_corner(digit, rng, canvas=224):
    """The digit at its own small size in a random corner of a large white canvas."""
    page = np.full((canvas, canvas), 255, np.uint8)
    margin = rng.integers(0, 16, size=2)
    top = margin[0] if rng.random() < 0.5 else canvas - 28 - margin[0]
    left = margin[1] if rng.random() < 0.5 else canvas - 28 - margin[1]
    page[top:top + 28, left:left + 28] = _paper(digit)
    return page


def thick_strokes(digit, rng):
    """A felt-tip pen: every stroke 2 px wider (3x3 dilation)."""
    return _paper(np.asarray(Image.fromarray(digit).filter(ImageFilter.MaxFilter(3))))


def thin_strokes(digit, rng):
    """A fine pen on a 4x larger (112x112) canvas: strokes 1 px thinner at MNIST scale
    (a 5x5 erosion at 4x), so about half as wide as MNIST's."""
    big = Image.fromarray(_upscale(digit, 4))
    return _paper(np.asarray(big.filter(ImageFilter.MinFilter(5))))


def grey_paper_photo(digit, rng):
    """A phone photo: 3x size, grey paper lit from one side, pencil-grey ink, sensor noise."""
    ink = _upscale(digit, 3).astype(np.float32) / 255.0
    n = ink.shape[0]
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:n, 0:n] / (n - 1) - 0.5
    light = 0.5 + (x * np.cos(angle) + y * np.sin(angle))          # 0..1 across the page
    paper = 110 + 110 * light                                       # 110 (shadow) .. 220 (lit)
    darkness = rng.uniform(0.55, 0.8)                                # grey pencil, not black
    photo = paper * (1 - darkness * ink) + rng.normal(0, 6, ink.shape)
    return np.clip(photo, 0, 255).astype(np.uint8)


def jpeg_compressed(digit, rng, quality=25):
    """Dark on white, saved as a low-quality JPEG (bytes, decoded by the preprocessor)."""
    buf = io.BytesIO()
    Image.fromarray(_paper(digit)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


VARIANTS = {
    "inverted": inverted,
    "small in corner": small_in_corner,
    "thick strokes": thick_strokes,
    "thin strokes": thin_strokes,
    "grey paper photo": grey_paper_photo,
    "jpeg q25": jpeg_compressed,
}


def load_sets(limit, seed):
    """name -> (list of images as a user would send them, labels)."""
    _, (x_test, y_test) = load_data()
    x_test, y_test = x_test[:limit], y_test[:limit]
    sets = {"MNIST test": (list(x_test), y_test)}
    for name, make in VARIANTS.items():
        rng = np.random.default_rng(seed)
        sets[f"MNIST {name}"] = ([make(d, rng) for d in x_test], y_test)
    usps = np.load(config.USPS_PATH)
    # USPS is shuffled neither by class nor split; take a fixed random subset for --limit.
    order = np.random.default_rng(seed).permutation(len(usps["labels"]))[:limit]
    sets["USPS"] = (list(usps["images"][order]), usps["labels"][order].astype(np.uint8))
    for split, name in (("test", "real digits, test sites"), ("validation", "real digits, validation sites")):
        images, labels = real_handwriting.digits(split)
        order = np.random.default_rng(seed).permutation(len(labels))[:limit]
        sites = ", ".join(config.REAL_DIGIT_SITES[split])
        sets[f"{name} ({sites}){CHOSEN_ON if split == 'validation' else ''}"] = (list(images[order]), labels[order])
    return sets


# --- Evaluation ----------------------------------------------------------------------
def predict_all(predictor, batch):
    """(calibrated probabilities, digit scores) of a stack of model inputs, in chunks."""
    probs, scores = np.zeros((len(batch), config.NUM_CLASSES)), np.zeros(len(batch))
    for s in range(0, len(batch), BATCH):
        probs[s:s + BATCH], scores[s:s + BATCH] = predictor.predict_scores(batch[s:s + BATCH])
    return probs, scores


def evaluate(predictor, images, labels, mode):
    """Accuracy, confidence, ECE and the digit verdict of one preprocessing mode on one set;
    -> (the figures, the digit scores of the images the preprocessor kept).

    An image the preprocessor rejects (NoDigitFound) counts as a wrong answer
    with zero confidence, and as a digit called "not a digit": refusing is
    better than a confident guess, but it is still not the right answer.
    """
    start = time.perf_counter()
    batch, kept, rejected = [], [], 0
    for i, image in enumerate(images):
        try:
            batch.append(preprocess_image(image, mode))
            kept.append(i)
        except DigitError:
            rejected += 1
    preprocess_s = time.perf_counter() - start
    probs, scores = np.zeros((len(images), config.NUM_CLASSES)), np.zeros(len(images))
    batch = np.stack(batch) if batch else np.zeros((0, 28, 28, 1), np.float32)
    probs[kept], scores[kept] = predict_all(predictor, batch)
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels) & (confidence > 0)
    is_digit = predictor.is_digit(scores) & (confidence > 0)
    return {
        "images": len(labels),
        "accuracy": round(float(correct.mean()), 4),
        "mean_confidence": round(float(confidence.mean()), 4),
        "mean_confidence_correct": round(float(confidence[correct].mean()), 4) if correct.any() else None,
        "mean_confidence_wrong": round(float(confidence[~correct].mean()), 4) if (~correct).any() else None,
        "ece": round(expected_calibration_error(probs[kept], labels[kept]), 4) if kept else None,
        "rejected_no_digit": rejected,
        "called_not_a_digit": round(float((~is_digit).mean()), 4),
        "preprocess_ms_per_image": round(1000 * preprocess_s / max(len(images), 1), 3),
    }, scores[kept]


def load_non_digit_sets(limit, seed=NON_DIGIT_SEED):
    """name -> (pictures that are not digits, as users would send them; the kind of each)."""
    n = min(limit or NON_DIGITS, NON_DIGITS)
    sets = {f"non-digits, {name}": make_non_digits(family, n, seed)
            for family, name in (("training", "training family"), ("heldout", "held-out family"),
                                 ("handwriting", "held-out handwriting"))}
    for source, split, lookalikes, name in REAL_NON_DIGITS:
        found = real_handwriting.select(source, split, lookalikes)
        order = np.random.default_rng(seed).permutation(len(found.labels))[:limit]
        sets[name] = (list(found.images[order]), found.labels[order].tolist())
    return sets


def evaluate_non_digits(predictor, pictures, kinds):
    """How many non-digits the model accepts as digits (enhanced preprocessing, as served),
    in all and by kind; -> (the figures, the digit scores of the pictures the preprocessor kept)."""
    batch, kept = to_model_inputs(pictures)
    _, scores = predict_all(predictor, batch)
    accepted = np.zeros(len(pictures), bool)
    accepted[kept] = predictor.is_digit(scores)
    kinds = np.asarray(kinds)
    return {
        "images": len(pictures),
        "accepted_as_digit": round(float(accepted.mean()) if len(pictures) else 0.0, 4),
        "rejected_no_digit": int((~kept).sum()),
        "accepted_by_kind": {kind: {"images": int((kinds == kind).sum()),
                                    "accepted_as_digit": round(float(accepted[kinds == kind].mean()), 4)}
                             for kind in dict.fromkeys(kinds.tolist())},
    }, scores


# --- Reports ---------------------------------------------------------------------------
def _pct(value):
    return "–" if value is None else f"{100 * value:.2f} %"


def markdown_table(results):
    lines = ["| set | mode | accuracy | mean conf. | conf. correct | conf. wrong | ECE | rejected "
             "| called not a digit | n |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, modes in results.items():
        for mode, r in modes.items():
            ece = "–" if r["ece"] is None else f"{r['ece']:.4f}"
            lines.append(f"| {name} | {mode} | {_pct(r['accuracy'])} | {_pct(r['mean_confidence'])} | "
                         f"{_pct(r['mean_confidence_correct'])} | "
                         f"{_pct(r['mean_confidence_wrong'])} | {ece} | {r['rejected_no_digit']} | "
                         f"{_pct(r['called_not_a_digit'])} | {r['images']} |")
    return "\n".join(lines)


def gate_table(results, non_digits):
    """The digit verdict with the default (enhanced) preprocessing: both error rates per set."""
    lines = ["| set | n | digits called not a digit | non-digits accepted as digits |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {modes['enhanced']['images']} | {_pct(modes['enhanced']['called_not_a_digit'])} | |"
              for name, modes in results.items()]
    lines += [f"| {name} | {r['images']} | | {_pct(r['accepted_as_digit'])} |" for name, r in non_digits.items()]
    return "\n".join(lines)


def kinds_table(non_digits):
    """Non-digits accepted as digits, kind by kind, for each family."""
    lines = ["| family | kind | n | accepted as digits |", "|---|---|---:|---:|"]
    for name, r in non_digits.items():
        family = name.removeprefix("non-digits, ")
        lines += [f"| {family} | {kind} | {k['images']} | {_pct(k['accepted_as_digit'])} |"
                  for kind, k in sorted(r["accepted_by_kind"].items())]
    return "\n".join(lines)


def plot_roc(digit_scores, non_digit_scores, threshold, path):
    """Digits accepted against non-digits accepted, over every threshold, for each
    non-digit set never chosen on (look-alikes dashed); the model's threshold marked.
    Digits: every digit set never chosen on, pooled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    digits = np.sort(digit_scores)
    thresholds = np.unique(np.concatenate([digits, *non_digit_scores.values(), [threshold]]))
    kept = 1 - np.searchsorted(digits, thresholds, side="left") / max(len(digits), 1)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    colours = plt.get_cmap("tab10")
    for i, (name, scores) in enumerate(non_digit_scores.items()):
        scores = np.sort(scores)
        accepted = 1 - np.searchsorted(scores, thresholds, side="left") / max(len(scores), 1)
        style = "--" if "look-alike" in name else "-"
        ax.plot(accepted, kept, style, color=colours(i % 10), label=name)
        ax.scatter([(scores >= threshold).mean()], [(digits >= threshold).mean()], color=colours(i % 10), zorder=3)
    ax.set(xscale="log", xlim=(1e-3, 1), ylim=(0.9, 1.002), xlabel="non-digits accepted as digits",
           ylabel="digits accepted (MNIST test and its variants, USPS, test sites)",
           title=f"Digit verdict ROC; dots: the model's threshold {threshold:.3g}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def plot(results, path):
    """Top: accuracy. Bottom: mean confidence, with accuracy as a tick (the gap is
    miscalibration) and the mean confidence of the wrong answers as a marker."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    x = np.arange(len(names))
    width = 0.38
    styles = [("basic", "#b0b0b0"), ("enhanced", "#1f77b4")]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True)
    for j, (mode, colour) in enumerate(styles):
        pos = x + (j - 0.5) * width
        accuracy = np.array([results[n][mode]["accuracy"] for n in names])
        confidence = np.array([results[n][mode]["mean_confidence"] for n in names])
        wrong = [results[n][mode]["mean_confidence_wrong"] for n in names]
        bars = top.bar(pos, accuracy, width, color=colour, label=f"{mode} preprocessing")
        top.bar_label(bars, labels=[f"{100 * v:.1f}" for v in accuracy], fontsize=7, padding=1)
        bars = bottom.bar(pos, confidence, width, color=colour)
        bottom.bar_label(bars, labels=[f"{100 * v:.1f}" for v in confidence], fontsize=7, padding=1)
        bottom.scatter(pos, accuracy, marker="_", s=300, color="black", zorder=3,
                       label="accuracy" if j == 0 else None)
        bottom.scatter([p for p, w in zip(pos, wrong) if w is not None], [w for w in wrong if w is not None],
                       marker="v", color="#d62728", zorder=3,
                       label="mean confidence of wrong answers" if j == 0 else None)
    top.set_title("Accuracy (%)")
    bottom.set_title("Mean confidence of the top answer (%): calibrated means it matches accuracy")
    for ax in (top, bottom):
        ax.set_ylim(0, 1.12)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.grid(axis="y", alpha=0.3)
    top.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    bottom.set_xticks(x, [n.replace("MNIST ", "MNIST\n") for n in names], fontsize=8)
    fig.suptitle("Same calibrated model, basic vs enhanced preprocessing")
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def evaluate_digit_sets(predictor, sets):
    """Each digit set under both preprocessings, one line printed per set as it finishes
    -> ({set: {mode: figures}}, {set: digit scores with enhanced preprocessing})."""
    results, digit_scores = {}, {}
    for name, (images, labels) in sets.items():
        results[name] = {}
        for mode in ("basic", "enhanced"):
            results[name][mode], scores = evaluate(predictor, images, labels, mode)
            if mode == "enhanced":
                digit_scores[name] = scores
        b, e = results[name]["basic"], results[name]["enhanced"]
        print(f"{name:24s} basic {_pct(b['accuracy']):>9s}   enhanced {_pct(e['accuracy']):>9s}"
              f"   called not a digit {_pct(e['called_not_a_digit']):>8s}"
              f"   ({e['preprocess_ms_per_image']:.2f} ms/image enhanced)", flush=True)
    return results, digit_scores


def evaluate_non_digit_sets(predictor, limit):
    """Each non-digit set, one line printed per set -> ({set: figures}, {set: digit scores})."""
    non_digits, non_digit_scores = {}, {}
    for name, (pictures, kinds) in load_non_digit_sets(limit).items():
        non_digits[name], non_digit_scores[name] = evaluate_non_digits(predictor, pictures, kinds)
        print(f"{name:24s} accepted as digits {_pct(non_digits[name]['accepted_as_digit'])}", flush=True)
    return non_digits, non_digit_scores


GATE_HEADER = ("\n\n## Is it a digit at all?\n\nWith the default (enhanced) preprocessing. "
               "The held-out non-digits are drawn differently from anything the model "
               "was trained on (other fonts, strokes and shapes); the held-out handwriting is "
               "letters in handwriting fonts it never saw; the real symbols are a whole source "
               "never trained on and never chosen on. Sets marked \"chosen on\" picked the recipe "
               "and the threshold; look-alikes are glyphs a person may mean as a digit.\n\n")


def write_reports(out, predictor, args, results, non_digits, tables):
    """confidence_comparison.json (every figure) and .md (the two tables, `tables`)."""
    report = {
        "model": {"file": predictor.model_path.name, "version": predictor.version,
                  "temperature": predictor.temperature, "digit_threshold": predictor.digit_threshold,
                  "test_accuracy": predictor.metrics.get("test_accuracy")},
        "limit": args.limit, "seed": args.seed, "modes": list(PREPROCESS_MODES),
        "results": results, "non_digits": non_digits,
    }
    write_json_atomic(out / "confidence_comparison.json", report)
    header = (f"# Confidence study: basic vs enhanced preprocessing, and the digit verdict\n\n"
              f"Model `{predictor.model_path.name}` (version {predictor.version}, calibration "
              f"temperature {predictor.temperature:.3f}, digit threshold {predictor.digit_threshold:.6g}). "
              f"Produced by `python test_model_confidence.py"
              f"{'' if args.limit is None else f' --limit {args.limit}'}`.\n\n")
    table, gate = tables
    write_atomic(out / "confidence_comparison.md",
                 lambda tmp: Path(tmp).write_text(header + table + GATE_HEADER + gate + "\n"))


def plot_roc_never_chosen(digit_scores, non_digit_scores, threshold, path):
    """The ROC over the sets never chosen on: the ones that say how the gate generalises."""
    never_chosen = lambda scores: {name: v for name, v in scores.items() if CHOSEN_ON not in name}
    plot_roc(np.concatenate(list(never_chosen(digit_scores).values())), never_chosen(non_digit_scores),
             threshold, path)


def main(argv=None):
    args = parse_args(argv)
    try:
        predictor = Predictor()
        sets = load_sets(args.limit, args.seed)
    except (ModelFileError, MnistFileError, OSError) as exc:
        sys.exit(f"error: {exc}")
    print(f"model {predictor.model_path.name} (version {predictor.version}, "
          f"temperature {predictor.temperature:.3f}, test accuracy {predictor.metrics.get('test_accuracy')})")

    results, digit_scores = evaluate_digit_sets(predictor, sets)
    non_digits, non_digit_scores = evaluate_non_digit_sets(predictor, args.limit)
    table = markdown_table(results)
    gate = gate_table(results, non_digits) + "\n\nBy kind:\n\n" + kinds_table(non_digits)
    out = args.output_dir
    write_reports(out, predictor, args, results, non_digits, (table, gate))
    plot(results, out / "confidence_comparison.png")
    plot_roc_never_chosen(digit_scores, non_digit_scores, predictor.digit_threshold, out / "digit_gate_roc.png")
    print("\n" + table + "\n\n" + gate)
    print(f"\nwrote {out / 'confidence_comparison.md'}, .json and .png, and {out / 'digit_gate_roc.png'}")


if __name__ == "__main__":
    main()
