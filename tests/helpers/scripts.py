"""Run the helper programs in this folder in a fresh interpreter at the repo root."""
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.local_server import ROOT

HERE = Path(__file__).resolve().parent


def run_helper(name, *args, env=None, cwd=ROOT, replace_env=False, timeout=300, stdin=None):
    """Run tests/helpers/<name> with `args`; -> the CompletedProcess (text).
    `env` adds to os.environ (plus the repo on PYTHONPATH) unless replace_env is set."""
    if not replace_env:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(HERE / name), *map(str, args)], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def run_helper_json(name, *args, **kwargs):
    """run_helper, which must succeed; -> its last output line, parsed as JSON."""
    proc = run_helper(name, *args, **kwargs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
