"""numpyvae gives OpenBLAS's idle threads a spin of 2^18 cycles (numpyvae.openblas): through
the environment when it is imported before NumPy, by telling the loaded OpenBLAS when NumPy
came first; a value the user set stays. Each case runs in a fresh interpreter, since
OpenBLAS reads the setting when NumPy loads it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpyvae import openblas

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = str(openblas.THREAD_TIMEOUT)

needs_openblas = pytest.mark.skipif(
    openblas.loaded_openblas() is None,
    reason="NumPy here does not use an OpenBLAS whose thread timeout can be read (Linux, "
    "NumPy's wheels)",
)


def fresh(code: str, **env: str) -> list[str]:
    """The lines a fresh interpreter running `code` prints, without the user's setting
    unless `env` gives one."""
    environ = {k: v for k, v in os.environ.items() if k != openblas.VARIABLE}
    environ.update(PYTHONPATH=str(ROOT), **env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


REPORT = (
    "\nimport os, numpy\nfrom numpyvae import openblas\n"
    "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), openblas.thread_timeout())"
)


@pytest.mark.parametrize(
    "code, env, variable",
    [
        ("import numpyvae", {}, EXPECTED),  # the command line and scripts that import it first
        ("from numpyvae.train import Trainer", {}, EXPECTED),
        ("import numpy\nimport numpyvae", {}, EXPECTED),  # NumPy first: OpenBLAS is told
        ("import numpyvae", {"OPENBLAS_THREAD_TIMEOUT": "28"}, "28"),  # the user's choice
        ("import numpy\nimport numpyvae", {"OPENBLAS_THREAD_TIMEOUT": "6"}, "6"),
    ],
)
def test_the_variable_is_set_unless_the_user_set_it(code, env, variable):
    assert fresh(code + REPORT, **env)[0] == variable


@needs_openblas
@pytest.mark.parametrize(
    "first", ["import numpyvae\nimport numpy", "import numpy\nimport numpyvae"]
)
def test_the_loaded_openblas_spins_for_the_new_time_whichever_came_first(first):
    assert fresh(first + REPORT)[1] == EXPECTED


@needs_openblas
def test_the_user_setting_reaches_openblas_and_is_not_overridden():
    assert fresh("import numpy\nimport numpyvae" + REPORT, OPENBLAS_THREAD_TIMEOUT="6") == [
        "6",
        "6",
    ]


@needs_openblas
def test_products_are_right_and_threads_unchanged_after_the_workers_restart():
    module = ROOT / "numpyvae" / "openblas.py"
    code = (
        "import importlib.util\n"
        "import numpy as np\n"
        # The module alone, not the package: numpyvae is imported after the first product.
        f"spec = importlib.util.spec_from_file_location('alone', {str(module)!r})\n"
        "alone = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(alone)\n"
        "rng = np.random.default_rng(0)\n"
        "a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))\n"
        "before, workers, timeout = a @ b, alone.worker_count(), alone.thread_timeout()\n"
        "import numpyvae\n"
        "after = a @ b\n"
        "print(timeout, alone.thread_timeout(), workers, alone.worker_count(),"
        " np.array_equal(before, after))"
    )
    assert fresh(code, OPENBLAS_NUM_THREADS="2") == ["0", EXPECTED, "2", "2", "True"]


def test_the_command_line_runs_with_the_setting():
    script = (
        "import runpy, sys, os\n"
        "sys.argv = ['numpyvae', '--version']\n"
        "try:\n    runpy.run_module('numpyvae', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), 'numpy' in sys.modules)"
    )
    assert fresh(script)[-2:] == [EXPECTED, "True"]


def test_a_process_without_a_reachable_openblas_is_left_as_it_is(monkeypatch):
    monkeypatch.delenv(openblas.VARIABLE, raising=False)
    monkeypatch.setattr(openblas, "loaded_openblas_libraries", lambda: [])
    assert "numpy" in sys.modules and np is not None
    assert openblas.sleep_idle_threads() == "unavailable"
    monkeypatch.setenv(openblas.VARIABLE, "9")
    assert openblas.sleep_idle_threads() == "user"


@needs_openblas
def test_every_loaded_openblas_is_told(tmp_path):
    # A second copy of NumPy's OpenBLAS, loaded under another name before numpyvae, stands
    # for the one SciPy's wheels bring.
    second = tmp_path / "libsecond_openblas.so"
    second.write_bytes(Path(openblas.loaded_openblas()._name).read_bytes())
    code = (
        "import ctypes, numpy\n"
        f"copy = ctypes.CDLL({str(second)!r})\n"
        "before = copy.openblas_thread_timeout()\n"
        "from numpyvae import openblas\n"
        "libraries = openblas.loaded_openblas_libraries()\n"
        "print(before, len(libraries), *[lib.openblas_thread_timeout() for lib in libraries])"
    )
    assert fresh(code) == ["0", "2", EXPECTED, EXPECTED]
