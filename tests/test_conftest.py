"""tests/conftest.py itself: each test runs in a fresh empty working directory, and under CI
(CI=true) a skip for want of a tool fails while other skips stay skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SKIPS = """
import pytest

def test_needs_a_module_that_is_missing():
    pytest.importorskip("no_such_module_numpyvae_ci")

def test_needs_a_tool_that_is_missing():
    pytest.skip("chromium is not installed: run .ci/install-site-tools")

@pytest.mark.skipif(True, reason="the full MNIST files are not in /nowhere")
def test_inapplicable_here():
    pass

def test_runs():
    pass
"""


def test_each_test_starts_in_an_empty_folder_that_is_not_the_checkout():
    here = Path.cwd()
    assert here != ROOT and ROOT not in here.parents and not any(here.iterdir())
    Path("left-behind.txt").write_text("x")  # the next test must not see it


def test_the_next_test_gets_another_empty_folder():
    assert not Path("left-behind.txt").exists() and not any(Path.cwd().iterdir())


def run_pytest(folder: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_under_ci_a_skip_for_a_missing_tool_fails_and_other_skips_stay(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_skips.py").write_text(SKIPS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")

    plain = run_pytest(tmp_path, ci=None)
    assert plain.returncode == 0, plain.stdout
    assert "1 passed, 3 skipped" in plain.stdout

    ci = run_pytest(tmp_path, ci="true")
    assert ci.returncode == 1, ci.stdout
    assert "2 failed, 1 passed, 1 skipped" in ci.stdout
    assert "CI=true: this test would skip for want of a tool" in ci.stdout
    assert "no_such_module_numpyvae_ci" in ci.stdout and "chromium is not installed" in ci.stdout
    assert "SKIPPED" in ci.stdout and "full MNIST files are not in" in ci.stdout


def test_under_ci_a_module_level_importorskip_fails_too(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_module_skip.py").write_text(
        'import pytest\njax = pytest.importorskip("no_such_module_numpyvae_ci")\n\n'
        "def test_x():\n    pass\n"
    )
    (tmp_path / "test_other.py").write_text("def test_y():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    plain = run_pytest(tmp_path, ci=None)
    assert plain.returncode == 0 and "1 passed, 1 skipped" in plain.stdout, plain.stdout
    ci = run_pytest(tmp_path, ci="true")
    assert ci.returncode == 1 and "CI=true" in ci.stdout, ci.stdout
    assert "1 passed" in ci.stdout  # the other tests still ran
