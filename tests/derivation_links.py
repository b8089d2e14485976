"""The notebooks' links to derivations.md, and the anchors Jupyter gives its headings.

A notebook cites a section as a relative link, `[derivations.md §3.4](derivations.md#3.4-The-...)`,
which opens the derivations.md beside it: the copy `numpyvae notebooks DIR` puts there, or
notebooks/derivations.md in a checkout (a link to the top-level file). JupyterLab's Markdown
viewer names a heading by its text with every space replaced by "-" (case kept), so that is the
anchor a link must use. Used by tests/test_notebooks.py and tests/test_wheel.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# the anchor may hold balanced parentheses, as a CommonMark link target may: "#7.1-log-q(z|x)-from"
LINK = re.compile(r"\]\(derivations\.md(?:#((?:[^()\s]|\([^()\s]*\))*))?\)")


def jupyter_anchors(markdown: str) -> set[str]:
    """The anchor of every heading of a Markdown text, as JupyterLab names it."""
    anchors = set()
    fenced = False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            anchors.add(line.lstrip("#").strip().replace(" ", "-"))
    return anchors


def derivation_links(notebook: Path) -> list[str]:
    """The anchors of a notebook's Markdown links to derivations.md ("" for a link without one)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    links = []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            links += [m.group(1) or "" for m in LINK.finditer(text)]
    return links


def broken_derivation_links(notebooks: list[Path], derivations: Path) -> list[str]:
    """Each link of `notebooks` to a heading that `derivations` does not have, as a message."""
    anchors = jupyter_anchors(derivations.read_text(encoding="utf-8"))
    return [
        f"{notebook.name}: derivations.md#{anchor} names no heading of {derivations}"
        for notebook in notebooks
        for anchor in derivation_links(notebook)
        if anchor and anchor not in anchors
    ]
