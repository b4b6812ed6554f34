"""Import TensorFlow and Keras without their start-up noise.

On a machine without a GPU, importing TensorFlow prints lines such as
"failed call to cuInit: UNKNOWN ERROR (303)" and oneDNN notices that look like
failures and are not. TF_CPP_MIN_LOG_LEVEL=3 hides what TensorFlow logs after
its logger starts; the lines it writes before that go straight to file
descriptor 2, so that is pointed at /dev/null for the import alone. A failed
import still raises its exception as usual. Python-side warnings go through
the "absl" logger (such as the note that .h5, the format this project ships
on purpose, is a legacy format); they are raised to errors only. LOG_LEVEL=debug
shows everything.
"""
import contextlib
import logging
import os
import sys

import config

if config.LOG_LEVEL != "DEBUG":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _native_stderr_silenced():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """-> (tensorflow, keras), imported once, quietly unless LOG_LEVEL=debug."""
    if config.LOG_LEVEL == "DEBUG" or "tensorflow" in sys.modules:
        import keras
        import tensorflow
        return tensorflow, keras
    with _native_stderr_silenced():
        import keras
        import tensorflow
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tensorflow, keras
