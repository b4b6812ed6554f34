"""Temperature scaling and ECE on synthetic data with known answers."""
import numpy as np

from mnist_digits.model.calibration import apply_temperature, expected_calibration_error, fit_temperature


def test_temperature_one_is_identity_and_preserves_argmax():
    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]])
    np.testing.assert_allclose(apply_temperature(p, 1.0), p)
    hot = apply_temperature(p, 3.0)
    np.testing.assert_allclose(hot.sum(axis=1), 1.0)
    assert (hot.argmax(axis=1) == p.argmax(axis=1)).all()
    assert (hot.max(axis=1) < p.max(axis=1)).all()   # T > 1 softens


def test_fit_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 10)) * 2.0
    labels = np.array([rng.choice(10, p=np.exp(z) / np.exp(z).sum()) for z in logits])
    overconfident = np.exp(logits * 3.0)             # true temperature: 3
    overconfident /= overconfident.sum(axis=1, keepdims=True)
    t = fit_temperature(overconfident, labels)
    assert 2.5 < t < 3.5
    assert expected_calibration_error(apply_temperature(overconfident, t), labels) < \
        expected_calibration_error(overconfident, labels)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.array([[0.75, 0.25]] * 4)
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels) == 0.0
    assert abs(expected_calibration_error(probs, np.array([1, 1, 1, 1])) - 0.75) < 1e-12
