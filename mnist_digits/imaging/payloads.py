"""Validate the JSON request forms that Flask and Cerebrium both accept.

    {"image": "<base64 or data: URL>"}
    {"pixels": [[...28 numbers...] x 28]}          # 0-255 or 0-1
    {"instances": [<base64 string or 28x28 list>, ...]}
    optional "preprocess": "enhanced" | "basic"

`parse_json_payload` returns (images, is_batch, preprocess) where each image is
raw bytes or a uint8 (28, 28) array, ready for Predictor.predict_images.
Anything malformed raises a DigitError subclass with a sentence saying why.
"""
import base64
import binascii
import math
import re

import numpy as np

import config
from mnist_digits.errors import InvalidInput, PayloadTooLarge, batch_item
from mnist_digits.imaging.preprocessing import check_mode

_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w=.+-]+)*;base64,", re.IGNORECASE)


def decode_base64_image(text):
    """A base64 string (optionally a data: URL) -> image bytes."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("image must be a non-empty base64 string")
    text = _DATA_URL.sub("", text.strip(), count=1)
    if len(text) * 3 // 4 > config.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"the image is over the {config.MAX_REQUEST_BYTES}-byte limit")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("image is not valid base64") from None
    if not data:
        raise InvalidInput("image decodes to zero bytes")
    return data


def pixels_to_array(pixels):
    """A 28x28 nested list of numbers (0-255, or 0-1 floats) -> uint8 (28, 28)."""
    size = config.IMAGE_SIZE
    if (not isinstance(pixels, list) or len(pixels) != size
            or not all(isinstance(row, list) and len(row) == size for row in pixels)):
        raise InvalidInput(f"pixels must be a {size}x{size} nested list of numbers")
    flat = [v for row in pixels for v in row]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise InvalidInput("pixels must contain only numbers")
    if not all(math.isfinite(v) for v in flat):
        raise InvalidInput("pixels must not contain NaN or infinity")
    array = np.array(pixels, dtype=np.float64)
    if array.min() < 0 or array.max() > 255:
        raise InvalidInput("pixel values must lie in 0-255 (or 0-1)")
    if array.max() <= 1.0:
        array = array * 255.0
    return np.rint(array).astype(np.uint8)


def parse_instance(item):
    """One batch element: a base64 string or a 28x28 list."""
    if isinstance(item, str):
        return decode_base64_image(item)
    if isinstance(item, list):
        return pixels_to_array(item)
    if isinstance(item, dict) and len(item) == 1 and ("image" in item or "pixels" in item):
        return parse_instance(item.get("image", item.get("pixels")))
    raise InvalidInput("each instance must be a base64 string or a 28x28 list of numbers")


def parse_json_payload(payload):
    """Validate a decoded JSON body -> (images, is_batch, preprocess)."""
    if not isinstance(payload, dict):
        raise InvalidInput('the JSON body must be an object with "image", "pixels" or "instances"')
    preprocess = check_mode(payload.get("preprocess"))
    given = [key for key in ("image", "pixels", "instances") if payload.get(key) is not None]
    if len(given) != 1:
        raise InvalidInput('send exactly one of "image", "pixels" or "instances"')
    key = given[0]
    if key == "image":
        return [decode_base64_image(payload["image"])], False, preprocess
    if key == "pixels":
        return [pixels_to_array(payload["pixels"])], False, preprocess
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("instances must be a non-empty list")
    if len(instances) > config.MAX_BATCH_SIZE:
        raise PayloadTooLarge(f"a batch holds at most {config.MAX_BATCH_SIZE} instances, got {len(instances)}")
    images = []
    for index, item in enumerate(instances):
        with batch_item(index):
            images.append(parse_instance(item))
    return images, True, preprocess
