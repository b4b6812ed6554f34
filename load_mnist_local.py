"""Load MNIST from the original IDX files committed under data/mnist/.

No network is needed: the four .gz files live in the repository. The parser
reads the IDX format itself (magic number, dimensions), checks the md5 of the
uncompressed content against the published sums, and turns any missing,
truncated or corrupted file into one clear error naming the file.

If the files are absent and MNIST_MIRRORS lists base URLs, they are downloaded,
verified, and written atomically (temp file, then rename).

    python load_mnist_local.py        # verify the files and print the shapes
"""
import gzip
import hashlib
import struct
import sys
import urllib.request
from pathlib import Path

import numpy as np

import config
from mnist_digits.artifacts import write_atomic

# IDX magic numbers: 0x0000 0x08 (unsigned byte) then the number of dimensions.
_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


class MnistFileError(RuntimeError):
    """A data file is missing, truncated, corrupted or not IDX."""


def _read_verified(path, expected_md5):
    """Uncompressed bytes of `path`, after checking its md5."""
    if not path.is_file():
        raise MnistFileError(f"{path}: file is missing (set MNIST_MIRRORS to download it)")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:  # truncated gzip stream, bad CRC, not gzip
        raise MnistFileError(f"{path}: cannot decompress ({exc})") from exc
    digest = hashlib.md5(raw).hexdigest()
    if digest != expected_md5:
        raise MnistFileError(f"{path}: md5 of content is {digest}, expected {expected_md5}")
    return raw


def parse_idx(raw, name="IDX data"):
    """Parse IDX bytes into a uint8 array with the dimensions the header gives."""
    if len(raw) < 8:
        raise MnistFileError(f"{name}: too short to hold an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    if ndim not in _IDX_MAGIC or magic != _IDX_MAGIC[ndim]:
        raise MnistFileError(f"{name}: bad magic number 0x{magic:08x}")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise MnistFileError(f"{name}: {len(raw)} bytes, header promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def download(name, mirrors=None, directory=None):
    """Fetch one file from the first mirror that serves a verified copy."""
    mirrors = config.MNIST_MIRRORS if mirrors is None else mirrors
    directory = Path(directory or config.MNIST_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=config.DOWNLOAD_TIMEOUT_S) as resp:
                blob = resp.read()
            content = gzip.decompress(blob)
        except Exception as exc:  # network or gzip trouble: try the next mirror
            errors.append(f"{url}: {exc}")
            continue
        if hashlib.md5(content).hexdigest() != config.MNIST_FILES[name]:
            errors.append(f"{url}: checksum mismatch")
            continue
        write_atomic(directory / name, lambda tmp: Path(tmp).write_bytes(blob))
        return directory / name
    raise MnistFileError(f"{name}: no mirror served a valid copy: " + "; ".join(errors or ["MNIST_MIRRORS is empty"]))


def load_file(name, directory=None):
    directory = Path(directory or config.MNIST_DIR)
    path = directory / name
    if not path.exists() and config.MNIST_MIRRORS:
        download(name, directory=directory)
    return parse_idx(_read_verified(path, config.MNIST_FILES[name]), name=str(path))


def load_data(directory=None):
    """Return (x_train, y_train), (x_test, y_test) as uint8 arrays."""
    x_train = load_file("train-images-idx3-ubyte.gz", directory)
    y_train = load_file("train-labels-idx1-ubyte.gz", directory)
    x_test = load_file("t10k-images-idx3-ubyte.gz", directory)
    y_test = load_file("t10k-labels-idx1-ubyte.gz", directory)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise MnistFileError("image and label counts differ")
    return (x_train, y_train), (x_test, y_test)


if __name__ == "__main__":
    try:
        (xt, yt), (xs, ys) = load_data()
    except MnistFileError as exc:
        sys.exit(f"error: {exc}")
    print(f"train {xt.shape} {yt.shape}, test {xs.shape} {ys.shape}: checksums verified")
