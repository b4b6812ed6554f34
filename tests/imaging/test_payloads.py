"""payloads.py on its own: each JSON request form becomes the images the predictor
takes, and each malformed one is refused with its own sentence. (The same forms over
HTTP are in test_flask_deploy.py, and through Cerebrium in test_cerebrium_main.py.)"""
import base64

import numpy as np
import pytest

import config
from mnist_digits.errors import InvalidInput, PayloadTooLarge
from mnist_digits.imaging.payloads import parse_json_payload

PNG_BYTES = b"\x89PNG\r\n\x1a\n some bytes"
ENCODED = base64.b64encode(PNG_BYTES).decode()


def test_image_base64_data_url_and_whitespace_give_the_same_bytes():
    for image in (ENCODED, f"data:image/png;base64,{ENCODED}", f"  {ENCODED[:8]}\n{ENCODED[8:]}  "):
        assert parse_json_payload({"image": image}) == ([PNG_BYTES], False, "enhanced")


def test_pixels_0_255_and_0_1_give_the_same_uint8_array():
    x = np.arange(28 * 28).reshape(28, 28) % 256
    (from_255,), batch, mode = parse_json_payload({"pixels": x.tolist(), "preprocess": "basic"})
    (from_01,), _, _ = parse_json_payload({"pixels": (x / 255.0).tolist()})
    assert not batch and mode == "basic"
    assert from_255.dtype == np.uint8 and from_255.shape == (28, 28)
    np.testing.assert_array_equal(from_255, x)
    np.testing.assert_array_equal(from_01, x)


def test_instances_mix_base64_pixels_and_wrapped_forms():
    pixels = [[0] * 28] * 28
    images, batch, _ = parse_json_payload({"instances": [ENCODED, pixels, {"image": ENCODED}, {"pixels": pixels}]})
    assert batch and images[0] == images[2] == PNG_BYTES
    assert images[1].shape == images[3].shape == (28, 28)


@pytest.mark.parametrize("payload, message", [
    ([1, 2], "must be an object"),
    ({}, "exactly one of"),
    ({"image": ENCODED, "pixels": [[0] * 28] * 28}, "exactly one of"),
    ({"image": ""}, "non-empty base64 string"),
    ({"image": "not base64!!"}, "not valid base64"),
    ({"image": "===="}, "not valid base64|zero bytes"),
    ({"pixels": [[0] * 28] * 27}, "28x28 nested list"),
    ({"pixels": [[True] * 28] * 28}, "only numbers"),
    ({"pixels": [[float("inf")] * 28] * 28}, "NaN or infinity"),
    ({"pixels": [[-1] * 28] * 28}, "0-255"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [42]}, "each instance"),
    ({"instances": [{"image": ENCODED, "pixels": []}]}, "each instance"),
    ({"image": ENCODED, "preprocess": "fancy"}, "preprocess must be one of"),
])
def test_malformed_payloads_are_refused_with_a_reason(payload, message):
    with pytest.raises(InvalidInput, match=message):
        parse_json_payload(payload)


def test_size_limits_are_payload_too_large():
    with pytest.raises(PayloadTooLarge, match="at most"):
        parse_json_payload({"instances": [ENCODED] * (config.MAX_BATCH_SIZE + 1)})
    with pytest.raises(PayloadTooLarge, match="byte limit"):
        parse_json_payload({"image": "A" * (config.MAX_REQUEST_BYTES * 2)})
