"""The folder of submissions: who handed in what, and the code cells of each notebook.

A submission is one student's work: a notebook `NAME.ipynb` in the folder, or a folder `NAME/`
holding one or several notebooks (one per assignment). Download names from an LMS are parsed
for the student's name and id, and the files of one id are one submission:

    Canvas: doe, jane_12345_678901_06_gradient_check_exercises.ipynb   (name_id_submission_file,
            or name_LATE_id_submission_file)
    Moodle: Jane Doe_12345_assignsubmission_file_/06_gradient_check_exercises.ipynb (a folder,
            or the same name flattened into a file name)

Notebooks are `*.ipynb` in any letter case, or `*.ipynb.json` (as some browsers save them).
Anything else is listed as not graded; a student handing in twice under one name is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CANVAS = re.compile(
    r"^(?P<name>[^_]+?)_(?:late_)?(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$", re.I
)
MOODLE = re.compile(r"^(?P<name>[^_]+?)_(?P<id>\d+)_assignsubmission_[a-z]+_?(?P<file>.*)$", re.I)
MAX_NOTEBOOK = 32 * 1024**2  # bytes: a larger file is not read


class NotebookError(ValueError):
    """A file that is not a readable notebook; the message is one line for the student."""


@dataclass(frozen=True)
class Submission:
    """One student's work: `key` (unique, safe in a file name), name, LMS id, notebooks."""

    key: str
    name: str
    student_id: str
    notebooks: tuple[Path, ...]
    entries: tuple[str, ...]  # the names in the folder it was found under


def is_notebook(path: Path) -> bool:
    """Whether `path` is named like a notebook (.ipynb in any case, or .ipynb.json)."""
    name = path.name.lower()
    return name.endswith(".ipynb") or name.endswith(".ipynb.json")


def stem(path: Path) -> str:
    """The file name without .ipynb or .ipynb.json."""
    name = path.name
    cut = len(".ipynb.json") if name.lower().endswith(".ipynb.json") else len(".ipynb")
    return name[:-cut]


def parse_name(name: str) -> tuple[str, str]:
    """(the student's name, the LMS id or "") of a download name (file stem or folder)."""
    for pattern in (MOODLE, CANVAS):
        match = pattern.match(name)
        if match:
            return match["name"].strip(), match["id"]
    return name, ""


def shown(name: str) -> str:
    """`name` as it may be printed: a control character (a terminal escape) written as \\xNN."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


def safe_key(text: str) -> str:
    """`text` as a file name: letters, digits, '-', '_' and '.', never starting with '.'."""
    key = re.sub(r"[^\w.-]+", "_", text, flags=re.ASCII).strip("._") or "student"
    return key[:80]


def find_submissions(folder: Path) -> tuple[list[Submission], list[str], list[str]]:
    """(the submissions, lines about files not graded, lines about duplicate students)."""
    groups: dict[str, dict] = {}
    skipped, duplicates = [], []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():  # it could point at the solutions, or anyone's files
            skipped.append(f"{shown(entry.name)} is a symbolic link: not graded")
            continue
        if entry.is_dir():
            name, student_id = parse_name(entry.name)
            notebooks = [
                p
                for p in sorted(entry.rglob("*"))
                if p.is_file()
                and not p.is_symlink()
                and is_notebook(p)
                and not any(part.startswith(".") for part in p.relative_to(entry).parts)
            ]
            skipped += [
                f"{shown(str(p.relative_to(folder)))} is a symbolic link: not graded"
                for p in sorted(entry.rglob("*"))
                if p.is_symlink()
            ]
            if not notebooks:
                skipped.append(f"{shown(entry.name)}/ holds no notebook: not graded")
                continue
        elif entry.is_file() and is_notebook(entry):
            name, student_id = parse_name(stem(entry))
            notebooks = [entry]
        else:
            skipped.append(f"{shown(entry.name)} is not a notebook (.ipynb): not graded")
            continue
        name = shown(name)
        key = safe_key(student_id or name)
        group = groups.setdefault(key, {"name": name, "id": student_id, "nb": [], "entries": []})
        if group["entries"] and (
            not student_id or group["name"] != name or group["id"] != student_id
        ):
            # the files of one LMS id are one submission only under one name: a file named
            # like someone else's would otherwise join theirs
            first = group["entries"][0]
            duplicates.append(
                f"student {name!r} handed in twice: {first} and {shown(entry.name)}"
                if group["name"] == name
                else f"two students share the name or id {key!r}: {first} and {shown(entry.name)}"
            )
            continue
        group["nb"] += notebooks
        group["entries"].append(shown(entry.name) + ("/" if entry.is_dir() else ""))
    found = [
        Submission(key, g["name"], g["id"], tuple(g["nb"]), tuple(g["entries"]))
        for key, g in groups.items()
    ]
    return found, skipped, duplicates


def read_cells(path: Path) -> list[str]:
    """The source of each code cell of the notebook at `path`; NotebookError if unreadable."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK:
            raise NotebookError(
                f"{shown(path.name)} is {size / 1024**2:.0f} MiB, over the 32 MiB read"
            )
        text = path.read_bytes().decode("utf-8")
        nb = json.loads(text)
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{shown(path.name)} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{shown(path.name)} is not a notebook: its JSON is broken at line {exc.lineno}"
        ) from None
    except OSError as exc:
        raise NotebookError(f"{shown(path.name)} cannot be read ({exc.strerror})") from None
    except (RecursionError, MemoryError, ValueError):  # JSON nested thousands deep
        raise NotebookError(
            f"{shown(path.name)} is not a notebook: its JSON is too deeply nested"
        ) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{shown(path.name)} is JSON but not a notebook (no list of cells)")
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"{shown(path.name)} has a code cell whose source is not text")
        cells.append(source)
    return cells
