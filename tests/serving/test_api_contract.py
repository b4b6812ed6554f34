"""The document is the API: schemathesis, run against the real server's /openapi.json with every
check, finds nothing: no 5xx, no undocumented status or body, and every schema-valid request is
either answered or refused in a way the document describes (tests/helpers/api_contract_hooks.py).

The server runs as users start it (flask_deploy.py, granian) on 127.0.0.1; schemathesis runs as its
own CLI process, bounded by EXAMPLES per operation and RUN_LIMIT_S, and sends traffic there only.
Another SEED explores other requests: a failure prints the curl line that reproduces it.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.local_server import ROOT, serving

pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]   # server start + RUN_LIMIT_S, with room

EXAMPLES = 100          # per operation; operations without inputs stop when they run out of new requests
SEED = 1
RUN_LIMIT_S = 150       # the whole schemathesis run; about 40 s here on 2 busy cores
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    # One worker: the contract does not depend on how many there are, and each loads the model.
    env = {"MODEL_BACKEND": "keras", "WSGI_WORKERS": "1", "API_KEYS": ""}
    with serving(tmp_path_factory.mktemp("contract"), env) as (url, _, _):
        yield url


def run_schemathesis(base_url, report):
    """The schemathesis CLI against base_url -> (exit code, its output)."""
    env = {name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")}
    env.update(NO_PROXY="127.0.0.1", SCHEMATHESIS_HOOKS="helpers.api_contract_hooks",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]))
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
               f"{base_url}/openapi.json", "--url", base_url, "--checks", "all",
               # replaced by documented_refusals_only, registered by the hooks module
               "--exclude-checks", "positive_data_acceptance",
               "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--generation-database", "none",
               "--request-timeout", "20", "--max-failures", "20", "--no-color",
               "--report", "json", "--report-json-path", str(report)]
    result = subprocess.run(command, cwd=report.parent, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=RUN_LIMIT_S)
    return result.returncode, result.stdout + result.stderr


def test_schemathesis_finds_nothing(base_url, tmp_path):
    report = tmp_path / "schemathesis.json"
    code, output = run_schemathesis(base_url, report)
    summary = json.loads(report.read_text())
    failures = output[output.find("== FAILURES =="):][-8000:]   # the findings and their curl lines
    assert summary["failures"] == [] and summary["errors"] == [], failures
    assert code == 0, output[-4000:]
    operations = summary["operations"]
    assert operations["tested"] == operations["total"] >= 12 and operations["errored"] == 0, operations
    assert summary["stop_reason"] == "completed" and summary["test_cases"]["generated"] >= 4 * EXAMPLES
