"""What the Cerebrium tests share: the deploy folder, its build script, a clean environment."""
import base64
import importlib.util
import os

from helpers.local_server import ROOT

DEPLOY = ROOT / "cerebrium_deploy"
HAND_WRITTEN = {"main.py", "build.py", "test_server.py", "local_runtime.py", "cerebrium.toml"}


def load_build():
    spec = importlib.util.spec_from_file_location("cerebrium_build", DEPLOY / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clean_env(**extra):
    """The environment a fresh deployment sees: none of the repo's overrides or paths."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MODEL_BACKEND", "MODEL_PATH", "METRICS_PATH",
                        "CEREBRIUM_API_KEY", "CEREBRIUM_ENDPOINT")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def b64(data):
    return base64.b64encode(data).decode()
