"""Build the course site: the README, derivations.md, every notebook executed, the API reference.

    python docs/build.py [--out build/site] [--no-execute]

The pages are staged in OUT/src from the repository's own files (nothing is edited in place), then
Sphinx (configured by docs/conf.py) writes the HTML to OUT/html. Staging does what the GitHub view
of the sources cannot:

- derivations.md: its GitHub-safe math (```math fences, $`...`$) becomes MyST math; every section
  gets a label; the names in its "In the code:" and "Checked by:" lines become links to the API
  reference and to the test's source;
- the home page is for students (docs/start.md: what this is, the notebooks in reading order with
  the sections each cites, the derivations' sections, how to run the notebooks); README.md, the
  developers' page, is one click away, its links to the notebooks and derivations.md kept;
- every notebook's links to derivations.md ("derivations.md#3.4-...", which open the copy beside
  it in Jupyter) become links to the section's page and anchor, and its page starts with download
  links for the notebook (as stored, without outputs) and the derivations.md its links open;
- one page per module of the package (autodoc), whose docstrings' "derivations.md §N.M" citations
  link back to the section (docs/conf.py);
- one page per test file cited by a "Checked by:" line, with the source of each test (its
  decorators included) and links back to the sections that cite it.

Every page has previous and next links (the reading order is the toctree's: the start page, the
notebooks, the derivations, the README, the API, the tests); docs/static/custom.css lets wide
formulas and code scroll in their box and follows the reader's dark-mode setting. After Sphinx,
the search index's titles are made plain text, and _static/page-texts.js gives the search page
its excerpts when the site is opened from disk (docs/templates/search.html).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(ROOT))

from conf import canonical_name, section_label  # noqa: E402 (docs/ is put on the path just above)

HEADING = re.compile(r"^(##|###) (\d+(?:\.\d+)?)\.? ")
MATH_FENCE = re.compile(r"^( *)```math\n(.*?)\n\1```$", flags=re.S | re.M)
BACKTICK_MATH = re.compile(r"\$`([^`\n]*)`\$")
REFERENCE_LINE = re.compile(r"^(\*\*(?:In the code|Checked by):\*\*)(.*)$")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
TEST_NAME = re.compile(r"^tests/([\w/]+)\.py::(\w+)$")
MARKDOWN_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(([^)\s]+)\)")
# A section of derivations.md, cited as "derivations.md §N.M" or "§N.M"; not the lectures' own
# sections ("lecture 004, §1.2").
SECTION_MENTION = re.compile(r"(derivations\.md,? )?(?<!\d\d\d, )§(\d+(?:\.\d+)?)")
# A notebook's link to derivations.md, with the anchor Jupyter gives a heading: "3.4-The-title".
DERIVATIONS_LINK = re.compile(
    r"\[([^\]\n]+)\]\(derivations\.md(?:#(\d+(?:\.\d+)?)(?:[^()\s]|\([^()\s]*\))*)?\)"
)
# The staged copies offered for download (not pages of the site: conf.py excludes the folder).
DOWNLOADS = "downloads"


def link_sections(text: str, sections: set[str]) -> str:
    """Every mention of an existing section of derivations.md in Markdown prose, as a link.

    Headings, fenced blocks and code spans are left alone.
    """

    def link(m: re.Match) -> str:
        if m.group(2) not in sections:
            return m.group()
        return f"{{ref}}`{m.group()} <{section_label(m.group(2))}>`"

    lines = []
    fenced = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith("#"):
            pieces = re.split(r"(`[^`\n]*`)", line)  # odd pieces are code spans
            pieces[::2] = [SECTION_MENTION.sub(link, piece) for piece in pieces[::2]]
            line = "".join(pieces)
        lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------------- derivations.md
# (test file, test function) -> the sections of derivations.md whose "Checked by:" line cites it
Citers = dict[tuple[str, str], list[str]]


def test_label(path: str, function: str) -> str:
    """The label of a test's entry on its page, e.g. tests-test_vae-test_shapes."""
    return f"tests-{path.replace('/', '-')}-{function}".lower()


def reference_line(
    prefix: str, rest: str, cited_tests: dict[str, set[str]], citers: Citers, section: str
) -> str:
    """An "In the code:" or "Checked by:" line with every name a link; `citers` records that
    `section` cites each test."""

    def link(m: re.Match) -> str:
        name = m.group(1)
        test = TEST_NAME.match(name)
        if test:
            cited_tests.setdefault(test.group(1), set()).add(test.group(2))
            cited_by = citers.setdefault((test.group(1), test.group(2)), [])
            if section not in cited_by:
                cited_by.append(section)
            return f"{{ref}}`{name} <{test_label(test.group(1), test.group(2))}>`"
        if name.startswith("numpyvae."):
            return f"{{py:obj}}`{name} <{canonical_name(name) or name}>`"
        return m.group()

    return prefix + CODE_SPAN.sub(link, rest)


def stage_derivations(
    text: str, cited_tests: dict[str, set[str]], citers: Citers | None = None
) -> str:
    """derivations.md as MyST: math, section labels, linked reference lines."""
    citers = {} if citers is None else citers

    def display(m: re.Match) -> str:
        indent = m.group(1)
        # no-wrap: Sphinx would wrap a block holding \\ in a split environment, where \tag fails
        body = "\n".join(indent + line for line in ("\\[", m.group(2).strip("\n"), "\\]"))
        return f"{indent}```{{math}}\n{indent}:no-wrap:\n{body}\n{indent}```"

    sections = {m.group(2) for m in map(HEADING.match, text.split("\n")) if m}
    text = MATH_FENCE.sub(display, text)
    text = BACKTICK_MATH.sub(lambda m: f"${m.group(1)}$", text)
    lines = []
    section = ""
    for line in text.split("\n"):
        heading = HEADING.match(line)
        if heading:
            section = heading.group(2)
            lines += [f"({section_label(section)})=", ""]
        reference = REFERENCE_LINE.match(line)
        if reference:
            line = reference_line(
                reference.group(1), reference.group(2), cited_tests, citers, section
            )
        lines.append(line)
    return link_sections("\n".join(lines), sections)


# ------------------------------------------------------------------------- other pages
def link_derivations(text: str, sections: set[str]) -> str:
    """A notebook's Markdown links to derivations.md as links to the section on the site."""

    def link(m: re.Match) -> str:
        label, number = m.group(1), m.group(2)
        if number in sections:
            return f"{{ref}}`{label} <{section_label(number)}>`"
        return f"{{doc}}`{label} </derivations>`"

    return DERIVATIONS_LINK.sub(link, text)


def cell_text(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores a string or a list of lines)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def stage_notebook(source: Path, target: Path, sections: set[str]) -> None:
    """A copy of the notebook whose Markdown cells link their derivations.md citations, with
    download links for the notebook and derivations.md below its title."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = link_sections(link_derivations(cell_text(cell), sections), sections)
    downloads = (
        f"{{download}}`Download this notebook <../{DOWNLOADS}/{source.name}>` (`.ipynb`, "
        f"without outputs) and {{download}}`derivations.md <../{DOWNLOADS}/derivations.md>` "
        "into one folder: the notebook's links to the derivations open the copy beside it."
    )
    cell = {"cell_type": "markdown", "id": "site-downloads", "metadata": {}, "source": downloads}
    notebook["cells"].insert(1, cell)
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


def notebook_title(path: Path) -> str:
    """The notebook's title: its first heading, without the number ("# 7. Title" -> "Title")."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for line in cell_text(cell).split("\n") if cell["cell_type"] == "markdown" else []:
            if line.startswith("# "):
                return re.sub(r"^\d+\.\s*", "", line[2:].strip())
    return path.stem


def cited_sections(path: Path, sections: set[str]) -> list[str]:
    """The sections of derivations.md a notebook's Markdown cites, in the order of first mention."""
    cited: list[str] = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            for m in SECTION_MENTION.finditer(cell_text(cell)):
                if m.group(2) in sections and m.group(2) not in cited:
                    cited.append(m.group(2))
    return cited


def stage_start(template: str, notebooks: list[Path], derivations: str, sections: set[str]) -> str:
    """The home page: docs/start.md with the notebooks (in reading order) and sections filled in."""
    lines = []
    for path in notebooks:
        cited = sorted(cited_sections(path, sections), key=lambda n: [int(i) for i in n.split(".")])
        where = f" (derivations {', '.join(f'§{n}' for n in cited)})" if cited else ""
        number = path.stem.split("_")[0].lstrip("0")
        lines.append(f"- [{number}. {notebook_title(path)}](notebooks/{path.name}){where}")
    toc = []
    for line in derivations.split("\n"):
        m = re.match(r"^## (\d+)\. (.+)$", line)
        if m:
            toc.append(f"- {{ref}}`§{m.group(1)} {m.group(2)} <{section_label(m.group(1))}>`")
    text = template.replace("<!-- notebooks -->", "\n".join(lines))
    return link_sections(text.replace("<!-- sections -->", "\n".join(toc)), sections)


def stage_readme(text: str, pages: set[str]) -> str:
    """README.md as a page of the site: a link to a staged page stays, any other becomes text."""

    def link(m: re.Match) -> str:
        target = m.group(2)
        if "://" in target or target.startswith("#"):
            return m.group()
        if target.split("#")[0] in pages:
            return m.group()
        return m.group(1)  # a file of the repository that the site does not carry

    return MARKDOWN_LINK.sub(link, text)


def api_pages(src: Path) -> list[str]:
    """One page per public module of the package; returns their names."""
    import numpyvae

    names = ["numpyvae"]
    for info in pkgutil.walk_packages(numpyvae.__path__, "numpyvae."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    (src / "api").mkdir()
    for name in names:
        page = [f"# `{name}`", "", "```{eval-rst}", f".. automodule:: {name}"]
        page += ["   :members:", "   :undoc-members:", "   :ignore-module-all:", "```", ""]
        (src / "api" / f"{name}.md").write_text("\n".join(page), encoding="utf-8")
    index = ["# API reference", "", "Generated from the docstrings; a cited section of"]
    index += ["derivations.md links to its derivation.", "", "```{toctree}", ":maxdepth: 1", ""]
    index += [*names, "```", ""]
    (src / "api" / "index.md").write_text("\n".join(index), encoding="utf-8")
    return names


def test_source(source: str, node: ast.FunctionDef) -> str:
    """A test function's source with its decorators (ast's segment starts at the `def`)."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return "\n".join(source.split("\n")[first - 1 : node.end_lineno])


def test_pages(
    src: Path, cited_tests: dict[str, set[str]], citers: Citers | None = None
) -> list[str]:
    """A page per cited test file with the source of every test function it defines, each
    linked back to the sections of derivations.md that cite it."""
    citers = {} if citers is None else citers
    (src / "tests").mkdir()
    names = []
    for path in sorted(cited_tests):
        source_path = ROOT / "tests" / f"{path}.py"
        if not source_path.is_file():
            continue
        source = source_path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        page = [f"# `tests/{path}.py`", "", docstring.split("\n\n")[0], ""]
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                page += [f"({test_label(path, node.name)})=", f"## `{node.name}`", ""]
                back = [
                    f"{{ref}}`§{n} <{section_label(n)}>`" for n in citers.get((path, node.name), [])
                ]
                if back:
                    page += [f"Checks derivations.md {', '.join(back)}.", ""]
                page += ["```python", test_source(source, node), "```", ""]
        (src / "tests" / f"{path}.md").write_text("\n".join(page), encoding="utf-8")
        names.append(path)
    index = ["# The tests cited by derivations.md", "", "```{toctree}", ":maxdepth: 1", ""]
    (src / "tests" / "index.md").write_text("\n".join([*index, *names, "```", ""]), "utf-8")
    return names


def stage(src: Path) -> None:
    """Write every page of the site into the empty folder src."""
    cited_tests: dict[str, set[str]] = {}
    citers: Citers = {}
    derivations = (ROOT / "derivations.md").read_text(encoding="utf-8")
    staged = stage_derivations(derivations, cited_tests, citers)
    (src / "derivations.md").write_text(staged, "utf-8")
    sections = {m.group(2) for m in map(HEADING.match, derivations.split("\n")) if m}

    (src / "notebooks").mkdir()
    (src / DOWNLOADS).mkdir()
    shutil.copyfile(ROOT / "derivations.md", src / DOWNLOADS / "derivations.md")
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for notebook in notebooks:
        stage_notebook(notebook, src / "notebooks" / notebook.name, sections)
        shutil.copyfile(notebook, src / DOWNLOADS / notebook.name)
    index = ["# The notebooks", "", "Executed when the site was built.", "", "```{toctree}"]
    index += [":maxdepth: 1", "", *(n.stem for n in notebooks), "```", ""]
    (src / "notebooks" / "index.md").write_text("\n".join(index), encoding="utf-8")

    api_pages(src)
    test_pages(src, cited_tests, citers)

    pages = {"derivations.md"} | {f"notebooks/{n.name}" for n in notebooks}
    readme = stage_readme((ROOT / "README.md").read_text(encoding="utf-8"), pages)
    readme = re.sub(r"\A# .*", "# The README: for developers and instructors", readme)
    (src / "readme.md").write_text(link_sections(readme, sections), encoding="utf-8")
    template = (DOCS / "start.md").read_text(encoding="utf-8")
    home = stage_start(template, notebooks, derivations, sections)
    # The reading order, which the previous and next links follow.
    toctree = ["", "```{toctree}", ":hidden:", "", "notebooks/index", "derivations", "readme"]
    toctree += ["api/index", "tests/index", "```", ""]
    (src / "index.md").write_text(home + "\n".join(toctree), encoding="utf-8")


def plain_title(title: str) -> str:
    """A title as plain text: formatting commands and braces dropped, other commands by name
    ("\\mathcal{L}_K" -> "L_K", "\\log p" -> "log p"), for the search index, which would show
    a heading's formula as its TeX source."""
    formatting = r"\\(?:math\w+|operatorname|text\w*|left|right|[Bb]ig+[lr]?)\b\s*"
    title = re.sub(formatting, "", title)
    return re.sub(r"\\([A-Za-z]+)", r"\1", title).translate(str.maketrans("", "", "{}$"))


def plain_search_titles(html: Path) -> None:
    """Rewrite the titles of the built search index (searchindex.js) as plain text."""
    path = html / "searchindex.js"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("(") + 1, text.rindex(")")
    index = json.loads(text[start:end])
    index["titles"] = [plain_title(title) for title in index["titles"]]
    if "alltitles" in index:
        index["alltitles"] = {plain_title(k): v for k, v in index["alltitles"].items()}
    path.write_text(text[:start] + json.dumps(index, ensure_ascii=False) + text[end:], "utf-8")


def offline_search(html: Path) -> None:
    """_static/page-texts.js: the main part of every page, from which the search page cuts its
    excerpts when the site is opened from disk (docs/templates/search.html)."""
    pages = {}
    for path in sorted(html.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        start = text.find('<div class="body" role="main">')
        end = text.find('<div class="related bottom">', start)
        if 0 <= start < end:
            pages[path.relative_to(html).as_posix()] = text[start:end]
    script = f"window.NUMPYVAE_PAGES = {json.dumps(pages, ensure_ascii=False)};\n"
    (html / "_static" / "page-texts.js").write_text(script, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="%(default)s")
    parser.add_argument(
        "--no-execute", action="store_true", help="render the notebooks without running them"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    src, html = out / "src", out / "html"
    for folder in (src, html):
        if folder.exists():
            shutil.rmtree(folder)
    src.mkdir(parents=True)
    stage(src)
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    env.pop("MPLBACKEND", None)  # it would override the kernel's inline backend: no figures
    # Sphinx runs two notebooks at once (-j 2); one BLAS thread each keeps them from fighting
    # over the two cores (a user's own setting is kept).
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(variable, "1")
    env["NUMPYVAE_SITE_EXECUTE"] = "off" if args.no_execute else "force"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(DOCS), "-j", "2", "-q"]
    result = subprocess.run([*command, str(src), str(html)], env=env, check=False)
    if result.returncode == 0:
        plain_search_titles(html)
        offline_search(html)
        print(f"site: {html / 'index.html'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
