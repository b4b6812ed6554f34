"""quiet_tensorflow.py: TensorFlow's start-up lines ("failed call to cuInit", oneDNN
notices) look like failures on a CPU machine; they are silenced unless LOG_LEVEL=debug."""
import os

import pytest

from helpers.scripts import run_helper
from helpers.local_server import ROOT

NOISE_SETTINGS = ("TF_CPP_MIN_LOG_LEVEL", "LOG_LEVEL", "PYTHONPATH")


def build_predictor(**env):
    """A fresh interpreter that builds the Keras predictor, with none of the test run's
    own TensorFlow log settings; -> the CompletedProcess."""
    base = {k: v for k, v in os.environ.items() if k not in NOISE_SETTINGS}
    proc = run_helper("build_keras_predictor.py", env={**base, "PYTHONPATH": str(ROOT), **env}, replace_env=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ready", proc.stdout[-2000:]
    return proc


@pytest.mark.process
def test_building_the_keras_predictor_prints_nothing_on_stderr():
    assert build_predictor().stderr == ""


@pytest.mark.process
def test_log_level_debug_lets_tensorflow_speak():
    """The same start-up with LOG_LEVEL=debug shows TensorFlow's own lines, which proves
    the silence above comes from quiet_tensorflow and not from a TensorFlow that says nothing."""
    assert build_predictor(LOG_LEVEL="debug").stderr.strip() != ""
