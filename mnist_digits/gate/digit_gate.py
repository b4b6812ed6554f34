"""The digit gate: a small second part that says whether an input looks like a digit.

The 10-class network (the trunk) is trained first and left exactly as it is.
The gate is then trained on digits vs non-digits (gate_data.py) with the trunk
frozen, and the two are joined into ONE Keras model with ONE output (N, 11):

    columns 0-9   the trunk's softmax probabilities, unchanged
    column 10     the digit score in [0, 1] (sigmoid; high = looks like a digit)

so the .h5 and both LiteRT exports stay single-output files. The gate is a
small MLP on what the trunk already computes (trunk_features): the last conv
stage's 4x4x64 map and the 128 penultimate features. (Not the probabilities:
int8 LiteRT gives a softmax a fixed scale, and a concatenation needs one scale
for all its inputs, so the int8 conversion would fail.) The stage map keeps *where* strokes are, which the 128 pooled features have
mostly lost, and is what tells a spiral or a heart from a 0. The alternatives
compared (a small CNN on the pixels, and both together) are in GATE_KINDS.
is_digit = digit score >= the threshold picked on validation digits so that
at most MAX_VALIDATION_REJECTED of them are refused.
"""
import time

import numpy as np

import config
from mnist_digits.gate.gate_data import FIT_SIZES, VAL_SIZES, gate_examples

GATE_KINDS = ("features", "pixels", "both")
DEFAULT_KIND = "features"
MAX_VALIDATION_REJECTED = 0.005      # digits refused on the validation split (the target is 1 % on test sets)
EPOCHS, BATCH_SIZE, LEARNING_RATE = 12, 256, 2e-3
OUTPUT_NAME = "probabilities_and_digit_score"


def _pixel_branch(image):
    """A tiny CNN on the 28x28 input (the 'pixels' and 'both' gates)."""
    from keras import layers
    x = layers.Conv2D(32, 3, strides=2, activation="relu", name="gate_conv1")(image)   # 13x13
    x = layers.Conv2D(64, 3, strides=2, activation="relu", name="gate_conv2")(x)       # 6x6
    x = layers.Conv2D(64, 3, activation="relu", name="gate_conv3")(x)                  # 4x4
    return layers.Flatten(name="gate_flatten")(x)


def build_gate(kind=DEFAULT_KIND):
    """The gate alone: inputs [image, trunk features] -> digit score (N, 1)."""
    from keras import Input, Model, layers
    if kind not in GATE_KINDS:
        raise ValueError(f"gate kind must be one of {GATE_KINDS}, got {kind!r}")
    image = Input((config.IMAGE_SIZE, config.IMAGE_SIZE, 1), name="gate_image")
    features = Input((FEATURES,), name="gate_features")
    parts = {"features": [features], "pixels": [_pixel_branch(image)],
             "both": [features, _pixel_branch(image)]}[kind]
    x = parts[0] if len(parts) == 1 else layers.Concatenate(name="gate_concat")(parts)
    x = layers.Dense(128, activation="relu", name="gate_dense")(x)
    x = layers.Dropout(0.2, name="gate_dropout")(x)
    score = layers.Dense(1, activation="sigmoid", name="digit_score")(x)
    return Model([image, features], score, name=f"digit_gate_{kind}")


FEATURES = 4 * 4 * 64 + 128


def trunk_features(trunk):
    """The trunk's tensors the gate reads, as one (N, FEATURES) tensor.

    Found by layer type, not name (Keras numbers auto-named layers per session):
    the last conv stage is the second-to-last ReLU, the pooled features the Flatten.
    """
    from keras import layers
    relus = [layer for layer in trunk.layers if isinstance(layer, layers.ReLU)]
    (flatten,) = [layer for layer in trunk.layers if isinstance(layer, layers.Flatten)]
    stage = layers.Flatten(name="gate_stage_map")(relus[-2].output)
    return layers.Concatenate(name="gate_trunk_features")([stage, flatten.output])


def feature_model(trunk):
    """The trunk up to the gate's input features."""
    from keras import Model
    return Model(trunk.input, trunk_features(trunk), name="trunk_features")


def combine(trunk, gate):
    """ONE model: image -> (N, 11), the trunk's 10 probabilities then the digit score."""
    from keras import Model, layers
    score = gate([trunk.input, trunk_features(trunk)])
    outputs = layers.Concatenate(name=OUTPUT_NAME)([trunk.output, score])
    return Model(trunk.input, outputs, name=f"{trunk.name}_with_gate")


def pick_threshold(digit_scores, max_rejected=MAX_VALIDATION_REJECTED):
    """The highest threshold that refuses at most `max_rejected` of these digits
    (is_digit = score >= threshold)."""
    scores = np.sort(np.asarray(digit_scores, np.float64))
    if scores.size == 0:
        raise ValueError("no digit scores to pick a threshold on")
    allowed = int(np.floor(max_rejected * scores.size))     # this many may fall below
    # Rounded down to 6 decimals, so the value written to metrics.json refuses no more.
    return float(np.floor(scores[allowed] * 1e6) / 1e6)


def rates(scores, threshold, is_digit):
    """The fraction of one set the gate gets wrong: refused digits, or accepted non-digits."""
    scores = np.asarray(scores)
    if scores.size == 0:
        return 0.0
    return float((scores < threshold).mean() if is_digit else (scores >= threshold).mean())


def train_gate(gate, x, features, y, epochs=EPOCHS):
    """Fit the gate (the trunk's features are precomputed: the trunk is frozen)."""
    import keras
    # Balance the classes: as much weight on the non-digits as on the digits.
    weight = {0: len(y) / (2 * max((y == 0).sum(), 1)), 1: len(y) / (2 * max((y == 1).sum(), 1))}
    steps = epochs * int(np.ceil(len(y) / BATCH_SIZE))
    gate.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                 loss="binary_crossentropy")
    gate.fit([x, features], y.astype(np.float32), batch_size=BATCH_SIZE, epochs=epochs, shuffle=True,
             class_weight=weight, verbose=0)
    return gate


def gate_scores(gate, x, features):
    return gate.predict([x, features], batch_size=1024, verbose=0)[:, 0]


def add_digit_gate(trunk, x_fit, x_val, seed, kind=DEFAULT_KIND, fit_sizes=FIT_SIZES, val_sizes=VAL_SIZES):
    """Train a gate on the frozen trunk and join them.

    x_fit, x_val: uint8 MNIST training images (white on black) of the trunk's own
    fit and validation splits. Returns (combined model, threshold, report dict).
    """
    start = time.time()
    x_train, y_train = gate_examples(x_fit, fit_sizes, seed, augment=True)
    x_check, y_check = gate_examples(x_val, val_sizes, seed + 1, augment=False)
    data_s = time.time() - start
    features = feature_model(trunk)
    f_train = features.predict(x_train, batch_size=1024, verbose=0)
    f_check = features.predict(x_check, batch_size=1024, verbose=0)
    import keras
    keras.utils.set_random_seed(seed)        # before building: the initial weights too
    gate = train_gate(build_gate(kind), x_train, f_train, y_train)
    scores = gate_scores(gate, x_check, f_check)
    threshold = pick_threshold(scores[y_check == 1])
    report = {
        "kind": kind, "threshold": threshold,
        "max_validation_rejected": MAX_VALIDATION_REJECTED,
        "parameters": int(gate.count_params()),
        "fit_examples": {"digits": int(y_train.sum()), "non_digits": int((y_train == 0).sum())},
        "validation_examples": {"digits": int(y_check.sum()), "non_digits": int((y_check == 0).sum())},
        "validation_digits_refused": round(rates(scores[y_check == 1], threshold, True), 5),
        "validation_non_digits_accepted": round(rates(scores[y_check == 0], threshold, False), 5),
        "data_time_s": round(data_s, 1), "training_time_s": round(time.time() - start, 1),
    }
    trunk.trainable = False
    return combine(trunk, gate), threshold, report
