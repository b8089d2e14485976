"""No file of the repository sends its reader to a file outside it.

The course's lecture notes, the project's brief for the Fisher auto-encoder and the full MNIST
sit beside a developer's checkout, not in it: a student with a clone, the wheel or the site has
none of them. So what a reader sees (Markdown, notebooks and their sources, docstrings, comments,
the site's sources, scripts) cites a lecture by its number and restates what it uses, names a data
folder as DIR, and never gives a path outside the repository; and every relative link of a
Markdown file or a notebook opens a file of the repository.

Two kinds of file may name the data folder beside the checkout, each for a stated reason: the
tests, which look for the full MNIST where CI puts it (shared/data/mnist next to the clone), and
the benchmarks' JSON records, which say where a measurement's data came from.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = {".md", ".py", ".ipynb", ".txt", ".toml", ".cfg", ".in", ".json", ".yml", ".yaml"}
TEXT |= {".css", ".html", ".js", ".sh", ".svg", ".csv", ""}
# Names of what lies outside the repository (spelled in pieces, so that this file has none).
OUTSIDE = re.compile(
    "|".join(
        [
            "FISHER" + "_AE",  # the project's brief for the Fisher auto-encoder
            r"shared/" + "lectures",  # the lecture notes
            r"\.\./" + "shared",  # anything beside the checkout
            r"shared/" + "data",  # the full MNIST beside the checkout
            "/" + "work/",  # the machine the project was written on
        ]
    )
)
# Where a data path beside the checkout is the point, with the reason.
ALLOWED = {
    "tests/": "the tests look for the full MNIST where CI puts it, beside the checkout",
    "benchmarks/": "a benchmark's JSON record says where its data came from",
    ".ci/run": "CI lays its clone out as the checkout is, with the shared folder beside it",
}
MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)|!\[[^\]\n]*\]\(([^)\s]+)\)")


def repository_files() -> list[Path]:
    """The files of the repository: git's (tracked, and new ones not ignored), else a walk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", "build", "dist", "runs", "node_modules", "__pycache__", ".venv", "venv"}
        paths = [
            p
            for p in ROOT.rglob("*")
            if not skip & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p)
        ]
    return sorted(p for p in paths if p.is_file() and p.suffix in TEXT)


def allowed(relative: str, line: str) -> bool:
    """A data path beside the checkout in a file whose job is to name it (see ALLOWED)."""
    names_data = re.search(r"shared/" + "data|/" + "work/" + "shared/" + "data", line)
    if relative == ".ci/run":
        return True
    if relative.startswith("benchmarks/") and relative.endswith(".json"):
        return bool(names_data)
    return relative.startswith("tests/") and relative.endswith(".py") and bool(names_data)


def test_no_file_names_a_path_outside_the_repository():
    files = repository_files()
    assert len(files) > 50 and any(p.name == "derivations.md" for p in files)
    problems = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if relative == "tests/test_repository_paths.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.split("\n"), start=1):
            m = OUTSIDE.search(line)
            if m and not allowed(relative, line):
                problems.append(f"{relative}:{number}: {m.group()} in {line.strip()[:120]}")
    assert not problems, "paths outside the repository:\n" + "\n".join(problems)
    # The reasons above are the only exceptions.
    assert set(ALLOWED) == {"tests/", "benchmarks/", ".ci/run"}


def markdown_of(path: Path) -> str:
    """The Markdown a reader sees in a file: all of a .md, the Markdown cells of a notebook."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join(
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells
            if c["cell_type"] == "markdown"
        )
    return path.read_text(encoding="utf-8")


def test_every_relative_link_opens_a_file_of_the_repository():
    """A Markdown link or image in a .md file or a notebook, relative to its file, names a file or
    folder inside the repository (a link to a URL or to an anchor of the same page is not a path;
    notebooks/derivations.md is the link to derivations.md that sits beside the notebooks)."""
    problems = []
    checked = 0
    for path in repository_files():
        if path.suffix not in (".md", ".ipynb"):
            continue
        for m in MARKDOWN_LINK.finditer(markdown_of(path)):
            target = (m.group(1) or m.group(2)).split("#")[0]
            if not target or "://" in target or target.startswith(("mailto:", "<")):
                continue
            resolved = (path.parent / target).resolve()
            checked += 1
            if not resolved.is_relative_to(ROOT.resolve()) or not resolved.exists():
                problems.append(f"{path.relative_to(ROOT)}: ({target}) is not in the repository")
    assert checked > 20
    assert not problems, "\n".join(problems)
