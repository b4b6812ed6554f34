"""Where digits that touch may be cut, and which cuts the classifier prefers.

A part wider than one digit gets candidate cuts: seams, each a column per row,
found by dynamic programming as the path from top to bottom through the least
ink near a column with little ink (so a cut can wind between a 7's bar and the
digit under it). Any run of neighbouring pieces between two seams is a
candidate digit; `best_reading` then picks the chain of candidates, border to
border, whose digits the classifier finds most likely (a Viterbi pass).
"""
import numpy as np

from mnist_digits.reading import components
from mnist_digits.reading.segmentation import INK_LEVEL, owners

SPLIT_ASPECT = 0.75    # a part wider than this times its height may be digits that touch
STEP = 0.15            # candidate cuts at least every this fraction of the height...
REACH = 0.2            # ...each free to wander this far (fraction of the height) from its column
MAX_SPAN = 1.4         # a candidate digit is at most this many heights wide...
MIN_SPAN = 0.08        # ...and at least this many (a "1")
SAME = 0.06             # seams closer than this (fraction of the height, on average) are one
MOVE_COST = 0.02       # a seam pays this (in ink) per column it moves sideways
MARGIN = 0.15          # crops get this fraction of their side (and 2 px) of black around them
FRAGMENT = 0.15        # a piece's marks under this fraction of its biggest are a neighbour's stroke ends
# How unlike one digit a candidate is, in log-likelihood (prior_cost): shorter than
# TALL_ENOUGH of its part costs SHORT per height missing. Nothing else paid off: a
# cost for width cut wide 0s and 2s, a cost per cut through a stroke cost touching
# digits more than it saved. Chosen with reader.GATE_WEIGHT on composed numbers of
# MNIST's validation digits (training images 55000-59999, never the test set).
SHORT, TALL_ENOUGH = 3.0, 0.6
CROSSED = 1.0          # a cut whose column holds more ink than this goes through strokes: a guess

def _seams(region, columns, reach):
    """For each start column, the path from top to bottom through the least ink within
    `reach` columns of it (all found at once: one pass over the rows) -> an array
    (len(columns), height) of the seam's column in each row (pixels left of it go left)."""
    h, w = region.shape
    offsets = np.arange(-reach, reach + 1)
    cols = np.asarray(columns)[:, None] + offsets[None, :]                # (K, W)
    inside = (cols >= 1) & (cols <= w - 2)
    cost = np.where(inside[None], region[:, np.clip(cols, 0, w - 1)], np.inf) + MOVE_COST * np.abs(offsets)
    acc, back = cost[0].copy(), np.zeros(cost.shape, np.int8)
    edge = np.full((len(cols), 1), np.inf)
    for y in range(1, h):
        shifted = np.stack([np.hstack([edge, acc[:, :-1]]), acc, np.hstack([acc[:, 1:], edge])])
        step = shifted.argmin(axis=0)
        back[y] = step - 1
        acc = cost[y] + np.take_along_axis(shifted, step[None], 0)[0] + MOVE_COST * (step != 1)
    index = np.empty((len(cols), h), np.int64)
    index[:, -1] = acc.argmin(axis=1)
    rows = np.arange(len(cols))
    for y in range(h - 1, 0, -1):
        index[:, y - 1] = index[:, y] + back[y, rows, index[:, y]]
    return np.take_along_axis(cols, index, 1)


def seams(region, whole=False):
    """Candidate seams of a part's own ink (its box): the left border, seams near the
    profile's low points (and at least every STEP heights), the right border; only
    the borders when the part is to be read `whole`."""
    h, w = region.shape
    borders = [np.zeros(h, np.int64), np.full(h, w, np.int64)]
    if whole or w < 4:
        return borders
    profile = np.convolve(region.sum(axis=0), np.ones(3) / 3, mode="same")
    step, reach = max(2, int(STEP * h)), max(1, int(REACH * h))
    columns = sorted({start + int(profile[start:start + step].argmin())
                      for start in range(step // 2, w - step // 2, step)})
    found = borders[:1]
    for path in (_seams(region, columns, reach) if columns else []):
        if path.mean() - found[-1].mean() >= max(2.0, SAME * h):   # the same way found twice
            found.append(path)
    return found + borders[1:]


def crossed_ink(region, cuts):
    """How much ink lies on each seam's column (its mean): 0 for the borders and for a
    cut through a clear gap; more for a cut through a stroke or between marks that
    share columns (a winding seam). Such cuts are guesses that need the classifier's
    firm support: an H is a 1 and a 4 side by side otherwise."""
    columns = [min(int(round(c.mean())), region.shape[1] - 1) for c in cuts[1:-1]]
    return [0.0] + [float(region[:, c].sum()) for c in columns] + [0.0]


def spans(cuts, height):
    """Candidate digits: (i, j) pairs of seams with a plausible width between them."""
    centre = [float(c.mean()) for c in cuts]
    return [(i, j) for i in range(len(cuts)) for j in range(i + 1, len(cuts))
            if MIN_SPAN * height <= centre[j] - centre[i] <= MAX_SPAN * height or (i, j) == (0, len(cuts) - 1)]


def piece(region, left, right):
    """The ink between two seams -> (crop light on black with a margin, times 255;
    its box (top, bottom, left, right) in the region), or (None, None) if empty."""
    columns = np.arange(region.shape[1])[None, :]
    ink = _without_fragments(np.where((columns >= left[:, None]) & (columns < right[:, None]), region, 0.0))
    inked = ink > INK_LEVEL
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if not rows.size:
        return None, None
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    pad = 2 + int(MARGIN * max(ink.shape))
    return (np.pad(ink, pad) * 255.0).astype(np.float32), (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)


def _without_fragments(ink):
    """The cut-off ends of a neighbour's strokes removed: marks of the piece much
    smaller than its biggest one (a digit's own strokes are one mark, or a few big ones)."""
    labels, n = components.label(ink > INK_LEVEL)
    if n < 2:
        return ink
    pixels = components.stats(labels, n).pixels
    small = np.flatnonzero(pixels < FRAGMENT * pixels.max()) + 1
    return np.where(np.isin(owners(labels), small), 0.0, ink)


def prior_cost(box, height):
    """The classifier-free term of a candidate digit's score: its box (top, bottom,
    left, right) in a part `height` pixels tall."""
    top, bottom, _, _ = box
    return SHORT * max(0.0, TALL_ENOUGH - (bottom - top) / height)


def best_reading(count, scores):
    """The chain of spans from seam 0 to seam `count - 1` with the highest total score.
    `scores`: {(i, j): log-likelihood}. -> the chosen spans, left to right."""
    best, back = {0: 0.0}, {}
    for j in range(1, count):
        options = [(best[i] + score, i) for (i, jj), score in scores.items() if jj == j and i in best]
        if options:
            best[j], back[j] = max(options)
    chain, j = [], count - 1
    while j:
        chain.append((back[j], j))
        j = back[j]
    return chain[::-1]
