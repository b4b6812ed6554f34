"""The digit verdict: a second head on the network, and the threshold that turns it into is_digit.

The model has two named outputs (train_model.build_model):

    probabilities   (N, 10)  softmax over the digits
    digit_score     (N, 1)   sigmoid in [0, 1]; high = looks like a digit

so `model.predict(x)["probabilities"].argmax(1)` is the digit, as every Keras user
writes it. The digit_score head is a small MLP on what the network already computes
(head_features): the last conv stage's 4x4x64 map and the 128 pooled features. The
stage map keeps *where* strokes are, which the pooled features have mostly lost,
and is what tells a spiral or a heart from a 0. Both heads are trained together
with the network from the first epoch (train_model.py), so the shared features
learn what separates real digits from real non-digits, not MNIST's look alone.
(Not the probabilities as an input: int8 LiteRT gives a softmax a fixed scale, and
a concatenation needs one scale for all its inputs, so the int8 conversion would fail.)

is_digit = digit score >= the threshold picked on the validation digits so that at
most MAX_VALIDATION_REFUSED of them are refused; training folds it into the head's bias
(fold_threshold), so the threshold written to metrics.json is (just under) 0.5.
"""
import numpy as np

import config

HEAD_UNITS, HEAD_DROPOUT = 128, 0.2


def head_features(stage_map, pooled):
    """The tensors the digit_score head reads, as one flat tensor."""
    from keras import layers
    stage = layers.Flatten(name="score_stage_map")(stage_map)
    return layers.Concatenate(name="score_features")([stage, pooled])


def digit_score_head(stage_map, pooled):
    """The digit_score output (N, 1) on the network's last conv stage and pooled features."""
    from keras import layers
    x = layers.Dense(HEAD_UNITS, activation="relu", name="score_dense")(head_features(stage_map, pooled))
    x = layers.Dropout(HEAD_DROPOUT, name="score_dropout")(x)
    return layers.Dense(1, activation="sigmoid", name="digit_score")(x)


def fold_threshold(model, threshold):
    """Shift the digit_score head's bias so that `threshold` becomes 0.5: the same verdict for
    every input (sigmoid(z - logit(t)) >= 0.5 exactly when sigmoid(z) >= t). Why: int8 LiteRT
    gives the sigmoid's output 256 even steps, and a threshold near 0 or 1 falls between a few
    of them (at 0.012, one in ten int8 verdicts differed from Keras); around 0.5 the score is
    as finely resolved as it gets."""
    layer = model.get_layer("digit_score")
    kernel, bias = layer.get_weights()
    t = float(np.clip(threshold, 1e-6, 1 - 1e-6))
    layer.set_weights([kernel, (bias - np.log(t / (1 - t))).astype(bias.dtype)])


def pick_threshold(digit_scores, max_refused=config.MAX_VALIDATION_REFUSED):
    """The highest threshold that refuses at most `max_refused` of these digits
    (is_digit = score >= threshold)."""
    scores = np.sort(np.asarray(digit_scores, np.float64))
    if scores.size == 0:
        raise ValueError("no digit scores to pick a threshold on")
    allowed = int(np.floor(max_refused * scores.size))     # this many may fall below
    # Rounded down to 6 decimals, so the value written to metrics.json refuses no more.
    return float(np.floor(scores[allowed] * 1e6) / 1e6)


def rates(scores, threshold, is_digit):
    """The fraction of one set the verdict gets wrong: refused digits, or accepted non-digits."""
    scores = np.asarray(scores)
    if scores.size == 0:
        return 0.0
    return float((scores < threshold).mean() if is_digit else (scores >= threshold).mean())
