"""Write tests/data/preprocessing_golden.npz: what preprocess_image answered, as the reference.

    python tests/helpers/make_preprocessing_golden.py

It records, for the first GOLDEN_COUNT images of every set of the confidence
study (MNIST test, its transformed variants, USPS; test_model_confidence.load_sets)
and both modes, the 28x28 output (float16: within 1/8 of a grey level) or the
error code it raised. It was run at commit eafa3c8, before preprocessing was
made faster; tests/imaging/test_preprocessing.py checks that today's implementation
still gives the same pictures within 1/255 per pixel. Rerun it only when a
change of the output is intended.
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from mnist_digits.errors import DigitError  # noqa: E402
from mnist_digits.imaging.preprocessing import PREPROCESS_MODES, preprocess_image  # noqa: E402
from test_model_confidence import load_sets  # noqa: E402

GOLDEN_PATH = ROOT / "tests" / "data" / "preprocessing_golden.npz"
GOLDEN_COUNT = 200
GOLDEN_SEED = 12


def preprocess_all(images, mode):
    """-> (float32 (N, 28, 28) outputs, zeros where it raised; error codes, "" where it did not)."""
    outputs, codes = np.zeros((len(images), 28, 28), np.float32), []
    for i, image in enumerate(images):
        try:
            outputs[i] = preprocess_image(image, mode)[..., 0]
            codes.append("")
        except DigitError as exc:
            codes.append(exc.code)
    return outputs, codes


def golden_key(set_name, mode):
    return f"{set_name}|{mode}"


def main():
    arrays = {}
    for name, (images, _) in load_sets(GOLDEN_COUNT, GOLDEN_SEED).items():
        for mode in PREPROCESS_MODES:
            outputs, codes = preprocess_all(images, mode)
            arrays[golden_key(name, mode)] = outputs.astype(np.float16)
            arrays[golden_key(name, mode) + "|codes"] = np.array(codes)
    GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
    tmp = GOLDEN_PATH.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(GOLDEN_PATH)   # atomic: never a half-written reference
    print(f"wrote {GOLDEN_PATH} ({GOLDEN_PATH.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
