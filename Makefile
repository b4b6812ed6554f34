# Everything a user or CI runs, from a fresh clone. Each target installs what it
# needs first (a .venv beside this file) and skips what is already up to date.
#   make serve     REST API on http://127.0.0.1:5000 (make check: the fast lane; make test: the whole suite)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps record what is installed: pip runs again only when a requirements file
# is newer than its stamp.
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo )apt-get
# The REST API's container image (Containerfile; deploy/k8s and deploy/kserve run it).
IMAGE := mnist-digits:latest

.DEFAULT_GOAL := help
.PHONY: help setup serve gradio train export confidence bench cerebrium-build check image image-test test chromium container-engine wrk clean

help:  ## list the targets
	@echo "make <target>:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 20

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "error: Python 3.10+ is needed (3.11 is tested); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV): install python3-venv (apt-get install python3-venv)" >&2; exit 1; }

$(RUNTIME): requirements.txt | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(DEV): requirements-dev.txt $(RUNTIME)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

setup: $(RUNTIME)  ## create .venv and install the runtime requirements

serve: $(RUNTIME)  ## REST API on http://127.0.0.1:5000 (HOST, PORT, MODEL_BACKEND=litert)
	$(PY) flask_deploy.py

gradio: $(RUNTIME)  ## drawing page on http://127.0.0.1:7860
	$(PY) gradio_interface.py

train: $(RUNTIME)  ## retrain the committed model (about 25 min on 2 CPU cores) and re-export it
	$(PY) train_model.py
	$(PY) export_model.py

export: $(RUNTIME)  ## LiteRT float32 and int8 exports of models/mnist_cnn.h5
	$(PY) export_model.py

confidence: $(RUNTIME)  ## the confidence study (reports/confidence_comparison.*)
	$(PY) test_model_confidence.py

bench: $(DEV) wrk  ## speed benchmarks (benchmarks/README.md)
	$(PY) benchmarks/bench_backends.py
	$(PY) benchmarks/bench_flask.py

cerebrium-build: $(RUNTIME)  ## assemble cerebrium_deploy/ for `cerebrium deploy`
	$(PY) cerebrium_deploy/build.py

check: $(DEV)  ## the fast lane (under a minute): no training, no browser, no server or script processes
	$(PY) -m pytest -m "not slow and not browser and not process"

image: container-engine  ## the REST API's image mnist-digits:latest (LiteRT; MODEL_BACKEND=keras: TensorFlow)
	deploy/build_image.sh $(IMAGE)

image-test: $(DEV) container-engine  ## build the image, run it on 127.0.0.1 and check it (about 20 s cached)
	$(PY) -m pytest tests/deploy/test_image.py -q

test: $(DEV) chromium container-engine  ## the whole test suite (installs the dev requirements, Chromium, podman)
	$(PY) -m pytest

chromium:  # Debian's Chromium drives the browser tests (Playwright never downloads one)
	@command -v chromium >/dev/null 2>&1 || { $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

# podman (runc: crun fails on this kind of host; mmdebstrap: a base where no registry
# answers), unless it or a running docker is already here.
container-engine:
	@{ command -v podman && command -v runc && command -v mmdebstrap; } >/dev/null 2>&1 || docker info >/dev/null 2>&1 || \
	  { $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends \
	      podman buildah mmdebstrap runc >/dev/null; }

wrk:  # the HTTP load generator of the benchmarks
	@command -v wrk >/dev/null 2>&1 || { $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends wrk >/dev/null; }

clean:  ## remove smoke-run outputs and caches (keeps .venv and the committed model)
	rm -rf runs .pytest_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
