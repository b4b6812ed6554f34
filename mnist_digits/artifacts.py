"""Files the project writes and trusts: atomic writes, checksums, metrics.json.

Small on purpose: the data loader, the training script and the predictor all
use it, and none of them should have to import a model runtime or Pillow to
write a file safely.

models/metrics.json vouches for every servable file: its md5, size and test
accuracy under "artifacts". The predictor refuses a model file whose md5 is not
recorded there, so a half-written, stale or swapped file is never served.
"""
import hashlib
import json
import os
import tempfile
from pathlib import Path

import config
from mnist_digits.errors import ModelFileError


def file_md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_atomic(path, write):
    """Call write(tmp_path), then rename over `path` only if that succeeded, so an
    interrupted run never replaces a good file with a broken one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the mode a plain open() would, so a
        # server running as another user can still read the model it replaces.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path, data):
    write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def load_metrics(path=None):
    path = Path(path or config.METRICS_PATH)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: metrics file is missing (run python train_model.py, "
                             "or set METRICS_PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None


def verify_model_file(model_path, metrics):
    """The file's md5, after checking it against the one metrics.json records."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: model file is missing (run python train_model.py)")
    expected = metrics.get("artifacts", {}).get(model_path.name, {}).get("md5")
    if expected is None:
        raise ModelFileError(f"{model_path}: no checksum recorded for it in the metrics file")
    actual = file_md5(model_path)
    if actual != expected:
        raise ModelFileError(f"{model_path}: md5 {actual} does not match {expected} in the metrics file")
    return actual


def model_version(model_path, metrics):
    """One version for a trained model, whichever file serves it: the md5 prefix of
    the .h5 that training wrote. An export records the .h5 it came from
    ("source_md5"), so the .tflite files of one model report the same version."""
    md5 = verify_model_file(model_path, metrics)
    entry = metrics["artifacts"][Path(model_path).name]
    return entry.get("source_md5", md5)[:8]
