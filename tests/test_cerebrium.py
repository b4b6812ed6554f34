"""The Cerebrium deployment: cerebrium.toml, the built app folder, main.predict called
directly, and the client end to end against cerebrium_deploy/local_runtime.py, a local
stand-in for Cerebrium's default runtime on 127.0.0.1."""
import base64
import fnmatch
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tomllib

import pytest
import requests
from packaging.requirements import Requirement

import config
from conftest import ROOT, to_png
from utils import Predictor

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


@pytest.fixture(scope="module")
def toml():
    return tomllib.loads((DEPLOY / "cerebrium.toml").read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A complete app folder, as `python cerebrium_deploy/build.py --out DIR` makes it."""
    out = tmp_path_factory.mktemp("cerebrium_app")
    load_build().build(out)
    return out


@pytest.fixture(scope="module")
def litert_predictor():
    return Predictor(backend="litert", model_path=config.TFLITE_MODEL_PATH)


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


def test_toml_uploads_exactly_the_app_build_py_assembles(toml, bundle):
    deployment = toml["cerebrium"]["deployment"]

    def uploaded(path):
        return (any(matches(path, p) for p in deployment["include"])
                and not any(matches(path, p) for p in deployment["exclude"]))

    app = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert "main.py" in app and "models/mnist_cnn.tflite" in app
    assert [p for p in app if not uploaded(p)] == []
    for dev_only in ("build.py", "test_server.py", "local_runtime.py", "__pycache__/main.cpython-311.pyc"):
        assert not uploaded(dev_only)


def test_build_copies_the_single_sources_that_git_ignores():
    build = load_build()
    names = {name for _, name in build.bundle_files()}
    assert {"config.py", "errors.py", "payloads.py", "preprocessing.py", "utils.py", "calibration.py",
            "models/mnist_cnn.tflite", "models/mnist_cnn.h5", "models/metrics.json"} <= names
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


# --- main.py called directly --------------------------------------------------------------
# Runs in the app folder in a fresh interpreter, the repo nowhere on sys.path, with the
# packages named in argv[2] made uninstallable (as in an image without them).
CALL_MAIN = r"""
import importlib.abc, json, sys
missing = set(sys.argv[2].split(","))
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NotInstalled())
sys.path.insert(0, sys.argv[1])
import config, main
answers = []
for kwargs in json.load(sys.stdin):
    try:
        answers.append(main.predict(**kwargs))
    except BaseException as exc:
        answers.append({"raised": repr(exc)})
print(json.dumps({"answers": answers, "backend": main.predictor.backend, "root": str(config.ROOT),
                  "endpoints": sorted(n for n, v in vars(main).items() if callable(v) and not n.startswith("_")),
                  "loaded": sorted(m for m in ("tensorflow", "keras", "ai_edge_litert") if m in sys.modules)}))
"""


def call_main(app, calls, missing, cwd):
    proc = subprocess.run([sys.executable, "-c", CALL_MAIN, str(app), ",".join(missing)],
                          input=json.dumps(calls), cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_main_predicts_like_the_shared_predictor_without_tensorflow(bundle, digit_pngs, litert_predictor,
                                                                     mnist_test):
    pngs = [png for png, _ in digit_pngs]
    pixels = mnist_test[0][0].tolist()
    calls = [
        {"image": b64(pngs[0])},
        {"image": "data:image/png;base64," + b64(pngs[0]), "preprocess": "basic"},
        {"instances": [b64(png) for png in pngs]},
        {"instances": [pixels]},
    ]
    found = call_main(bundle, calls, missing=["tensorflow", "keras"], cwd=bundle)
    assert found["backend"] == "litert" and found["loaded"] == ["ai_edge_litert"]
    assert found["root"] == str(bundle), "the copied config must resolve paths from its own folder"
    assert found["endpoints"] == ["predict"], "Cerebrium would serve every public callable of main.py"
    single, basic, batch, from_pixels = found["answers"]
    # Exactly the object the shared predictor (and so Flask's /predict) gives.
    assert single == litert_predictor.predict_images([pngs[0]])[0]
    assert single["prediction"] == digit_pngs[0][1]
    assert basic == litert_predictor.predict_images([pngs[0]], "basic")[0]
    assert batch == {"predictions": litert_predictor.predict_images(pngs)}
    assert from_pixels == {"predictions": litert_predictor.predict_images([mnist_test[0][0]])}


def test_main_answers_bad_input_with_an_error_and_a_status_code(bundle):
    blank = b64(to_png([[255] * 28] * 28))
    cases = [
        ({}, 400, "invalid_input"),
        ({"image": blank, "instances": [blank]}, 400, "invalid_input"),
        ({"image": "this is not base64!"}, 400, "invalid_input"),
        ({"image": 123}, 400, "invalid_input"),
        ({"image": b64(b"plain text, not an image")}, 400, "invalid_image"),
        ({"image": blank}, 400, "no_digit_found"),
        ({"image": blank, "preprocess": "fancy"}, 400, "invalid_input"),
        ({"instances": []}, 400, "invalid_input"),
        ({"instances": "abc"}, 400, "invalid_input"),
        ({"instances": [[1, 2, 3]]}, 400, "invalid_input"),
        ({"instances": ["x"] * (config.MAX_BATCH_SIZE + 1)}, 413, "payload_too_large"),
        ({"instances": [[[0] * 28] * 27 + [[255] * 28], blank]}, 400, "no_digit_found"),
        ({"instances": [[[0] * 28] * 27 + [[255] * 28], "%%%"]}, 400, "invalid_input"),
    ]
    found = call_main(bundle, [kwargs for kwargs, _, _ in cases], missing=["tensorflow"], cwd=bundle)
    # Batch errors name the bad item: {position in `cases`: index of the bad instance}.
    batch_errors = {9: 0, len(cases) - 2: 1, len(cases) - 1: 1}
    assert all("instances" in cases[i][0] for i in batch_errors)
    for i, ((kwargs, status, code), answer) in enumerate(zip(cases, found["answers"])):
        assert "raised" not in answer, f"predict({kwargs}) raised {answer.get('raised')}"
        assert answer["status_code"] == status, answer
        assert answer["error"]["code"] == code and answer["error"]["message"], answer
        assert set(answer) == {"error", "status_code"}
        # A batch error names the bad item (as Flask's does); a single image's has no index.
        assert answer["error"].get("index") == batch_errors.get(i)


def test_main_serves_keras_where_tensorflow_is_installed_instead(bundle, tmp_path, digit_pngs, predictor):
    """The GPU variant installs TensorFlow, not LiteRT: main.py must pick the keras backend.
    Run from another directory, so the model is found relative to main.py, not the CWD."""
    png, label = digit_pngs[0]
    found = call_main(bundle, [{"image": b64(png)}], missing=["ai_edge_litert"], cwd=tmp_path)
    assert found["backend"] == "keras" and "ai_edge_litert" not in found["loaded"]
    answer, expected = found["answers"][0], predictor.predict_images([png])[0]
    assert answer["prediction"] == expected["prediction"] == label
    assert answer["model_version"] == expected["model_version"]
    assert answer["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)


# --- End to end: the client against the local runtime --------------------------------------
def start_runtime(app, token, stderr_path):
    """Start local_runtime.py serving `app`; (process, base URL) once it listens."""
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(DEPLOY / "local_runtime.py"), "--app-dir", str(app),
                                 "--port", "0"], cwd=ROOT, env=clean_env(CEREBRIUM_API_KEY=token), text=True,
                                stdout=subprocess.PIPE, stderr=stderr)
    # It prints "listening on URL" once the model is loaded; EOF means it died first.
    for line in iter(proc.stdout.readline, ""):
        if line.startswith("listening on "):
            return proc, line.split()[-1]
    stop(proc)
    raise AssertionError(f"the local runtime did not start: {stderr_path.read_text()[-2000:]}")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)
    proc.stdout.close()


@pytest.fixture(scope="module")
def token():
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def endpoint(bundle, token, tmp_path_factory):
    proc, base = start_runtime(bundle, token, tmp_path_factory.mktemp("logs") / "runtime.err")
    yield f"{base}/v4/p-local/mnist-digits/predict"
    stop(proc)


# An app that answers every digit with 0, accepts anything, and has a function that crashes.
BROKEN_APP = '''
def predict(image=None, instances=None, preprocess="enhanced"):
    if instances is not None:
        return {"predictions": [{"prediction": 0, "confidence": 1.0} for _ in instances]}
    return {"prediction": 0, "confidence": 1.0, "top_k": [], "model_version": "broken"}

def crash(**kwargs):
    raise RuntimeError("boom")
'''


@pytest.fixture(scope="module")
def broken_base(token, tmp_path_factory):
    app = tmp_path_factory.mktemp("broken_app")
    (app / "main.py").write_text(BROKEN_APP)
    proc, base = start_runtime(app, token, app / "runtime.err")
    yield f"{base}/v4/p-local/broken"
    stop(proc)


def client(*args, **env):
    proc = subprocess.run([sys.executable, str(DEPLOY / "test_server.py"), *map(str, args)], cwd=ROOT,
                          env=clean_env(**env), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_runtime_wants_the_bearer_token_and_wraps_answers_in_the_envelope(endpoint, token, digit_pngs,
                                                                           litert_predictor):
    png, _ = digit_pngs[0]
    body = {"image": b64(png)}
    assert requests.post(endpoint, json=body, timeout=30).status_code == 401
    assert requests.post(endpoint, json=body, timeout=30, headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}

    response = requests.post(endpoint, json=body, headers=auth, timeout=30)
    assert response.status_code == 200
    envelope = response.json()
    assert set(envelope) == {"run_id", "run_time_ms", "result"} and envelope["run_time_ms"] >= 0
    assert envelope["result"] == litert_predictor.predict_images([png])[0]

    response = requests.post(endpoint, json={"image": "%%%"}, headers=auth, timeout=30)
    assert response.status_code == 400
    assert response.json()["result"]["error"]["code"] == "invalid_input"


def test_client_prints_the_digit_and_its_confidence(endpoint, token, digit_pngs, tmp_path):
    png, label = digit_pngs[0]
    (tmp_path / "digit.png").write_bytes(png)
    proc = client(tmp_path / "digit.png", CEREBRIUM_ENDPOINT=endpoint, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^digit {label} \(confidence [01]\.\d+\)$", proc.stdout, re.MULTILINE), proc.stdout


def test_client_run_tests_passes_against_the_deployed_app(endpoint, token):
    proc = client("--run-tests", "--endpoint", endpoint, "--max-latency-ms", 60000, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("known digits", "latency", "batch", "bad input: not base64", "bad input: blank image"):
        assert re.search(rf"^PASS  {check}:", proc.stdout, re.MULTILINE), proc.stdout
    assert "FAIL" not in proc.stdout


def test_client_run_tests_fails_a_latency_bound_nothing_meets(endpoint, token):
    proc = client("--run-tests", "--endpoint", endpoint, "--max-latency-ms", 0, CEREBRIUM_API_KEY=token)
    assert proc.returncode == 1
    assert re.search(r"^FAIL  latency:", proc.stdout, re.MULTILINE), proc.stdout


def test_client_run_tests_fails_an_app_that_answers_wrongly(broken_base, token):
    proc = client("--run-tests", "--endpoint", f"{broken_base}/predict", "--max-latency-ms", 60000,
                  CEREBRIUM_API_KEY=token)
    assert proc.returncode == 1
    for check in ("known digits", "batch", "bad input: not base64", "bad input: blank image"):
        assert re.search(rf"^FAIL  {check}:", proc.stdout, re.MULTILINE), proc.stdout


def test_client_run_tests_fails_clearly_when_nothing_answers(token):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = client("--run-tests", "--endpoint", f"http://127.0.0.1:{port}/v4/p/a/predict", CEREBRIUM_API_KEY=token)
    assert proc.returncode == 1
    assert "cannot connect" in proc.stdout and "PASS" not in proc.stdout


def test_client_errors_are_one_clear_line(endpoint, broken_base, token, digit_pngs, tmp_path):
    image = tmp_path / "digit.png"
    image.write_bytes(digit_pngs[0][0])
    (tmp_path / "notes.txt").write_text("not an image")
    with socket.socket() as silent:        # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/v4/p/a/predict"
        cases = [
            ((image, "--endpoint", endpoint), {}, "HTTP 401: authentication failed; set CEREBRIUM_API_KEY"),
            ((image, "--endpoint", endpoint.replace("/predict", "/nope")), {"CEREBRIUM_API_KEY": token}, "HTTP 404"),
            ((image, "--endpoint", f"{broken_base}/crash"), {"CEREBRIUM_API_KEY": token}, "HTTP 500: RuntimeError: boom"),
            ((tmp_path / "notes.txt", "--endpoint", endpoint), {"CEREBRIUM_API_KEY": token}, "HTTP 400 invalid_image"),
            ((tmp_path / "missing.png", "--endpoint", endpoint), {"CEREBRIUM_API_KEY": token}, "cannot read"),
            ((image, "--endpoint", silent_url, "--timeout", 1), {"CEREBRIUM_API_KEY": token}, "no answer from"),
        ]
        for args, env, message in cases:
            proc = client(*args, **env)
            assert proc.returncode == 1, (args, proc.stdout)
            errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and message in errors[0], (args, proc.stderr)


def test_client_needs_an_endpoint():
    proc = client("digit.png")
    assert proc.returncode == 2 and "CEREBRIUM_ENDPOINT" in proc.stderr
