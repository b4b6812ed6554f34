"""Real handwriting: digits by other writers and pens, and real things that are not digits.

Four committed sets (data/digits_real, data/non_digits_real; each folder's README.txt
says where it comes from and how it was rendered), all uint8 28x28, white ink on black:

  unipen_digits          15,275 digits written on tablets at 12 writer sites (UNIPEN)
  unipen_latin_letters   36,373 letters A-Z, a-z, same rendering, 16 sites
  unipen_symbols          9,237 punctuation and math symbols, same rendering
  quickdraw_6cat         18,000 Quick, Draw! doodles in 6 categories

The split is what makes a figure on these sets mean something, so it is declared in
config.py and made here, deterministically, from the data alone (no random draw):

  - digits and letters by writer site (`provider`): whole sites validate
    (config.REAL_DIGIT_SITES["validation"]), whole sites test (["test"]); every
    other site trains. A writer's style never shows up on both sides.
  - symbols: the whole source is held out (config.HELD_OUT_NON_DIGIT_SOURCE): never
    trained on, never used to choose anything; its figure predicts a kind nobody trained on.
  - doodles by category (config.QUICKDRAW_CATEGORIES).

Every image keeps its `lookalike` flag: a glyph a person could honestly mean as a digit
(O, l, Z, S, "}", an apple...). Training them as non-digits would teach the model to
refuse real 0s, 1s and 5s, so `non_digits(..., lookalikes=False)` leaves them out, and
reports give them apart.
"""
from typing import NamedTuple

import numpy as np

import config

SPLITS = ("train", "validation", "test")
DIGITS = "unipen_digits"
NON_DIGIT_SETS = tuple(config.REAL_NON_DIGIT_PATHS)


class RealSet(NamedTuple):
    images: np.ndarray      # uint8 (N, 28, 28), white ink on black, as committed
    labels: np.ndarray      # digits: 0-9; non-digits: the class as text ("A", "?", "cat")
    lookalike: np.ndarray   # bool (N,): could honestly be meant as a digit
    split: np.ndarray       # str (N,): "train", "validation" or "test"

    def subset(self, mask):
        return RealSet(*(field[mask] for field in self))


def _split_by(keys, rule):
    """The split of each image from its key (site or category): `rule` maps a split to the
    keys it takes, every other key trains."""
    split = np.full(len(keys), "train", dtype="<U10")
    for name, taken in rule.items():
        split[np.isin(keys, list(taken))] = name
    return split


def _split_of(name, data):
    if name == config.HELD_OUT_NON_DIGIT_SOURCE:
        return np.full(len(data["images"]), "test", dtype="<U10")
    if "provider" in data:
        return _split_by(data["provider"], config.REAL_DIGIT_SITES)
    return _split_by(data["labels_text"], config.QUICKDRAW_CATEGORIES)


def load(name):
    """One real set, whole, with the split and look-alike flag of each image."""
    path = config.REAL_DIGITS_PATH if name == DIGITS else config.REAL_NON_DIGIT_PATHS[name]
    with np.load(path, allow_pickle=False) as npz:
        data = {key: npz[key] for key in npz.files}
    if name == DIGITS:
        labels, lookalike = data["labels"].astype(np.uint8), np.zeros(len(data["labels"]), bool)
    else:
        labels, lookalike = data["labels_text"], data["digit_lookalike"]
    return RealSet(data["images"], labels, lookalike, _split_of(name, data))


def digits(split):
    """The real digits of one split: (uint8 images (N, 28, 28), labels (N,))."""
    part = load(DIGITS)
    part = part.subset(part.split == split)
    return part.images, part.labels


def select(name, split, lookalikes=False):
    """One set's images of one split. `lookalikes`: False leaves them out, True keeps them,
    "only" gives only them."""
    part = load(name)
    keep = part.split == split
    if lookalikes != True:  # noqa: E712 (True, False or "only")
        keep &= part.lookalike if lookalikes == "only" else ~part.lookalike
    return part.subset(keep)


def non_digits(split, lookalikes=False, sets=NON_DIGIT_SETS):
    """The real non-digits of one split, from every set that has some: uint8 images (N, 28, 28)."""
    chosen = [select(name, split, lookalikes).images for name in sets]
    return np.concatenate(chosen) if chosen else np.zeros((0, 28, 28), np.uint8)


def split_sizes():
    """{set: {split: {"images": n, "lookalikes": n}}}: what each split holds (for metrics and reports)."""
    sizes = {}
    for name in (DIGITS, *NON_DIGIT_SETS):
        part = load(name)
        sizes[name] = {split: {"images": int((part.split == split).sum()),
                               "lookalikes": int((part.lookalike & (part.split == split)).sum())}
                       for split in SPLITS if (part.split == split).any()}
    return sizes
