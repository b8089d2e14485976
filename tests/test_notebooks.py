"""Every notebook in notebooks/ (and notebooks/solutions/) runs top to bottom with nbclient.

Each notebook executes in a fresh python3 kernel running this interpreter (checked from inside
the kernel), with numpyvae importable from the checkout, matplotlib off-screen, and no display.
The budget is 120 s per notebook on 2 cores (a limit the course promises students, not a speed
benchmark). The notebooks' own asserts carry the numerical checks; the tests here add what the
notebooks cannot see: that they are stored without outputs and match their generator.

Deselect with `-m "not notebook"` (the marker is registered in pyproject.toml).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
BUDGET_SECONDS = 120
EXERCISES = NOTEBOOK_DIR / "06_gradient_check_exercises.ipynb"

pytestmark = pytest.mark.notebook


def _ids(paths):
    return [str(p.relative_to(NOTEBOOK_DIR)) for p in paths]


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        parts.extend(str(v) for k, v in out.get("data", {}).items() if k == "text/plain")
    return "".join(parts)


def execute(path: Path, monkeypatch) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at `path` in a fresh kernel from its own folder; return it and the time."""
    # The kernel inherits this environment: the checkout on the path, figures off-screen.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # One BLAS thread: NumPy's small matrix products gain little from a second thread, and
    # threads that spin for a busy core (tests in parallel, a loaded CI runner) cost up to 5x.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(variable, "1")
    nb = nbformat.read(path, as_version=4)
    # A first cell, added to this in-memory copy only, reports the kernel's interpreter.
    probe = nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")
    probe.id = "probe-interpreter"
    nb.cells.insert(0, probe)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",  # jupyter_client starts it with sys.executable (checked below)
        timeout=BUDGET_SECONDS,  # per cell
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    kernel_python = _outputs_text(nb.cells.pop(0)).strip()
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), (
        f"the kernel ran {kernel_python}, not this interpreter {sys.executable}"
    )
    return nb, elapsed


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    for number in ("01", "02", "03", "04", "05", "06"):
        assert any(n.startswith(number + "_") for n in names), f"no notebook {number}"
    assert EXERCISES in NOTEBOOKS
    assert any(p.parent.name == "solutions" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_within_budget(path, monkeypatch):
    nb, elapsed = execute(path, monkeypatch)
    print(f"{path.relative_to(ROOT)}: {elapsed:.1f} s")
    assert elapsed < BUDGET_SECONDS, f"{path.name} took {elapsed:.0f} s (budget {BUDGET_SECONDS} s)"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_exercise_notebook_reports_missing_answers(monkeypatch):
    """Run as shipped, the exercise notebook completes and every check says FAIL, clearly."""
    nb, _ = execute(EXERCISES, monkeypatch)
    checks = [c for c in nb.cells if c.cell_type == "code" and "= check_" in c.source]
    assert len(checks) == 6  # the demonstration of a wrong answer, then the five exercises
    demo, *exercises = (_outputs_text(c) for c in checks)
    assert demo.startswith("FAIL") and "WRONG dW" in demo
    for text in exercises:
        assert text.startswith("FAIL") and "not implemented yet" in text, text
    assert "0 of 5 exercises pass" in _outputs_text(nb.cells[-2])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} cell {i} has stored outputs"
            assert cell["execution_count"] is None, f"{path.name} cell {i} has a count"


def test_generated_notebooks_match_their_generator():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", NOTEBOOK_DIR / "build_notebooks.py"
    )
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for path, text in build.build_all().items():
        assert path.exists(), f"{path.name} is missing: run python notebooks/build_notebooks.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs from notebooks/build_notebooks.py: edit the generator, then "
            "run python notebooks/build_notebooks.py"
        )
