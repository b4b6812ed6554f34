"""Build the REST API's image and run it on 127.0.0.1 with podman or docker.

Shared by tests/deploy/test_image.py and benchmarks/bench_image.py. The build is
deploy/build_image.sh's (what `make image` runs): one way to build it, cached
by the engine's layer cache, so a rebuild with nothing changed takes seconds.
"""
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mnist-digits:latest"   # the Makefile's IMAGE
CONTAINER_PORT = 5000           # the Containerfile's PORT and EXPOSE


def engine():
    """The engine deploy/build_image.sh builds with: podman, else a running docker, else None."""
    if os.environ.get("ENGINE"):
        return os.environ["ENGINE"]
    if shutil.which("podman"):
        return "podman"
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return "docker"
    return None


def engine_env():
    # podman on this kind of host needs runc and explicit ulimits (deploy/podman/containers.conf).
    return {**os.environ, "CONTAINERS_CONF": os.environ.get(
        "CONTAINERS_CONF", str(ROOT / "deploy" / "podman" / "containers.conf"))}


def call(*args, timeout_s=60, check=True):
    """Run `<engine> args...` -> its stripped stdout; a failure raises with the engine's own words."""
    done = subprocess.run([engine(), *map(str, args)], capture_output=True, text=True,
                          env=engine_env(), timeout=timeout_s)
    if check and done.returncode:
        raise RuntimeError(f"{engine()} {' '.join(map(str, args))} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def build(tag=IMAGE, backend="litert", timeout_s=720):
    """deploy/build_image.sh TAG -> the build's seconds; its output is raised on failure."""
    start = time.monotonic()
    done = subprocess.run([str(ROOT / "deploy" / "build_image.sh"), tag], capture_output=True, text=True,
                          env={**engine_env(), "MODEL_BACKEND": backend}, timeout=timeout_s, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"the image build failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return time.monotonic() - start


def image_bytes(tag=IMAGE):
    return int(call("image", "inspect", "--format", "{{.Size}}", tag))


def run(port, env=None, tag=IMAGE):
    """Start the image detached, its port published on 127.0.0.1:`port` -> the container id.
    As deploy/k8s/deployment.yaml runs it: a read-only root, a writable /tmp."""
    options = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
    return call("run", "-d", "--read-only", "--tmpfs", "/tmp",
                "-p", f"127.0.0.1:{port}:{(env or {}).get('PORT', CONTAINER_PORT)}", *options, tag)


def wait_ready(container, url, timeout_s=60):
    """Poll `url` until it answers 200 -> seconds waited; fail early if the container exits."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if call("inspect", "--format", "{{.State.Running}}", container) != "true":
            raise RuntimeError(f"the container exited before {url} answered:\n{logs(container)}")
        time.sleep(0.05)
    raise RuntimeError(f"no answer from {url} within {timeout_s} s:\n{logs(container)}")


def logs(container):
    done = subprocess.run([engine(), "logs", container], capture_output=True, text=True, env=engine_env())
    return (done.stdout + done.stderr)[-3000:]


def terminate(container, timeout_s):
    """SIGTERM the container's main process and wait for it -> (exit status, seconds taken)."""
    start = time.monotonic()
    call("kill", "--signal", "TERM", container)
    status = int(call("wait", container, timeout_s=timeout_s))
    return status, time.monotonic() - start


def remove(container):
    call("rm", "-f", container, check=False)
