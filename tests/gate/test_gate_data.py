"""gate_data.py: digits redrawn as users send them, and each split's examples."""
import numpy as np
import pytest

from mnist_digits.gate import gate_data as gd
from mnist_digits.gate import non_digits as nd


def _digit():
    d = np.zeros((28, 28), np.uint8)
    d[6:22, 12:16] = 255                       # a 1
    return d


def _zero():
    d = np.zeros((28, 28), np.uint8)
    d[5:23, 9:19] = 255
    d[8:20, 12:16] = 0                         # a ring: a 0
    return d


def _mnist():
    """60 tiny "MNIST" digits: 1s, and every third a 0."""
    labels = np.where(np.arange(60) % 3 == 0, 0, 1).astype(np.uint8)
    return np.stack([_zero() if label == 0 else _digit() for label in labels]), labels


def test_slashed_zeros_add_a_slash_across_the_zero_and_stay_zeros():
    zeros = np.stack([_zero()] * 6)
    first, again = gd.slashed_zeros(zeros, seed=3), gd.slashed_zeros(zeros, seed=3)
    assert all((a == b) if isinstance(a, bytes) else np.array_equal(a, b) for a, b in zip(first, again))
    x, kept = nd.to_model_inputs(first)
    assert kept.all()
    ring = nd.to_model_inputs([_zero()])[0][0]
    # The ring's hole is empty; a slash crosses it, so each slashed 0 has ink inside the ring.
    hole = ring[10:18, 12:16] < 0.1
    assert hole.all() and all((slashed[10:18, 12:16][hole] > 0.3).any() for slashed in x)
    parts = gd.examples("train", *_mnist(), seed=1, share=0.002)
    assert (parts["slashed zeros"].y == 0).all() and len(parts["slashed zeros"].y) == 20


def test_user_style_digits_are_deterministic_and_preprocessable():
    digits = np.stack([_digit()] * 8)
    first, again = gd.user_style_digits(digits, seed=3), gd.user_style_digits(digits, seed=3)
    assert all((a == b) if isinstance(a, bytes) else np.array_equal(a, b) for a, b in zip(first, again))
    x, kept = nd.to_model_inputs(first)
    assert kept.all() and x.shape == (8, 28, 28, 1)


@pytest.fixture(scope="module")
def parts():
    """Both splits at a small share (a --limit run), from 60 tiny "MNIST" digits."""
    digits, labels = _mnist()
    return {split: gd.examples(split, digits, labels, seed=1, share=0.002) for split in ("train", "validation")}


def test_every_part_is_labelled_digit_or_not_a_digit(parts):
    for split, found in parts.items():
        for name, part in found.items():
            assert part.x.shape[1:] == (28, 28, 1) and part.x.dtype == np.float32 and len(part.x) == len(part.y)
            assert len(part.y) >= 10, (split, name)
            digits = name in {"MNIST", "real digits", "user-style digits", "font digits", "slashed zeros"}
            assert part.is_digit.all() if digits else (part.y == gd.NOT_A_DIGIT).all(), (split, name)
    assert set(np.unique(parts["train"]["font digits"].y)) == set(range(10))


def test_look_alikes_are_validation_figures_never_training_examples(parts):
    assert gd.LOOKALIKES in parts["validation"] and gd.LOOKALIKES not in parts["train"]
    joined = gd.joined(parts["validation"])
    assert len(joined.y) == sum(len(p.y) for n, p in parts["validation"].items() if n != gd.LOOKALIKES)


def test_examples_are_deterministic(parts):
    digits, labels = _mnist()
    again = gd.examples("validation", digits, labels, seed=1, share=0.002)
    for name, part in parts["validation"].items():
        np.testing.assert_array_equal(part.x, again[name].x)


def test_scaled_shrinks_for_smoke_runs_only():
    assert gd.scaled(12000, 1.0) == 12000
    assert gd.scaled(12000, 0.01) == 120 and gd.scaled(12000, 0.0001) == 20 and gd.scaled(5, 0.001) == 5
