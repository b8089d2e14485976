"""derivations.md is part of the code: its links, numbers and formulas are tested here.

- every function and test named in an "In the code:" or "Checked by:" line exists;
- every section that the package (or a test, notebook, README) cites exists;
- the sections keep the fixed numbering, each subsection ends with the two lines, and the
  equation tags run in order;
- every number in a marked place is recomputed;
- every math block renders with KaTeX (skipped, with the reason, without node or katex:
  install it with `npm ci --prefix tests/katex`);
- and the derivations that no other test file covers are checked numerically.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from numpyvae import reparam_toy
from numpyvae.gradcheck import numerical_gradient
from numpyvae.layers.dense import init_weights
from numpyvae.optim import SGD, Adam
from numpyvae.posteriors import DiagonalGaussian
from numpyvae.vae import VAE

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "derivations.md"
KATEX_DIR = Path(__file__).resolve().parent / "katex"

# The fixed numbering of derivations.md, which code and tests cite: section -> its subsections.
REQUIRED_SECTIONS = {
    1: 2, 2: 4, 3: 4, 4: 4, 5: 3, 6: 5, 7: 2, 8: 2, 9: 5, 10: 0, 11: 0, 12: 7,
    13: 4,
    14: 5,
}  # fmt: skip

HEADING = re.compile(r"^(##|###) (\d+)(?:\.(\d+))?\.? (.+)$")
REFERENCE_LINE = re.compile(r"^(?:\*\*)?(In the code|Checked by):(?:\*\*)?(.*)$")
TEST_REFERENCE = re.compile(r"^(tests/[\w/]+\.py)::(\w+)$")
CODE_REFERENCE = re.compile(r"^numpyvae(\.\w+)+$")
SECTION_CITATION = re.compile(r"§(\d+(?:\.\d+)?)")
EXPLICIT_CITATION = re.compile(r"derivations\.md,? (?:§|section )(\d+(?:\.\d+)?)")
TAG = re.compile(r"\\tag\{(\d+)\.(\d+)\}")
TABLE_MARKER = re.compile(r"^<!-- numbers: ([\w-]+) -->$")
INLINE_MARKER = re.compile(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)<!-- number: ([\w-]+) -->")
# CommonMark lets a backslash escape any ASCII punctuation character; a Markdown renderer that
# processes escapes before the math would eat the backslash of "\," or "\{" in inline math.
BACKSLASH_PUNCTUATION = re.compile(r"\\[!-/:-@\[-`{-~]")


# ------------------------------------------------------------------------- parsing the doc
@functools.cache
def doc_lines() -> tuple[str, ...]:
    return tuple(DOC.read_text(encoding="utf-8").splitlines())


def blank(match: re.Match) -> str:
    """The matched text with every character but the newlines replaced by a space."""
    return re.sub(r"[^\n]", " ", match.group())


# The GitHub-safe forms of derivations.md: display math in a fenced ```math block, inline math
# as $`...`$ (GitHub reads the backticks as a code span, so Markdown leaves the TeX alone).
# The plain $...$ form is still found, so that the safety test below can report it.
MATH_FENCE = re.compile(r"^( *)```math\n(.*?)\n\1```$", flags=re.S | re.M)
BACKTICK_MATH = re.compile(r"\$`([^`\n]*)`\$")


def without_code(text: str) -> str:
    """The text with fenced code blocks and `code spans` blanked (same length, no $ inside)."""
    text = re.sub(r"```.*?```", blank, text, flags=re.S)
    return re.sub(r"`[^`\n]*`", blank, text)


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


@functools.cache
def math_blocks() -> tuple[tuple[str, bool, int], ...]:
    """Every math block as (tex, display, line): ```math fences (display), $`...`$ and $...$."""
    text = "\n".join(doc_lines())
    blocks = []
    for m in MATH_FENCE.finditer(text):
        blocks.append((m.group(2), True, line_of(text, m.start())))
    text = MATH_FENCE.sub(blank, text)
    for m in BACKTICK_MATH.finditer(text):
        blocks.append((m.group(1), False, line_of(text, m.start())))
    text = without_code(BACKTICK_MATH.sub(blank, text))
    for m in re.finditer(r"\$\$(.+?)\$\$", text, flags=re.S):
        blocks.append((m.group(1), True, line_of(text, m.start())))
    text = re.sub(r"\$\$(.+?)\$\$", blank, text, flags=re.S)
    for number, line in enumerate(text.split("\n"), start=1):
        dollars = [m.start() for m in re.finditer(r"(?<!\\)\$", line)]
        if len(dollars) % 2:
            blocks.append((line, False, -number))  # a stray $: reported by the tests
            continue
        for start, stop in zip(dollars[::2], dollars[1::2], strict=True):
            blocks.append((line[start + 1 : stop], False, number))
    return tuple(sorted(blocks, key=lambda block: abs(block[2])))


@functools.cache
def sections() -> tuple[tuple[str, int, int], ...]:
    """(number, first line index, last line index) of every ## and ### section."""
    found = []
    lines = doc_lines()
    for index, line in enumerate(lines):
        m = HEADING.match(line)
        if m:
            number = m.group(2) + (f".{m.group(3)}" if m.group(3) else "")
            found.append((number, index))
    result = []
    for position, (number, start) in enumerate(found):
        stop = found[position + 1][1] if position + 1 < len(found) else len(lines)
        result.append((number, start, stop))
    return tuple(result)


def reference_lines() -> list[tuple[int, str, list[str]]]:
    """(line number, kind, backticked names) of every In the code / Checked by line."""
    found = []
    for number, line in enumerate(doc_lines(), start=1):
        m = REFERENCE_LINE.match(line.strip())
        if m:
            found.append((number, m.group(1), re.findall(r"`([^`]+)`", m.group(2))))
    return found


def resolve(dotted: str):
    """Import the longest module prefix of `dotted`, then getattr the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


@functools.cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def heading_numbers() -> set[str]:
    return {number for number, _, _ in sections()}


# ------------------------------------------------------------------------- the links
def test_every_named_function_and_test_exists():
    problems = []
    lines = reference_lines()
    assert len(lines) > 40, "expected an In the code / Checked by pair in every subsection"
    for number, kind, names in lines:
        for name in names:
            test = TEST_REFERENCE.match(name)
            if kind == "Checked by" and test:
                path, function = test.groups()
                if not (ROOT / path).is_file():
                    problems.append(f"line {number}: {path} does not exist")
                elif function not in defined_tests(path):
                    problems.append(f"line {number}: {path} defines no {function}")
            elif kind == "In the code" and CODE_REFERENCE.match(name):
                try:
                    resolve(name)
                except (ImportError, AttributeError) as exc:
                    problems.append(f"line {number}: {name} does not resolve ({exc})")
            else:
                problems.append(f"line {number}: {kind}: cannot read `{name}` as a reference")
    assert not problems, "\n".join(problems)


def test_every_subsection_ends_with_code_and_test_lines():
    problems = []
    numbers = [number for number, _, _ in sections()]
    for number, start, stop in sections():
        has_children = any(n.startswith(number + ".") for n in numbers)
        if "." not in number and has_children:
            continue  # the subsections carry the lines
        body = [line.strip() for line in doc_lines()[start + 1 : stop] if line.strip()]
        if len(body) < 2 or not (
            body[-2].startswith("**In the code:**") and body[-1].startswith("**Checked by:**")
        ):
            problems.append(f"§{number} does not end with **In the code:** and **Checked by:**")
    assert not problems, "\n".join(problems)


def test_sections_follow_the_fixed_numbering():
    numbers = [number for number, _, _ in sections()]
    top = [int(n) for n in numbers if "." not in n]
    assert top == list(range(1, len(top) + 1)) and set(REQUIRED_SECTIONS) <= set(top), top
    for section, count in REQUIRED_SECTIONS.items():
        subsections = [n for n in numbers if n.startswith(f"{section}.")]
        expected = [f"{section}.{i}" for i in range(1, len(subsections) + 1)]
        assert subsections == expected, (section, subsections)
        assert len(subsections) >= count, (section, subsections)


def cited_sections() -> list[tuple[str, str]]:
    """(where, section) for every section cited in the package, the tests and the docs."""
    cited = []
    for path in sorted((ROOT / "numpyvae").rglob("*.py")) + sorted((ROOT / "tests").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        # The brief's rule: a public function's docstring citing "derivations.md §N.M".
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                docstring = ast.get_docstring(node) or ""
                for m in EXPLICIT_CITATION.finditer(docstring):
                    cited.append((f"{path.relative_to(ROOT)} docstring", m.group(1)))
        # And any bare "§N.M" anywhere: in this project § always means derivations.md.
        for number, line in enumerate(text.splitlines(), start=1):
            for m in SECTION_CITATION.finditer(line):
                cited.append((f"{path.relative_to(ROOT)}:{number}", m.group(1)))
    others = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    others += sorted((ROOT / "benchmarks").rglob("*.py")) if (ROOT / "benchmarks").is_dir() else []
    for path in others:
        if path.is_file():
            for m in EXPLICIT_CITATION.finditer(path.read_text(encoding="utf-8")):
                cited.append((str(path.relative_to(ROOT)), m.group(1)))
    return cited


def test_sections_cited_in_the_code_exist():
    cited = cited_sections()
    assert any(where.startswith("numpyvae") for where, _ in cited)
    missing = sorted({f"{where}: §{s}" for where, s in cited if s not in heading_numbers()})
    assert not missing, "citations of sections that derivations.md lacks:\n" + "\n".join(missing)


def test_equation_tags_are_numbered_in_order():
    tags = [(int(a), int(b)) for tex, _, _ in math_blocks() for a, b in TAG.findall(tex)]
    assert tags, "no \\tag{} found"
    assert len(set(tags)) == len(tags), "a tag is used twice"
    for section in {a for a, _ in tags}:
        numbers = [b for a, b in tags if a == section]
        assert numbers == list(range(1, len(numbers) + 1)), (section, numbers)
    # Every tag sits inside its own section.
    for number, start, stop in sections():
        if "." in number:
            continue
        text = "\n".join(doc_lines()[start:stop])
        assert all(int(a) == int(number) for a, _ in TAG.findall(text)), number


# ------------------------------------------------------------------------- the numbers
def printed_tolerance(text: str) -> float:
    """Half a unit in the last printed digit of `text` ("8.7e-6" -> 0.05e-6, "15" -> 0.5)."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals) * 10.0 ** int(exponent or 0)


def assert_printed(text: str, exact: float, where: str) -> None:
    value = float(text)
    assert abs(value - exact) <= printed_tolerance(text) * (1 + 1e-9), (
        f"{where}: the document says {text}, the computation gives {exact:.6g}"
    )


def toy_variance_row(cells):
    phi = float(cells[0])
    sf = reparam_toy.exact_variance_score_function(phi)
    rp = reparam_toy.exact_variance_reparameterization(phi)
    return [sf, rp, sf / rp, sf / 100, rp / 100]


def toy_threshold_row(cells):
    ratio = float(cells[0])
    # phi^4 + 14 phi^2 + 15 = 4 ratio  <=>  phi^2 = -7 + sqrt(34 + 4 ratio).
    phi = math.sqrt(-7.0 + math.sqrt(34.0 + 4.0 * ratio))
    got = reparam_toy.exact_variance_score_function(phi) / 4.0
    assert got == pytest.approx(ratio, rel=1e-12)
    return [phi]


def gradcheck_row(cells):
    eps = float(np.finfo(np.dtype(cells[0])).eps)
    h_best = (3.0 * eps) ** (1.0 / 3.0)

    def error(h):  # (6.7) with |f| = |f'''| = 1
        return h * h / 6.0 + eps / h

    # (6.8) is the minimum of (6.7): no step on a fine grid does better.
    grid = np.logspace(-12, 0, 20_001)
    assert error(h_best) <= error(grid).min() * (1 + 1e-9)
    assert error(h_best) == pytest.approx(0.5 * (3.0 * eps) ** (2.0 / 3.0), rel=1e-12)
    return [eps, h_best, error(h_best), error(1e-6)]


def init_row(cells):
    n_in, n_out = int(cells[0]), int(cells[1])
    exact = {"uniform": 1.0 / (3 * n_in), "he": 2.0 / n_in, "glorot": 2.0 / (n_in + n_out)}
    # The code draws from these distributions: its empirical variance lies within 5
    # standard errors, sqrt((kurtosis - 1) / n) relative (uniform: 1.8, normal: 3).
    kurtosis = {"uniform": 1.8, "he": 3.0, "glorot": 1.8}
    rng = np.random.default_rng(0)
    for scheme, variance in exact.items():
        W, _ = init_weights(n_in, n_out, scheme, rng, np.dtype(np.float64))
        tolerance = 5 * variance * math.sqrt((kurtosis[scheme] - 1) / W.size)
        assert abs(W.var() - variance) < tolerance, (scheme, W.var(), variance)
    return [exact["uniform"], exact["he"], exact["glorot"]]


TABLES = {
    "toy-variances": toy_variance_row,
    "toy-threshold": toy_threshold_row,
    "gradcheck-steps": gradcheck_row,
    "init-variances": init_row,
}


def normal_log_pdf(x: float, mean: float, variance: float) -> float:
    return -0.5 * (math.log(2 * math.pi * variance) + (x - mean) ** 2 / variance)


INLINE_NUMBERS = {
    "gaussian-constant-784": lambda: 784 / 2 * math.log(2 * math.pi),
    "toy-threshold": lambda: math.sqrt(-7.0 + math.sqrt(74.0)),
    # Erratum E12: the lecture's "marginal" summed over x in {0,1}^d for k = 1.
    "e12-total": lambda: math.exp(normal_log_pdf(0, 0, 1)) + math.exp(normal_log_pdf(1, 0, 1)),
    # Erratum E22: -1/2 log 2 pi, and log N(0; 0, 2).
    "e22-lecture": lambda: -0.5 * math.log(2 * math.pi),
    "e22-evidence": lambda: normal_log_pdf(0.0, 0.0, 2.0),
}


def marked_tables():
    lines = doc_lines()
    for index, line in enumerate(lines):
        m = TABLE_MARKER.match(line.strip())
        if not m:
            continue
        rows = []
        for row in lines[index + 3 :]:  # skip the header and the separator
            if not row.startswith("|"):
                break
            rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
        yield m.group(1), index + 1, rows


def test_marked_numbers_are_recomputed():
    seen_tables = set()
    for name, line, rows in marked_tables():
        assert name in TABLES, f"line {line}: no recomputation for the table '{name}'"
        assert rows, f"line {line}: the marked table '{name}' has no rows"
        seen_tables.add(name)
        for row in rows:
            exact = TABLES[name](row)
            printed = row[len(row) - len(exact) :]
            for text, value in zip(printed, exact, strict=True):
                assert_printed(text, value, f"table {name} (line {line}), row {row[0]}")
    assert seen_tables == set(TABLES), f"tables not found: {set(TABLES) - seen_tables}"
    seen_inline = set()
    for number, line in enumerate(doc_lines(), start=1):
        for m in INLINE_MARKER.finditer(line):
            assert m.group(2) in INLINE_NUMBERS, f"line {number}: unknown number {m.group(2)}"
            assert_printed(m.group(1), INLINE_NUMBERS[m.group(2)](), f"line {number}")
            seen_inline.add(m.group(2))
    assert seen_inline == set(INLINE_NUMBERS), f"not found: {set(INLINE_NUMBERS) - seen_inline}"


# ------------------------------------------------------------------------- the rendering
def test_inline_math_is_safe_for_github():
    problems = []
    for tex, display, line in math_blocks():
        if line < 0:
            problems.append(f"line {-line}: an odd number of $ signs")
        elif not display:
            if tex != tex.strip():
                problems.append(f"line {line}: space inside the $ delimiters: ${tex}$")
            if BACKSLASH_PUNCTUATION.search(tex):
                problems.append(f"line {line}: backslash before punctuation in ${tex}$")
            if "|" in tex:
                problems.append(f"line {line}: a bare | (use \\mid, \\vert or \\Vert): ${tex}$")
    assert not problems, "\n".join(problems)


def test_math_is_in_githubs_two_safe_forms():
    """Display math in ```math fences, inline math as $`...`$: the forms GitHub documents as
    passing its Markdown step intact. Outside them and code spans no $ is left."""
    text = DOC.read_text()
    text = re.sub(r"^```math\n.*?^```\n", "", text, flags=re.S | re.M)
    text = re.sub(r"\$`.*?`\$", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    stray = [f"line {i}: {line}" for i, line in enumerate(text.split("\n"), 1) if "$" in line]
    assert not stray, "math outside the GitHub-safe forms:\n" + "\n".join(stray[:10])


def test_math_renders_with_katex():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: KaTeX rendering not checked")
    if not (KATEX_DIR / "node_modules" / "katex").is_dir():
        pytest.skip("katex is not installed: run `npm ci --prefix tests/katex`")
    blocks = [b for b in math_blocks() if b[2] > 0]
    assert len(blocks) > 300
    payload = json.dumps([{"tex": tex, "display": display} for tex, display, _ in blocks])
    result = subprocess.run(
        [node, str(KATEX_DIR / "render.js")],
        input=payload,
        capture_output=True,
        text=True,
        cwd=KATEX_DIR,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    errors = json.loads(result.stdout)
    failures = [
        f"line {line} ({'display' if display else 'inline'}): {error}\n    {tex.strip()[:200]}"
        for (tex, display, line), error in zip(blocks, errors, strict=True)
        if error is not None
    ]
    assert not failures, f"{len(failures)} math blocks fail to render:\n" + "\n".join(failures)


# ------------------------------------------------------------------------- the derivations
def test_notation_matches_the_code():
    """§1.1: h = [mu | log sigma^2] (B, 2k), sigma = exp(logvar / 2), eps (M, B, k)."""
    d, k, M, B = 7, 3, 4, 5
    model = VAE(d, k, hidden=(6,), n_samples=M, seed=1)
    rng = np.random.default_rng(0)
    x = rng.random((B, d))
    h = model.encoder.forward(x)
    assert h.shape == (B, 2 * k)
    mu, logvar = DiagonalGaussian(k).split(h)
    assert np.array_equal(mu, h[:, :k]) and np.array_equal(logvar, h[:, k:])
    eps = rng.standard_normal((M, B, k))
    z = model.posterior.sample(h, eps)
    assert np.allclose(z, mu + np.exp(logvar / 2) * eps, rtol=1e-14, atol=0)
    assert np.array_equal(model.encode(x, "mean"), mu)
    model.loss_and_grads(x, eps)  # eps (M, B, k) is the accepted layout
    assert {n.split(".")[0] for n in model.params} >= {"encoder", "decoder"}


def test_log_evidence_is_elbo_plus_kl_to_the_posterior():
    """(2.5) and (2.7) in a model where every term has a closed form or exact quadrature.

    p(z) = N(0, 1), p(x|z) = N(w z + b, s2): p(x) = N(b, w^2 + s2), and the posterior is
    N(m_p, v_p) with v_p = 1 / (1 + w^2 / s2), m_p = v_p w (x - b) / s2. The ELBO of any
    q = N(m, v) is computed by Gauss-Hermite quadrature, exact here because log p(x, z) -
    log q(z) is a quadratic in z.
    """
    w, b, s2, x = 1.7, -0.3, 0.6, 1.1
    log_px = normal_log_pdf(x, b, w * w + s2)
    v_p = 1.0 / (1.0 + w * w / s2)
    m_p = v_p * w * (x - b) / s2
    nodes, weights = np.polynomial.hermite_e.hermegauss(20)
    weights = weights / weights.sum()

    def elbo(m, v):
        z = m + math.sqrt(v) * nodes
        log_joint = -0.5 * np.log(2 * np.pi) - 0.5 * z**2 - 0.5 * np.log(2 * np.pi * s2)
        log_joint -= 0.5 * (x - w * z - b) ** 2 / s2
        log_q = -0.5 * np.log(2 * np.pi * v) - 0.5 * (z - m) ** 2 / v
        return float(np.sum(weights * (log_joint - log_q)))

    def kl_to_posterior(m, v):  # KL(N(m, v) || N(m_p, v_p)) in one dimension
        return 0.5 * (v / v_p + (m - m_p) ** 2 / v_p - 1.0 + math.log(v_p / v))

    rng = np.random.default_rng(0)
    for m, v in zip(rng.normal(0, 2, 10), rng.uniform(0.05, 3.0, 10), strict=True):
        assert elbo(m, v) + kl_to_posterior(m, v) == pytest.approx(log_px, abs=1e-12)
        assert elbo(m, v) < log_px
    assert elbo(m_p, v_p) == pytest.approx(log_px, abs=1e-12)  # equality at q = posterior


def test_the_two_forms_of_the_elbo_agree():
    """(2.8) = (2.9) for a Bernoulli decoder, with the code's KL (4.3), by quadrature."""
    k, d = 1, 4
    rng = np.random.default_rng(3)
    W, c = rng.normal(size=(k, d)), rng.normal(size=d)
    x = np.array([1.0, 0.0, 1.0, 1.0])
    mu, logvar = 0.4, -0.7
    h = np.array([[mu, logvar]])
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / weights.sum()
    z = mu + math.exp(logvar / 2) * nodes  # the quadrature points under q
    logits = z[:, None] * W + c
    log_px_z = np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)
    log_prior = -0.5 * (np.log(2 * np.pi) + z**2)
    log_q = DiagonalGaussian(k).log_prob(z[None, :, None], np.repeat(h, len(z), axis=0))[0]
    form_joint = np.sum(weights * (log_px_z + log_prior - log_q))
    form_kl = np.sum(weights * log_px_z) - DiagonalGaussian(k).kl(h)[0]
    assert form_joint == pytest.approx(form_kl, abs=1e-10)


def test_step_function_defeats_the_pathwise_estimator():
    """§3.1: for f = 1[z > 0] the pathwise derivative is 0 almost surely, the truth is not."""
    phi, n = 0.3, 200_000
    eps = np.random.default_rng(0).standard_normal(n)
    truth = math.exp(-0.5 * phi * phi) / math.sqrt(2 * math.pi)  # d/dphi P(eps > -phi)

    def f(t):
        return (t > 0).astype(float)

    h = 1e-9
    pathwise = (f(phi + h + eps) - f(phi - h + eps)) / (2 * h)
    assert np.count_nonzero(pathwise) == 0
    score = f(phi + eps) * eps  # (3.3) with d/dphi log N(z; phi, 1) = z - phi = eps
    assert abs(score.mean() - truth) < 5 * score.std() / math.sqrt(n)


def test_centred_difference_error_follows_the_model():
    """§6.4 with f = exp at 0, where |f| = |f'''| = 1, through the package's own routine."""

    def centred_error(h: float, dtype) -> float:
        x = np.zeros(1, dtype=dtype)
        estimate = numerical_gradient(lambda: np.exp(x).astype(dtype).sum(dtype=dtype), x, h)
        return abs(float(estimate[0]) - 1.0)

    # Truncation: for a large step the error is h^2 / 6 (6.6).
    assert centred_error(1e-2, np.float64) == pytest.approx(1e-4 / 6, rel=1e-3)
    steps = np.logspace(-12, -1, 45)
    errors64 = np.array([centred_error(h, np.float64) for h in steps])
    # The best step sits near h* = 8.7e-6 and reaches ~1e-11 (table of §6.4) ...
    assert 1e-6 <= steps[np.argmin(errors64)] <= 1e-4
    assert errors64.min() < 1e-10
    # ... numpyvae's h = 1e-6 stays far below the tolerance 1e-6 ...
    assert centred_error(1e-6, np.float64) < 1e-9
    # ... and rounding dominates for tiny steps.
    assert errors64[0] > 1e-6
    # In float32 no step reaches the tolerance.
    errors32 = np.array([centred_error(h, np.float32) for h in steps])
    assert errors32.min() > 1e-6


def test_adam_pytorch_arrangement_equals_the_paper():
    """(9.7) equals Algorithm 1 of Kingma and Ba; ascent on -g equals descent on g (§9.3)."""
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(30, 5)) * rng.uniform(1e-4, 10.0, size=5)
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    p = {"w": rng.normal(size=5)}
    start = p["w"].copy()
    optimizer = Adam(p, lr=lr, betas=(b1, b2), eps=eps)
    paper = start.copy()
    ascent = start.copy()
    m = np.zeros(5)
    v = np.zeros(5)
    m_up = np.zeros(5)
    v_up = np.zeros(5)
    for t, g in enumerate(grads, start=1):
        optimizer.step({"w": g})
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        paper -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        up = -g  # the gradient of the ELBO, followed uphill
        m_up = b1 * m_up + (1 - b1) * up
        v_up = b2 * v_up + (1 - b2) * up * up
        ascent += lr * (m_up / (1 - b1**t)) / (np.sqrt(v_up / (1 - b2**t)) + eps)
    assert np.allclose(p["w"], paper, rtol=1e-12, atol=1e-15)
    assert np.allclose(p["w"], ascent, rtol=1e-12, atol=1e-15)
    # SGD without momentum is the lecture's update theta + alpha grad J = theta - alpha g.
    q = {"w": start.copy()}
    SGD(q, lr=0.1, momentum=0.0).step({"w": grads[0]})
    assert np.allclose(q["w"], start - 0.1 * grads[0], rtol=0, atol=1e-15)
