"""Checks for the gradient exercises of notebooks/06_gradient_check_exercises.ipynb.

A student writes five backward passes; each `check_*` function below feeds the student's
function fixed float64 inputs, compares what it returns with centred finite differences of
the forward pass (numpyvae.gradcheck, derivations.md §6.4) and prints PASS or FAIL with the
worst entry: the array, the index, the student's value and the numerical one.

A check never raises on a bad answer. A missing answer (NotImplementedError), an answer not
defined yet, an exception, a wrong number of returned arrays or a wrong shape each print a FAIL
message saying what to fix, and the check returns an `ExerciseResult` with `passed=False`. When
the student's values are a constant multiple of the right ones (1/2, 2, -1, 1/M, M, ...) or
their transpose, the message names that typical mistake.

Called without a function (`check_dense_backward()`), a check looks the answer up by name in
the caller's namespace (the notebook's), so running a check before its answer cell says so
instead of raising NameError; `report_syntax_errors()` makes a syntax error in a notebook cell
print a FAIL line instead of stopping "Run All". `sizes` and `seed` choose the inputs: the
grader (numpyvae.course.grade) uses ones the student never saw.

The exercises, with the upstream gradient first and the forward's inputs after it:

    dense_backward(dout, x, W, b) -> (dx, dW, db)      out = x W + b               (§6.1)
    relu_backward(dout, x) -> dx                       out = max(x, 0)             (§6.2)
    reparam_backward(dz, mu, logvar, eps) -> (dmu, dlogvar)
                                                       z = mu + exp(logvar/2) eps  (§3.4)
    kl_backward(mu, logvar) -> (dmu, dlogvar)          of sum_b KL(q(z|x_b) || N(0, I))  (§4.3)
    bernoulli_backward(x, logits) -> dlogits           of -sum_b log p(x_b | z_b)  (§5.3)
"""

from __future__ import annotations

import ast
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numpyvae.gradcheck import (
    DEFAULT_TOLERANCE,
    ArrayCheck,
    GradCheckReport,
    compare,
    numerical_gradient,
)
from numpyvae.likelihoods import Bernoulli
from numpyvae.posteriors import DiagonalGaussian

# ------------------------------------------------------------------ the forward passes


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out = x W + b: x (N, D_in), W (D_in, D_out), b (D_out,) -> out (N, D_out) (§6.1)."""
    return x @ W + b


def relu_forward(x: np.ndarray) -> np.ndarray:
    """out = max(x, 0), element-wise, any shape (derivations.md §6.2)."""
    return np.maximum(x, 0.0)


def reparam_forward(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """z = mu + sigma * eps with sigma = exp(logvar / 2) (derivations.md §3.4).

    mu, logvar (B, k), eps (M, B, k) -> z (M, B, k).
    """
    k = mu.shape[1]
    return DiagonalGaussian(k).sample(np.concatenate([mu, logvar], axis=1), eps)


def kl_forward(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row: mu, logvar (B, k) -> (B,) (§4.1)."""
    k = mu.shape[1]
    return DiagonalGaussian(k).kl(np.concatenate([mu, logvar], axis=1))


def bernoulli_nll(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log p(x | z) = -sum_i [x_i l_i - softplus(l_i)] per row: (B, d), (B, d) -> (B,) (§5.3)."""
    return -Bernoulli().log_prob(x, logits[np.newaxis])[0]


# ------------------------------------------------------------------ the result of a check


@dataclass(frozen=True)
class ExerciseResult:
    """The verdict on one exercise: `passed`, the message printed, and the worst entry if any."""

    exercise: str
    passed: bool
    message: str
    worst: ArrayCheck | None = None
    mistake: str | None = None  # the typical mistake recognised, e.g. "-1 times"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ExerciseResult({self.exercise!r}, {'PASS' if self.passed else 'FAIL'})"


def _run_check(
    exercise: str,
    student_fn: Callable | None,
    args: dict[str, np.ndarray],
    output_names: tuple[str, ...],
    loss: Callable[[], float],
    inputs: dict[str, np.ndarray],
    verbose: bool,
    sizes: Mapping[str, int] = {},  # noqa: B006 (read only)
) -> ExerciseResult:
    """Call student_fn(*copies of args), then compare its outputs with d loss / d inputs.

    `output_names[i]` names the i-th returned array, the gradient of the i-th entry of
    `inputs`. Every way the student's code can go wrong becomes a FAIL message. `sizes` names
    the dimensions (e.g. {"M": 3}) that a wrong constant factor is compared with.
    """
    if student_fn is None:
        student_fn = _answer_in_caller(exercise)
    result = _judge(exercise, student_fn, args, output_names, loss, inputs, sizes)
    if verbose:
        print(result.message)
    return result


def _answer_in_caller(exercise: str):
    """The function named `exercise` in the namespace that called the check, or a _Missing."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    found = None if frame is None else frame.f_globals.get(exercise)
    return found if found is not None else _Missing(exercise)


class _Missing:
    """Stands for an answer that is not defined (yet) where the check was called."""

    def __init__(self, name: str) -> None:
        self.name = name


def _judge(exercise, student_fn, args, output_names, loss, inputs, sizes) -> ExerciseResult:
    def fail(why: str) -> ExerciseResult:
        return ExerciseResult(exercise, False, f"FAIL ({exercise}): {why}")

    if isinstance(student_fn, _Missing):
        return fail(
            f"{exercise} is not defined yet. Run the cell marked YOUR ANSWER that defines it, "
            "then this check again; if that cell printed a syntax error, fix it first."
        )
    if not callable(student_fn):
        return fail(f"expected your function, got {student_fn!r}")
    copies = {name: a.copy() for name, a in args.items()}
    try:
        returned = student_fn(*copies.values())
    except NotImplementedError:
        return fail(
            "not implemented yet: your function still raises NotImplementedError. Replace the "
            "`raise NotImplementedError` in the marked cell with your code, run that cell, "
            "then run this check again."
        )
    except Exception as exc:  # any crash in student code becomes a readable FAIL
        return fail(
            f"your function raised {type(exc).__name__}: {exc}{_student_line(exc)}. "
            "The inputs were " + ", ".join(f"{n} {a.shape}" for n, a in args.items())
        )
    outputs = returned if len(output_names) > 1 else (returned,)
    if len(output_names) > 1 and (
        not isinstance(returned, (tuple, list)) or len(returned) != len(output_names)
    ):
        return fail(
            f"return {len(output_names)} arrays ({', '.join(output_names)}) as a tuple; "
            f"got {_describe(returned)}"
        )
    numeric = {
        name: numerical_gradient(loss, x)
        for name, x in zip(output_names, inputs.values(), strict=True)
    }
    for name, out, (input_name, target) in zip(output_names, outputs, inputs.items(), strict=True):
        if out is None:
            return fail(f"{name} is None: did you forget a `return`?")
        try:
            out_shape = np.shape(out)
            as_float = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            return fail(f"{name} must be a NumPy array, got {_describe(out)}")
        if out_shape != target.shape:
            transposed = as_float.T.shape == target.shape and np.allclose(
                as_float.T, numeric[name], rtol=1e-5
            )
            hint = f" It is the transpose of the right {name}." if transposed else ""
            return ExerciseResult(
                exercise,
                False,
                f"FAIL ({exercise}): {name} has shape {out_shape}, but {input_name} has shape "
                f"{target.shape}: a gradient has the shape of the variable it is taken with "
                f"respect to.{hint}",
                mistake="transpose" if transposed else None,
            )
        if not np.all(np.isfinite(as_float)):
            return fail(f"{name} contains NaN or infinity")
    analytic = {
        name: np.asarray(out, dtype=np.float64)
        for name, out in zip(output_names, outputs, strict=True)
    }
    report = GradCheckReport(
        [compare(name, analytic[name], numeric[name]) for name in output_names],
        DEFAULT_TOLERANCE,
    )
    verdict = "PASS" if report.passed else "FAIL"
    # str(report) reads "PASS: ..." or "FAIL: ...", then one line per array with its worst entry.
    message = f"{verdict} ({exercise}): " + str(report).split(": ", 1)[1]
    mistakes = [] if report.passed else _typical_mistakes(analytic, numeric, sizes)
    message += "".join(f"\n  hint: {hint}" for _, hint in mistakes)
    return ExerciseResult(
        exercise, report.passed, message, report.worst, mistakes[0][0] if mistakes else None
    )


def _typical_mistakes(
    analytic: dict[str, np.ndarray], numeric: dict[str, np.ndarray], sizes: Mapping[str, int]
) -> list[tuple[str, str]]:
    """(short name, sentence) for each wrong array that is a constant multiple or a transpose."""
    found = []
    for name, a in analytic.items():
        n = numeric[name]
        if compare(name, a, n).error <= DEFAULT_TOLERANCE:
            continue
        if a.ndim == 2 and a.shape == a.T.shape and np.allclose(a.T, n, rtol=1e-5, atol=1e-8):
            found.append(("transpose", f"your {name} is the transpose of the right one."))
            continue
        ratio = _constant_ratio(a, n)
        if ratio is not None:
            found.append(_name_factor(name, ratio, sizes))
    return found


def _constant_ratio(a: np.ndarray, n: np.ndarray) -> float | None:
    """c if a = c n for one constant c (up to finite-difference noise), else None."""
    scale = float(np.max(np.abs(n), initial=0.0))
    if scale == 0.0:
        return None
    big = np.abs(n) > 1e-3 * scale
    ratios = a[big] / n[big]
    c = float(np.median(ratios))
    # Finite differences carry ~1e-10 relative noise: 1e-6 separates a constant from a pattern.
    if c == 0.0 or not np.allclose(a, c * n, rtol=1e-6, atol=1e-6 * scale * abs(c)):
        return None
    return c


def _name_factor(name: str, c: float, sizes: Mapping[str, int]) -> tuple[str, str]:
    """The typical mistake behind `name` = c x (the right values)."""
    said = f"your {name} is exactly {c:.4g} times the right values"

    def near(value: float) -> bool:
        return abs(c - value) <= 1e-6 * abs(value)

    if near(-1.0):
        return "sign", f"{said}: a sign error (the loss is the NEGATIVE log-likelihood)."
    if near(0.5):
        return "half", f"{said}: a factor 2 is missing, or a 1/2 is applied once too often."
    if near(2.0):
        return "twice", f"{said}: a factor 1/2 is missing (e.g. d sigma / d log sigma^2)."
    for size_name, size in sizes.items():
        if size > 1 and near(1.0 / size):
            return (
                f"1/{size_name}",
                f"{said}, 1/{size_name} with {size_name} = {size}: you averaged where the "
                "loss sums, or applied a 1/" + size_name + " that the upstream gradient "
                "already carries.",
            )
        if size > 1 and near(float(size)):
            return (
                size_name,
                f"{said}, {size_name} = {size}: you multiplied by {size_name} (summed where "
                "nothing is repeated, or undid an average).",
            )
    return "factor", f"{said}: one constant factor is wrong."


def report_syntax_errors() -> None:
    """In IPython, make a cell with a syntax error print a FAIL line instead of raising.

    "Run All" stops at the first cell that raises; with this, a syntax error in one answer
    leaves the other exercises' checks running, and the answer it would have defined is
    removed so its check says it is not defined. Outside IPython (a plain script) it does
    nothing. Returns None, so that a notebook cell ending with it prints nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and _syntax_guard not in shell.input_transformers_post:
        shell.input_transformers_post.append(_syntax_guard)


def _syntax_guard(lines: list[str]) -> list[str]:
    """IPython input transformer: a cell that does not parse becomes code that says why."""
    source = "".join(lines)
    try:
        compile(source, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as exc:
        names = re.findall(r"^def (\w+)\s*\(", source, flags=re.MULTILINE)
        where = f"line {exc.lineno}" + (f": {exc.text.strip()}" if exc.text else "")
        message = (
            f"FAIL: this cell has a {type(exc).__name__} ({exc.msg}) at {where}\n"
            "It was not run: fix it and run it again. The other cells run on."
        )
        if names:
            message += f"\n{', '.join(names)} is not defined until then."
        return [f"for _name in {names!r}:\n", "    globals().pop(_name, None)\n"] + [
            f"print({message!r})\n"
        ]
    return lines


def _student_line(exc: BaseException) -> str:
    """' (at line n: `code`)' for the innermost frame of the traceback outside NumPy and here."""
    skip = (str(Path(np.__file__).parent), __file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    code = (frames[-1].line or "").strip()
    return f" (at line {frames[-1].lineno}" + (f": `{code}`)" if code else ")")


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__} {value!r:.60}"


# ------------------------------------------------------------------ the five checks


def check_dense_backward(
    student_fn: Callable | None = None,
    *,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
    verbose: bool = True,
) -> ExerciseResult:
    """Check dense_backward(dout, x, W, b) -> (dx, dW, db) for out = x W + b (§6.1).

    The loss is L = sum(dout * out) for a fixed random dout (N, D_out), so dL/d(out) = dout.
    sizes: N, D_in, D_out (default 4, 5, 3). Without `student_fn`, the caller's
    `dense_backward` is checked.
    """
    N, D_in, D_out = _sizes(sizes, N=4, D_in=5, D_out=3).values()
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, D_in)), rng.normal(size=(D_in, D_out)), rng.normal(size=D_out)
    dout = rng.normal(size=(N, D_out))

    def loss() -> float:
        return float(np.sum(dout * dense_forward(x, W, b)))

    return _run_check(
        "dense_backward",
        student_fn,
        {"dout": dout, "x": x, "W": W, "b": b},
        ("dx", "dW", "db"),
        loss,
        {"x": x, "W": W, "b": b},
        verbose,
        {"N": N},
    )


def check_relu_backward(
    student_fn: Callable | None = None,
    *,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
    verbose: bool = True,
) -> ExerciseResult:
    """Check relu_backward(dout, x) -> dx for out = max(x, 0) (§6.2).

    Every x is at least 0.1 away from the kink at 0, where finite differences straddle the
    two slopes and would report an error even for a right answer (notebook 02 shows this).
    sizes: N, D (default 4, 6).
    """
    N, D = _sizes(sizes, N=4, D=6).values()
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=(N, D)) * rng.uniform(0.1, 2.0, size=(N, D))
    dout = rng.normal(size=(N, D))

    def loss() -> float:
        return float(np.sum(dout * relu_forward(x)))

    return _run_check(
        "relu_backward", student_fn, {"dout": dout, "x": x}, ("dx",), loss, {"x": x}, verbose, {}
    )


def check_reparam_backward(
    student_fn: Callable | None = None,
    *,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
    verbose: bool = True,
) -> ExerciseResult:
    """Check reparam_backward(dz, mu, logvar, eps) -> (dmu, dlogvar) (§3.4).

    z = mu + exp(logvar / 2) * eps with M samples: mu, logvar (B, k); eps, dz (M, B, k).
    sizes: M, B, k (default 3, 4, 2).
    """
    M, B, k = _sizes(sizes, M=3, B=4, k=2).values()
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(B, k)), rng.normal(size=(B, k))
    eps, dz = rng.normal(size=(M, B, k)), rng.normal(size=(M, B, k))

    def loss() -> float:
        return float(np.sum(dz * reparam_forward(mu, logvar, eps)))

    return _run_check(
        "reparam_backward",
        student_fn,
        {"dz": dz, "mu": mu, "logvar": logvar, "eps": eps},
        ("dmu", "dlogvar"),
        loss,
        {"mu": mu, "logvar": logvar},
        verbose,
        {"M": M, "B": B},
    )


def check_kl_backward(
    student_fn: Callable | None = None,
    *,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
    verbose: bool = True,
) -> ExerciseResult:
    """Check kl_backward(mu, logvar) -> (dmu, dlogvar) of sum_b KL(q(z|x_b) || N(0, I)) (§4.3).

    sizes: B, k (default 4, 3).
    """
    B, k = _sizes(sizes, B=4, k=3).values()
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(B, k)), rng.normal(size=(B, k))

    def loss() -> float:
        return float(np.sum(kl_forward(mu, logvar)))

    return _run_check(
        "kl_backward",
        student_fn,
        {"mu": mu, "logvar": logvar},
        ("dmu", "dlogvar"),
        loss,
        {"mu": mu, "logvar": logvar},
        verbose,
        {"B": B},
    )


def check_bernoulli_backward(
    student_fn: Callable | None = None,
    *,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
    verbose: bool = True,
) -> ExerciseResult:
    """Check bernoulli_backward(x, logits) -> dlogits of -sum_b log p(x_b | z_b) (§5.3).

    x (B, d) binary pixels; logits (B, d) the decoder's output. sizes: B, d (default 4, 6).
    """
    B, d = _sizes(sizes, B=4, d=6).values()
    rng = np.random.default_rng(seed)
    x = (rng.random((B, d)) < 0.5).astype(np.float64)
    logits = 2.0 * rng.normal(size=(B, d))

    def loss() -> float:
        return float(np.sum(bernoulli_nll(x, logits)))

    return _run_check(
        "bernoulli_backward",
        student_fn,
        {"x": x, "logits": logits},
        ("dlogits",),
        loss,
        {"logits": logits},
        verbose,
        {"B": B},
    )


def _sizes(given: Mapping[str, int] | None, **default: int) -> dict[str, int]:
    """The default sizes, updated by `given`, in the default's order; unknown names refused."""
    given = dict(given or {})
    unknown = set(given) - set(default)
    if unknown:
        raise ValueError(f"unknown sizes {sorted(unknown)}; this check takes {list(default)}")
    return {name: int(given.get(name, value)) for name, value in default.items()}


CHECKS = {
    "dense_backward": check_dense_backward,
    "relu_backward": check_relu_backward,
    "reparam_backward": check_reparam_backward,
    "kl_backward": check_kl_backward,
    "bernoulli_backward": check_bernoulli_backward,
}
