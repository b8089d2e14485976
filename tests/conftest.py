"""Shared test settings: figures render off-screen, NumPy errors are loud, every test runs in a
fresh temporary working directory, and under CI a test skipped for want of a tool fails.

Working directory: a newcomer runs the README's main command (which writes runs/latest) and
then the tests in the same clone; a test that read or wrote the current folder would meet that
run. Each test therefore starts in its own empty temporary folder; tests find the repository's
files from Path(__file__).

CI (`CI=true`, set by .ci/run): .ci/run installs every optional tool (PyTorch, JAX, KaTeX, the
site tools, Chromium, ...), so a skip whose reason says a tool or module is missing means an
install failed, and CI must not pass while testing less. Such a skip is turned into a failure
that quotes the reason. Skips for any other reason (not POSIX, the full MNIST files absent)
stay skips.
"""

from __future__ import annotations

import os
import re

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# What the reason of a skip says when a tool or module is absent: "X is not installed",
# pytest.importorskip's "could not import 'X': No module named 'X'", "X not found on PATH", or
# the command that installs it ("pip install ...", "npm ci ...", ".ci/install-...").
MISSING_TOOL = re.compile(
    r"not installed|could not import|no module named|not found on (the )?path"
    r"|pip install|npm ci|\.ci/install",
    re.IGNORECASE,
)


def in_ci() -> bool:
    """Whether the tests run under CI (`CI=true`, as .ci/run and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session", autouse=True)
def session_working_directory(tmp_path_factory):
    """The folder that module- and session-scoped fixtures run in: not the caller's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def fresh_working_directory(tmp_path_factory, monkeypatch):
    """Run each test in a new empty folder, so none reads or writes the caller's."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def skip_reason(report) -> str | None:
    """The reason of a skipped report (not an xfail), else None."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def missing_tool(report) -> str | None:
    """Under CI, the reason of a skip for a missing tool; else None."""
    reason = skip_reason(report)
    if reason is None or not in_ci() or not MISSING_TOOL.search(reason):
        return None
    return reason


def failure_text(reason: str) -> str:
    return (
        f"CI=true: this test would skip for want of a tool that .ci/run installs ({reason}); "
        "under CI a missing tool is a failure, not a skip"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    reason = missing_tool(report)
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = failure_text(reason)


# A whole module skipped at collection (a module-level importorskip): marked failed at the
# end rather than as a collection error, which would stop the other tests from running.
MODULES_MISSING_A_TOOL: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    reason = missing_tool(outcome.get_result())
    if reason is not None:
        MODULES_MISSING_A_TOOL.append(f"{collector.nodeid}: {failure_text(reason)}")


def pytest_terminal_summary(terminalreporter):
    if MODULES_MISSING_A_TOOL:
        terminalreporter.section("modules failed under CI=true for want of a tool", red=True)
        for line in MODULES_MISSING_A_TOOL:
            terminalreporter.line(f"FAILED {line}")


def pytest_sessionfinish(session, exitstatus):
    if MODULES_MISSING_A_TOOL and exitstatus == 0:
        session.exitstatus = 1
