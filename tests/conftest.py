"""Shared fixtures: the repo on sys.path, the committed predictor, MNIST test digits."""
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def mnist_test():
    """(x_test uint8 (10000, 28, 28), y_test) from the committed IDX files."""
    from load_mnist_local import load_data
    return load_data()[1]


@pytest.fixture(scope="session")
def predictor():
    """The committed Keras model behind the shared predictor (loaded once)."""
    from utils import Predictor
    return Predictor(backend="keras")


def to_png(array):
    """uint8 2-D array -> PNG bytes."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def digit_pngs(mnist_test):
    """A few MNIST test digits as (png_bytes, label), dark ink on white paper like a user's drawing."""
    x, y = mnist_test
    return [(to_png(255 - x[i]), int(y[i])) for i in range(10)]
