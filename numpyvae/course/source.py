"""The notebooks' source format: percent-format Python files, read and turned into notebooks.

A source (notebooks/README.md describes it) is a `.py` file whose cells start at `# %%` (code)
or `# %% [markdown]` (Markdown, each line behind "# "), optionally followed by
`tags=["a", "b"]`. An exercise source also holds its solutions: the lines between
`### BEGIN SOLUTION` and `### END SOLUTION`, and the cells tagged `solution-only` or
`exercise-only`. `notebook(cells, variant)` makes the student's ("exercise") or the
instructor's ("solution") notebook from the same cells. jupytext reads the same files; this
reader exists so that building the course and its release need nothing beyond Python itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
VARIANTS = ("exercise", "solution")


@dataclass
class Cell:
    """One cell of a source: its kind ("code" or "markdown"), its text and its tags."""

    kind: str
    text: str
    tags: list[str] = field(default_factory=list)


def read_source(path: str | Path) -> list[Cell]:
    """The cells of a percent-format source file, in order (the header is dropped)."""
    cells: list[Cell] = []
    lines: list[str] = []

    def close() -> None:
        if cells:
            cells[-1].text = "\n".join(_unwrap(cells[-1].kind, lines)).strip("\n")
        lines.clear()

    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        match = MARKER.match(line)
        if match is None:
            lines.append(line)
            continue
        close()
        tags = json.loads(match["tags"]) if match["tags"] else []
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise ValueError(f"{path}:{number}: tags must be a JSON list of strings, got {tags!r}")
        cells.append(Cell("markdown" if match["markdown"] else "code", "", tags))
    close()
    return cells


def _unwrap(kind: str, lines: list[str]) -> list[str]:
    if kind == "code":
        return lines
    out = []
    for line in lines:
        if line == "#" or line.startswith("# "):
            out.append(line[2:])
        elif line.strip():
            raise ValueError(f"a Markdown line must start with '# ' or be '#': {line!r}")
        else:
            out.append("")
    return out


def has_solutions(cells: list[Cell]) -> bool:
    """Whether the source is an exercise source (it marks solutions or variant-only cells)."""
    return any(BEGIN in c.text or {"solution-only", "exercise-only"} & set(c.tags) for c in cells)


def variant_cells(cells: list[Cell], variant: str) -> list[Cell]:
    """The cells of the student's ("exercise") or the instructor's ("solution") notebook."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    other = "solution-only" if variant == "exercise" else "exercise-only"
    out = []
    for cell in cells:
        if other in cell.tags:
            continue
        tags = [t for t in cell.tags if t not in ("solution-only", "exercise-only")]
        text = cell.text if cell.kind == "markdown" else _code_variant(cell.text, variant)
        out.append(Cell(cell.kind, text, tags))
    return out


def _code_variant(text: str, variant: str) -> str:
    """Keep the solution lines (markers dropped) or replace each block by a `raise`."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{BEGIN} inside a solution block:\n{text}")
            inside = True
            if variant == "exercise":
                indent = line[: len(line) - len(line.lstrip())]
                name = _enclosing_function(out)
                out.append(f"{indent}# YOUR ANSWER: replace the next line with your code")
                out.append(f'{indent}raise NotImplementedError("{name}: write your answer here")')
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END} without {BEGIN}:\n{text}")
            inside = False
        elif not inside or variant == "solution":
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}:\n{text}")
    return "\n".join(out)


def _enclosing_function(lines: list[str]) -> str:
    for line in reversed(lines):
        match = re.match(r"\s*def (\w+)\(", line)
        if match:
            return match[1]
    return "this exercise"


def notebook(cells: list[Cell], variant: str | None = None) -> dict:
    """An nbformat 4.5 notebook of `cells`, as a dict: fixed ids, no outputs, null counts.

    `variant` ("exercise" or "solution") selects one side of an exercise source. Written with
    the standard library alone, so that the release needs nothing beyond numpyvae's install;
    tests/test_course.py validates it against nbformat's schema.
    """
    if variant is not None:
        cells = variant_cells(cells, variant)
    elif has_solutions(cells):
        raise ValueError("an exercise source needs variant='exercise' or 'solution'")
    nodes = []
    for i, cell in enumerate(cells):
        node: dict = {"cell_type": cell.kind, "id": f"cell-{i:02d}", "metadata": {}}
        if cell.tags:
            node["metadata"]["tags"] = list(cell.tags)
        node["source"] = cell.text
        if cell.kind == "code":
            node.update(execution_count=None, outputs=[])
        nodes.append(node)
    return {
        "cells": nodes,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_text(cells: list[Cell], variant: str | None = None) -> str:
    """The JSON text of `notebook(cells, variant)`, exactly as nbformat writes it to disk."""
    nb = notebook(cells, variant)
    for node in nb["cells"]:  # nbformat stores a cell's text as a list of lines
        node["source"] = node["source"].splitlines(keepends=True)
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def to_source(nb: dict) -> str:
    """A notebook as percent-format source text (the reverse of `read_source`, outputs dropped)."""
    parts = ["# ruff: noqa: E501\n"]
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        suffix = f" tags={json.dumps(tags)}" if tags else ""
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            body = "\n".join(f"# {line}".rstrip() for line in source.splitlines())
            parts.append(f"# %% [markdown]{suffix}\n{body}\n")
        else:
            parts.append(f"# %%{suffix}\n{source}\n")
    return "\n".join(parts)
