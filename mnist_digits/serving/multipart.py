"""Split a small, plainly written multipart/form-data body without Werkzeug's parser.

Werkzeug parses multipart as a stream, event by event, in Python: for the one
small PNG a /predict upload carries, that costs about as much as running the
model. The body is already in memory (the server buffers it), so a well-formed
one can simply be split at its boundaries. Anything out of the ordinary (a
preamble, extra part headers, quoting this does not handle, many or large
fields) returns None, and the caller lets Werkzeug parse it exactly as before:
the answers, errors included, stay the same.
"""
import re

MAX_PARTS = 8
MAX_FIELD_BYTES = 1024          # a plain (non-file) field bigger than this goes to Werkzeug
_DISPOSITION = re.compile(rb'form-data; name="([^"\\\r\n]*)"(?:; filename="([^"\\\r\n]*)")?', re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"content-type: [!-~ ]*", re.IGNORECASE)


def split_form(body, boundary):
    """-> [(name, filename or None, content bytes)], or None when Werkzeug should parse it."""
    if not boundary or len(boundary) > 70:
        return None
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter + b"\r\n"):
        return None
    closing = b"\r\n" + delimiter + b"--"
    end = body.rfind(closing)
    if end < 0 or body[end + len(closing):] not in (b"", b"\r\n"):
        return None
    chunks = body[len(delimiter) + 2:end].split(b"\r\n" + delimiter + b"\r\n")
    # Every other line that starts like a boundary (in a part's content, or a
    # boundary Werkzeug would read differently) is left to Werkzeug.
    if len(chunks) > MAX_PARTS or body.count(b"\n" + delimiter) != len(chunks):
        return None
    parts = []
    for chunk in chunks:
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            return None
        lines = head.split(b"\r\n")
        if not lines[0].lower().startswith(b"content-disposition: "):
            return None
        match = _DISPOSITION.fullmatch(lines[0][len(b"content-disposition: "):])
        if match is None or any(_CONTENT_TYPE.fullmatch(line) is None for line in lines[1:]):
            return None
        name, filename = match.group(1).decode("utf-8", "replace"), match.group(2)
        if filename is None and len(content) > MAX_FIELD_BYTES:
            return None
        parts.append((name, None if filename is None else filename.decode("utf-8", "replace"), content))
    return parts
