"""Build every course notebook from its source in notebooks/src/ (notebooks/README.md).

    python notebooks/build_notebooks.py           # write the .ipynb files, outputs cleared
    python notebooks/build_notebooks.py --check   # exit 1 if a committed notebook differs

`src/NN_name.py` becomes `NN_name.ipynb`. An exercise source (one that marks its solutions)
becomes the student's notebook, `NN_name.ipynb`, and the instructor's,
`solutions/NN_name.ipynb` with "exercises" replaced by "solutions" in the name: apart, so that
a student does not open it by accident. Notebooks are stored without outputs, with null
execution counts and fixed cell ids, so a diff shows the change in the lesson.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from numpyvae.course.source import has_solutions, notebook_text, read_source

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"


def solutions_name(stem: str) -> str:
    """The file name of the solutions of the exercise notebook `stem`."""
    name = stem.replace("exercises", "solutions")
    return f"{name if name != stem else stem + '_solutions'}.ipynb"


def build_all(sources: Path = SOURCES, out: Path = HERE) -> dict[Path, str]:
    """Every generated notebook as its path and its JSON text, exactly as written to disk."""
    built = {}
    for source in sorted(sources.glob("*.py")):
        cells = read_source(source)
        if has_solutions(cells):
            built[out / f"{source.stem}.ipynb"] = notebook_text(cells, "exercise")
            built[out / "solutions" / solutions_name(source.stem)] = notebook_text(
                cells, "solution"
            )
        else:
            built[out / f"{source.stem}.ipynb"] = notebook_text(cells)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in build_all().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.relative_to(HERE))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    for name in stale:
        print(f"{verb}: notebooks/{name}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
