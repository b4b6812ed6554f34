"""preprocess_image: the one path from any user image to the model's input.

Property tests (hypothesis) check the contract on arbitrary input, then the
MNIST-style claims: centred, invariant to polarity and to where and how big
the digit sits on the page, and the blank pages it refuses. (Decoding each
format, and bad image data, are in test_decoding.py.)
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

import config
from mnist_digits.imaging import preprocessing
from mnist_digits.errors import DigitError, InvalidImage, InvalidInput, NoDigitFound
from helpers import POOL
from helpers.images import blurred_cosine, encode
from mnist_digits.imaging.preprocessing import CENTER, check_mode, preprocess_image

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def center_of_mass(out):
    a = out[..., 0]
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def place(digit, scale, canvas_h, canvas_w, top_frac, left_frac, paper):
    """An MNIST digit resized by `scale` somewhere on a bigger canvas; paper=True: dark on white."""
    n = max(8, int(round(28 * scale)))
    big = np.asarray(Image.fromarray(digit).resize((n, n), Image.BICUBIC))
    h, w = max(canvas_h, n), max(canvas_w, n)
    page = np.zeros((h, w), np.uint8)
    top, left = int(top_frac * (h - n)), int(left_frac * (w - n))
    page[top:top + n, left:left + n] = big
    return 255 - page if paper else page


# --- Properties ----------------------------------------------------------------------
@FAST
@given(st.integers(1, 80), st.integers(1, 80), st.sampled_from([None, 1, 3, 4]),
       st.sampled_from(["uint8", "float01"]), st.integers(0, 2**32 - 1))
def test_any_array_gives_model_input_or_a_clear_error(h, w, channels, kind, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels is None else (h, w, channels)
    array = rng.integers(0, 256, shape).astype(np.uint8) if kind == "uint8" else rng.random(shape)
    for mode in ("enhanced", "basic"):
        try:
            out = preprocess_image(array, mode)
        except (NoDigitFound, InvalidImage):
            continue   # a caller's problem, said clearly; anything else is a bug
        assert out.shape == (28, 28, 1)
        assert out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0


@FAST
@given(st.integers(0, POOL - 1), st.floats(0.6, 6.0), st.integers(28, 300), st.integers(28, 300),
       st.floats(0, 1), st.floats(0, 1), st.booleans())
def test_digit_is_centred_and_fills_the_box(digits, index, scale, h, w, top, left, paper):
    out = preprocess_image(place(digits[0][index], scale, h, w, top, left, paper))
    cy, cx = center_of_mass(out)
    assert abs(cy - CENTER) <= 1.0 and abs(cx - CENTER) <= 1.0
    assert abs(CENTER - (config.IMAGE_SIZE - 1) / 2) <= 0.5   # CENTER is the middle of the frame
    rows, cols = np.nonzero(out[..., 0] > 0.05)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 >= preprocessing.BOX - 2   # scaled to the 20x20 box


@FAST
@given(st.integers(0, POOL - 1), st.floats(0.6, 4.0), st.integers(28, 200), st.floats(0, 1), st.floats(0, 1))
def test_polarity_does_not_matter(digits, index, scale, size, top, left):
    light_on_dark = place(digits[0][index], scale, size, size, top, left, paper=False)
    np.testing.assert_allclose(preprocess_image(light_on_dark), preprocess_image(255 - light_on_dark), atol=1e-5)


@FAST
@given(st.integers(0, POOL - 1), st.floats(1.0, 5.0), st.integers(28, 300), st.integers(28, 300),
       st.floats(0, 1), st.floats(0, 1))
def test_placement_and_scale_do_not_matter(digits, index, scale, h, w, top, left):
    reference = preprocess_image(digits[0][index])
    moved = preprocess_image(place(digits[0][index], scale, h, w, top, left, paper=True))
    # Resampling and a CoM rounding step move pixels a little; the shape must stay.
    assert blurred_cosine(reference, moved) > 0.85


def test_placement_and_scale_keep_the_prediction(digits, predictor):
    x, _ = digits
    rng = np.random.default_rng(0)
    originals = np.stack([preprocess_image(d) for d in x])
    moved = np.stack([preprocess_image(place(d, rng.uniform(1, 5), int(rng.integers(28, 400)),
                                            int(rng.integers(28, 400)), rng.random(), rng.random(), paper=True))
                      for d in x])
    same = predictor.predict_proba(originals).argmax(1) == predictor.predict_proba(moved).argmax(1)
    assert same.mean() >= 0.97


def test_mnist_digits_pass_through_unchanged(digits):
    """MNIST is already MNIST-style: enhanced preprocessing gives it back (to a grey
    level), so it cannot distort what the model knows. Moved onto a big white page,
    it comes back the same too."""
    x, _ = digits
    diffs = np.array([np.abs(preprocess_image(d)[..., 0] - d / 255.0).max() for d in x])
    assert np.mean(diffs <= 1 / 255 + 1e-6) >= 0.97
    page = np.full((150, 200), 255, np.uint8)
    page[100:128, 160:188] = 255 - x[0]
    assert np.abs(preprocess_image(page) - preprocess_image(x[0])).max() < 1e-6


def test_basic_is_a_plain_resize(digits):
    d = digits[0][0]
    np.testing.assert_allclose(preprocess_image(d, "basic")[..., 0], d / 255.0, atol=1e-5)
    with pytest.raises(NoDigitFound):     # a blank picture is refused in both modes
        preprocess_image(np.full((50, 40), 255, np.uint8), "basic")


@pytest.mark.parametrize("transform", ["photo", "shadow", "thin_pen", "corner_of_photo"])
def test_real_world_digits_keep_their_label(digits, predictor, transform):
    """A few hard cases end to end: grey paper lit from one side, a hard shadow
    across the page, a fine pen on a big canvas, a small digit in a big photo."""
    x, y = digits
    rng = np.random.default_rng(1)
    images = []
    for d in x[:50]:
        if transform == "photo":
            big = np.asarray(Image.fromarray(d).resize((84, 84), Image.BICUBIC)) / 255.0
            light = np.linspace(90, 210, 84)[None, :] + np.linspace(0, 30, 84)[:, None]
            images.append(np.clip(light * (1 - 0.6 * big) + rng.normal(0, 5, big.shape), 0, 255))
        elif transform == "shadow":
            page = np.full((112, 112), 205.0) + rng.normal(0, 3, (112, 112))
            page[:, :45] -= 60                                      # a hand's shadow, hard-edged
            page[14:98, 14:98] -= np.asarray(Image.fromarray(d).resize((84, 84), Image.BICUBIC)) * 0.55
            images.append(np.clip(page, 0, 255).astype(np.uint8))
        elif transform == "thin_pen":
            big = Image.fromarray(d).resize((280, 280), Image.BICUBIC).point(lambda v: 255 * (v > 128))
            edges = np.asarray(big.filter(ImageFilter.MinFilter(7)))  # ~2 px strokes
            images.append(255 - edges)
        else:
            page = np.full((600, 800), 200.0) + rng.normal(0, 4, (600, 800))
            page[20:76, 700:756] -= np.asarray(Image.fromarray(d).resize((56, 56), Image.BICUBIC)) * 0.6
            images.append(np.clip(page, 0, 255).astype(np.uint8))
    batch = np.stack([preprocess_image(im) for im in images])
    accuracy = (predictor.predict_proba(batch).argmax(1) == y[:50]).mean()
    assert accuracy >= 0.94


# --- Bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("level", [0, 1, 128, 254, 255])
@pytest.mark.parametrize("form", ["array", "PNG", "JPEG", "GIF"])
def test_uniform_pages_raise_no_digit_found(level, form):
    page = np.full((64, 48), level, np.uint8)
    with pytest.raises(NoDigitFound, match="no digit found"):
        preprocess_image(page if form == "array" else encode(page, form))


@FAST
@given(st.integers(45, 210), st.floats(0, 4), st.floats(-40, 40), st.integers(8, 300), st.integers(8, 300),
       st.sampled_from(["array", "PNG", "JPEG"]), st.integers(0, 2**32 - 1))
@example(level=45, noise=0.0, gradient=22.0, h=97, w=8, form="JPEG", seed=0)    # slivers 8 px wide, where
@example(level=45, noise=3.0, gradient=-5.0, h=193, w=8, form="array", seed=0)  # the paper fit was unpinned
def test_blank_pages_raise_no_digit_found(level, noise, gradient, h, w, form, seed):
    """Grey paper, sensor noise, a lighting gradient, in any combination: no digit."""
    rng = np.random.default_rng(seed)
    page = level + gradient * np.linspace(-1, 1, w)[None, :] + rng.normal(0, noise, (h, w))
    page = np.clip(page, 0, 255).astype(np.uint8)
    image = page if form == "array" else encode(page, form, **({"quality": 90} if form == "JPEG" else {}))
    with pytest.raises(NoDigitFound, match="no digit found"):
        preprocess_image(image)


def test_errors_carry_codes_for_the_servers():
    with pytest.raises(DigitError) as info:
        preprocess_image(np.full((28, 28), 255, np.uint8))
    assert info.value.to_dict()["error"]["code"] == "no_digit_found"
    assert info.value.status == 400


def test_check_mode():
    assert check_mode(None) == "enhanced"
    assert check_mode("basic") == "basic"
    with pytest.raises(InvalidInput, match="preprocess must be one of"):
        check_mode("fancy")
    with pytest.raises(InvalidInput):
        preprocess_image(np.zeros((28, 28)), mode="fancy")


# --- Same pictures as before it was made faster ----------------------------------------------
@pytest.fixture(scope="module")
def golden():
    """The outputs of the reference implementation (see tests/helpers/make_preprocessing_golden.py)."""
    from helpers.make_preprocessing_golden import GOLDEN_COUNT, GOLDEN_PATH, GOLDEN_SEED
    from test_model_confidence import load_sets
    with np.load(GOLDEN_PATH) as data:
        return {key: data[key] for key in data.files}, load_sets(GOLDEN_COUNT, GOLDEN_SEED)


@pytest.mark.parametrize("mode", preprocessing.PREPROCESS_MODES)
def test_output_equals_the_reference_implementation(golden, mode):
    from helpers.make_preprocessing_golden import golden_key, preprocess_all
    reference, sets = golden
    # The reference holds MNIST's test sets, their transformed copies and USPS (the sets the
    # study had when it was made); the real handwriting sets the study reports since are not in it.
    sets = {name: images for name, (images, _) in sets.items() if golden_key(name, mode) in reference}
    assert len(sets) == 8
    for name, images in sets.items():
        outputs, codes = preprocess_all(images, mode)
        expected = reference[golden_key(name, mode)].astype(np.float32)
        assert codes == list(reference[golden_key(name, mode) + "|codes"]), name
        worst = np.abs(outputs - expected).max()
        assert worst <= 1 / 255, f"{name} ({mode}): a pixel differs by {worst * 255:.2f} grey levels"
