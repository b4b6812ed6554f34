"""segmentation: the marks of a page grouped into digits, left to right.

Geometry only (no model): rings drawn at random sizes and gaps are found one
each, in order, whatever specks lie around them; the strokes of one digit
(a 5's flag, a 4's open top, a 7's bar) stay one part; crowded, thin and
blank pages are refused with the right error.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import config
from mnist_digits.errors import InvalidImage, NoDigitFound, TooManyDigits
from mnist_digits.imaging.preprocessing import page_ink
from mnist_digits.reading.segmentation import find_parts

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEIGHT = 40


def page(widths, gaps, dark_on_light=True, specks=()):
    """Rings (0s) of the given widths, `gaps` apart, drawn 3 px wide; -> (array, their x ranges)."""
    width = sum(widths) + sum(gaps) + 40
    image = Image.new("L", (width, HEIGHT + 40), 0)
    draw, x, spans = ImageDraw.Draw(image), 20, []
    for w, gap in zip(widths, [0] + list(gaps)):
        x += gap
        draw.ellipse([x, 20, x + w - 1, 20 + HEIGHT - 1], outline=255, width=3)
        spans.append((x, x + w))
        x += w
    for sx, sy in specks:
        draw.point([(sx % width, sy % (HEIGHT + 40))], fill=255)
    array = np.asarray(image)
    return (255 - array if dark_on_light else array), spans


@FAST
@given(st.lists(st.integers(14, 34), min_size=1, max_size=6), st.data(), st.booleans())
def test_separate_digits_are_found_one_each_left_to_right(widths, data, dark_on_light):
    gaps = data.draw(st.lists(st.integers(6, 40), min_size=len(widths) - 1, max_size=len(widths) - 1))
    specks = data.draw(st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999)), max_size=20))
    array, spans = page(widths, gaps, dark_on_light, specks)
    parts, height, _ = find_parts(page_ink(array))
    assert len(parts) == len(spans)
    assert np.abs(np.array([(p.left, p.right) for p in parts]) - np.array(spans)).max() <= 2
    assert height == pytest.approx(HEIGHT, abs=3)


def strokes_page(*strokes):
    """One digit drawn as separate pen strokes (polylines), dark on white."""
    image = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(image)
    for line in strokes:
        draw.line(line, fill=0, width=5, joint="curve")
    return np.asarray(image)


@pytest.mark.parametrize("name, strokes", [
    ("5 with its flag apart", [[(40, 30), (36, 60), (60, 58), (72, 75), (66, 95), (38, 96)], [(44, 26), (80, 26)]]),
    ("4 with an open top", [[(40, 20), (34, 70), (84, 70)], [(66, 40), (68, 100)]]),
    ("7 with a bar", [[(30, 25), (85, 25), (55, 100)], [(50, 62), (80, 62)]]),
])
def test_the_strokes_of_one_digit_are_one_part(name, strokes):
    parts, _, _ = find_parts(page_ink(strokes_page(*strokes)))
    assert len(parts) == 1, name


def test_a_dot_beside_a_number_is_dropped():
    array, spans = page([24, 24], [60])
    array = array.copy()
    array[55:58, 70:73] = 0                  # a full stop between the two digits
    parts, _, _ = find_parts(page_ink(array))
    assert len(parts) == 2


def test_a_blank_page_has_no_digit():
    with pytest.raises(NoDigitFound):
        find_parts(page_ink(np.full((200, 600), 255, np.uint8)))


def test_crowded_pages_are_refused():
    rng = np.random.default_rng(1)
    noise = np.full((400, 400), 255, np.uint8)
    for y, x in rng.integers(0, 397, (config.READ_MAX_MARKS + 200, 2)):
        noise[y:y + 2, x:x + 2] = 0
    with pytest.raises(TooManyDigits, match="separate marks"):
        find_parts(page_ink(noise))
    array, _ = page([20] * (config.MAX_DIGITS + 1), [12] * config.MAX_DIGITS)
    with pytest.raises(TooManyDigits, match=f"at most {config.MAX_DIGITS}"):
        find_parts(page_ink(array))


@pytest.mark.parametrize("shape", [(10, 10 * int(config.READ_MAX_ASPECT) + 10), (10 * int(config.READ_MAX_ASPECT) + 10, 10)])
def test_pictures_too_thin_to_hold_a_number_are_refused(shape):
    array = np.full(shape, 255, np.uint8)
    array[3:7, 3:7] = 0
    with pytest.raises(InvalidImage, match="times wider than tall"):
        find_parts(page_ink(array))
