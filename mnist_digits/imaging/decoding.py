"""Anything a client sends -> a 2-D grey array (0-255), as drawn.

Accepts image bytes (PNG, JPEG, GIF, BMP, WebP, TIFF), a PIL image, or an
array (2-D grey or H x W x 1|3|4, 0-255 or 0-1, 16-bit and float scans too).
The pixel count is checked from the header before anything is decoded
(decompression bombs), EXIF orientation is applied, transparency is paper
(flattened onto white), and big pictures are box-reduced to about WORK_SIDE
early, in C (JPEGs are even decoded at 1/2..1/8 scale by libjpeg).

Every failure is a DigitError with a sentence a client can act on.
"""
import io

import numpy as np
from PIL import Image, ImageOps

import config
from mnist_digits.errors import DigitError, InvalidImage, InvalidInput, PayloadTooLarge

WORK_SIDE = 512                 # bigger pictures are box-reduced to about this first
FORMATS = "PNG, JPEG, GIF, BMP, WebP or TIFF"
_ORIENTATION = 0x0112           # EXIF tag
_HIGH_BIT_DEPTH = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_TRANSPARENT = ("RGBA", "LA", "PA", "RGBa", "La")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def ceil_div(a, b):
    return -(-a // b)


def shrink_factor(height, width, side):
    """The smallest integer factor that brings the longer side to at most `side`."""
    return max(1, ceil_div(max(height, width), side))


def box_reduce(array, factor):
    """Block mean by an integer factor (Pillow's reduce, in C): uint8 stays uint8,
    anything else is reduced as float32."""
    if array.dtype != np.uint8:
        array = array.astype(np.float32)
    return np.asarray(Image.fromarray(np.ascontiguousarray(array)).reduce(factor))


def _check_pixels(width, height):
    if width * height > config.MAX_IMAGE_PIXELS:
        raise PayloadTooLarge(f"image is {width}x{height} pixels; "
                              f"the limit is {config.MAX_IMAGE_PIXELS} pixels")


def _describe(exc):
    """The error's class and its first line, without object reprs or addresses."""
    text = str(exc).split("\n")[0]
    if " at 0x" in text or "object" in text:   # e.g. "cannot identify image file <_io.BytesIO object at 0x...>"
        text = text.split("<")[0].strip().rstrip(":")
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _open_bytes(data):
    """Open image bytes, checking the pixel count from the header before decoding."""
    if not data:
        raise InvalidImage("the image is empty")
    try:
        image = Image.open(io.BytesIO(data))      # reads the header only
        _check_pixels(image.width, image.height)
        if image.format == "JPEG":                # let libjpeg decode big photos at 1/2..1/8 scale
            image.draft("L", (WORK_SIDE, WORK_SIDE))
        image.load()
    except DigitError:
        raise
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"image is over the {config.MAX_IMAGE_PIXELS}-pixel limit") from None
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises many types for bad data; all mean "not an image we can read"
        kind = "is not a supported image" if isinstance(exc, OSError) and "identify" in str(exc) \
            else "is corrupt or truncated"
        raise InvalidImage(f"the image data {kind} ({_describe(exc)}); send {FORMATS}") from None
    return image


def _from_pil(image):
    _check_pixels(image.width, image.height)
    try:
        if image.getexif().get(_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        if image.mode in _HIGH_BIT_DEPTH:
            return _from_array(np.asarray(image))  # 16-bit / float scans keep their range
        if image.mode in _TRANSPARENT or "transparency" in image.info:
            # Transparent pixels are paper: flatten onto white (after any early reduction).
            image = image.convert("LA")
            factor = shrink_factor(image.height, image.width, WORK_SIDE)
            la = np.asarray(image.reduce(factor) if factor > 1 else image, dtype=np.float32)
            return la[..., 0] * (la[..., 1] / 255.0) + 255.0 * (1.0 - la[..., 1] / 255.0)
        image = image.convert("L")
    except DigitError:
        raise
    except Exception as exc:  # truncated data can surface only now, at the first pixel access
        raise InvalidImage(f"the image data is corrupt or truncated ({_describe(exc)})") from None
    factor = shrink_factor(image.height, image.width, WORK_SIDE)
    if factor > 1:
        image = image.reduce(factor)   # box average in C: early and cheap
    return np.asarray(image)   # uint8: the big-array steps later are cheaper on bytes than on floats


def _from_array(array):
    array = np.asarray(array)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InvalidImage("the array must hold numbers")
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1 or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise InvalidImage(f"expected a 2-D grayscale or 3-D (H, W, 1|3|4) image, got shape {array.shape}")
    _check_pixels(array.shape[1], array.shape[0])
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InvalidImage("the image contains NaN or infinite values")
    top = float(array.max()) if array.size else 0.0
    scale = 255.0 if top <= 1.0 else (1.0 if top <= 255.0 else 255.0 / (65535.0 if top <= 65535 else top))
    array = np.clip(array * scale, 0.0, 255.0)
    if array.ndim == 3:
        if array.shape[-1] == 4:   # alpha over white paper
            alpha = array[..., 3:] / 255.0
            array = array[..., :3] * alpha + 255.0 * (1.0 - alpha)
        array = array[..., 0] if array.shape[-1] == 1 else array[..., :3] @ _LUMA
    factor = shrink_factor(*array.shape, WORK_SIDE)
    return box_reduce(array, factor) if factor > 1 else array


def sent_size(image):
    """(width, height) of a picture as its sender sees it (EXIF orientation applied),
    from the header alone: what boxes drawn on it are measured in. Call it after
    to_grayscale has accepted the picture."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = Image.open(io.BytesIO(bytes(image)))
    if isinstance(image, Image.Image):
        width, height = image.size
        # Orientations 5-8 turn the picture a quarter: to_grayscale swaps its sides.
        return (height, width) if image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8) else (width, height)
    shape = np.shape(image)
    return shape[1], shape[0]


def to_grayscale(image):
    """PIL image, image bytes or array -> 2-D array in [0, 255] (uint8 or float32), as drawn."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = _open_bytes(bytes(image))
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, (np.ndarray, list, tuple)):
        return _from_array(image)
    raise InvalidInput(f"expected image bytes, a PIL image or an array, got {type(image).__name__}")
