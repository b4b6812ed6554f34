"""digit_gate.py: threshold choice, and the network's two named outputs (h5, int8 LiteRT)."""
import numpy as np
import pytest

from mnist_digits.gate import digit_gate as dg
import train_model

pytestmark = pytest.mark.slow   # trains models: not in `make check`


@pytest.fixture(scope="module")
def trunk():
    """An untrained network with both heads."""
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


def test_the_model_has_two_named_outputs_a_keras_user_can_read(trunk, images):
    out = trunk.predict(images, verbose=0)
    assert set(out) == {"probabilities", "digit_score"}
    assert out["probabilities"].shape == (5, 10) and out["digit_score"].shape == (5, 1)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert np.all((out["digit_score"] > 0) & (out["digit_score"] < 1))


def test_both_outputs_survive_an_h5_round_trip(trunk, images, tmp_path):
    import keras
    trunk.save(tmp_path / "model.h5")
    loaded = keras.models.load_model(tmp_path / "model.h5", compile=False)
    for name, values in loaded(images).items():
        np.testing.assert_allclose(np.asarray(values), np.asarray(trunk(images)[name]), atol=1e-6)


def test_the_model_converts_to_full_int8_keeping_both_outputs_by_name(trunk):
    # Every tensor the head concatenates must be able to share one int8 scale
    # (a softmax among them, with its fixed scale, made this conversion fail).
    from ai_edge_litert.interpreter import Interpreter
    from export_model import convert
    sample = np.random.default_rng(3).random((1000, 28, 28, 1)).astype(np.float32)
    outputs = Interpreter(model_content=convert(trunk, sample, quantize=True)).get_signature_runner()
    assert set(outputs.get_output_details()) == {"probabilities", "digit_score"}
