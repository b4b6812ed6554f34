"""Images the tests send: encoders, decompression bombs, and a shape comparison."""
import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from mnist_digits.imaging import preprocessing


def encode(image, fmt="PNG", **options):
    """A PIL image or a uint8 2-D/3-D array -> the bytes of an image file in `fmt`."""
    buf = io.BytesIO()
    image = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=None)
def png_bomb(side=30000):
    """A valid 1-bit PNG of side x side pixels (900 M for 30000): ~110 kB on the wire,
    gigabytes once decoded. Written chunk by chunk so building it costs no memory."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_header_only(width, height):
    """A PNG that claims width x height, with its pixel data cut off after 16 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + struct.pack(">I", 4096) + b"IDAT" + zlib.compress(b"\x00" * 64)[:16])


def blurred_cosine(a, b):
    """Similarity of two model inputs that forgives a one-pixel shift or resampling, not a different shape."""
    a, b = preprocessing._box3(preprocessing._box3(a[..., 0])), preprocessing._box3(preprocessing._box3(b[..., 0]))
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def drawn_symbol(char="#", side=200):
    """A symbol that is not a digit, in black on white paper, as a user might upload it."""
    from pathlib import Path

    import matplotlib
    from PIL import ImageDraw, ImageFont
    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"),
                              int(side * 0.7))
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).text((side / 2, side / 2), char, fill=0, font=font, anchor="mm")
    return image


@functools.lru_cache(maxsize=None)
def number_png(number, gap=0.3, pick=0):
    """The string `number` written with MNIST test digits (the `pick`-th of each label),
    dark on white, `gap` digit heights apart (None: touching), as PNG bytes."""
    from load_mnist_local import load_data
    from mnist_digits.reading.compose import Style, compose
    x, y = load_data()[1]
    return compose([x[np.flatnonzero(y == int(c))[pick]] for c in number], Style(gap=gap))[0]
