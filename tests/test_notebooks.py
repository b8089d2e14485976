"""Every notebook in notebooks/ (and notebooks/solutions/) runs top to bottom with nbclient.

Every notebook runs on both data routes a student can take: the MNIST subset embedded in the
package (no NUMPYVAE_MNIST_DIR, an empty cache: what `load_dataset("auto")` gives a student
without the files), and the full MNIST, when it is found beside the checkout (shared/data/mnist
next to it, where CI puts it) or named by $NUMPYVAE_MNIST_DIR; without it the full route skips
with the reason (under CI=true it fails). The notebooks' asserted claims must hold on
both. Each notebook is copied alone into an empty folder and executed there, in a fresh python3
kernel running this interpreter, with the numpyvae of this checkout as installed (`pip install
-e .`; both checked from inside the kernel), so a notebook that reaches into the repository
fails. The kernel keeps its own matplotlib backend, the inline one a student gets, so that a
figure that would print as `<Figure ...>` is caught: every cell tagged "figure" must show an
image/png, and no other cell may (notebooks/README.md, rule 2); no cell may write to stderr (a
warning). The budget is 120 s per notebook on 2 cores (a limit the course promises students,
not a speed benchmark). The notebooks' own asserts carry the numerical checks; the tests here
add what the notebooks cannot see: that they are stored without outputs and match their sources.

Deselect with `-m "not notebook"` (the marker is registered in pyproject.toml).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
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
SOLUTIONS = NOTEBOOK_DIR / "solutions" / "06_gradient_check_solutions.ipynb"

pytestmark = pytest.mark.notebook

# The full MNIST: named by the environment, else beside the checkout (where CI puts it).
FULL_MNIST = Path(os.environ.get("NUMPYVAE_MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")
ROUTES = ("embedded", "full")


def _ids(paths):
    return [str(p.relative_to(NOTEBOOK_DIR)) for p in paths]


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        parts.extend(str(v) for k, v in out.get("data", {}).items() if k == "text/plain")
    return "".join(parts)


def full_mnist_or_skip() -> Path:
    """The folder of the full MNIST files; skips (fails under CI=true) when it is not there."""
    from numpyvae.datasets.mnist import mnist_available

    if FULL_MNIST.is_dir() and mnist_available(FULL_MNIST):
        return FULL_MNIST
    reason = f"the full MNIST is not in {FULL_MNIST} (set NUMPYVAE_MNIST_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def execute(
    path: Path,
    monkeypatch,
    folder: Path,
    nb: nbformat.NotebookNode | None = None,
    route: str = "embedded",
) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at `path` (or `nb`), copied alone into `folder`, with the data of
    `route` ("embedded" or "full") behind `load_dataset("auto")`; return it and the time."""
    # The kernel inherits this environment, minus what would hide a student's problems: a
    # backend chosen for it (the inline one must display the figures) and a path to the checkout.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    # The data: "auto" finds the full MNIST only where this route puts it (an empty cache)
    monkeypatch.setenv("NUMPYVAE_CACHE_DIR", str(folder / ".no-cache"))
    if route == "full":
        monkeypatch.setenv("NUMPYVAE_MNIST_DIR", str(full_mnist_or_skip()))
    else:
        monkeypatch.delenv("NUMPYVAE_MNIST_DIR", raising=False)
    # One BLAS thread: NumPy's small matrix products gain little from a second thread, and
    # threads that spin for a busy core (tests in parallel, a loaded CI runner) cost up to 5x.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(variable, "1")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / path.name)
    nb = nbformat.read(folder / path.name, as_version=4) if nb is None else nb
    # A first cell, added to this in-memory copy only, reports the kernel's interpreter and
    # the numpyvae it imports.
    probe = nbformat.v4.new_code_cell(
        "import sys\nimport numpyvae\nfrom numpyvae.datasets.mnist import mnist_available\n"
        "print(sys.executable)\nprint(numpyvae.__file__)\nprint(mnist_available())"
    )
    probe.id = "probe-interpreter"
    nb.cells.insert(0, probe)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",  # jupyter_client starts it with sys.executable (checked below)
        timeout=BUDGET_SECONDS,  # per cell
        resources={"metadata": {"path": str(folder)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    kernel_python, package, full = _outputs_text(nb.cells.pop(0)).split()
    assert full == str(route == "full"), f"the kernel saw the full MNIST: {full}, route {route}"
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), (
        f"the kernel ran {kernel_python}, not this interpreter {sys.executable}"
    )
    assert Path(package).resolve().is_relative_to(ROOT), (
        f"the kernel imported numpyvae from {package}, not from this checkout: pip install -e ."
    )
    return nb, elapsed


def _images(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    for number in ("01", "02", "03", "04", "05", "06"):
        assert any(n.startswith(number + "_") for n in names), f"no notebook {number}"
    assert EXERCISES in NOTEBOOKS
    assert any(p.parent.name == "solutions" for p in NOTEBOOKS)


@pytest.fixture(scope="module")
def course_folders(tmp_path_factory) -> dict[str, Path]:
    """One folder per data route for all the notebooks, as a student's: notebook 5 loads the
    model of 4 (trained on the same route's data)."""
    return {route: tmp_path_factory.mktemp(f"course-{route}") for route in ROUTES}


# Every notebook on the embedded route, in reading order, then every notebook on the full one.
RUNS = [(route, path) for route in ROUTES for path in NOTEBOOKS]


@pytest.mark.parametrize(
    ("route", "path"), RUNS, ids=[f"{r}-{p.relative_to(NOTEBOOK_DIR)}" for r, p in RUNS]
)
def test_notebook_runs_within_budget(route, path, monkeypatch, course_folders):
    nb, elapsed = execute(path, monkeypatch, course_folders[route], route=route)
    print(f"{path.relative_to(ROOT)} ({route} MNIST): {elapsed:.1f} s")
    assert elapsed < BUDGET_SECONDS, f"{path.name} took {elapsed:.0f} s (budget {BUDGET_SECONDS} s)"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tagged = "figure" in cell.get("metadata", {}).get("tags", [])
        images = _images(cell)
        shown = _outputs_text(cell)
        assert images == 1 if tagged else images == 0, (
            f"{path.name} cell {i} shows {images} images but is "
            f"{'' if tagged else 'not '}tagged 'figure':\n{cell.source[:300]}\n{shown[:200]}"
        )
        bare = [
            o
            for o in cell.get("outputs", [])
            if "<Figure size" in str(o.get("data", {}).get("text/plain", ""))
            and "image/png" not in o.get("data", {})
        ]
        assert not bare, f"{path.name} cell {i} prints a Figure, not an image"
        stderr = [o for o in cell.get("outputs", []) if o.get("name") == "stderr"]
        assert not stderr, f"{path.name} cell {i} writes to stderr: {stderr[0]['text'][:300]}"
    assert (
        any(_images(c) for c in nb.cells) or "exercises" in path.name or ("solutions" in path.name)
    ), f"{path.name} draws nothing"


def test_exercise_notebook_reports_missing_answers(monkeypatch, tmp_path):
    """Run as shipped, the exercise notebook completes and every check says FAIL, clearly."""
    nb, _ = execute(EXERCISES, monkeypatch, tmp_path)
    checks = [c for c in nb.cells if c.cell_type == "code" and "= check_" in c.source]
    assert len(checks) == 6  # the demonstration of a wrong answer, then the five exercises
    demo, *exercises = (_outputs_text(c) for c in checks)
    assert demo.startswith("FAIL") and "WRONG dW" in demo
    for text in exercises:
        assert text.startswith("FAIL") and "not implemented yet" in text, text
    assert "0 of 5 exercises pass" in _outputs_text(nb.cells[-2])


def test_syntax_error_in_one_answer_leaves_run_all_giving_feedback(monkeypatch, tmp_path):
    """The exercises answered (from the solutions), one with a syntax error, one check run early:
    "Run All" reaches the end, the broken answer and the early check say what to do, and the
    other answers pass."""
    solved = nbformat.read(SOLUTIONS, as_version=4)
    answers = [c.source for c in solved.cells if "answer" in c.metadata.get("tags", [])]
    nb = nbformat.read(EXERCISES, as_version=4)
    answer_cells = [c for c in nb.cells if "answer" in c.metadata.get("tags", [])]
    assert len(answers) == len(answer_cells) == 5
    for cell, answer in zip(answer_cells, answers, strict=True):
        cell.source = answer
    broken = next(c for c in answer_cells if "def relu_backward" in c.source)
    broken.source = broken.source.replace("return dout * (x > 0)", "return dout * (x > 0")
    setup = next(i for i, c in enumerate(nb.cells) if "setup" in c.metadata.get("tags", []))
    early = nbformat.v4.new_code_cell("early = check_kl_backward()")
    early.id = "early-check"
    nb.cells.insert(setup + 1, early)

    nb, _ = execute(EXERCISES, monkeypatch, tmp_path, nb=nb)  # raises if a cell errors
    by_source = {c.source: _outputs_text(c) for c in nb.cells if c.cell_type == "code"}
    assert "FAIL (kl_backward): kl_backward is not defined yet" in by_source[early.source]
    broken_says = by_source[broken.source]
    assert broken_says.startswith("FAIL: the cell defining relu_backward has a SyntaxError")
    assert "relu_backward is not defined until then" in by_source[broken.source]
    relu_check = by_source["result = check_relu_backward()"]
    assert relu_check.startswith("FAIL (relu_backward): relu_backward is not defined yet")
    assert by_source["result = check_kl_backward()"].startswith("PASS (kl_backward)")
    assert "4 of 5 exercises pass" in _outputs_text(nb.cells[-2])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} cell {i} has stored outputs"
            assert cell["execution_count"] is None, f"{path.name} cell {i} has a count"


def test_generated_notebooks_match_their_sources():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", NOTEBOOK_DIR / "build_notebooks.py"
    )
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for path, text in build.build_all().items():
        assert path.exists(), f"{path.name} is missing: run python notebooks/build_notebooks.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs from its source in notebooks/src/: edit the source, then "
            "run python notebooks/build_notebooks.py"
        )
    built = set(build.build_all())
    stray = [p.name for p in NOTEBOOKS if p not in built]
    assert not stray, f"notebooks without a source in notebooks/src/: {stray}"


def test_every_cell_that_draws_is_tagged_figure():
    """A cell that calls a plotting function carries the tag the execution test checks, and
    only such a cell (so the tags cannot drift from the code)."""
    import re

    from numpyvae.course.source import read_source

    draws = re.compile(r"\bplots?\.plot_\w+\(|\bplot_\w+\(|plt\.show\(\)|\.imshow\(")
    for source in sorted((NOTEBOOK_DIR / "src").glob("*.py")):
        for i, cell in enumerate(read_source(source)):
            if cell.kind == "code":
                drawing = bool(draws.search(cell.text))
                assert drawing == ("figure" in cell.tags), (
                    f"{source.name} cell {i} {'draws but is not' if drawing else 'is'} tagged "
                    f"'figure'{'' if drawing else ' but calls no plotting function'}"
                )


def test_notebooks_reach_nothing_outside_the_package():
    """No notebook source edits sys.path or opens a path into the repository (rule 1)."""
    from numpyvae.course.source import read_source

    for source in sorted((NOTEBOOK_DIR / "src").glob("*.py")):
        text = "\n".join(c.text for c in read_source(source) if c.kind == "code")
        for needle in ("sys.path", "../", "..\\", "shared/data", "__file__", "notebooks/"):
            assert needle not in text, f"{source.name} contains {needle!r}"


def test_links_to_the_derivations_open_their_section():
    """A notebook's Markdown links to derivations.md ("derivations.md#3.4-The-...") name a
    heading of it, as Jupyter anchors it; the checkout keeps derivations.md beside the notebooks
    (notebooks/derivations.md links to the top-level file), as `numpyvae notebooks DIR` does.
    The lessons cite the derivations by link, not only by name (notebooks/README.md, rule 6)."""
    from derivation_links import broken_derivation_links, derivation_links

    beside = NOTEBOOK_DIR / "derivations.md"
    assert beside.resolve() == (ROOT / "derivations.md").resolve(), f"{beside} is not a link"
    assert broken_derivation_links(NOTEBOOKS, beside) == []
    linked = [p.name for p in NOTEBOOKS if derivation_links(p)]
    assert len(linked) >= 8, f"only these notebooks link a section of derivations.md: {linked}"
