"""Start-up refusals of the server scripts: the bad model set-ups, and what a refusal must look like."""
import os
import shutil
import socket
import subprocess
import sys

import config
from helpers.local_server import ROOT

# What would mean the server got as far as serving (Flask, Gradio, Gradio's own banner).
SERVING = ("Serving on", "Drawing page on", "Running on")


BAD_MODEL_SETUPS = ("unknown backend", "litert with an .h5", "missing model", "missing metrics", "corrupt metrics",
                    "no metrics beside the model")


def bad_model_setups(tmp_path):
    """{name: (environment overrides, text the one error line must contain)} for every way
    MODEL_BACKEND, MODEL_PATH or METRICS_PATH can be wrong."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(config.KERAS_MODEL_PATH, folder / "mnist_cnn.h5")      # no metrics.json beside it
    (tmp_path / "corrupt.json").write_text("{not json")
    setups = {
        "unknown backend": ({"MODEL_BACKEND": "torch"}, "unknown MODEL_BACKEND 'torch'"),
        "litert with an .h5": ({"MODEL_BACKEND": "litert", "MODEL_PATH": str(config.KERAS_MODEL_PATH)},
                               "MODEL_BACKEND=litert serves .tflite files"),
        "missing model": ({"MODEL_PATH": str(tmp_path / "missing.h5")}, "missing.h5: model file is missing"),
        "missing metrics": ({"METRICS_PATH": str(tmp_path / "missing.json")}, "missing.json: metrics file is missing"),
        "corrupt metrics": ({"METRICS_PATH": str(tmp_path / "corrupt.json")}, "corrupt.json: not valid JSON"),
        "no metrics beside the model": ({"MODEL_PATH": str(folder / "mnist_cnn.h5")},
                                        f"{folder / 'metrics.json'}: metrics file is missing"),
    }
    assert tuple(setups) == BAD_MODEL_SETUPS
    return setups


def run_script(script, *args, env=None, timeout=120):
    """`python <script> <args>` from the repo root, with the caller's model settings
    removed from the environment and `env` added; -> CompletedProcess (text)."""
    base = {k: v for k, v in os.environ.items() if k not in ("MODEL_BACKEND", "MODEL_PATH", "METRICS_PATH")}
    return subprocess.run([sys.executable, script, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, env={**base, **(env or {})})


def assert_refused_before_serving(result, port, expected):
    """Exit status 1, exactly one stderr line, "error: ..." naming `expected`, no traceback,
    and nothing ever listened on `port`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-2000:]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(word in result.stdout + result.stderr for word in SERVING), result.stdout[-2000:]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something listens on port {port}"
