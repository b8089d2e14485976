"""The course inside the package: the wheel carries the notebooks, and they run from a copy.

`python -m build` makes the sdist and, from it, the wheel; the wheel must hold every student
notebook (notebooks/*.ipynb, not the solutions), derivations.md beside them, and the embedded
MNIST subset. A fresh virtual environment gets that wheel alone (its dependencies come from this
environment, so no index is needed), `numpyvae notebooks DIR` copies the notebooks and
derivations.md into a folder outside the repository, where every link of a notebook to a section
of the derivations names a heading of that copy, and one notebook runs there with nbclient on a
kernel of the fresh environment.
Skips, with the reason, when the `build` package is missing (`pip install build`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from derivation_links import broken_derivation_links, derivation_links

from numpyvae.course_files import (
    NotebooksExistError,
    copy_notebooks,
    derivations_source,
    notebook_sources,
)
from numpyvae.validation import InvalidTypeError, InvalidValueError

ROOT = Path(__file__).resolve().parents[1]
STUDENT_NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted(p.name for p in (ROOT / "notebooks").glob("solutions/*.ipynb"))
RUN_NOTEBOOK = "03_kl_divergence.ipynb"  # one of the quickest; it trains nothing

# Run inside the fresh environment: execute the notebook where it was copied, on a kernel of
# that environment (ipykernel's python3 kernel is the interpreter that starts it), then report
# the numpyvae that the kernel imported.
EXECUTE = """
import json, sys
import nbclient, nbformat
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import numpyvae; print(numpyvae.__file__)"))
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
print(json.dumps(nb.cells[-1].outputs[0]["text"].strip()))
"""


# ------------------------------------------------------------------------- copy_notebooks
def test_copy_notebooks_copies_the_student_notebooks_and_the_derivations(tmp_path):
    copied = copy_notebooks(tmp_path / "course")
    assert [p.name for p in copied] == [*STUDENT_NOTEBOOKS, "derivations.md"]
    assert not set(SOLUTIONS) & {p.name for p in copied}
    for path in copied:
        assert path.read_bytes() == (ROOT / "notebooks" / path.name).read_bytes()
    assert [p.name for p in notebook_sources()] == STUDENT_NOTEBOOKS
    assert derivations_source().read_bytes() == (ROOT / "derivations.md").read_bytes()
    assert broken_derivation_links(copied[:-1], copied[-1]) == []


def test_copy_notebooks_refuses_to_overwrite_unless_told(tmp_path):
    mine = tmp_path / STUDENT_NOTEBOOKS[0]
    mine.write_text("a student's own work", encoding="utf-8")
    other = tmp_path / "notes.txt"
    other.write_text("kept", encoding="utf-8")
    with pytest.raises(NotebooksExistError, match="overwrite=True") as caught:
        copy_notebooks(tmp_path)
    assert caught.value.existing == [mine]
    assert isinstance(caught.value, FileExistsError)
    assert "\n" not in str(caught.value)
    assert mine.read_text(encoding="utf-8") == "a student's own work"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])
    copied = copy_notebooks(tmp_path, overwrite=True)
    assert mine.read_bytes() == (ROOT / "notebooks" / mine.name).read_bytes()
    assert len(copied) == len(STUDENT_NOTEBOOKS) + 1 and other.read_text(encoding="utf-8") == "kept"


def test_copy_notebooks_names_a_bad_argument(tmp_path):
    with pytest.raises(InvalidTypeError, match="^dest must be a path"):
        copy_notebooks(3)
    with pytest.raises(InvalidTypeError, match="^overwrite must be True or False"):
        copy_notebooks(tmp_path, overwrite="yes")
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(InvalidValueError, match="^dest must be a folder"):
        copy_notebooks(a_file)


def test_notebooks_command_refuses_then_overwrites(tmp_path, capsys):
    from numpyvae.cli import main

    assert main(["notebooks", str(tmp_path)]) == 0
    copies = [*STUDENT_NOTEBOOKS, "derivations.md"]
    assert capsys.readouterr().out.split() == [str(tmp_path / n) for n in copies]
    assert main(["notebooks", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "--overwrite" in error and error.count("\n") == 1
    assert main(["notebooks", str(tmp_path), "--overwrite"]) == 0


# ------------------------------------------------------------------------- the wheel
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the build package is not installed: pip install build")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (found,) = out.glob("numpyvae-*.whl")
    return found


def test_wheel_carries_the_notebooks_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = sorted(n.split("/")[-1] for n in names if n.startswith("numpyvae/notebooks/"))
    assert packaged == sorted([*STUDENT_NOTEBOOKS, "derivations.md"])
    assert not any("solution" in n for n in names)
    assert "numpyvae/datasets/data/mnist_subset.npz" in names


def test_fresh_environment_runs_a_copied_notebook(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies (numpy, matplotlib, nbclient, ipykernel, ...) are those of this
    # environment, seen after the fresh one's own site-packages; its .pth files are not read,
    # so an editable install of the checkout is not.
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "parent-environment.pth").write_text("\n".join(sorted(here)) + "\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    result = subprocess.run(
        [*install, "--no-index", str(wheel)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

    course = tmp_path / "course"  # outside the repository: nothing but the installed package
    work = tmp_path / "elsewhere"
    work.mkdir()
    copy = subprocess.run(
        [venv / "bin" / "numpyvae", "notebooks", str(course)],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert copy.returncode == 0, copy.stderr
    assert sorted(p.name for p in course.glob("*.ipynb")) == STUDENT_NOTEBOOKS
    # the derivations beside them, and every link of a notebook to a section opens one of them
    copied = sorted(course.glob("*.ipynb"))
    assert (course / "derivations.md").read_bytes() == (ROOT / "derivations.md").read_bytes()
    assert sum(len(derivation_links(p)) for p in copied) > 20
    assert broken_derivation_links(copied, course / "derivations.md") == []
    found = subprocess.run(
        [python, "-c", "from numpyvae.course_files import derivations_source as d; print(d())"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert Path(found.stdout.strip()).is_relative_to(venv), found.stdout + found.stderr

    run = subprocess.run(
        [python, "-c", EXECUTE, str(course / RUN_NOTEBOOK), str(course)],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    imported = Path(json.loads(run.stdout.strip().splitlines()[-1]))
    assert imported.is_relative_to(venv), f"the kernel imported {imported}, not the wheel"
