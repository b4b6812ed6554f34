"""digit_gate.py: threshold choice, the combined (N, 11) model, a tiny end-to-end gate."""
import numpy as np
import pytest

from mnist_digits.gate import digit_gate as dg
import train_model

pytestmark = pytest.mark.slow   # trains models: not in `make check`


@pytest.fixture(scope="module")
def trunk():
    """An untrained 10-class network: the gate must leave whatever it answers untouched."""
    import keras
    keras.utils.set_random_seed(0)
    return train_model.build_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, 28, 28, 1)).astype(np.float32)


def test_threshold_refuses_at_most_the_allowed_share():
    scores = np.random.default_rng(1).random(1000)
    for share in (0.0, 0.001, 0.005, 0.01, 0.2):
        threshold = dg.pick_threshold(scores, share)
        refused = (scores < threshold).mean()
        assert refused <= share
        # ...and it is the highest such threshold: the next score up would refuse too many.
        above = np.sort(scores)[scores < threshold].size
        assert (scores < np.sort(scores)[min(above + 1, 999)]).mean() > share or above + 1 > 999


def test_threshold_is_rounded_down_and_needs_scores():
    assert dg.pick_threshold([0.1234567891, 0.9], 0.0) == 0.123456
    with pytest.raises(ValueError):
        dg.pick_threshold([], 0.01)


def test_rates_count_refused_digits_and_accepted_non_digits():
    scores = np.array([0.1, 0.5, 0.9, 0.95])
    assert dg.rates(scores, 0.5, is_digit=True) == 0.25
    assert dg.rates(scores, 0.5, is_digit=False) == 0.75
    assert dg.rates([], 0.5, is_digit=True) == 0.0


@pytest.mark.parametrize("kind", dg.GATE_KINDS)
def test_combined_model_keeps_the_trunks_probabilities(trunk, images, kind):
    combined = dg.combine(trunk, dg.build_gate(kind))
    assert combined.output_shape == (None, 11)
    out = np.asarray(combined(images, training=False))
    np.testing.assert_array_equal(out[:, :10], np.asarray(trunk(images, training=False)))
    assert np.all((out[:, 10] > 0) & (out[:, 10] < 1))


def test_combined_model_survives_an_h5_round_trip(trunk, images, tmp_path):
    import keras
    combined = dg.combine(trunk, dg.build_gate())
    combined.save(tmp_path / "model.h5")
    loaded = keras.models.load_model(tmp_path / "model.h5", compile=False)
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(combined(images)), atol=1e-6)


def test_unknown_gate_kind_is_refused():
    with pytest.raises(ValueError, match="gate kind"):
        dg.build_gate("oracle")


def test_add_digit_gate_end_to_end_is_deterministic(trunk, images):
    digits = np.random.default_rng(2).integers(0, 256, (150, 28, 28)).astype(np.uint8)
    digits[:, :6] = digits[:, -6:] = 0          # MNIST-like black margins
    sizes = {"mnist": 100, "user_digits": 30, "font_digits": 10, "non_digits": 60}
    runs = [dg.add_digit_gate(trunk, digits[:100], digits[100:], seed=5, fit_sizes=sizes, val_sizes=sizes)
            for _ in range(2)]
    (model, threshold, report), (model2, threshold2, _) = runs
    assert threshold == threshold2 == report["threshold"]
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(model2(images)))
    assert report["fit_examples"]["non_digits"] > 0 and report["validation_examples"]["digits"] > 0
    assert report["validation_digits_refused"] <= dg.MAX_VALIDATION_REJECTED
    np.testing.assert_array_equal(np.asarray(model(images))[:, :10], np.asarray(trunk(images)))


def test_combined_model_converts_to_full_int8(trunk):
    # Every tensor the gate concatenates must be able to share one int8 scale
    # (a softmax among them, with its fixed scale, made this conversion fail).
    from export_model import convert
    sample = np.random.default_rng(3).random((1000, 28, 28, 1)).astype(np.float32)
    assert len(convert(dg.combine(trunk, dg.build_gate()), sample, quantize=True)) > 0
