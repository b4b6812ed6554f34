"""Assemble what `cerebrium deploy` uploads, from the single sources in the repo.

    python cerebrium_deploy/build.py            # into cerebrium_deploy/ (then: cd cerebrium_deploy && cerebrium deploy)
    python cerebrium_deploy/build.py --out DIR  # a complete app folder elsewhere (main.py and cerebrium.toml too)

main.py imports what the scripts share: config.py, utils.py and the package
mnist_digits/. This script copies those (the package as a whole folder) and
the model files under models/ next to main.py, so the folder holds the same
layout as the repo root. config.py computes every path from its own location,
so the copied config finds the copied model without any change. All outputs
are ignored by git.
"""
import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The repo root must win over HERE (the script's folder, first on sys.path),
# which holds copies of config.py etc. after an earlier build.
sys.path.insert(0, str(REPO))

import config  # noqa: E402  (the repo's config: it names the model files)

APP_FILES = ("main.py", "cerebrium.toml")   # hand-written, kept in this folder
SHARED_MODULES = ("config.py", "utils.py")
PACKAGE = "mnist_digits"


def shared_sources():
    """(source, path inside the app folder) for the shared code: the two root modules
    and every Python file of the package, found by walking its folder."""
    package = sorted(path for path in (REPO / PACKAGE).rglob("*.py") if "__pycache__" not in path.parts)
    return [(REPO / name, name) for name in SHARED_MODULES] + [
        (path, path.relative_to(REPO).as_posix()) for path in package]


def model_files():
    """The model artifacts to upload: metrics.json, the .tflite the CPU app serves,
    the .h5 a GPU (keras backend) app serves, and the int8 .tflite if exported."""
    files = [config.METRICS_PATH, config.TFLITE_MODEL_PATH, config.KERAS_MODEL_PATH]
    return files + [p for p in [config.TFLITE_INT8_MODEL_PATH] if p.is_file()]


def bundle_files():
    """(source, path inside the app folder) for everything build() copies from the repo."""
    models = [(path, path.relative_to(config.ROOT).as_posix()) for path in model_files()]
    return shared_sources() + models


def build(out=HERE):
    from mnist_digits.errors import ModelFileError
    from mnist_digits.artifacts import load_metrics, verify_model_file  # checks the models before anything is copied

    metrics = load_metrics(config.METRICS_PATH)
    for path in model_files()[1:]:
        if path.suffix == ".tflite" and path.name not in metrics.get("artifacts", {}):
            # Training rewrites metrics.json without the .tflite entries.
            raise ModelFileError(f"{path}: missing or not exported from the current model "
                                 "(run python export_model.py)")
        verify_model_file(path, metrics)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The int8 file is optional: drop a copy an earlier build left if it is gone now.
    (out / config.TFLITE_INT8_MODEL_PATH.relative_to(config.ROOT)).unlink(missing_ok=True)
    shutil.rmtree(out / PACKAGE, ignore_errors=True)   # a module deleted from the repo leaves with it
    copied = []
    if out != HERE:
        copied += [(HERE / name, name) for name in APP_FILES]
    copied += bundle_files()
    for source, name in copied:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).unlink(missing_ok=True)
        shutil.copyfile(source, out / name)  # a fresh 0644 file, not the 0600 of atomic writes
    return [name for _, name in copied]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="app folder to fill (default: %(default)s)")
    args = parser.parse_args(argv)
    from mnist_digits.errors import ModelFileError
    try:
        names = build(args.out)
    except (ModelFileError, OSError) as exc:
        sys.exit(f"error: {exc}")
    print(f"{args.out}: " + ", ".join(names))


if __name__ == "__main__":
    main()
