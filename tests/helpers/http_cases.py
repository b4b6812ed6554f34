"""Requests the REST API must answer: one table for the test client, the real server and the OpenAPI check;
and the Open Inference Protocol's bad infer requests (tests/serving/test_kserve_v2.py, test_openapi_spec.py).

Each case is (name, method, path, headers, body, expected statuses, expected
error code or None). Bodies are plain bytes so Flask's test client and
`requests` send exactly the same thing.
"""
import base64
import json

import numpy as np

import config
from helpers.images import encode, number_png, png_bomb

BOUNDARY = "testboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(fields):
    """{name: bytes (sent as a file) or str (a plain field)} -> a multipart body."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, bytes):
            head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="x.png"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
            parts.append(head.encode() + value + b"\r\n")
        else:
            parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                         .encode())
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def specks(count=1000, side=640, seed=0):
    """Dark specks (3x3) scattered over white paper: noise, not a number."""
    page = np.full((side, side), 255, np.uint8)
    for y, x in np.random.default_rng(seed).integers(2, side - 5, (count, 2)):
        page[y:y + 3, x:x + 3] = 0
    return encode(page)


def bad_read_requests():
    """What only POST /read refuses (crowded, thin or blank pictures), and the shared mistakes sent to it."""
    image, as_json = {"Content-Type": "image/png"}, {"Content-Type": "application/json"}
    one = np.full((28, 28), 255, np.uint8)
    one[6:22, 12:16] = 0
    wide, tall = np.full((20, 4000), 255, np.uint8), np.full((2000, 20), 255, np.uint8)
    wide[4:16, 10:13] = tall[10:13, 4:16] = 0
    blank = encode(np.full((28, 28), 255, np.uint8))
    post = "POST"
    return [
        ("read: blank white image", post, "/read", image, blank, {400}, "no_digit_found"),
        ("read: huge blank 4096x4096", post, "/read", image, encode(np.full((4096, 4096), 255, np.uint8)),
         {400}, "no_digit_found"),
        ("read: a thousand specks", post, "/read", image, specks(), {400}, "too_many_digits"),
        (f"read: 40 digits (at most {config.MAX_DIGITS})", post, "/read", image, number_png("0123456789" * 4), {400},
         "too_many_digits"),
        ("read: 4000x20 picture", post, "/read", image, encode(wide), {400}, "invalid_image"),
        ("read: 20x2000 picture", post, "/read", image, encode(tall), {400}, "invalid_image"),
        ("read: basic preprocessing", post, "/read?preprocess=basic", image, encode(one), {400}, "invalid_input"),
        ("read: truncated PNG", post, "/read", image, encode(one)[:40], {400}, "invalid_image"),
        ("read: text/plain body", post, "/read", {"Content-Type": "text/plain"}, b"2026", {415},
         "unsupported_media_type"),
        ("read: empty batch", post, "/read", as_json, b'{"instances": []}', {400}, "invalid_input"),
        ("read: batch with a blank picture", post, "/read", as_json,
         json.dumps({"instances": [base64.b64encode(encode(one)).decode(), base64.b64encode(blank).decode()]})
         .encode(), {400}, "no_digit_found"),
        ("read: huge raw body", post, "/read", image, b"\x89PNG" + b"\0" * (config.MAX_REQUEST_BYTES + 1), {413},
         "payload_too_large"),
        ("GET /read", "GET", "/read", {}, b"", {405}, "method_not_allowed"),
    ]


# The bad-input corpus, one function per kind of mistake. Each case keeps its name (the test
# id) and the corpus its order; the headers are shared read-only, never changed by a test.
IMAGE = {"Content-Type": "image/png"}
AS_JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": MULTIPART}
TEXT = b"this is a text file, not an image\n"
BLANK_PNG = encode(np.full((28, 28), 255))  # a valid image of blank paper


def one_digit():
    """A 28x28 "1", so that only the mistake under test is wrong."""
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    return digit


def bad_requests():
    """The bad-input corpus: every client mistake and the answer it must get."""
    return (unreadable_image_requests() + blank_image_requests() + misfilled_form_requests()
            + bad_json_requests() + oversized_requests() + wrong_route_requests() + bad_read_requests())


def unreadable_image_requests():
    """Bodies that are no image we decode: empty, truncated, text, SVG, a decompression bomb,
    or a content type we do not take."""
    good_png = encode(one_digit())
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text x="5" y="20">7</text></svg>'
    post = "POST"
    return [
        # (name, method, path, headers, body, statuses, code)
        ("empty raw body", post, "/predict", IMAGE, b"", {400}, "invalid_image"),
        ("empty body, no content type", post, "/predict", {}, b"", {415}, "unsupported_media_type"),
        ("empty JSON body", post, "/predict", AS_JSON, b"", {400}, "invalid_input"),
        ("truncated PNG", post, "/predict", IMAGE, good_png[:len(good_png) // 2], {400}, "invalid_image"),
        ("truncated PNG upload", post, "/predict", FORM, multipart({"image": good_png[:40]}), {400}, "invalid_image"),
        ("text file as image/png", post, "/predict", IMAGE, TEXT, {400}, "invalid_image"),
        ("garbage bytes as image/png", post, "/predict", IMAGE, bytes(range(256)) * 4, {400}, "invalid_image"),
        ("text file upload", post, "/predict", FORM, multipart({"image": TEXT}), {400}, "invalid_image"),
        ("text/plain body", post, "/predict", {"Content-Type": "text/plain"}, TEXT, {415}, "unsupported_media_type"),
        ("form-urlencoded body", post, "/predict", {"Content-Type": "application/x-www-form-urlencoded"},
         b"image=abc", {415}, "unsupported_media_type"),
        ("SVG body", post, "/predict", {"Content-Type": "image/svg+xml"}, svg, {400, 415}, None),
        ("SVG upload", post, "/predict", FORM, multipart({"image": svg}), {400, 415}, None),
        ("30000x30000 PNG bomb", post, "/predict", IMAGE, png_bomb(), {400, 413}, None),
        ("30000x30000 PNG bomb upload", post, "/predict", FORM, multipart({"image": png_bomb()}), {400, 413}, None),
    ]


def blank_image_requests():
    """Blank paper, in every form and preprocessing: no digit to answer, never a guess."""
    post = "POST"
    return [
        ("blank white image", post, "/predict", IMAGE, BLANK_PNG, {400}, "no_digit_found"),
        ("blank white image, basic preprocessing", post, "/predict?preprocess=basic", IMAGE, BLANK_PNG, {400},
         "no_digit_found"),
        ("blank white image upload, basic preprocessing", post, "/predict", FORM,
         multipart({"image": BLANK_PNG, "preprocess": "basic"}), {400}, "no_digit_found"),
    ]


def misfilled_form_requests():
    """A good image in the wrong field, or with a preprocessing we do not know."""
    good_png = encode(one_digit())
    post = "POST"
    return [
        ("upload without the image field", post, "/predict", FORM, multipart({"file": good_png}), {400},
         "invalid_input"),
        ("image sent as a text field", post, "/predict", FORM, multipart({"image": "abc"}), {400}, "invalid_input"),
        ("unknown preprocess (form)", post, "/predict", FORM, multipart({"image": good_png, "preprocess": "x"}),
         {400}, "invalid_input"),
        ("unknown preprocess (query)", post, "/predict?preprocess=fancy", IMAGE, good_png, {400}, "invalid_input"),
    ]


def bad_json_requests():
    """JSON bodies that are broken, hold the wrong keys, bad base64, bad pixels or a bad batch."""
    digit = one_digit()
    nan_pixels = json.dumps({"pixels": [[0] * 28 for _ in range(27)] + [[0] * 27 + [float("nan")]]})
    post = "POST"
    return [
        ("malformed JSON", post, "/predict", AS_JSON, b'{"image": ', {400}, "invalid_input"),
        ("invalid UTF-8 JSON", post, "/predict", AS_JSON, b'{"image": "\xff\xfe"}', {400}, "invalid_input"),
        ("deeply nested JSON", post, "/predict", AS_JSON, b"[" * 100000 + b"]" * 100000, {400}, "invalid_input"),
        ("JSON array", post, "/predict", AS_JSON, b"[1, 2, 3]", {400}, "invalid_input"),
        ("JSON without a known key", post, "/predict", AS_JSON, b'{"img": "abc"}', {400}, "invalid_input"),
        ("JSON with two keys", post, "/predict", AS_JSON,
         json.dumps({"image": base64.b64encode(encode(digit)).decode(), "pixels": digit.tolist()}).encode(),
         {400}, "invalid_input"),
        ("base64 garbage", post, "/predict", AS_JSON, b'{"image": "not base64 at all!!"}', {400}, "invalid_input"),
        ("base64 of a text file", post, "/predict", AS_JSON,
         json.dumps({"image": base64.b64encode(TEXT).decode()}).encode(), {400}, "invalid_image"),
        ("27x28 pixels", post, "/predict", AS_JSON, json.dumps({"pixels": [[0] * 28 for _ in range(27)]}).encode(),
         {400}, "invalid_input"),
        ("NaN in pixels", post, "/predict", AS_JSON, nan_pixels.encode(), {400}, "invalid_input"),
        ("pixels over 255", post, "/predict", AS_JSON,
         json.dumps({"pixels": [[300] * 28] * 28}).encode(), {400}, "invalid_input"),
        ("strings in pixels", post, "/predict", AS_JSON,
         json.dumps({"pixels": [["0"] * 28] * 28}).encode(), {400}, "invalid_input"),
        ("empty batch", post, "/predict", AS_JSON, b'{"instances": []}', {400}, "invalid_input"),
        ("batch over the limit", post, "/predict", AS_JSON,
         json.dumps({"instances": [digit.tolist()] * (config.MAX_BATCH_SIZE + 1)}).encode(), {413},
         "payload_too_large"),
        ("batch with one bad instance", post, "/predict", AS_JSON,
         json.dumps({"instances": [digit.tolist(), "%%%"]}).encode(), {400}, "invalid_input"),
    ]


def oversized_requests():
    """Bodies one byte over the limit, in each form: 413, not a truncated parse."""
    over_limit = config.MAX_REQUEST_BYTES + 1
    post = "POST"
    return [
        ("huge JSON", post, "/predict", AS_JSON,
         b'{"image": "' + b"A" * over_limit + b'"}', {413}, "payload_too_large"),
        ("huge raw body", post, "/predict", IMAGE, b"\x89PNG" + b"\0" * over_limit, {413}, "payload_too_large"),
        ("huge upload", post, "/predict", FORM, multipart({"image": b"\0" * over_limit}), {413},
         "payload_too_large"),
    ]


def wrong_route_requests():
    """A method a route does not take, or no route at all."""
    return [
        ("GET /predict", "GET", "/predict", {}, b"", {405}, "method_not_allowed"),
        ("POST /health", "POST", "/health", AS_JSON, b"{}", {405}, "method_not_allowed"),
        ("unknown URL", "GET", "/no-such-page", {}, b"", {404}, "not_found"),
    ]


def tensor(name, datatype, shape, data):
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def _example_png(digit):
    return (config.EXAMPLES_DIR / f"mnist_{digit}.png").read_bytes()


def bad_infer_requests():
    """(name, JSON body, words the 400 sentence must hold or None) of V2 infer requests."""
    good = [0.0] * 784
    return [
        ("not JSON", b"{", None),
        ("no inputs", json.dumps({}).encode(), None),
        ("two inputs", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], good)] * 2}).encode(), None),
        ("unknown input", json.dumps({"inputs": [tensor("pixels", "FP32", [1, 784], good)]}).encode(), None),
        ("wrong datatype", json.dumps({"inputs": [tensor("input", "INT32", [1, 784], good)]}).encode(), None),
        ("wrong shape", json.dumps({"inputs": [tensor("input", "FP32", [1, 28, 28], good)]}).encode(), None),
        ("shape and data disagree", json.dumps({"inputs": [tensor("input", "FP32", [2, 784], good)]}).encode(), None),
        ("zero batch", json.dumps({"inputs": [tensor("input", "FP32", [0, 784], [])]}).encode(), None),
        ("batch over the limit", json.dumps({"inputs": [tensor("input", "FP32", [config.MAX_BATCH_SIZE + 1, 784],
                                                               [])]}).encode(), None),
        ("pixels over 1", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], [255.0] * 784)]}).encode(), None),
        ("NaN", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], [float("nan")] * 784)]}).encode(), None),
        ("strings", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], ["0"] * 784)]}).encode(), None),
        ("ragged", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], [[0.0], [0.0, 0.0]])]}).encode(), None),
        ("unknown output", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], good)],
                                       "outputs": [{"name": "logits"}]}).encode(), None),
        ("base64 garbage", json.dumps({"inputs": [tensor("image", "BYTES", [2], [
            base64.b64encode(_example_png(7)).decode(), "%%%"])]}).encode(), "item 1"),
        ("blank image", json.dumps({"inputs": [tensor("image", "BYTES", [2], [
            base64.b64encode(_example_png(7)).decode(), base64.b64encode(
                _example_png(7)[:8] + b"corrupt").decode()])]}).encode(), "item 1"),
        ("binary size too big", json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784],
                                                        "parameters": {"binary_data_size": 3136}}]}).encode(), None),
        # A list where the protocol has an object once reached .get() and answered 500.
        ("input parameters a list", json.dumps({"inputs": [{**tensor("", "", [], []), "parameters": [None, None]}]})
         .encode(), "must be an object"),
        ("output parameters a list", json.dumps({"inputs": [tensor("input", "FP32", [1, 784], good)],
                                                 "outputs": [{"name": "prediction", "parameters": [1]}]}).encode(),
         "must be an object"),
        ("request parameters a list", json.dumps({"inputs": [tensor("image", "BYTES", [1], ["AAAA"])],
                                                  "parameters": ["basic"]}).encode(), "must be an object"),
    ]
