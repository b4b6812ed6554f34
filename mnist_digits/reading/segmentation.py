"""Find the digits of a handwritten number in its ink map, left to right.

    ink (page_ink) -> marks (connected components) -> dots and specks dropped
      -> the strokes of one digit joined (a 5's flag, a 4's open top, a 7's bar)
      -> parts, each one digit or several that touch

A part much wider than a digit is tall may be touching digits: cutting.py
proposes where to cut it, and the reader lets the classifier pick (reader.py).
Geometry only here; no model.
"""
from typing import NamedTuple

import numpy as np

import config
from mnist_digits.errors import InvalidImage, NoDigitFound, TooManyDigits
from mnist_digits.reading import components
from mnist_digits.imaging.preprocessing import NO_DIGIT, max_filter

INK_LEVEL = 0.3        # a pixel is ink above this (the ink map puts stroke centres at 1);
FAINT = 0.12           # fainter ink down to this joins the marks it touches (a pen that skipped)
NOISE = 0.02           # marks with fewer pixels than this fraction of the biggest are noise
SPECK = 0.2            # marks smaller, both ways, than this fraction of the digit height are dots
OVERLAP = 0.0          # marks sharing this many columns (a fraction of the digit height) may be one digit
RUNS_PER_MARK = 64     # pictures with more ink runs than this times READ_MAX_MARKS are refused


class Part(NamedTuple):
    """A digit or touching digits: component ids, and the box (half-open) they fill."""
    ids: tuple
    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self):
        return self.bottom - self.top

    @property
    def width(self):
        return self.right - self.left


def _marks(ink):
    """Label the ink's connected marks, refusing a picture with absurdly many."""
    mask = ink > FAINT
    runs = components.runs(mask)
    if len(runs.row) > RUNS_PER_MARK * config.READ_MAX_MARKS:
        raise TooManyDigits(f"the picture holds {len(runs.row)} separate runs of ink; "
                            f"a number is read from at most {config.MAX_DIGITS} digits")
    labels, n = components.label(mask, runs)
    if n > config.READ_MAX_MARKS:
        raise TooManyDigits(f"the picture holds {n} separate marks (at most {config.READ_MAX_MARKS}); "
                            f"a number is read from at most {config.MAX_DIGITS} digits")
    stats = components.stats(labels, n)
    strongest = np.zeros(n, np.float32)
    np.maximum.at(strongest, labels[mask] - 1, ink[mask])
    stats = stats._replace(pixels=np.where(strongest > INK_LEVEL, stats.pixels, 0))   # faint alone: no mark
    if not stats.pixels.any():
        raise NoDigitFound(NO_DIGIT)
    return labels, stats


def _digit_height(heights):
    """The usual digit height: the median of the marks at least half as tall as the tallest."""
    return float(np.median(heights[heights >= heights.max() / 2]))


def _kept_parts(st):
    """One Part per mark that is neither noise nor a dot or speck, sorted left to right."""
    heights, widths = st.bottom - st.top, st.right - st.left
    big = st.pixels >= NOISE * st.pixels.max()
    height = _digit_height(heights[big])
    keep = big & (np.maximum(heights, widths) >= SPECK * height)
    order = sorted(np.flatnonzero(keep), key=lambda i: (st.left[i], st.right[i]))
    return [Part((i + 1,), st.top[i], st.bottom[i], st.left[i], st.right[i]) for i in order], height


def _one_digit(a, b, height):
    """True when marks `a` and `b` may be strokes of one digit: they share columns, or
    nearly. Only may: the reader also tries them apart (cutting.py)."""
    shared = min(a.right, b.right) - max(a.left, b.left)
    return shared >= OVERLAP * height


def _join(a, b):
    return Part(a.ids + b.ids, min(a.top, b.top), max(a.bottom, b.bottom),
                min(a.left, b.left), max(a.right, b.right))


def find_parts(ink):
    """The ink map of a page -> (parts left to right, the digit height in pixels, the
    label map). NoDigitFound for a blank page, TooManyDigits for a crowded one."""
    h, w = ink.shape
    if max(h, w) > config.READ_MAX_ASPECT * min(h, w):
        raise InvalidImage(f"the picture is {w}x{h} pixels; a number is read from pictures "
                            f"at most {config.READ_MAX_ASPECT:g} times wider than tall (or taller than wide)")
    labels, st = _marks(ink)
    marks, height = _kept_parts(st)
    parts = []
    for mark in marks:
        if parts and _one_digit(parts[-1], mark, height):
            parts[-1] = _join(parts[-1], mark)
        else:
            parts.append(mark)
    if len(parts) > config.MAX_DIGITS:
        raise TooManyDigits(f"the picture holds {len(parts)} separate marks; "
                            f"a number is read from at most {config.MAX_DIGITS} digits")
    return parts, height, labels


def owners(labels):
    """The label map grown by one pixel, so the faint rim of each stroke (below
    INK_LEVEL) goes with the mark it borders when a digit is cut out."""
    grown = max_filter(labels, 1)
    return np.where(labels > 0, labels, grown)


def own_ink(part, ink, owner):
    """The part's box of the ink map, with only the part's own marks' ink in it."""
    rows, cols = slice(part.top, part.bottom), slice(part.left, part.right)
    return np.where(np.isin(owner[rows, cols], part.ids), ink[rows, cols], 0.0)
