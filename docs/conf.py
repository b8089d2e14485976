"""Sphinx configuration of the course site; `docs/build.py` stages the sources and calls Sphinx.

Everything the site needs ships in PyPI packages, so it builds with no network: Sphinx's own
theme (alabaster), MyST-NB to execute and render the notebooks, autodoc for the API reference,
and MathJax 3 served from the site itself (the files of the `sphinx-mathjax-offline` package,
copied into `_static/`; Sphinx's default would load it from a CDN).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
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
# Every page documents its own module's members only, so the source pages need not follow
# imports; following them, viewcode filed a module's source under the first module it met it
# from (judge's `Settings.limits` default is a sandbox.Limits), and with two reading processes
# that order, and so the source page's anchors, changed from build to build.
viewcode_follow_imported_members = False
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}

# "derivations.md §N.M" (or "derivations.md section N.M"), or a bare "§N.M": in this project §
# always means derivations.md. A bare "section 1.3" may be a paper's and is left alone. Or a
# `code span`, the docstrings' way to name code.
CITATION_OR_CODE = re.compile(
    r"(?:derivations\.md,? (?:§|section )|§)(?P<section>\d+(?:\.\d+)?)|`(?P<code>[^`\n]+)`"
)
SECTIONS = set(
    re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", (ROOT / "derivations.md").read_text("utf-8"), re.M)
)
QUALIFIED_NAME = re.compile(r"numpyvae(\.\w+)+")
# The project's docstrings are plain text, not reStructuredText: these characters would start
# inline markup (emphasis, interpreted text, substitutions, references) and are escaped.
RST_SPECIAL = re.compile(r"([\\*`|_])")


def section_label(number: str) -> str:
    """The label that `docs/build.py` puts before the heading of derivations.md §number."""
    return "derivations-" + number.replace(".", "-")


def canonical_name(dotted: str) -> str | None:
    """Where autodoc documents the object `dotted` names: under the module that defines it.

    `numpyvae.vae.LossParts`, imported there from `numpyvae.objectives`, gets the name under its
    defining module; a method defined in a base class, the base class's name. None when the name
    does not import.
    """
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        break
    else:
        return None
    name = obj.__name__
    for position, attribute in enumerate(parts[split:]):
        obj = getattr(obj, attribute, None)
        if obj is None:
            return None
        if inspect.isclass(obj) or inspect.isfunction(obj):
            name = f"{obj.__module__}.{obj.__qualname__}"
        elif position == len(parts) - split - 1:
            name = f"{name}.{attribute}"  # a property or a constant
    return name


def inline(m: re.Match) -> str:
    """reST for one citation or code span of a docstring."""
    section, code = m.group("section"), m.group("code")
    if section is not None:
        if section not in SECTIONS:  # not a section of derivations.md (test_derivations says so)
            return RST_SPECIAL.sub(r"\\\1", m.group())
        return f"\\ :ref:`{m.group()} <{section_label(section)}>`\\ "
    target = canonical_name(code) if QUALIFIED_NAME.fullmatch(code) else None
    if target is not None and "._" not in target:  # private names have no entry
        return f"\\ :py:obj:`{code} <{target}>`\\ "
    if code.strip() != code or "``" in code or code.endswith("\\"):
        return RST_SPECIAL.sub(r"\\\1", m.group())
    return f"\\ ``{code}``\\ "


# The docstrings write their formulas in plain text ("1/2 sum_i (mu_i^2 + sigma_i^2 - 1)"); on the
# site, outside code spans, the Greek names become letters and the scripts become sub- and
# superscripts ("1/2 ∑ᵢ (μᵢ² + σᵢ² − 1)"), so that a formula reads as one.
GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eps": "ε",
    "lambda": "λ", "mu": "μ", "sigma": "σ", "phi": "φ", "theta": "θ", "pi": "π", "tau": "τ",
    "rho": "ρ", "omega": "ω", "Sigma": "Σ", "Phi": "Φ", "Theta": "Θ", "Delta": "Δ",
    "Lambda": "Λ", "Omega": "Ω",
}  # fmt: skip
GREEK_NAME = re.compile(
    r"(?<![A-Za-z])(" + "|".join(sorted(GREEK, key=len, reverse=True)) + r")(?![A-Za-z])"
)
LETTERS = "A-Za-zα-ωΑ-Ω"
SCRIPT_BODY = rf"\{{[^{{}}\s]{{1,6}}\}}|\(-?\w{{1,3}}\)|-?[0-9{LETTERS}]{{1,3}}(?![\w{LETTERS}])"
# x_i, z_ij, D_in, μ_φ: a one-letter base and a short index; sum_i and prod_i as ∑ and ∏
SUBSCRIPT = re.compile(rf"(?<![\w{LETTERS}])(sum|prod|[{LETTERS}])_({SCRIPT_BODY})")
# x^2, L^T, Phi^{{-1}}, ||z||^2, (1 - t)^2
SUPERSCRIPT = re.compile(rf"(?<=[\w{LETTERS})\]|'])\^({SCRIPT_BODY})")
BIG = {"sum": "∑", "prod": "∏"}


def typeset(text: str) -> str:
    """Plain docstring text as escaped reST, its formulas with Greek letters and scripts."""
    text = GREEK_NAME.sub(lambda m: GREEK[m.group(1)], text)
    parts, position = [], 0
    scripts = sorted(
        [(m, ":sub:") for m in SUBSCRIPT.finditer(text)]
        + [(m, ":sup:") for m in SUPERSCRIPT.finditer(text)],
        key=lambda found: found[0].start(),
    )
    for m, role in scripts:
        if m.start() < position:
            continue  # overlaps the previous script
        body = RST_SPECIAL.sub(r"\\\1", m.group(m.lastindex).strip("{}()"))
        base = BIG.get(m.group(1), m.group(1)) if role == ":sub:" else ""
        parts.append(RST_SPECIAL.sub(r"\\\1", text[position : m.start()]) + base)
        parts.append(f"\\ {role}`{body}`\\ ")
        position = m.end()
    parts.append(RST_SPECIAL.sub(r"\\\1", text[position:]))
    return "".join(parts)


def docstring_line(line: str) -> str:
    """One plain-text docstring line as reST: escaped, its formulas typeset, citations and code
    names linked."""
    parts = []
    position = 0
    for m in CITATION_OR_CODE.finditer(line):
        parts += [typeset(line[position : m.start()]), inline(m)]
        position = m.end()
    parts.append(typeset(line[position:]))
    return "".join(parts)


def docstring_to_rest(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring: turn the plain-text docstring into safe reST, in place.

    Each paragraph becomes a line block, which keeps the docstring's line breaks and indentation
    (an indented shape or formula line would otherwise read as a block quote or a definition).
    A class starts with its base classes from the package (another library's, such as object or
    abc.ABC, would have no page here: the site is offline and self-contained).
    """
    lines[:] = [f"| {docstring_line(line)}" if line.strip() else "" for line in lines]
    if what == "class" and inspect.isclass(obj):
        bases = [b for b in obj.__bases__ if b.__module__.split(".")[0] == project]
        if bases:
            names = ", ".join(f":py:class:`{b.__module__}.{b.__qualname__}`" for b in bases)
            lines[:0] = [f"| Bases: {names}", ""]


# ---------------------------------------------------------------- HTML
html_theme = "alabaster"
html_title = "numpyvae: the course"
html_favicon = "favicon.svg"
# MathJax 3 as packaged by sphinx-mathjax-offline, served from _static/mathjax (that package's
# own Sphinx hook is not declared parallel-safe, so only its files are used).
MATHJAX = importlib.util.find_spec("sphinx-mathjax-offline")
html_static_path = [str(Path(MATHJAX.origin).parent / "static")]
mathjax_path = "mathjax/tex-chtml.js"
html_static_path.append(str(Path(__file__).resolve().parent / "static"))  # custom.css
templates_path = [str(Path(__file__).resolve().parent / "templates")]  # search.html
html_theme_options = {
    "description": "A VAE in NumPy, every gradient by hand",
    "fixed_sidebar": True,
    "page_width": "1200px",
    "sidebar_width": "300px",
    "show_relbars": True,  # previous and next links above and below every page
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
# downloads/: the notebooks and derivations.md as a student downloads them, not pages
exclude_patterns = ["_build", "**.ipynb_checkpoints", "downloads/**"]


def unlinked_reference(app, env, node, contnode):
    """missing-reference: which names with no entry are shown as plain code instead of a link.

    A name from outside the package (numpy.ndarray, matplotlib's Figure in a signature), and a
    code name in a docstring that has no entry of its own (a constant, say): both are code, not
    links. A missing numpyvae name anywhere else (derivations.md's "In the code:" lines) stays a
    broken reference, which tests/test_site.py reports.
    """
    outside = node.get("reftarget", "").split(".")[0] != project
    if not outside and not node.get("refdoc", "").startswith("api/"):
        return None
    if isinstance(contnode, nodes.Element):
        contnode["classes"] = [c for c in contnode["classes"] if c != "xref"]
    return contnode


def setup(app) -> None:
    app.connect("autodoc-process-docstring", docstring_to_rest)
    app.connect("missing-reference", unlinked_reference)
