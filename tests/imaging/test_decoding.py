"""decoding.py, through preprocess_image (the one path every entrypoint takes): every
format and pixel mode decodes to the same digit, and every way input goes bad is a
clear DigitError whose message a client can read (no Python object reprs)."""
import io

import numpy as np
import pytest
from PIL import Image

import config
from mnist_digits.errors import InvalidImage, InvalidInput, PayloadTooLarge
from helpers.images import blurred_cosine, encode, png_header_only
from mnist_digits.imaging.preprocessing import preprocess_image


# --- Formats ---------------------------------------------------------------------------
FORMATS = [("PNG", {}), ("JPEG", {"quality": 90}), ("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 90}),
           ("TIFF", {})]


@pytest.mark.parametrize("fmt,options", FORMATS, ids=[f for f, _ in FORMATS])
def test_every_format_decodes(digit_pngs, fmt, options):
    png, _ = digit_pngs[0]
    reference = preprocess_image(png)
    data = encode(Image.open(io.BytesIO(png)).convert("RGB"), fmt, **options)
    out = preprocess_image(data)
    assert out.shape == (28, 28, 1)
    assert blurred_cosine(reference, out) > 0.95


def test_transparent_png_is_flattened_onto_white(digits):
    """A drawing app's export: black ink in the alpha channel, every pixel's RGB black."""
    d = digits[0][0]
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = d
    out = preprocess_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert blurred_cosine(out, preprocess_image(d)) > 0.95
    # The same as an array, and as an LA (grey + alpha) image.
    assert blurred_cosine(preprocess_image(rgba), out) > 0.99
    la = Image.fromarray(rgba, "RGBA").convert("LA")
    assert blurred_cosine(preprocess_image(la), out) > 0.99


def test_exif_rotated_jpeg_is_turned_upright(digits):
    """Phones store pixels sideways plus an Orientation tag; honour the tag."""
    d = 255 - np.asarray(Image.fromarray(digits[0][0]).resize((112, 84)))
    upright = preprocess_image(encode(d, "JPEG", quality=95))
    sideways = Image.fromarray(d).transpose(Image.Transpose.ROTATE_90)   # stored rotated...
    exif = Image.Exif()
    exif[0x0112] = 6                                                     # ...tag: rotate 90 CW to view
    out = preprocess_image(encode(sideways, "JPEG", quality=95, exif=exif.tobytes()))
    assert blurred_cosine(out, upright) > 0.95
    without_tag = preprocess_image(encode(sideways, "JPEG", quality=95))
    assert blurred_cosine(without_tag, upright) < blurred_cosine(out, upright)


@pytest.mark.parametrize("mode", ["L", "P", "1", "CMYK", "I;16", "I", "F"])
def test_unusual_pil_modes(digit_pngs, mode):
    png, _ = digit_pngs[0]
    reference = preprocess_image(png)
    image = Image.open(io.BytesIO(png))
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    elif mode in ("I", "F"):
        image = Image.fromarray(np.asarray(image).astype(np.int32 if mode == "I" else np.float32), mode)
    else:
        image = image.convert(mode)
    assert blurred_cosine(preprocess_image(image), reference) > 0.9


def test_array_forms_agree(digits):
    d = digits[0][0]
    reference = preprocess_image(d)
    for form in (d / 255.0, d[..., None], np.repeat(d[..., None], 3, axis=2), d.astype(np.float64), d.tolist()):
        np.testing.assert_allclose(preprocess_image(form), reference, atol=1e-4)


# --- Bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_truncated_images_are_rejected_clearly(digit_pngs, fmt):
    png, _ = digit_pngs[0]
    data = encode(Image.open(io.BytesIO(png)).resize((200, 200)), fmt)
    with pytest.raises(InvalidImage, match="corrupt or truncated|not a supported image"):
        preprocess_image(data[:len(data) // 2])


@pytest.mark.parametrize("data", [b"", b"hello, world", b"%PDF-1.4 not an image", bytes(range(256)) * 4,
                                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_non_image_bytes_are_rejected_clearly(data):
    with pytest.raises(InvalidImage, match="empty|not a supported image|corrupt or truncated"):
        preprocess_image(data)


@pytest.mark.parametrize("bad", [np.zeros((0, 5)), np.zeros((4, 4, 2)), np.zeros((2, 2, 2, 2)),
                                 np.array([[np.nan, 1.0]]), np.array([["a", "b"]]), "not an image", 42])
def test_bad_arrays_and_types_are_rejected_clearly(bad):
    with pytest.raises((InvalidImage, InvalidInput)):
        preprocess_image(bad)


@pytest.mark.parametrize("side", [5000, 100_000])
def test_huge_images_are_refused_before_decoding(side):
    # Header only: decoding it would fail as truncated, so PayloadTooLarge proves
    # the size was checked first (100000^2 also trips Pillow's own bomb guard).
    with pytest.raises(PayloadTooLarge, match="limit"):
        preprocess_image(png_header_only(side, side))


def test_pixel_limit_applies_to_arrays_and_pil_images(monkeypatch):
    monkeypatch.setattr(config, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(PayloadTooLarge):
        preprocess_image(np.zeros((101, 100), np.uint8))
    with pytest.raises(PayloadTooLarge):
        preprocess_image(Image.new("L", (200, 200)))


@pytest.mark.parametrize("data", [b"\x00\x01garbage\xff" * 20, b"this is a text file, not an image\n",
                                  "truncated PNG", "truncated JPEG", b"\x89PNG\r\n\x1a\n not really a png"])
def test_messages_never_show_a_python_object(digit_pngs, data):
    """Pillow's own messages name the file object ("<_io.BytesIO object at 0x...>"); a client
    must read a sentence instead."""
    png, _ = digit_pngs[0]
    if data == "truncated PNG":
        data = png[:len(png) // 2]
    elif data == "truncated JPEG":
        jpeg = encode(Image.open(io.BytesIO(png)).resize((200, 200)), "JPEG")
        data = jpeg[:len(jpeg) // 2]
    with pytest.raises(InvalidImage) as info:
        preprocess_image(data)
    message = info.value.to_dict()["error"]["message"]
    assert "object at 0x" not in message and "<_io." not in message and " at 0x" not in message, message
