"""numpyvae puts OpenBLAS's idle threads to sleep when it is imported before NumPy, and only
then; a value the user set stays (numpyvae.openblas). Each case runs in a fresh interpreter,
since the setting must come before NumPy loads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def timeout_seen(code: str, **env: str) -> str:
    """OPENBLAS_THREAD_TIMEOUT as a fresh interpreter running `code` leaves it."""
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environ.update(PYTHONPATH=str(ROOT), **env)
    script = f"{code}\nimport os\nprint(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    out = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    "code, env, expected",
    [
        ("import numpyvae", {}, "4"),  # the command line and scripts that import it first
        ("from numpyvae.train import Trainer", {}, "4"),
        ("import numpy\nimport numpyvae", {}, "None"),  # too late: left alone
        ("import numpyvae", {"OPENBLAS_THREAD_TIMEOUT": "28"}, "28"),  # the user's choice
    ],
)
def test_openblas_thread_timeout_is_set_only_before_numpy_loads(code, env, expected):
    assert timeout_seen(code, **env) == expected


def test_the_command_line_runs_with_openblas_threads_asleep():
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environ["PYTHONPATH"] = str(ROOT)
    script = (
        "import runpy, sys, os\n"
        "sys.argv = ['numpyvae', '--version']\n"
        "try:\n    runpy.run_module('numpyvae', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), 'numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "4 True"
