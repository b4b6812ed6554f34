"""The IDX loader: shapes, checksums, clear errors, and the mirror download path."""
import functools
import gzip
import http.server
import shutil
import struct
import threading

import numpy as np
import pytest

import config
import load_mnist_local as lm

NAMES = list(config.MNIST_FILES)


def test_load_data_shapes_and_types(mnist_test):
    (x_train, y_train), (x_test, y_test) = lm.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert set(np.unique(y_train)) == set(range(10))
    assert x_train.max() == 255 and x_train.min() == 0


def test_parse_idx_reads_header_dimensions():
    raw = struct.pack(">IIII", 0x803, 2, 3, 4) + bytes(range(24))
    array = lm.parse_idx(raw)
    assert array.shape == (2, 3, 4) and array[1, 2, 3] == 23


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x00", "too short"),
    (struct.pack(">II", 0x0000_0D01, 3) + b"abc", "bad magic"),
    (struct.pack(">II", 0x801, 10) + b"abc", "header promises"),
])
def test_parse_idx_rejects_malformed(raw, message):
    with pytest.raises(lm.MnistFileError, match=message):
        lm.parse_idx(raw, name="x")


@pytest.fixture
def data_copy(tmp_path):
    for name in NAMES:
        shutil.copy(config.MNIST_DIR / name, tmp_path / name)
    return tmp_path


def test_missing_file_is_named(data_copy):
    (data_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(lm.MnistFileError, match="t10k-labels-idx1-ubyte.gz: file is missing"):
        lm.load_data(data_copy)


def test_truncated_file_is_named(data_copy):
    path = data_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(lm.MnistFileError, match="t10k-images-idx3-ubyte.gz: cannot decompress"):
        lm.load_data(data_copy)


def test_corrupted_content_fails_checksum(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10          # one label changed: still valid IDX
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(lm.MnistFileError, match="t10k-labels-idx1-ubyte.gz: md5 of content"):
        lm.load_data(data_copy)


@pytest.fixture
def mirror(tmp_path):
    """Two loopback HTTP mirrors: 'good' serves the real files, 'bad' a corrupted copy."""
    servers = {}
    for kind in ("good", "bad"):
        root = tmp_path / kind
        root.mkdir()
        for name in NAMES:
            blob = (config.MNIST_DIR / name).read_bytes()
            if kind == "bad":
                blob = gzip.compress(gzip.decompress(blob)[:-1] + b"\x01", compresslevel=1)   # fast; the checksum is of the content
            (root / name).write_bytes(blob)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[kind] = f"http://127.0.0.1:{server.server_address[1]}/"
    yield servers
    # Daemon threads die with the test process; nothing else to clean.


def test_download_when_absent_verifies_and_writes_atomically(tmp_path, mirror, monkeypatch):
    target = tmp_path / "fresh"
    dead = "http://127.0.0.1:9/"  # nothing listens on the discard port: first mirror fails
    monkeypatch.setattr(config, "MNIST_MIRRORS", [dead, mirror["bad"], mirror["good"]])
    (x_train, _), (x_test, y_test) = lm.load_data(target)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert sorted(p.name for p in target.iterdir()) == sorted(NAMES)  # no temp files left


def test_download_fails_clearly_when_no_mirror_is_valid(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(config, "MNIST_MIRRORS", [mirror["bad"]])
    with pytest.raises(lm.MnistFileError, match="checksum mismatch"):
        lm.load_data(tmp_path / "fresh")
    assert not any((tmp_path / "fresh").iterdir())


def test_no_download_without_mirrors(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MNIST_MIRRORS", [])
    with pytest.raises(lm.MnistFileError, match="set MNIST_MIRRORS"):
        lm.load_data(tmp_path)
