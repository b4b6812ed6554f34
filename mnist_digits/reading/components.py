"""Connected ink components of a binary mask, with numpy only (no scipy here).

The mask is cut into horizontal runs; runs in neighbouring rows that touch
(8-connectivity: diagonal contact counts) are joined with a union-find. The
work grows with the number of runs, not pixels, and the caller may refuse a
picture whose run count is absurd before any joining is done.
"""
from typing import NamedTuple

import numpy as np


class Runs(NamedTuple):
    """Horizontal runs of True pixels, in row-major order: row, first column, end column (exclusive)."""
    row: np.ndarray
    start: np.ndarray
    end: np.ndarray


def runs(mask):
    """Every horizontal run of True pixels of a 2-D boolean mask."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    row, start = np.nonzero(step == 1)
    _, end = np.nonzero(step == -1)     # the same rows, in the same order: runs alternate
    return Runs(row, start, end)


def _touching_pairs(r, width):
    """(i, j) index pairs of runs in consecutive rows that touch, diagonals included.
    Runs of one row are sorted and disjoint, so those of the next row that touch
    run i form one contiguous range, found by two binary searches."""
    stride = width + 2
    start_key, end_key = r.row * stride + r.start, r.row * stride + r.end
    below = (r.row + 1) * stride
    first = np.searchsorted(end_key, below + r.start, side="left")      # ends at or right of start - 1
    last = np.searchsorted(start_key, below + r.end, side="right")      # starts at or left of end
    count = np.maximum(last - first, 0)
    i = np.repeat(np.arange(len(first)), count)
    j = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
    return i, j


def _union(parent, i, j):
    """Join the sets of every (i, j) pair (path halving); -> each run's root."""
    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(a) for a in range(len(parent))]


def label(mask, r=None):
    """-> (labels int32 array like `mask`, 0 = background, 1..n; n). `r`: the mask's runs, if known."""
    r = runs(mask) if r is None else r
    labels = np.zeros(mask.shape, np.int32)
    if not len(r.row):
        return labels, 0
    roots = np.asarray(_union(list(range(len(r.row))), *_touching_pairs(r, mask.shape[1])))
    _, ids = np.unique(roots, return_inverse=True)
    ids = ids.astype(np.int32) + 1
    # Paint each run with its component's id: a cumulative sum of +id at the start and
    # -id at the end along each row gives id inside the run and 0 elsewhere.
    paint = np.zeros((mask.shape[0], mask.shape[1] + 1), np.int32)
    np.add.at(paint, (r.row, r.start), ids)
    np.add.at(paint, (r.row, r.end), -ids)
    labels[:] = np.cumsum(paint, axis=1)[:, :-1]
    return labels, int(ids.max())


class Stats(NamedTuple):
    """Per component (index 0 = label 1): bounding box (half-open) and pixel count."""
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    pixels: np.ndarray


def stats(labels, n):
    """Bounding boxes and sizes of components 1..n of a label map."""
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs] - 1
    top, left = np.full(n, labels.shape[0]), np.full(n, labels.shape[1])
    bottom, right = np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.minimum.at(top, ids, ys)
    np.minimum.at(left, ids, xs)
    np.maximum.at(bottom, ids, ys + 1)
    np.maximum.at(right, ids, xs + 1)
    return Stats(top, bottom, left, right, np.bincount(ids, minlength=n))
