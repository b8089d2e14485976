"""The notebooks' source format (numpyvae.course.source) and the student release.

The release is made by the documented command and searched for every line of the solutions,
read from the solutions notebook (not from the source the release is made from).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from numpyvae.course.release import ReleaseError, make_release
from numpyvae.course.source import (
    Cell,
    has_solutions,
    notebook,
    notebook_text,
    read_source,
    to_source,
    variant_cells,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "src"
SOLUTIONS = ROOT / "notebooks" / "solutions" / "06_gradient_check_solutions.ipynb"
EXERCISES = ROOT / "notebooks" / "06_gradient_check_exercises.ipynb"

EXAMPLE = '''# ruff: noqa: E501
# a header line, not part of the notebook

# %% [markdown]
# # Title
#
# Some $x$ text.

# %% tags=["setup"]
import numpy as np

# %% tags=["answer"]
def f(x):
    """Doc."""
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION


# %% tags=["solution-only"]
assert f(1) == 2

# %% [markdown] tags=["exercise-only"]
# Good luck.
'''


def test_read_source_splits_cells_with_kinds_tags_and_markdown_unwrapped(tmp_path):
    path = tmp_path / "nb.py"
    path.write_text(EXAMPLE)
    cells = read_source(path)
    assert [(c.kind, c.tags) for c in cells] == [
        ("markdown", []),
        ("code", ["setup"]),
        ("code", ["answer"]),
        ("code", ["solution-only"]),
        ("markdown", ["exercise-only"]),
    ]
    assert cells[0].text == "# Title\n\nSome $x$ text."
    assert cells[1].text == "import numpy as np"
    assert has_solutions(cells)


def test_variants_replace_or_keep_the_solution_and_pick_their_cells(tmp_path):
    path = tmp_path / "nb.py"
    path.write_text(EXAMPLE)
    cells = read_source(path)
    student = variant_cells(cells, "exercise")
    teacher = variant_cells(cells, "solution")
    assert [c.text for c in student][-1] == "Good luck."
    assert "assert f(1) == 2" not in "".join(c.text for c in student)
    assert student[2].text == (
        'def f(x):\n    """Doc."""\n    # YOUR ANSWER: replace the next line with your code\n'
        '    raise NotImplementedError("f: write your answer here")'
    )
    assert teacher[2].text == 'def f(x):\n    """Doc."""\n    y = 2 * x\n    return y'
    assert teacher[-1].text == "assert f(1) == 2"
    assert all("-only" not in t for c in student + teacher for t in c.tags)
    with pytest.raises(ValueError, match="variant='exercise' or 'solution'"):
        notebook(cells)


@pytest.mark.parametrize(
    "text, error",
    [
        ("# %%\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n", "without ### END"),
        ("# %%\n### END SOLUTION\n", "without ### BEGIN"),
        ('# %% tags="setup"\nx = 1\n', None),  # not a marker: stays a code line of no cell
        ("# %% [markdown]\nnot behind a hash\n", "must start with '# '"),
    ],
)
def test_malformed_sources_are_refused(tmp_path, text, error):
    path = tmp_path / "bad.py"
    path.write_text(text)
    if error is None:
        assert read_source(path) == []  # lines before the first marker are the header
        return
    with pytest.raises(ValueError, match=error):
        variant_cells(read_source(path), "exercise")


def test_every_source_round_trips_through_its_notebook():
    for path in sorted(SOURCES.glob("*.py")):
        cells = read_source(path)
        variants = ["exercise", "solution"] if has_solutions(cells) else [None]
        for variant in variants:
            nb = notebook(cells, variant)
            again = read_source_text(to_source(nb))
            expected = variant_cells(cells, variant) if variant else cells
            assert [(c.kind, c.text, c.tags) for c in again] == [
                (c.kind, c.text, c.tags) for c in expected
            ], path.name


def read_source_text(text: str) -> list[Cell]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.py"
        path.write_text(text, encoding="utf-8")
        return read_source(path)


# ------------------------------------------------------------------ the student release


def solution_code() -> list[str]:
    """The code lines of the solutions notebook's answers that the exercise notebook lacks."""

    def answers(path: Path) -> set[str]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        lines = set()
        for cell in cells:
            if "answer" in cell.get("metadata", {}).get("tags", []):
                for line in "".join(cell["source"]).splitlines():
                    code = line.split("#", 1)[0].strip()
                    if code:
                        lines.add(code)
        return lines

    return sorted(answers(SOLUTIONS) - answers(EXERCISES))


def test_release_command_writes_the_exercises_and_no_solution(tmp_path):
    out = tmp_path / "release"
    done = subprocess.run(
        [sys.executable, "-m", "numpyvae.course.release", "--source", str(SOURCES)]
        + ["--out", str(out), "--zip"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assignments = ["06_gradient_check", "12_layers_and_backprop", "13_vae", "14_beyond"]
    expected = [f"{stem}_exercises.ipynb" for stem in assignments] + ["README.md"]
    assert names == expected + ["derivations.md"]
    assert (out / "derivations.md").read_bytes() == (ROOT / "derivations.md").read_bytes()
    texts = {}
    for path in out.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":  # search the cells' text, not its JSON escaping
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        texts[path.name] = text
    with zipfile.ZipFile(tmp_path / "release.zip") as archive:
        assert sorted(archive.namelist()) == names
    solutions = solution_code()
    assert len(solutions) >= 10  # every answer has at least one line of its own
    for line in solutions:
        for name, text in texts.items():
            if name != "derivations.md":  # derives the gradients: that is its purpose
                assert line not in text, f"solution line {line!r} is in the release's {name}"
    notebook_text = texts["06_gradient_check_exercises.ipynb"]
    assert notebook_text.count('raise NotImplementedError("') == 5
    assert "YOURNAME.ipynb" in texts["README.md"]
    assert not list(tmp_path.glob(".release-*"))  # the staging folder is gone


def test_notebooks_are_valid_nbformat_and_the_release_needs_no_nbformat(tmp_path):
    import nbformat

    for path in sorted(SOURCES.glob("*.py")):
        cells = read_source(path)
        for variant in ["exercise", "solution"] if has_solutions(cells) else [None]:
            nbformat.validate(nbformat.reads(notebook_text(cells, variant), as_version=4))
    blocked = (
        "import sys; sys.modules['nbformat'] = None; "  # an import of nbformat now fails
        "from numpyvae.course.release import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked, "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "06_gradient_check_exercises.ipynb").is_file()


def test_release_refuses_a_source_that_would_leak_a_solution(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    leaky = EXAMPLE.replace("# Good luck.", "# Hint: y = 2 * x")
    (source / "01_leaky.py").write_text(leaky)
    with pytest.raises(ReleaseError, match="would contain solution code 'y = 2 \\* x'"):
        make_release(source, tmp_path / "staging")
    command = [sys.executable, "-m", "numpyvae.course.release", "--source", str(source)]
    done = subprocess.run(
        command + ["--out", str(tmp_path / "out")], capture_output=True, text=True
    )
    assert done.returncode == 1 and "nothing written" in done.stderr
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src", "staging"]


def release(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "numpyvae.course.release", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_release_refuses_what_exists_unless_told_and_bad_paths_in_one_line(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("mine")
    (tmp_path / "a_file").write_text("mine")
    (tmp_path / "new.zip").write_text("mine")
    cases = [
        (["--out", "out"], "out exists: pass --overwrite"),
        (["--out", "new", "--zip"], "new.zip exists: pass --overwrite"),
        (["--out", "a_file"], "--out must be a folder, got the file 'a_file'"),
        (["--out", "a_file/sub"], "cannot be written"),
        (["--source", "missing", "--out", "x"], "--source must be a folder"),
        (["--zap"], "unrecognized arguments: --zap"),
    ]
    for args, words in cases:
        done = release(*args, cwd=tmp_path)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert (tmp_path / "out" / "old.txt").read_text() == "mine"
    assert (tmp_path / "new.zip").read_text() == "mine"
    done = release("--out", "out", "--zip", "--overwrite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out" / "old.txt").exists()
    assert zipfile.is_zipfile(tmp_path / "out.zip")
