"""Make the student release: the exercise notebooks, without any solution, and derivations.md.

    python -m numpyvae.course.release [--out release] [--zip] [--overwrite] [--source DIR]

Every exercise source in --source (a source that marks its solutions, notebooks/README.md)
becomes its student notebook in --out, beside derivations.md (the notebooks link to it) and a
README.md telling the student how to work and what to hand in. Without --source, a checkout's
notebooks/src is used, or, in an installed wheel (which carries no solutions), the exercise
notebooks it ships. The lesson notebooks are not copied: they come with the package, and
notebooks 2 and 4 derive some of the gradients the exercises ask for. The release is written
to a temporary folder, searched for every line of every solution (refused if one is found),
and only then moved to --out; an existing --out or zip is replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from numpyvae import course_files
from numpyvae.course.source import BEGIN, END, has_solutions, notebook_text, read_source
from numpyvae.exercises import ASSIGNMENTS

STUDENT_README = """\
# Gradient-check exercises

Open each notebook in Jupyter (`pip install notebook`, with numpyvae installed as your course
says: the wheel you were given, or `pip install -e .` in a clone) and work from top to bottom:
replace each `raise NotImplementedError(...)` in a cell marked YOUR ANSWER with your code, run
the cell, then the check below it. "Run All" always reaches the end: a check that fails, or a
syntax error in one answer, only prints FAIL for that exercise. derivations.md, beside the
notebooks, derives every gradient the exercises ask for.

Hand in each notebook itself, renamed `YOURNAME.ipynb` (or as your course's site asks; outputs
may stay in it).

How it is graded: your notebook is run on its own, without numpyvae (only Python and NumPy are
there, and `sigmoid` and `softplus`), and each answer is called on three sets of inputs of
other sizes than the notebook's; each exercise is worth one point, shared out over the sets it
passes. So write every gradient by hand with NumPy: an answer that calls numpyvae scores 0.
"""


class ReleaseError(ValueError):
    """A release that cannot be made; the message is one line."""


def solution_lines(cells) -> list[str]:
    """The code of every solution block (comments and blank lines dropped), to search for."""
    lines, inside = [], False
    for cell in cells:
        for line in cell.text.splitlines():
            stripped = line.strip()
            if stripped in (BEGIN, END):
                inside = stripped == BEGIN
            elif inside:
                code = stripped.split("#", 1)[0].strip()
                if code:
                    lines.append(code)
    return lines


def default_source() -> Path | None:
    """notebooks/src of the working folder or of the checkout numpyvae runs from, else None."""
    checkout = Path(course_files.__file__).resolve().parents[1] / "notebooks" / "src"
    for folder in (Path("notebooks/src"), checkout):
        if folder.is_dir():
            return folder
    return None


def make_release(source: Path | None, out: Path) -> list[Path]:
    """Write the release into the (new or empty) folder `out`; the paths written.

    `source` is a folder of notebook sources, or None for the exercise notebooks this
    installation ships. Raises ReleaseError when there is no exercise to release or when a
    solution line would reach it.
    """
    out.mkdir(parents=True, exist_ok=True)
    written, solutions = [], set()
    if source is not None:
        exercises = [(p, read_source(p)) for p in sorted(Path(source).glob("*.py"))]
        exercises = [(p, cells) for p, cells in exercises if has_solutions(cells)]
        if not exercises:
            raise ReleaseError(f"--source {source} holds no exercise source (with {BEGIN} markers)")
        for path, cells in exercises:
            target = out / f"{path.stem}.ipynb"
            target.write_text(notebook_text(cells, "exercise"), encoding="utf-8")
            written.append(target)
            solutions.update(solution_lines(cells))
    else:
        shipped = [p for p in course_files.notebook_sources() if p.stem in ASSIGNMENTS]
        if not shipped:
            raise ReleaseError("this installation ships no exercise notebook: pass --source")
        for path in shipped:
            written.append(Path(shutil.copyfile(path, out / path.name)))
    readme = out / "README.md"
    readme.write_text(STUDENT_README, encoding="utf-8")
    written.append(readme)
    for path in written:
        text = path.read_text(encoding="utf-8")
        leaked = sorted(line for line in solutions if line in text)
        if leaked:
            raise ReleaseError(f"{path.name} would contain solution code {leaked[0]!r}")
    written.append(Path(shutil.copyfile(course_files.derivations_source(), out / "derivations.md")))
    return written


class Refused(Exception):
    """A bad argument: the one line that says so."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise Refused(message)


def run(argv: list[str] | None = None) -> int:
    """The command: check the arguments, build in a temporary folder, then move it to --out."""
    parser = _Parser(prog="python -m numpyvae.course.release", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="folder of notebook sources")
    parser.add_argument("--out", type=Path, default=Path("release"), help="the folder to write")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing release")
    args = parser.parse_args(argv)
    source = args.source if args.source is not None else default_source()
    if args.source is not None and not args.source.is_dir():
        raise Refused(f"--source must be a folder of notebook sources, got {str(args.source)!r}")
    out = args.out
    archive = out.with_name(out.name + ".zip")
    if out.exists() and not out.is_dir():
        raise Refused(f"--out must be a folder, got the file {str(out)!r}")
    for path in (out, archive) if args.zip else (out,):
        if path.exists() and (path.is_file() or any(path.iterdir())) and not args.overwrite:
            raise Refused(f"{path} exists: pass --overwrite to replace it, or choose another --out")
    parent = out.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise Refused(f"--out {out} cannot be written ({parent} refuses new files)")
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.resolve().parent))
    try:
        written = make_release(source, staging)
        if args.zip:
            made = shutil.make_archive(str(staging), "zip", root_dir=staging)
            os.replace(made, archive)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except (ReleaseError, FileNotFoundError) as exc:
        print(f"release: {exc}: nothing written", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path in written:
        print(f"wrote {out / path.name}")
    if args.zip:
        print(f"wrote {archive}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; a refusal is one line on stderr and exit status 2."""
    try:
        return run(argv)
    except Refused as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
