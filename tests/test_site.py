"""The course site in a real browser: headless Chromium loads every page of the built site.

On every page: no console error, no failed local request, every formula typeset by MathJax (no
raw TeX left, no MathJax error element), every image loaded with a non-zero size, every link into
the site resolves (page and anchor), and no cross-reference was left unresolved by the build. On
the notebook pages every figure of the executed notebook is shown. The derivations page links to
the API and the tests, and the API pages link back to the derivations.

The site reads as a course: the home page is for students (the notebooks in reading order, the
derivations, how to run them; the README one click away); previous and next links lead from the
home page through every page exactly once; at 1280 px no page scrolls sideways and no formula,
code block, output, table or image is cut off (each fits its column or scrolls inside its own
box); every notebook page offers its .ipynb and derivations.md for download, and both downloads
are the repository's files; the notebooks link to their sections; every test page keeps the
decorators of its tests and links back to the sections that cite them; no title (tab, navigation,
search index) shows raw TeX; and the pages follow the reader's dark-mode setting.

The site is built by `python docs/build.py` into a temporary folder (about two minutes: the
notebooks run), or taken from $NUMPYVAE_SITE (a built `html` folder). Needs Debian's chromium and
the playwright client (which drives the installed browser and downloads none), and the packages of
the `site` extra to build: `.ci/install-site-tools` installs them all; without them the test skips.
Screenshots of the home page (light and dark), the derivations (its top and the long §12),
a notebook and an API page go to build/site-screenshots/. The last test checks the staged
derivations.md (every formula, label and link) without a browser or a build.
"""

from __future__ import annotations

import ast
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "site-screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What the page reports after MathJax has finished: formulas, errors, images, links, ids.
INSPECT_PAGE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const outsideCode = (node) => !node.closest("pre, code, script, style, .highlight");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const text = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (outsideCode(node.parentElement) && !node.parentElement.closest("mjx-container")) {
      text.push(node.textContent);
    }
  }
  const maths = [...document.querySelectorAll(".math")];
  const visible = (el) => el.getClientRects().length > 0;
  // What may be wider than the column: each must fit it or scroll inside its own box.
  const WIDE = "div.body pre, div.body div.math, div.body mjx-container[display='true'], " +
    "div.body table, div.body img";
  const body = document.querySelector("div.body");
  const column = body ? body.getBoundingClientRect().right : window.innerWidth;
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  // a formula's container inside a box that scrolls within the column is not cut off
  const insideScrollingBox = (el) => {
    for (let box = el.parentElement; box && box !== body; box = box.parentElement) {
      if (scrolls(box) && box.getBoundingClientRect().right <= column + 1) return true;
    }
    return false;
  };
  return {
    formulas: maths.length,
    untypeset: maths.filter((m) => !m.querySelector("mjx-container"))
      .map((m) => m.outerHTML.slice(0, 200)),
    mathjaxErrors: [...document.querySelectorAll("mjx-merror, .MathJax_Error")].map((e) =>
      (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 200)),
    text: text.join(" "),
    images: [...document.querySelectorAll("img")].map((img) => ({
      src: img.getAttribute("src"),
      loaded: img.complete && img.naturalWidth > 0,
      width: img.getBoundingClientRect().width,
      height: img.getBoundingClientRect().height,
      output: img.closest(".cell_output") !== null,
    })),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    code: [...document.querySelectorAll("div.body pre")].map((p) => p.textContent).join("\\n"),
    title: document.title,
    navigation: [...document.querySelectorAll("div.related a, div.sphinxsidebar a")]
      .map((a) => a.textContent),
    previous: ["top", "bottom"].map((where) => [...document.querySelectorAll(
      `div.related.${where} a[title="Previous document"]`)].filter(visible).map((a) => a.href)),
    next: ["top", "bottom"].map((where) => [...document.querySelectorAll(
      `div.related.${where} a[title="Next document"]`)].filter(visible).map((a) => a.href)),
    downloads: [...document.querySelectorAll("a.download")].map((a) => a.href),
    scripts: document.querySelectorAll("div.body sub, div.body sup").length,
    pageWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
    cut: [...document.querySelectorAll(WIDE)].filter(visible).filter((el) => {
      const overflow = getComputedStyle(el).overflowX;
      const wider = el.scrollWidth > el.clientWidth + 1;
      const right = el.getBoundingClientRect().right;
      if (wider && (overflow === "hidden" || overflow === "clip")) return true;  // cut off
      if (scrolls(el) && right <= column + 1) return false;  // scrolls inside its own box
      return (wider || right > column + 1) && !insideScrollingBox(el);
    }).map((el) => `${el.tagName.toLowerCase()}.${el.className}: ` +
      (el.textContent || el.getAttribute("src") || "").trim().slice(0, 80)),
    unresolved: [...document.querySelectorAll(".xref")].filter((x) => !x.closest("a"))
      .map((x) => x.textContent),
    ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
  };
}"""
# TeX that MathJax did not typeset, in the text outside code: \( \[ delimiters or $...$ with a
# control word inside.
RAW_TEX = re.compile(r"\\[(\[]|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site; remembers every request answered with an error status."""

    failures: list[str] = []

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        self.failures.append(f"{code} {self.path}")
        super().send_error(code, message, explain)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).is_file():
        pytest.skip("Debian's chromium is not installed: run .ci/install-site-tools")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright client is not installed: run .ci/install-site-tools")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory) -> Path:
    """The built site's html folder: $NUMPYVAE_SITE, or built here by docs/build.py."""
    if os.environ.get("NUMPYVAE_SITE"):
        html = Path(os.environ["NUMPYVAE_SITE"]).resolve()
        assert (html / "index.html").is_file(), f"no index.html in $NUMPYVAE_SITE={html}"
        return html
    for module in ("sphinx", "myst_nb"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[site]'")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "html"


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def figures_in(notebook: Path) -> tuple[int, int]:
    """An executed notebook's image outputs, and its figures that reached it only as text.

    The second count catches a figure displayed without an image (its text/plain
    "<Figure size ...>" alone), which the page would then not show either.
    """
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    images = sum(1 for o in outputs if any(k.startswith("image/") for k in o.get("data", {})))
    lost = sum(
        1
        for o in outputs
        if "".join(o.get("data", {}).get("text/plain", "")).startswith("<Figure size")
        and not any(k.startswith("image/") for k in o["data"])
    )
    return images, lost


def formulas_in_derivations() -> int:
    """How many formulas derivations.md holds, found as its own test finds them."""
    from test_derivations import math_blocks  # tests/ is on the path when pytest runs

    return sum(1 for _, _, line in math_blocks() if line > 0)


@pytest.fixture(scope="module")
def pages(browser, site, server) -> dict[str, dict]:
    """Every HTML page of the site, loaded once: what INSPECT_PAGE saw, plus the page's events."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    notebooks = sorted(p.relative_to(site).as_posix() for p in site.glob("notebooks/0*.html"))
    shots = {
        "index.html": "home",
        "derivations.html": "derivations",
        "api/numpyvae.vae.html": "api",
    }
    # a long derivation section: its top, scrolled to, after the page's own shot
    long_section = ("derivations.html", "derivations-12-3", "derivations-12")
    shots.update({notebooks[0]: "notebook"} if notebooks else {})
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()  # one tab for all: a new one per page costs a renderer each time
    events: list[str] = []
    page.on("console", lambda m: events.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda err: events.append(f"page error: {err}"))
    # A request the next navigation cancels (the favicon, often) is ERR_ABORTED, not a failure;
    # a missing file is a 404 and shows up as a response and in the server's failures.
    page.on(
        "requestfailed",
        lambda r: (
            r.failure != "net::ERR_ABORTED"
            and events.append(f"request failed ({r.failure}): {r.url}")
        ),
    )
    page.on("response", lambda r: r.status >= 400 and events.append(f"{r.status} {r.url}"))
    results = {}
    for path in sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")):
        events.clear()
        page.goto(server + path, wait_until="load")
        results[path] = page.evaluate(INSPECT_PAGE)
        results[path]["events"] = [e for e in events if not e.startswith("console info")]
        if shots.get(path) == "notebook":  # the shot shows the page's first figure
            page.evaluate("document.querySelector('.cell_output img')?.scrollIntoView()")
        if path in shots:
            page.screenshot(path=str(SCREENSHOTS / f"{shots[path]}.png"), full_page=False)
        if path == long_section[0]:
            page.evaluate(f"document.getElementById('{long_section[1]}').scrollIntoView()")
            page.screenshot(path=str(SCREENSHOTS / f"{long_section[2]}.png"), full_page=False)
    context.close()
    return results


def test_every_page_loads_without_errors(pages, server):
    problems = []
    for path, seen in pages.items():
        errors = [e for e in seen["events"] if not e.startswith(("console warning", "console log"))]
        problems += [f"{path}: {e}" for e in errors]
    problems += [f"server: {f}" for f in QuietHandler.failures]
    assert len(pages) > 20
    assert not problems, "\n".join(problems)


def test_every_formula_is_typeset(pages):
    problems = []
    for path, seen in pages.items():
        problems += [f"{path}: not typeset: {m}" for m in seen["untypeset"]]
        problems += [f"{path}: MathJax error: {m}" for m in seen["mathjaxErrors"]]
        problems += [f"{path}: raw TeX: {m.group()}" for m in RAW_TEX.finditer(seen["text"])]
    assert not problems, "\n".join(problems[:50])
    # Every formula of derivations.md is on its page (1,287 on 2026-11-22).
    assert pages["derivations.html"]["formulas"] == formulas_in_derivations() > 1000


def test_every_notebook_shows_its_figures(pages, site):
    notebooks = {p: v for p, v in pages.items() if re.fullmatch(r"notebooks/\d\d_\w+\.html", p)}
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert {Path(p).stem for p in notebooks} == {s.stem for s in sources}
    problems = []
    for path, seen in pages.items():
        problems += [
            f"{path}: image {image['src']} not shown ({image})"
            for image in seen["images"]
            if not (image["loaded"] and image["width"] > 0 and image["height"] > 0)
        ]
    figures_total = 0
    for path, seen in notebooks.items():
        executed = site.parent / "jupyter_execute" / path.replace(".html", ".ipynb")
        expected, lost = figures_in(executed)
        shown = sum(1 for image in seen["images"] if image["output"])
        if shown != expected:
            problems.append(f"{path}: {shown} figures shown, the executed notebook has {expected}")
        if lost:
            problems.append(f"{path}: {lost} figures displayed as text only (no image output)")
        figures_total += expected
    assert not problems, "\n".join(problems)
    assert figures_total >= len(notebooks)  # the course is not a text-only one


def test_every_link_resolves(pages, server, site):
    ids = {path: set(seen["ids"]) for path, seen in pages.items()}
    problems = []
    for path, seen in pages.items():
        problems += [f"{path}: unresolved reference {x}" for x in seen["unresolved"]]
        for link in seen["links"]:
            if not link.startswith(server):
                continue  # the site has no links out except the README's own
            url, fragment = urldefrag(link)
            target = unquote(urlparse(url).path).lstrip("/") or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (site / target).is_file():
                problems.append(f"{path}: link to a missing page {link}")
            elif fragment and target in ids and unquote(fragment) not in ids[target]:
                problems.append(f"{path}: link to a missing anchor {link}")
    assert not problems, "\n".join(problems[:50])


def test_derivations_and_api_link_both_ways(pages, server):
    def links(path: str, pattern: str) -> list[str]:
        return [link for link in pages[path]["links"] if re.search(pattern, link)]

    # A section's "In the code:" names go to the API pages, its "Checked by:" tests to theirs.
    assert len(links("derivations.html", r"/api/numpyvae\.[\w.]+\.html#numpyvae\.")) > 50
    assert len(links("derivations.html", r"/tests/test_\w+\.html#tests-")) > 20
    # Docstrings that cite "derivations.md §N.M" link to that section.
    back = [p for p in pages if p.startswith("api/") and links(p, r"derivations\.html#derivations")]
    assert len(back) > 10, back
    # The home page reaches the derivations and every notebook.
    assert links("index.html", r"/derivations\.html$")
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    linked = {
        Path(urlparse(u).path).stem for u in links("index.html", r"/notebooks/\d\d_\w+\.html$")
    }
    assert linked == notebooks


def test_home_page_is_for_students_and_the_readme_one_click_away(pages):
    """The home page says what this is, the reading order and how to run the notebooks, and
    none of the developers' material; the README is a page of its own, linked from the home
    page, with every section (the students' and instructors' guides among them)."""
    home = " ".join(pages["index.html"]["text"].split())
    for heading in ("How to read it", "Run the notebooks yourself", "For instructors and devel"):
        assert heading in home
    assert "Two commands" not in home and ".ci/run" not in home
    assert [u for u in pages["index.html"]["links"] if urlparse(u).path.endswith("/readme.html")]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    titles = [t.replace("`", "") for t in re.findall(r"^## (.+)$", readme, flags=re.M)]
    assert {"For students", "For instructors"} <= set(titles)
    page = " ".join(pages["readme.html"]["text"].split())
    assert [t for t in titles if t not in page] == []


def course_pages(pages: dict[str, dict]) -> set[str]:
    """The pages of the reading order: home, notebooks, derivations, README, API, tests."""
    top = {"index.html", "derivations.html", "readme.html"}
    return {p for p in pages if p in top or p.split("/")[0] in ("notebooks", "api", "tests")}


def test_previous_and_next_lead_through_every_page_once(pages, server):
    """From the home page, "next" visits every page of the course exactly once, and "previous"
    leads back; both links are shown above and below each page."""
    course = course_pages(pages)
    order, path = [], "index.html"
    while path is not None:
        assert path not in order, f"the next links loop at {path}"
        order.append(path)
        top, bottom = pages[path]["next"]
        assert top == bottom, f"{path}: next above {top}, below {bottom}"
        path = urlparse(top[0]).path.lstrip("/") if top else None
    assert set(order) == course, sorted(course ^ set(order))
    for before, after in zip(order, order[1:], strict=False):
        top, bottom = pages[after]["previous"]
        assert top == bottom and urlparse(top[0]).path.lstrip("/") == before, after
    assert pages["index.html"]["previous"] == [[], []]
    # the reading order: the notebooks first, in order, then the derivations
    notebooks = [p for p in order if re.fullmatch(r"notebooks/\d\d_\w+\.html", p)]
    assert notebooks == sorted(notebooks) and len(notebooks) >= 9
    assert order.index(notebooks[-1]) < order.index("derivations.html")


def test_nothing_is_cut_off_or_scrolls_the_page_sideways(pages):
    """At 1280 px: the page is as wide as the window, and every formula, code block, output,
    table and image fits the text column or scrolls inside its own box."""
    problems = []
    for path, seen in pages.items():
        if seen["pageWidth"] > seen["viewportWidth"]:
            problems.append(f"{path}: the page is {seen['pageWidth']} px wide")
        problems += [f"{path}: cut off: {c}" for c in seen["cut"]]
    assert not problems, "\n".join(problems[:50])
    # the widest formulas of derivations.md are there, and they scroll rather than overflow
    assert pages["derivations.html"]["formulas"] > 1000


def test_every_notebook_page_offers_the_notebook_and_the_derivations(pages, server):
    """A download link for the notebook (the repository's file, no outputs) and one for the
    derivations.md its links open; both downloads are byte for byte the repository's files."""
    problems = []
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        downloads = pages[f"notebooks/{source.stem}.html"]["downloads"]
        wanted = {source.name: source, "derivations.md": ROOT / "derivations.md"}
        for name, original in wanted.items():
            found = [u for u in downloads if unquote(urlparse(u).path).endswith("/" + name)]
            if not found:
                problems.append(f"{source.stem}: no download link for {name}")
                continue
            with urllib.request.urlopen(found[0]) as response:  # noqa: S310 (the local server)
                if response.read() != original.read_bytes():
                    problems.append(f"{source.stem}: the download {found[0]} is not {name}")
    assert not problems, "\n".join(problems)


def test_notebooks_link_their_sections_of_the_derivations(pages):
    """Every notebook that cites a section by a link to derivations.md links it on the site."""
    from derivation_links import derivation_links

    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if derivation_links(source):
            seen = pages[f"notebooks/{source.stem}.html"]["links"]
            assert [u for u in seen if "/derivations.html#derivations-" in u], source.name


def test_test_pages_keep_decorators_and_link_back_to_their_sections(pages):
    """Each cited test is shown with its decorators (a parametrized test with its parameters),
    and its page links to every section of derivations.md whose "Checked by:" line cites it."""
    pytest.importorskip("docutils", reason="docs/conf.py needs docutils: pip install -e '.[site]'")
    build = site_build()
    cited: dict[str, set[str]] = {}
    citers: dict[tuple[str, str], list[str]] = {}
    build.stage_derivations((ROOT / "derivations.md").read_text("utf-8"), cited, citers)
    problems, decorated = [], 0
    for (path, function), sections in citers.items():
        page = pages.get(f"tests/{path}.html")
        if page is None:
            problems.append(f"no page for tests/{path}.py")
            continue
        for section in sections:
            anchor = f"/derivations.html#{build.section_label(section)}"
            if not [u for u in page["links"] if u.endswith(anchor)]:
                problems.append(f"tests/{path}.py::{function} does not link back to §{section}")
        source = (ROOT / "tests" / f"{path}.py").read_text(encoding="utf-8")
        lines = source.split("\n")
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == function:
                for decorator in node.decorator_list:
                    decorated += 1
                    first = lines[decorator.lineno - 1].strip()  # "@pytest.mark.parametrize("
                    if first not in page["code"]:
                        problems.append(f"tests/{path}.py::{function}: {first} is not shown")
    assert not problems, "\n".join(problems[:50])
    assert decorated > 0  # some cited tests are parametrized


def test_no_title_shows_raw_tex(pages, site):
    """Tab titles, the navigation's links and the search index's titles are plain text."""
    tex = re.compile(r"\\[A-Za-z]+|\$")
    problems = []
    for path, seen in pages.items():
        if tex.search(seen["title"]):
            problems.append(f"{path}: tab title {seen['title']!r}")
        problems += [f"{path}: navigation {t!r}" for t in seen["navigation"] if tex.search(t)]
    text = (site / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    titles = [*index["titles"], *index.get("alltitles", {})]
    problems += [f"search index title {t!r}" for t in titles if tex.search(t)]
    assert not problems, "\n".join(problems[:50])


def test_docstring_formulas_are_typeset(pages):
    """The docstrings' plain-text formulas ("1/2 sum_i (mu_i^2 + sigma_i^2 - ...)") show on the
    API pages with Greek letters and sub- and superscripts (docs/conf.py, typeset)."""
    api = {p: v for p, v in pages.items() if p.startswith("api/")}
    assert sum(v["scripts"] for v in api.values()) > 100
    kl = " ".join(pages["api/numpyvae.posteriors.diagonal_gaussian.html"]["text"].split())
    assert "∑" in kl and "μ" in kl and "σ" in kl
    raw = re.compile(r"\b(?:sum|mu|sigma)_[a-z]\b|\b(?:mu|sigma)\^2")
    left = {p: raw.findall(" ".join(v["text"].split())) for p, v in api.items()}
    assert {p: found for p, found in left.items() if found} == {}


def test_search_shows_excerpts_when_opened_from_disk(browser, site):
    """Opened from disk (file://), as a student opens build/site/html/index.html, the search lists
    each result with an excerpt: Sphinx fetches a result's page for it, which a browser refuses
    under file://, so docs/templates/search.html answers from _static/page-texts.js."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto((site / "search.html").as_uri() + "?q=reparameterization")
    page.wait_for_selector("#search-results li p.context", timeout=60_000)
    page.wait_for_timeout(1000)  # the excerpts arrive one by one
    results = page.eval_on_selector_all("#search-results li", "items => items.length")
    excerpts = page.eval_on_selector_all(
        "#search-results li p.context", "items => items.map((p) => p.textContent)"
    )
    context.close()
    assert results >= 3 and len(excerpts) >= results // 2, (results, len(excerpts))
    assert any("reparameterization" in e.lower() for e in excerpts)


def luminance(css_color: str) -> float:
    """The relative luminance (0 black, 1 white) of a CSS rgb()/rgba() colour."""
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", css_color)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_pages_follow_the_readers_dark_mode(browser, server):
    """With the reader's system set to dark, the pages are light on dark; set to light, dark
    on light (a screenshot of the dark home page goes to build/site-screenshots/)."""
    colours = (
        "() => [getComputedStyle(document.querySelector('div.body')).backgroundColor, "
        "getComputedStyle(document.querySelector('div.body')).color]"
    )
    for scheme in ("dark", "light"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        for path in ("index.html", "notebooks/index.html", "derivations.html"):
            page.goto(server + path, wait_until="load")
            background, text = (luminance(c) for c in page.evaluate(colours))
            if scheme == "dark":
                assert background < 0.2 and text > 0.7, (path, background, text)
            else:
                assert background > 0.9 and text < 0.4, (path, background, text)
            if scheme == "dark" and path == "index.html":
                page.screenshot(path=str(SCREENSHOTS / "home-dark.png"), full_page=False)
        context.close()


# ------------------------------------------------------------------------- without a browser
def site_build():
    """docs/build.py as a module."""
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "docs" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


def test_staged_derivations_keep_every_formula_and_link_every_name():
    """docs/build.py's MyST version of derivations.md, checked without building the site."""
    pytest.importorskip("docutils", reason="docs/conf.py needs docutils: pip install -e '.[site]'")
    from test_derivations import math_blocks

    build = site_build()
    source = (ROOT / "derivations.md").read_text(encoding="utf-8")
    cited: dict[str, set[str]] = {}
    staged = build.stage_derivations(source, cited)

    assert "```math" not in staged and "$`" not in staged
    displays = [b for b in math_blocks() if b[1] and b[2] > 0]
    assert staged.count("```{math}") == len(displays) > 50
    headings = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", source, flags=re.M)
    for number in headings:
        assert f"({build.section_label(number)})=" in staged, number
    # Every name of an "In the code:" line is a link to the entry of an object that imports.
    names = re.findall(r"\{py:obj\}`([\w.]+) <([\w.]+)>`", staged)
    assert len(names) > 50
    assert [(n, t) for n, t in names if build.canonical_name(t) is None] == []
    # Every test of a "Checked by:" line is a function of its file, so its entry exists.
    assert sum(len(tests) for tests in cited.values()) > 20
    for path, tests in cited.items():
        defined = set(
            re.findall(r"^def (test_\w+)", (ROOT / "tests" / f"{path}.py").read_text(), re.M)
        )
        assert tests <= defined, (path, tests - defined)
