"""test_model_confidence.py: a quick run (--limit) writes a complete, consistent report."""
import io
import json

import numpy as np
import pytest
from PIL import Image

import test_model_confidence as study

SETS = (["MNIST test"] + [f"MNIST {name}" for name in study.VARIANTS] + ["USPS"]
        + ["real digits, test sites (ibm, uqb, imp)", "real digits, validation sites (gmd, aga, art) (chosen on)"])
SYNTHETIC = ["non-digits, training family", "non-digits, held-out family", "non-digits, held-out handwriting"]
REAL = [name for _, _, _, name in study.REAL_NON_DIGITS]
METRICS = {"images", "accuracy", "mean_confidence", "mean_confidence_correct", "mean_confidence_wrong", "ece",
           "rejected_no_digit", "called_not_a_digit", "preprocess_ms_per_image"}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    study.main(["--limit", "60", "--output-dir", str(out)])
    return out


def test_json_has_every_set_and_mode(report_dir):
    report = json.loads((report_dir / "confidence_comparison.json").read_text())
    assert report["limit"] == 60
    assert list(report["results"]) == SETS
    for name in SETS:
        for mode in ("basic", "enhanced"):
            r = report["results"][name][mode]
            assert set(r) == METRICS
            assert r["images"] == 60
            assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["ece"] <= 1.0
            for key in ("mean_confidence_correct", "mean_confidence_wrong"):
                assert r[key] is None or 0.0 <= r[key] <= 1.0


def test_enhanced_rescues_digits_that_do_not_look_like_mnist(report_dir):
    results = json.loads((report_dir / "confidence_comparison.json").read_text())["results"]
    for name in ["MNIST inverted", "MNIST small in corner", "MNIST grey paper photo"]:
        assert results[name]["enhanced"]["accuracy"] > results[name]["basic"]["accuracy"] + 0.3


def test_markdown_table_and_figure(report_dir):
    table = (report_dir / "confidence_comparison.md").read_text()
    assert "--limit 60" in table
    for name in SETS:
        assert f"| {name} | basic |" in table and f"| {name} | enhanced |" in table
    with Image.open(report_dir / "confidence_comparison.png") as figure:
        assert figure.format == "PNG" and figure.width > 600


def test_both_error_rates_of_the_digit_verdict_per_set_and_the_roc_curve(report_dir):
    report = json.loads((report_dir / "confidence_comparison.json").read_text())
    assert list(report["non_digits"]) == SYNTHETIC + REAL
    assert "real symbols, held-out source" in REAL and "real symbols, held-out source, look-alikes" in REAL
    for name, r in report["non_digits"].items():
        assert r["images"] == 60 and 0.0 <= r["accepted_as_digit"] <= 1.0
        by_kind = r["accepted_by_kind"]
        assert sum(k["images"] for k in by_kind.values()) == 60
        # The family's rate is the kinds' rates weighted by their counts.
        assert sum(k["images"] * k["accepted_as_digit"] for k in by_kind.values()) / 60 == \
            pytest.approx(r["accepted_as_digit"], abs=1e-3)
    assert {"glyph", "heart", "spiral"} <= set(report["non_digits"]["non-digits, held-out family"]["accepted_by_kind"])
    # Real sets are broken down by what was written; look-alikes only in their own rows.
    symbols = set(report["non_digits"]["real symbols, held-out source"]["accepted_by_kind"])
    assert symbols and symbols <= set("!#%*+-<=>@^_~") and not symbols & set("|/\\()[]$&?{}")
    for name in SETS:
        assert 0.0 <= report["results"][name]["enhanced"]["called_not_a_digit"] <= 1.0
    # Digits are mostly kept and non-digits mostly refused, or the gate is not working at all.
    assert report["results"]["MNIST test"]["enhanced"]["called_not_a_digit"] <= 0.1
    assert report["non_digits"]["non-digits, training family"]["accepted_as_digit"] <= 0.3
    assert report["model"]["digit_threshold"] > 0
    table = (report_dir / "confidence_comparison.md").read_text()
    assert "## Is it a digit at all?" in table and "| non-digits, held-out family | 60 |" in table
    assert "| held-out family | heart |" in table and "| held-out handwriting | glyph |" in table
    with Image.open(report_dir / "digit_gate_roc.png") as figure:
        assert figure.format == "PNG"


def test_variants_look_like_what_users_send():
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    rng = np.random.default_rng(0)
    for name, make in study.VARIANTS.items():
        image = make(digit, rng)
        if isinstance(image, bytes):
            image = np.asarray(Image.open(io.BytesIO(image)))
        # Dark ink on lighter paper, the way people write.
        assert np.median(image) > image.min() + 60, name


def test_bad_limit_is_a_usage_error():
    with pytest.raises(SystemExit) as info:
        study.parse_args(["--limit", "3"])
    assert info.value.code == 2
