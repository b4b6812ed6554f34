"""components: connected ink marks (8-connectivity) with numpy alone, checked
against a plain flood fill on arbitrary masks."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mnist_digits.reading import components


def flood_fill(mask):
    """The obvious reference: label by a stack-based flood fill, 8 neighbours."""
    labels, n = np.zeros(mask.shape, int), 0
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        n += 1
        labels[start], stack = n, [start]
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    q = (y + dy, x + dx)
                    if 0 <= q[0] < mask.shape[0] and 0 <= q[1] < mask.shape[1] and mask[q] and not labels[q]:
                        labels[q] = n
                        stack.append(q)
    return labels, n


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_labels_are_the_flood_fills_partition(mask):
    labels, n = components.label(mask)
    expected, m = flood_fill(mask)
    assert n == m
    assert ((labels > 0) == mask).all()
    # The same partition: each label of one maps to exactly one label of the other.
    pairs = set(zip(labels[mask].tolist(), expected[mask].tolist()))
    assert len(pairs) == n


@settings(max_examples=40, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 20), st.integers(1, 20))))
def test_stats_box_every_pixel_and_count_them(mask):
    labels, n = components.label(mask)
    stats = components.stats(labels, n)
    assert stats.pixels.sum() == mask.sum()
    for i in range(n):
        ys, xs = np.nonzero(labels == i + 1)
        assert (stats.top[i], stats.bottom[i], stats.left[i], stats.right[i]) == (
            ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)


def test_diagonal_contact_joins_and_a_gap_separates():
    mask = np.zeros((4, 6), bool)
    mask[0, 0] = mask[1, 1] = True        # diagonal: one mark
    mask[0, 3] = mask[2, 3] = True        # a row between: two marks
    assert components.label(mask)[1] == 3
