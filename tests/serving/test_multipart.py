"""multipart.split_form: on every body it accepts it finds the same parts as
Werkzeug; anything unusual it leaves to Werkzeug (None)."""
import io

import pytest
import requests
from werkzeug.formparser import parse_form_data

from mnist_digits.serving.multipart import split_form

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\r\n--not-the-boundary\r\n" + b"\n" * 3


def werkzeug_parts(body, content_type):
    """(form fields, files) as Werkzeug parses them: {name: [values]} each."""
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(environ)
    return ({k: form.getlist(k) for k in form},
            {k: [(f.filename, f.read()) for f in files.getlist(k)] for k in files})


def quick_parts(parts):
    form, files = {}, {}
    for name, filename, content in parts:
        if filename is None:
            form.setdefault(name, []).append(content.decode("utf-8", "replace"))
        else:
            files.setdefault(name, []).append((filename, content))
    return form, files


def encoded(files, data=None):
    prepared = requests.Request("POST", "http://x/", files=files, data=data).prepare()
    return prepared.body, prepared.headers["Content-Type"]


def boundary_of(content_type):
    return content_type.split("boundary=", 1)[1]


REQUESTS_BODIES = [
    ({"image": ("digit.png", PNG, "image/png")}, None),
    ({"image": ("digit.png", PNG)}, {"preprocess": "basic"}),
    ({"image": ("", PNG)}, None),                                  # empty filename: still a file
    ({"image": ("d.png", b"")}, None),                             # empty file
    ({"other": ("d.png", PNG)}, {"image": "not a file"}),          # "image" only as a field
    ({"image": ("d.png", PNG), "image2": ("e.png", PNG[:10])}, {"preprocess": "enhanced"}),
]


@pytest.mark.parametrize("files,data", REQUESTS_BODIES)
def test_same_parts_as_werkzeug(files, data):
    body, content_type = encoded(files, data)
    parts = split_form(body, boundary_of(content_type))
    assert parts is not None
    assert quick_parts(parts) == werkzeug_parts(body, content_type)


def curl_like(boundary, *parts, preamble=b"", epilogue=b"\r\n"):
    body = preamble
    for head, content in parts:
        body += b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + boundary + b"--" + epilogue


B = b"------------------------abc123"
UNUSUAL = {
    "preamble": curl_like(B, (b'Content-Disposition: form-data; name="image"; filename="d.png"', PNG),
                          preamble=b"hello\r\n"),
    "extra header": curl_like(B, (b'Content-Disposition: form-data; name="image"; filename="d.png"\r\n'
                                  b"Content-Transfer-Encoding: binary", PNG)),
    "escaped quote": curl_like(B, (b'Content-Disposition: form-data; name="image"; filename="a\\"b.png"', PNG)),
    "filename*": curl_like(B, (b"Content-Disposition: form-data; name=\"image\"; filename*=UTF-8''d.png", PNG)),
    "boundary in content": curl_like(B, (b'Content-Disposition: form-data; name="image"; filename="d.png"',
                                         PNG + b"\r\n--" + B + b"\r\nxx")),
    "no closing": b"--" + B + b'\r\nContent-Disposition: form-data; name="image"; filename="d"\r\n\r\n' + PNG,
    "epilogue": curl_like(B, (b'Content-Disposition: form-data; name="image"; filename="d.png"', PNG),
                          epilogue=b"\r\ntrailing words"),
    "big field": curl_like(B, (b'Content-Disposition: form-data; name="preprocess"', b"x" * 5000)),
    "no part headers end": b"--" + B + b'\r\nContent-Disposition: form-data; name="image"' + b"\r\n--" + B + b"--",
}


@pytest.mark.parametrize("name", UNUSUAL)
def test_unusual_bodies_are_left_to_werkzeug(name):
    assert split_form(UNUSUAL[name], B.decode()) is None


def test_plain_curl_body_matches_werkzeug():
    body = curl_like(B, (b'Content-Disposition: form-data; name="image"; filename="d.png"\r\n'
                         b"Content-Type: image/png", PNG),
                     (b'Content-Disposition: form-data; name="preprocess"', b"basic"))
    parts = split_form(body, B.decode())
    assert parts is not None
    assert quick_parts(parts) == werkzeug_parts(body, "multipart/form-data; boundary=" + B.decode())


@pytest.mark.parametrize("boundary", [None, "", "x" * 71])
def test_missing_or_invalid_boundary(boundary):
    body, _ = encoded({"image": ("d.png", PNG)})
    assert split_form(body, boundary) is None
