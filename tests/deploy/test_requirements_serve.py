"""requirements-serve.txt (the image's dependencies) takes every version from requirements.txt."""
import re

from helpers.container import ROOT


def names_and_pins(path):
    """{package name: pinned version or None} of a requirements file's package lines."""
    lines = [line.split("#")[0].split(";")[0].strip() for line in (ROOT / path).read_text().splitlines()]
    found = [re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[\w,]+\])?(?:==(\S+))?", line) for line in lines
             if line and not line.startswith("-")]
    return {match.group(1).lower(): match.group(2) for match in found}


def test_every_serving_package_is_pinned_by_requirements_txt():
    serve, pinned = names_and_pins("requirements-serve.txt"), names_and_pins("requirements.txt")
    assert "-c requirements.txt" in (ROOT / "requirements-serve.txt").read_text().splitlines()
    assert serve and all(version is None for version in serve.values())   # versions come from the constraint
    assert {name: pinned.get(name) for name in serve if not pinned.get(name)} == {}


def test_no_tensorflow_or_gradio_in_the_image():
    assert {"tensorflow", "keras", "gradio", "h5py"}.isdisjoint(names_and_pins("requirements-serve.txt"))
