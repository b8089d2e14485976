"""Sphinx configuration of the course site; `docs/build.py` stages the sources and calls Sphinx.

Everything the site needs ships in PyPI packages, so it builds with no network: Sphinx's own
theme (alabaster), MyST-NB to execute and render the notebooks, autodoc for the API reference,
and MathJax 3 served from the site itself (the files of the `sphinx-mathjax-offline` package,
copied into `_static/`; Sphinx's default would load it from a CDN).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # autodoc documents this checkout, not another installed copy

project = "numpyvae"
author = "the numpyvae authors"
copyright = "numpyvae authors, MIT license"  # noqa: A001 (Sphinx's name for it)

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
]

# ---------------------------------------------------------------- Markdown and notebooks
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("NUMPYVAE_SITE_EXECUTE", "force")
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a notebook that fails to run fails the build
nb_merge_streams = True
suppress_warnings = ["myst.header"]  # notebooks may start below level 1 after their title cell

# ---------------------------------------------------------------- API reference
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}

# "derivations.md §N.M" (or "derivations.md section N.M"), or a bare "§N.M": in this project §
# always means derivations.md. A bare "section 1.3" may be a paper's and is left alone.
CITATION = re.compile(r"(?:derivations\.md,? (?:§|section )|§)(\d+(?:\.\d+)?)")
SECTIONS = set(
    re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", (ROOT / "derivations.md").read_text("utf-8"), re.M)
)
# The project's docstrings are plain text, not reStructuredText: these characters would start
# inline markup (emphasis, interpreted text, substitutions, references) and are escaped.
RST_SPECIAL = re.compile(r"([\\*`|_])")


def section_label(number: str) -> str:
    """The label that `docs/build.py` puts before the heading of derivations.md §number."""
    return "derivations-" + number.replace(".", "-")


def link_citations(line: str) -> str:
    """One plain-text docstring line as reST: escaped, with every § citation a link."""
    parts = []
    position = 0
    for m in CITATION.finditer(line):
        if m.group(1) not in SECTIONS:
            continue  # not a section of derivations.md: stays text (test_derivations reports it)
        parts.append(RST_SPECIAL.sub(r"\\\1", line[position : m.start()]))
        parts.append(f"\\ :ref:`{m.group()} <{section_label(m.group(1))}>`\\ ")
        position = m.end()
    parts.append(RST_SPECIAL.sub(r"\\\1", line[position:]))
    return "".join(parts)


def docstring_to_rest(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring: turn the plain-text docstring into safe reST, in place.

    Each paragraph becomes a line block, which keeps the docstring's line breaks and indentation
    (an indented shape or formula line would otherwise read as a block quote or a definition).
    """
    lines[:] = [f"| {link_citations(line)}" if line.strip() else "" for line in lines]


# ---------------------------------------------------------------- HTML
html_theme = "alabaster"
html_title = "numpyvae: the course"
html_favicon = "favicon.svg"
# MathJax 3 as packaged by sphinx-mathjax-offline, served from _static/mathjax (that package's
# own Sphinx hook is not declared parallel-safe, so only its files are used).
MATHJAX = importlib.util.find_spec("sphinx-mathjax-offline")
html_static_path = [str(Path(MATHJAX.origin).parent / "static")]
mathjax_path = "mathjax/tex-chtml.js"
html_theme_options = {
    "description": "A VAE in NumPy, every gradient by hand",
    "fixed_sidebar": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]


def project_bases(app, name, obj, options, bases: list) -> None:
    """autodoc-process-bases: list only the project's own base classes.

    Another library's class (object, abc.ABC, argparse.ArgumentParser) has no page here: the
    site is offline and self-contained.
    """
    bases[:] = [b for b in bases if getattr(b, "__module__", "").split(".")[0] == project]


def outside_reference(app, env, node, contnode):
    """missing-reference: a name from outside the package (numpy.ndarray, matplotlib's Figure in
    a signature) is shown as code, not as a link; a missing numpyvae name stays a broken
    reference, which tests/test_site.py reports."""
    if node.get("reftarget", "").split(".")[0] == project:
        return None
    if isinstance(contnode, nodes.Element):
        contnode["classes"] = [c for c in contnode["classes"] if c != "xref"]
    return contnode


def setup(app) -> None:
    app.connect("autodoc-process-docstring", docstring_to_rest)
    app.connect("autodoc-process-bases", project_bases)
    app.connect("missing-reference", outside_reference)
