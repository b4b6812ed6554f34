"""gate_data.py: the trunk's augmentation, digits redrawn as users send them, one split's examples."""
import numpy as np

from mnist_digits.gate import gate_data as gd
from mnist_digits.gate import non_digits as nd


def _digit():
    d = np.zeros((28, 28), np.uint8)
    d[6:22, 12:16] = 255                       # a 1
    return d


def test_augment_digit_moves_the_digit_a_little():
    d = _digit()
    moved = [gd.augment_digit(d, np.random.default_rng(i)) for i in range(20)]
    assert all(m.shape == (28, 28) and m.dtype == np.uint8 for m in moved)
    assert any(not np.array_equal(m, d) for m in moved)
    # Small changes only: the ink stays about as much and near the middle.
    for m in moved:
        assert 0.6 < m.sum() / d.sum() < 1.5
        ys, xs = np.nonzero(m > 127)
        assert abs(ys.mean() - 13.5) < 5 and abs(xs.mean() - 13.5) < 5


def test_user_style_digits_are_deterministic_and_preprocessable():
    digits = np.stack([_digit()] * 8)
    first, again = gd.user_style_digits(digits, seed=3), gd.user_style_digits(digits, seed=3)
    assert all((a == b) if isinstance(a, bytes) else np.array_equal(a, b) for a, b in zip(first, again))
    x, kept = nd.to_model_inputs(first)
    assert kept.all() and x.shape == (8, 28, 28, 1)


def test_gate_examples_label_digits_one_and_non_digits_zero():
    digits = np.stack([_digit()] * 50)
    sizes = {"mnist": 20, "user_digits": 10, "font_digits": 5, "non_digits": 15}
    x, y = gd.gate_examples(digits, sizes, seed=1, augment=True)
    assert x.shape[1:] == (28, 28, 1) and len(x) == len(y)
    assert (y == 1).sum() == 35 and (y == 0).sum() == 15


def test_scaled_sizes_shrink_for_smoke_runs_only():
    assert gd.scaled_sizes(gd.FIT_SIZES, 1.0) == gd.FIT_SIZES
    small = gd.scaled_sizes(gd.FIT_SIZES, 0.01)
    assert all(10 <= small[k] < gd.FIT_SIZES[k] for k in small)
