"""What the model learns from, and what validates it: digits and non-digits as served.

One split at a time ("train" or "validation"), each a dict of named parts (Examples:
model inputs and labels, NOT_A_DIGIT for a non-digit):

  digits      MNIST (the first 55,000 training images train, the last 5,000 validate), as they are;
              real digits of that split's writer sites (UNIPEN; datasets/real_handwriting.py);
              MNIST digits drawn again as users send them (any canvas, pen, paper, noise, JPEG);
              digits typed in the training fonts, so "printed" never means "not a digit";
              MNIST 0s with a slash through them (no training writer site slashes its 0s).
  non-digits  real letters and doodles of that split (look-alikes left out: a person may mean
              a digit), and non_digits.py's training family (drawn with another seed to validate).

Validation also gives the real look-alikes apart, for the report only. Everything a user
would send goes through preprocess_image, exactly as in serving; MNIST is already in that
form. Test sets (MNIST test, USPS, the test sites, the held-out non-digit source) are never
read here.
"""
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

import config
from mnist_digits.datasets import real_handwriting
from mnist_digits.gate import non_digits as nd
from mnist_digits.imaging.preprocessing import to_model_input

NOT_A_DIGIT = -1
LOOKALIKES = "real look-alikes"        # reported, never trained on, never in the threshold
_MIN_SIZE = 20                         # a --limit smoke run keeps at least this many of each part
_STREAMS = {"user_digits": 1, "font_digits": 2, "non_digits": 3, "real": 4, "slashed_zeros": 5}


class Examples(NamedTuple):
    x: np.ndarray      # float32 (N, 28, 28, 1) model inputs
    y: np.ndarray      # int8 (N,): the digit, or NOT_A_DIGIT

    @property
    def is_digit(self):
        return self.y != NOT_A_DIGIT


def scaled(n, share):
    """n cut to a share (a --limit smoke run), never below a few dozen."""
    return n if share >= 1 else min(n, max(_MIN_SIZE, int(n * share)))


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


def slashed_zero(zero, rng):
    """One 0 (white on black uint8 28x28) with a slash through it, as many engineers,
    programmers and Scandinavians write it. No training writer site does, so without
    these the network reads a slashed 0 as an 8 (49 of the 60 errors on the validation
    sites were slashed zeros). Drawn 4x larger on a margin so the slash may overshoot."""
    scale, margin = 4, 24
    ink = np.asarray(Image.fromarray(zero).resize((28 * scale, 28 * scale), Image.BICUBIC))
    solid = ink > 127
    rows, cols = np.nonzero(solid)
    if rows.size == 0:
        return ink
    # The pen's width: a stroke of width w and length L has area w*L and an outline ~2L long.
    outline = solid & ~(np.roll(solid, 1, 0) & np.roll(solid, -1, 0) & np.roll(solid, 1, 1) & np.roll(solid, -1, 1))
    width = max(3, int(round(2 * solid.sum() / max(outline.sum(), 1) * rng.uniform(0.7, 1.1))))
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    h, w = bottom - top, right - left
    start = (left + w * rng.uniform(-0.15, 0.35), bottom + h * rng.uniform(-0.05, 0.25))
    end = (right - w * rng.uniform(-0.15, 0.35), top - h * rng.uniform(-0.05, 0.25))
    if rng.random() < 0.15:                           # a backslash now and then
        start, end = (2 * left + w - start[0], start[1]), (2 * left + w - end[0], end[1])
    page = Image.new("L", (ink.shape[1] + 2 * margin, ink.shape[0] + 2 * margin), 0)
    page.paste(Image.fromarray(ink), (margin, margin))
    ImageDraw.Draw(page).line([(x + margin, y + margin) for x, y in (start, end)], fill=255, width=width)
    page = np.asarray(page)
    return nd.on_paper(page / 255.0, rng) if rng.random() < 0.5 else page


def slashed_zeros(zeros, seed):
    """Each 0 (uint8 28x28, white on black) slashed; deterministic in seed."""
    return [slashed_zero(z, np.random.default_rng([seed, _STREAMS["slashed_zeros"], i]))
            for i, z in enumerate(zeros)]


def font_digits(n, seed):
    """n digits typed in the training fonts, as users' pictures, and their labels (0-9 in turn)."""
    pictures = []
    for i in range(n):
        rng = np.random.default_rng([seed, _STREAMS["font_digits"], i])
        pictures.append(nd.on_paper(nd.draw_glyph(rng, nd.TRAINING_FONTS, str(i % 10)), rng))
    return pictures, np.arange(n) % 10


def _served(pictures, labels):
    """Pictures as the model sees them in serving (the blank ones dropped, as serving refuses them)."""
    x, kept = nd.to_model_inputs(list(pictures))
    return Examples(x, np.asarray(labels, np.int8)[kept])


def _real_parts(split, share, seed):
    """The real handwriting of one split: digits, then letters and doodles (and look-alikes to report)."""
    rng = np.random.default_rng([seed, _STREAMS["real"]])
    pick = lambda images: images[np.sort(rng.choice(len(images), scaled(len(images), share), replace=False))]
    images, labels = real_handwriting.digits(split)
    keep = np.sort(rng.choice(len(images), scaled(len(images), share), replace=False))
    parts = {"real digits": _served(images[keep], labels[keep])}
    for name, kind in (("unipen_latin_letters", "real letters"), ("quickdraw_6cat", "real doodles")):
        found = pick(real_handwriting.non_digits(split, lookalikes=False, sets=(name,)))
        parts[kind] = _served(found, np.full(len(found), NOT_A_DIGIT))
    if split == "validation":
        found = pick(real_handwriting.non_digits(split, lookalikes="only"))
        parts[LOOKALIKES] = _served(found, np.full(len(found), NOT_A_DIGIT))
    return parts


def examples(split, x_mnist, y_mnist, seed, share=1.0):
    """{part name: Examples} of one split. x_mnist, y_mnist: that split's MNIST images
    (uint8, white on black) and labels; the user-style digits are redrawn from a sample of them."""
    sizes = config.SYNTHETIC_EXAMPLES[split]
    rng = np.random.default_rng([seed, 0])
    users = rng.choice(len(x_mnist), min(scaled(sizes["user_digits"], share), len(x_mnist)), replace=False)
    zeros = np.flatnonzero(np.asarray(y_mnist) == 0)
    zeros = np.sort(rng.choice(zeros, min(scaled(sizes["slashed_zeros"], share), len(zeros)), replace=False))
    n_fonts, n_non_digits = scaled(sizes["font_digits"], share), scaled(sizes["non_digits"], share)
    return {
        "MNIST": Examples(to_model_input(x_mnist), np.asarray(y_mnist, np.int8)),
        **_real_parts(split, share, seed),
        "user-style digits": _served(user_style_digits(x_mnist[users], seed), y_mnist[users]),
        "font digits": _served(*font_digits(n_fonts, seed)),
        "slashed zeros": _served(slashed_zeros(x_mnist[zeros], seed), np.zeros(len(zeros))),
        "synthetic non-digits": _served(nd.training_non_digits(n_non_digits, seed),
                                        np.full(n_non_digits, NOT_A_DIGIT)),
    }


def joined(parts, leave_out=(LOOKALIKES,)):
    """One Examples of every part but `leave_out`."""
    chosen = [part for name, part in parts.items() if name not in leave_out]
    return Examples(np.concatenate([p.x for p in chosen]), np.concatenate([p.y for p in chosen]))
