"""Make the student release: the exercise notebooks, without any solution, in one folder.

    python -m numpyvae.course.release [--source notebooks/src] [--out release] [--zip]

Every exercise source in --source (a source that marks its solutions, notebooks/README.md)
becomes its student notebook in --out, with a README.md telling the student how to work and
what to hand in. The lesson notebooks are not copied: they come with the package, and notebooks
2 and 4 derive some of the gradients the exercises ask for. After writing, the release is
searched for every line of every solution, and refused (deleted) if one is found.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from numpyvae.course.source import (
    BEGIN,
    END,
    has_solutions,
    notebook_text,
    read_source,
)

STUDENT_README = """\
# Gradient-check exercises

Open each notebook in Jupyter (`pip install notebook`, with numpyvae installed as your course
says: the wheel you were given, or `pip install -e .` in a clone) and work from top to bottom:
replace each `raise NotImplementedError(...)` in a cell marked YOUR ANSWER with your code, run
the cell, then the check below it. "Run All" always reaches the end:
a check that fails, or a syntax error in one answer, only prints FAIL for that exercise.

Hand in the notebook itself, renamed `YOURNAME.ipynb` (one file; outputs may stay in it).

How it is graded: each answer is checked again by finite differences, on inputs of other sizes
than the notebook's, one point per exercise. Write the gradients by hand with NumPy: an answer
that calls numpyvae's own backward passes or its finite differences, that equals the finite
differences exactly, or a notebook that redefines a check, scores 0 on that exercise.
"""


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


def make_release(source: Path, out: Path) -> list[Path]:
    """Write the student notebooks of every exercise source in `source` to `out`; their paths.

    Raises ValueError when `source` holds no exercise source or when a solution line would
    reach the release (the folder is then removed).
    """
    source, out = Path(source), Path(out)
    exercises = [(p, read_source(p)) for p in sorted(source.glob("*.py"))]
    exercises = [(p, cells) for p, cells in exercises if has_solutions(cells)]
    if not exercises:
        raise ValueError(f"no exercise source (with {BEGIN} markers) in {source}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, cells in exercises:
        target = out / f"{path.stem}.ipynb"
        target.write_text(notebook_text(cells, "exercise"), encoding="utf-8")
        written.append(target)
    readme = out / "README.md"
    readme.write_text(STUDENT_README, encoding="utf-8")
    written.append(readme)
    solutions = {line for _, cells in exercises for line in solution_lines(cells)}
    for path in written:
        text = path.read_text(encoding="utf-8")
        leaked = sorted(line for line in solutions if line in text)
        if leaked:
            shutil.rmtree(out)
            raise ValueError(f"{path.name} would contain solution code {leaked[0]!r}: not released")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m numpyvae.course.release", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--source", type=Path, default=Path("notebooks/src"), help="the notebook sources"
    )
    parser.add_argument("--out", type=Path, default=Path("release"), help="the folder to write")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"--source {args.source} is not a folder (run from the repository's root)")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} exists and is not empty: choose another or remove it")
    try:
        written = make_release(args.source, args.out)
    except ValueError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    if args.zip:
        archive = shutil.make_archive(str(args.out), "zip", root_dir=args.out)
        print(f"wrote {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
