"""cerebrium_deploy/build.py and cerebrium.toml: the app folder it assembles, and the
TOML that uploads exactly that folder with the versions requirements.txt pins."""
import fnmatch
import json
import re
import shutil
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement

import config
from helpers.cerebrium import DEPLOY, HAND_WRITTEN, load_build
from helpers.local_server import ROOT


@pytest.fixture(scope="module")
def toml():
    return tomllib.loads((DEPLOY / "cerebrium.toml").read_text())


# --- cerebrium.toml -----------------------------------------------------------------------
# Keys the Cerebrium 2.x TOML reference documents for the default runtime.
DOCUMENTED = {
    "deployment": {"name", "python_version", "disable_auth", "include", "exclude", "shell_commands",
                   "pre_build_commands", "docker_base_image_url", "use_uv",
                   "deployment_initialization_timeout"},
    "hardware": {"cpu", "memory", "compute", "gpu_count", "provider", "region"},
    "scaling": {"min_replicas", "max_replicas", "replica_concurrency", "response_grace_period", "cooldown",
                "scaling_metric", "scaling_target", "scaling_buffer", "roll_out_duration_seconds"},
    "dependencies": {"pip", "apt", "conda", "paths"},
}


def all_keys(table, prefix=""):
    for key, value in table.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from all_keys(value, prefix + key + ".")


def test_toml_follows_the_cerebrium_cli_2_rules(toml):
    assert set(toml) == {"cerebrium"}
    sections = toml["cerebrium"]
    assert set(sections) <= set(DOCUMENTED), "unknown or deprecated section (e.g. [cerebrium.build])"
    for name, keys in DOCUMENTED.items():
        assert set(sections[name]) <= keys, f"[cerebrium.{name}] has undocumented keys"
    deprecated = [k for k in all_keys(toml) if k.split(".")[-1] in ("gpu", "cuda_version") or ".build" in k]
    assert deprecated == []

    deployment = sections["deployment"]
    assert deployment["name"] and deployment["python_version"] == "3.11"
    assert isinstance(deployment["include"], list) and isinstance(deployment["exclude"], list)
    assert not {"*", "./*", "**"} & set(deployment["include"]), "the include list must be explicit"

    hardware = sections["hardware"]
    assert hardware["compute"] == "CPU" and hardware["gpu_count"] == 0
    assert hardware["cpu"] in (0.25, 0.5, 1, 2, 4, 8, 16, 32, 48)
    assert isinstance(hardware["memory"], float) and 0 < hardware["memory"] <= 96

    scaling = sections["scaling"]
    assert {"min_replicas", "max_replicas", "cooldown", "replica_concurrency", "response_grace_period"} <= set(scaling)
    assert 0 <= scaling["min_replicas"] <= scaling["max_replicas"]
    assert scaling["replica_concurrency"] >= 1 and scaling["cooldown"] >= 0
    assert 1 <= scaling["response_grace_period"] <= 3600


def test_toml_keeps_the_endpoint_behind_auth(toml):
    """Cerebrium's TOML reference now defaults disable_auth to true: it must be set, and false."""
    assert toml["cerebrium"]["deployment"]["disable_auth"] is False


def test_every_scaling_key_says_why():
    """Each scaling setting carries a one-line reason on its own line of the file."""
    text = (DEPLOY / "cerebrium.toml").read_text()
    section = text.split("[cerebrium.scaling]", 1)[1].split("\n[", 1)[0]
    settings = [line for line in section.splitlines() if re.match(r"\s*\w+\s*=", line)]
    assert {line.split("=")[0].strip() for line in settings} == {
        "min_replicas", "max_replicas", "cooldown", "replica_concurrency", "response_grace_period"}
    for line in settings:
        assert re.search(r"#\s*\S.{10,}", line), f"no reason given: {line!r}"


def test_toml_pins_the_versions_requirements_txt_pins(toml):
    required = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            required[requirement.name.lower()] = requirement.specifier
    pip = toml["cerebrium"]["dependencies"]["pip"]
    assert "ai-edge-litert" in pip and "tensorflow" not in pip, "the CPU app serves LiteRT, without TensorFlow"
    for name, spec in pip.items():
        assert re.fullmatch(r"==\d+(\.\d+)*", spec), f"{name} is not pinned exactly: {spec!r}"
        assert name.lower() in required, f"{name} is not in requirements.txt"
        assert spec[2:] in required[name.lower()], f"{name}{spec} disagrees with requirements.txt"


def matches(path, pattern):
    """Cerebrium's include/exclude patterns: "dir/" takes the folder, `*` does not cross `/`."""
    if pattern.endswith("/"):
        return path.startswith(pattern) or f"/{pattern}" in f"/{path}"
    return fnmatch.fnmatchcase(path, pattern) and path.count("/") == pattern.count("/")


def test_toml_uploads_exactly_the_app_build_py_assembles(toml, cerebrium_bundle):
    bundle = cerebrium_bundle
    deployment = toml["cerebrium"]["deployment"]

    def uploaded(path):
        return (any(matches(path, p) for p in deployment["include"])
                and not any(matches(path, p) for p in deployment["exclude"]))

    app = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert "main.py" in app and "models/mnist_cnn.tflite" in app
    assert [p for p in app if not uploaded(p)] == []
    for dev_only in ("build.py", "test_server.py", "local_runtime.py", "__pycache__/main.cpython-311.pyc"):
        assert not uploaded(dev_only)


@pytest.mark.process
def test_build_copies_the_single_sources_that_git_ignores():
    build = load_build()
    names = {name for _, name in build.bundle_files()}
    package = {path.relative_to(ROOT).as_posix() for path in (ROOT / "mnist_digits").rglob("*.py")}
    assert {"config.py", "utils.py", "models/mnist_cnn.tflite", "models/mnist_cnn.h5", "models/metrics.json"} <= names
    assert package <= names, "the whole package travels as a folder"
    assert not names & HAND_WRITTEN
    for source, name in build.bundle_files():
        assert source == ROOT / name, "every copied file comes from the same place in the repo"
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [f"cerebrium_deploy/{name}" for name in sorted(names)]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert sorted(ignored) == paths, "build outputs git would not ignore"
    tracked = subprocess.run(["git", "ls-files", "cerebrium_deploy"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert {t.split("/", 1)[1] for t in tracked} <= HAND_WRITTEN | {"README.md"}


def test_build_refuses_a_tflite_not_exported_from_the_current_model(tmp_path, monkeypatch, capsys):
    metrics = json.loads(config.METRICS_PATH.read_text())
    del metrics["artifacts"]["mnist_cnn.tflite"]      # as train_model.py leaves it before export_model.py
    stale = tmp_path / "metrics.json"
    stale.write_text(json.dumps(metrics))
    monkeypatch.setattr(config, "METRICS_PATH", stale)
    with pytest.raises(SystemExit) as exit_info:
        load_build().main(["--out", str(tmp_path / "app")])
    assert "mnist_cnn.tflite" in str(exit_info.value) and "export_model.py" in str(exit_info.value)
    assert not (tmp_path / "app").exists()


def test_no_api_token_in_the_deployment_files():
    jwt = re.compile(r"eyJ[\w-]{10,}\.[\w-]{10,}")
    for name in HAND_WRITTEN:
        assert not jwt.search((DEPLOY / name).read_text()), f"{name} holds what looks like a JWT"
