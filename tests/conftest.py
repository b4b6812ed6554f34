"""Shared fixtures: the repo on sys.path, the committed predictors, MNIST test digits,
the Flask app, the Gradio page and the Cerebrium app folder."""
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# `make check` is the fast lane: it leaves out every test marked `process` (one that starts
# another process: a server, a script, a worker). Tests get the mark from these fixtures,
# which start one, or from their module's `pytestmark`, or one by one.
PROCESS_FIXTURES = {"server", "url", "app_url", "triton", "endpoint", "broken_base", "server_port"}


def pytest_collection_modifyitems(items):
    for item in items:
        if PROCESS_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.process)

@pytest.fixture(scope="session")
def mnist_test():
    """(x_test uint8 (10000, 28, 28), y_test) from the committed IDX files."""
    from load_mnist_local import load_data
    return load_data()[1]


@pytest.fixture(scope="session")
def digits(mnist_test):
    """The first POOL MNIST test digits and their labels, light ink on black as in MNIST."""
    from helpers import POOL
    x, y = mnist_test
    return x[:POOL], y[:POOL]


@pytest.fixture(scope="session")
def predictor():
    """The committed Keras model behind the shared predictor (loaded once)."""
    from utils import Predictor
    return Predictor(backend="keras")


@pytest.fixture(scope="session")
def litert_predictor():
    """The committed float LiteRT export behind the shared predictor."""
    import config
    from utils import Predictor
    return Predictor(backend="litert", model_path=config.TFLITE_MODEL_PATH)


@pytest.fixture(scope="session")
def digit_pngs(mnist_test):
    """A few MNIST test digits as (png_bytes, label), dark ink on white paper like a user's drawing."""
    from helpers.images import encode
    x, y = mnist_test
    return [(encode(255 - x[i]), int(y[i])) for i in range(10)]


@pytest.fixture
def model_copy(tmp_path):
    """The committed .h5 and its metrics.json, copied into tmp_path (-> that folder)."""
    import config
    shutil.copy(config.KERAS_MODEL_PATH, tmp_path / "mnist_cnn.h5")
    shutil.copy(config.METRICS_PATH, tmp_path / "metrics.json")
    return tmp_path


@pytest.fixture(scope="session")
def flask_app(predictor):
    from flask_deploy import create_app
    return create_app(predictor)


@pytest.fixture(scope="session")
def flask_client(flask_app):
    return flask_app.test_client()


@pytest.fixture(scope="module")
def app_url():
    """The Gradio page running in this process on a free local port."""
    import gradio_interface
    from helpers.local_server import free_port
    demo = gradio_interface.build_demo()
    url = gradio_interface.launch(demo, host="127.0.0.1", port=free_port(),
                                  prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="session")
def cerebrium_bundle(tmp_path_factory):
    """A complete Cerebrium app folder, as `python cerebrium_deploy/build.py --out DIR` makes it."""
    from helpers.cerebrium import load_build
    out = tmp_path_factory.mktemp("cerebrium_app")
    load_build().build(out)
    return out
