"""The digit gate's examples: digits and non-digits as the model sees them in serving.

Digits come from MNIST's training images only (the first 55,000 fit, the last
5,000 validate, as for the 10-class model), three ways:
  - as they are, with the small rotations, shifts and zooms the trunk trains on;
  - drawn again as users send them (any canvas size, thicker or thinner pen,
    grey or dark paper, noise, JPEG: non_digits.on_paper), then preprocessed;
  - typed in the training fonts, so the gate cannot call "printed" a non-digit.
Non-digits are non_digits.py's training family. Everything that a user would
send goes through preprocess_image, exactly as in serving.
"""
import numpy as np
from PIL import Image, ImageFilter

import config
from mnist_digits.gate import non_digits as nd

# How many of each, per split. Sized so that building and training the gate
# takes a couple of minutes on 2 CPU cores.
FIT_SIZES = {"mnist": 20000, "user_digits": 6000, "font_digits": 1000, "non_digits": 12000}
VAL_SIZES = {"mnist": 5000, "user_digits": 2000, "font_digits": 300, "non_digits": 3000}
_MIN_SIZES = {"mnist": 100, "user_digits": 40, "font_digits": 10, "non_digits": 60}
_STREAMS = {"user_digits": 1, "font_digits": 2, "non_digits": 3, "mnist": 4}


def scaled_sizes(sizes, share):
    """`sizes` cut to a share (a --limit smoke run), never below a few dozen of each."""
    return {k: max(_MIN_SIZES[k], int(v * share)) if share < 1 else v for k, v in sizes.items()}


def augment_digit(digit, rng):
    """The trunk's augmentation (config.AUG_*), on one uint8 28x28 digit: rotate, zoom, shift."""
    angle = rng.uniform(-config.AUG_ROTATION_DEG, config.AUG_ROTATION_DEG)
    zoom = rng.uniform(1 - config.AUG_ZOOM, 1 + config.AUG_ZOOM)
    shift = rng.uniform(-config.AUG_SHIFT, config.AUG_SHIFT, 2) * config.IMAGE_SIZE
    c = config.IMAGE_SIZE / 2
    cos, sin = np.cos(np.radians(angle)) / zoom, np.sin(np.radians(angle)) / zoom
    # PIL maps each output pixel back to an input one: the inverse rotation and zoom about the centre.
    matrix = (cos, sin, c - cos * (c + shift[0]) - sin * (c + shift[1]),
              -sin, cos, c + sin * (c + shift[0]) - cos * (c + shift[1]))
    return np.asarray(Image.fromarray(digit).transform(digit.shape[::-1], Image.AFFINE, matrix,
                                                       resample=Image.BILINEAR))


def digit_on_paper(digit, rng):
    """One MNIST digit (white on black uint8) drawn again as a user would send it."""
    side = int(rng.integers(nd.MIN_SIDE, nd.MAX_SIDE + 1))
    size = max(28, int(side * rng.uniform(0.45, 1.0)))
    ink = Image.fromarray(digit).resize((size, size), Image.BICUBIC)
    # A pen change in proportion to the size; thinner only where the strokes are wide
    # enough to survive it (eroding a 28-px digit breaks it into specks).
    pen = rng.choice(["thinner", "same", "thicker"] if size >= 56 else ["same", "thicker"])
    k = 2 * int(rng.integers(1, max(2, size // 56) + 1)) + 1
    if pen == "thicker":
        ink = ink.filter(ImageFilter.MaxFilter(k))
    elif pen == "thinner":
        ink = ink.filter(ImageFilter.MinFilter(k))
    ink = ink.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR)
    page = Image.new("L", (side, side), 0)
    top, left = rng.integers(0, side - size + 1, 2)
    page.paste(ink, (int(left), int(top)))
    return nd.on_paper(np.asarray(page, np.float32) / 255.0, rng)


def user_style_digits(digits, seed):
    """Each digit (uint8 28x28, white on black) as a user's picture; deterministic in seed."""
    return [digit_on_paper(d, np.random.default_rng([seed, _STREAMS["user_digits"], i]))
            for i, d in enumerate(digits)]


def font_digits(n, seed):
    """n digits typed in the training fonts, as users' pictures."""
    pictures = []
    for i in range(n):
        rng = np.random.default_rng([seed, _STREAMS["font_digits"], i])
        pictures.append(nd.on_paper(nd.draw_glyph(rng, nd.TRAINING_FONTS, "0123456789"), rng))
    return pictures


def _mnist_inputs(digits, seed, augment):
    rng = np.random.default_rng([seed, _STREAMS["mnist"]])
    if augment:
        digits = np.stack([augment_digit(d, rng) for d in digits])
    return (digits.astype(np.float32) / 255.0)[..., None]


def gate_examples(mnist_digits, sizes, seed, augment):
    """Model inputs and labels (1 = digit) for one split: (float32 (N, 28, 28, 1), uint8 (N,)).

    `mnist_digits`: that split's MNIST images (uint8, white on black); subsets are
    drawn from them at random. Pictures the preprocessor finds blank are dropped
    (serving refuses them before the model runs).
    """
    rng = np.random.default_rng([seed, 0])
    pick = lambda k: mnist_digits[rng.choice(len(mnist_digits), min(k, len(mnist_digits)), replace=False)]
    parts = [
        (_mnist_inputs(pick(sizes["mnist"]), seed, augment), 1),
        (nd.to_model_inputs(user_style_digits(pick(sizes["user_digits"]), seed))[0], 1),
        (nd.to_model_inputs(font_digits(sizes["font_digits"], seed))[0], 1),
        (nd.to_model_inputs(nd.training_non_digits(sizes["non_digits"], seed))[0], 0),
    ]
    x = np.concatenate([inputs for inputs, _ in parts])
    y = np.concatenate([np.full(len(inputs), label, np.uint8) for inputs, label in parts])
    return x, y
