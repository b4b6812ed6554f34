"""Turn any image of a digit into what the model was trained on.

MNIST digits are light ink on black, fitted into a 20x20 box (aspect ratio
kept), then shifted so their centre of mass sits at the middle of a 28x28
frame. Real inputs are dark ink on paper, photos with shadows, scans, canvases
with the digit in a corner. `preprocess_image(image, "enhanced")` undoes those
differences; `"basic"` is the naive resize, kept as the baseline to compare.
"""
import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import config
from errors import InvalidImage, InvalidInput, NoDigitFound, PayloadTooLarge

PREPROCESS_MODES = ("enhanced", "basic")
SIZE = config.IMAGE_SIZE  # 28
BOX = 20                  # MNIST fits each digit into 20x20


# --- Decoding --------------------------------------------------------------------
def _decode_bytes(data):
    if not data:
        raise InvalidImage("the image is empty")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > config.MAX_IMAGE_PIXELS:
            raise PayloadTooLarge(f"image is {image.width}x{image.height} pixels; "
                                  f"the limit is {config.MAX_IMAGE_PIXELS} pixels")
        image.load()
    except PayloadTooLarge:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"cannot decode the image ({exc.__class__.__name__}): "
                           "send PNG, JPEG, GIF, BMP, WebP or TIFF") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise InvalidImage(f"the image data is corrupt or truncated ({exc})") from None
    return image


def _to_grayscale(image):
    """PIL image (any mode) or array -> float32 2-D array in [0, 255], ink/paper as given."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = _decode_bytes(bytes(image))
    if isinstance(image, Image.Image):
        if image.width * image.height > config.MAX_IMAGE_PIXELS:
            raise PayloadTooLarge(f"image is {image.width}x{image.height} pixels; "
                                  f"the limit is {config.MAX_IMAGE_PIXELS} pixels")
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            # Transparent pixels are paper: flatten onto white.
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        return np.asarray(image.convert("L"), dtype=np.float32)
    array = np.asarray(image)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise InvalidImage("the array must hold numbers")
    array = array.astype(np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 3 and array.shape[-1] in (3, 4):
        if array.shape[-1] == 4:  # alpha over white
            alpha = array[..., 3:] / (255.0 if array.max() > 1 else 1.0)
            top = 255.0 if array.max() > 1 else 1.0
            array = array[..., :3] * alpha + top * (1 - alpha)
        array = array[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if array.ndim != 2 or min(array.shape) < 1:
        raise InvalidImage(f"expected a 2-D grayscale or 3-D colour image, got shape {np.shape(image)}")
    if not np.isfinite(array).all():
        raise InvalidImage("the image contains NaN or infinite values")
    if array.size > config.MAX_IMAGE_PIXELS:
        raise PayloadTooLarge(f"image has {array.size} pixels; the limit is {config.MAX_IMAGE_PIXELS}")
    if array.max() <= 1.0:  # 0-1 floats
        array = array * 255.0
    return np.clip(array, 0, 255)


# --- The two modes ----------------------------------------------------------------
def _basic(gray):
    """The naive baseline: resize the whole picture to 28x28 and scale."""
    image = Image.fromarray(gray.astype(np.uint8)).resize((SIZE, SIZE), Image.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255.0


def _ink_map(gray):
    """Ink intensity in [0, 1]: light-on-dark kept, dark-on-light inverted,
    uneven paper/lighting removed, faint noise zeroed."""
    # Polarity: the border is mostly background. Light border = paper = invert.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:
        gray = 255.0 - gray
    # Background estimate: a heavy blur of the image, subtracted, so a
    # lighting gradient or grey paper becomes flat black.
    h, w = gray.shape
    small = Image.fromarray(gray.astype(np.uint8))
    k = max(3, int(max(h, w) / 8))
    background = np.asarray(small.filter(_MinFilter(k)).filter(_BoxBlur(k)), np.float32)
    ink = np.clip(gray - np.minimum(background, np.percentile(gray, 50)), 0, None)
    peak = ink.max()
    if peak < 32:  # nothing that stands out from the paper
        raise NoDigitFound("no digit found in the image")
    ink = ink / peak
    # Otsu-like cut: anything below a fraction of the ink peak is noise.
    ink[ink < 0.25] = 0.0
    return ink


def _MinFilter(k):
    from PIL import ImageFilter
    return ImageFilter.MinFilter(k | 1)


def _BoxBlur(k):
    from PIL import ImageFilter
    return ImageFilter.BoxBlur(k)


def _center_of_mass(a):
    total = a.sum()
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / total, (xs * a).sum() / total


def _mnist_style(ink):
    """Crop to the ink, fit into 20x20 keeping aspect ratio, centre of mass at the centre of 28x28."""
    rows, cols = np.nonzero(ink > 0)
    if rows.size == 0:
        raise NoDigitFound("no digit found in the image")
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS)
    digit = np.asarray(resized, np.float32) / 255.0
    canvas = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = digit
    if canvas.sum() == 0:
        raise NoDigitFound("no digit found in the image")
    cy, cx = _center_of_mass(canvas)
    shift_y, shift_x = int(round(SIZE / 2 - 0.5 - cy)), int(round(SIZE / 2 - 0.5 - cx))
    canvas = np.roll(canvas, (shift_y, shift_x), axis=(0, 1))
    return np.clip(canvas, 0.0, 1.0)


def check_mode(mode):
    """The preprocessing mode to use (None means the default), or InvalidInput."""
    mode = "enhanced" if mode is None else mode
    if mode not in PREPROCESS_MODES:
        raise InvalidInput(f"preprocess must be one of {list(PREPROCESS_MODES)}, got {mode!r}")
    return mode


def preprocess_image(image, mode="enhanced"):
    """Any image of one digit -> float32 (28, 28, 1) in [0, 1], white digit on black.

    `image`: a PIL image, raw bytes of a common format, or a 2-D/3-D array
    (0-255 or 0-1). Raises InvalidImage for undecodable input, NoDigitFound for
    a blank image, PayloadTooLarge for an image over MAX_IMAGE_PIXELS.
    """
    mode = check_mode(mode)
    gray = _to_grayscale(image)
    if mode == "basic":
        out = _basic(gray)
    else:
        out = _mnist_style(_ink_map(gray))
    return out.astype(np.float32)[..., None]
