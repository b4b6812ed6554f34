"""Temperature scaling and expected calibration error (ECE), in plain numpy.

The model ends in a softmax, so temperature is applied to log-probabilities:
softmax(log(p) / T) equals softmax(logits / T), because log(p) differs from the
logits only by a per-row constant. T > 1 softens over-confident answers.
"""
import numpy as np

_TINY = 1e-30


def apply_temperature(probs, temperature):
    """Rescale a batch of probability rows by 1/T in log space."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return probs
    # The ufuncs themselves, in place: the same arithmetic as np.clip, .max and .sum,
    # without their Python wrappers or a new array per step (this runs on every request).
    logits = np.minimum(np.maximum(probs, _TINY), 1.0)
    np.log(logits, out=logits)
    logits /= temperature
    logits -= np.maximum.reduce(logits, axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= np.add.reduce(logits, axis=1, keepdims=True)
    return logits


def negative_log_likelihood(probs, labels):
    picked = np.asarray(probs)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, _TINY, 1.0))))


def fit_temperature(probs, labels):
    """The T in [0.05, 20] that minimises held-out NLL (a grid in log T, refined twice)."""
    low, high = np.log(0.05), np.log(20.0)
    lo, hi = low, high
    for _ in range(3):
        grid = np.linspace(lo, hi, 41)
        losses = [negative_log_likelihood(apply_temperature(probs, np.exp(t)), labels) for t in grid]
        best = int(np.argmin(losses))
        step = grid[1] - grid[0]
        lo, hi = max(grid[best] - step, low), min(grid[best] + step, high)
    return float(np.exp(grid[best]))


def expected_calibration_error(probs, labels, bins=15):
    """Average |accuracy - confidence| over equal-width confidence bins, weighted by count."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)
