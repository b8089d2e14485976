"""Checks for the gradient exercises of notebooks/06_gradient_check_exercises.ipynb.

A student writes five backward passes; each `check_*` function below feeds the student's
function fixed float64 inputs, compares what it returns with centred finite differences of
the forward pass (numpyvae.gradcheck, derivations.md §6.4) and prints PASS or FAIL with the
worst entry: the array, the index, the student's value and the numerical one.

A check never raises on a bad answer. A missing answer (NotImplementedError), an exception,
a wrong number of returned arrays or a wrong shape each print a FAIL message saying what to
fix, and the check returns an `ExerciseResult` with `passed=False`.

The exercises, with the upstream gradient first and the forward's inputs after it:

    dense_backward(dout, x, W, b) -> (dx, dW, db)      out = x W + b               (§6.1)
    relu_backward(dout, x) -> dx                       out = max(x, 0)             (§6.2)
    reparam_backward(dz, mu, logvar, eps) -> (dmu, dlogvar)
                                                       z = mu + exp(logvar/2) eps  (§3.4)
    kl_backward(mu, logvar) -> (dmu, dlogvar)          of sum_b KL(q(z|x_b) || N(0, I))  (§4.3)
    bernoulli_backward(x, logits) -> dlogits           of -sum_b log p(x_b | z_b)  (§5.3)
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numpyvae.gradcheck import DEFAULT_TOLERANCE, ArrayCheck, check_gradient
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

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ExerciseResult({self.exercise!r}, {'PASS' if self.passed else 'FAIL'})"


def _run_check(
    exercise: str,
    student_fn: Callable,
    args: dict[str, np.ndarray],
    output_names: tuple[str, ...],
    loss: Callable[[], float],
    inputs: dict[str, np.ndarray],
    verbose: bool,
) -> ExerciseResult:
    """Call student_fn(**copies of args), then compare its outputs with d loss / d inputs.

    `output_names[i]` names the i-th returned array, the gradient of the i-th entry of
    `inputs`. Every way the student's code can go wrong becomes a FAIL message.
    """
    result = _judge(exercise, student_fn, args, output_names, loss, inputs)
    if verbose:
        print(result.message)
    return result


def _judge(exercise, student_fn, args, output_names, loss, inputs) -> ExerciseResult:
    def fail(why: str) -> ExerciseResult:
        return ExerciseResult(exercise, False, f"FAIL ({exercise}): {why}")

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
    for name, out, (input_name, target) in zip(output_names, outputs, inputs.items(), strict=True):
        if out is None:
            return fail(f"{name} is None: did you forget a `return`?")
        try:
            out_shape = np.shape(out)
            as_float = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            return fail(f"{name} must be a NumPy array, got {_describe(out)}")
        if out_shape != target.shape:
            return fail(
                f"{name} has shape {out_shape}, but {input_name} has shape {target.shape}: "
                f"a gradient has the shape of the variable it is taken with respect to"
            )
        if not np.all(np.isfinite(as_float)):
            return fail(f"{name} contains NaN or infinity")
    analytic = {
        name: np.asarray(out, dtype=np.float64)
        for name, out in zip(output_names, outputs, strict=True)
    }
    renamed = dict(zip(output_names, inputs.values(), strict=True))
    report = check_gradient(loss, renamed, analytic, tolerance=DEFAULT_TOLERANCE)
    verdict = "PASS" if report.passed else "FAIL"
    # str(report) reads "PASS: ..." or "FAIL: ...", then one line per array with its worst entry.
    message = f"{verdict} ({exercise}): " + str(report).split(": ", 1)[1]
    return ExerciseResult(exercise, report.passed, message, report.worst)


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


def check_dense_backward(student_fn: Callable, *, seed: int = 0, verbose: bool = True):
    """Check dense_backward(dout, x, W, b) -> (dx, dW, db) for out = x W + b (§6.1).

    The loss is L = sum(dout * out) for a fixed random dout (N, D_out), so dL/d(out) = dout.
    """
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)
    dout = rng.normal(size=(4, 3))

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
    )


def check_relu_backward(student_fn: Callable, *, seed: int = 0, verbose: bool = True):
    """Check relu_backward(dout, x) -> dx for out = max(x, 0) (§6.2).

    Every x is at least 0.1 away from the kink at 0, where finite differences straddle the
    two slopes and would report an error even for a right answer (notebook 02 shows this).
    """
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=(4, 6)) * rng.uniform(0.1, 2.0, size=(4, 6))
    dout = rng.normal(size=(4, 6))

    def loss() -> float:
        return float(np.sum(dout * relu_forward(x)))

    return _run_check(
        "relu_backward", student_fn, {"dout": dout, "x": x}, ("dx",), loss, {"x": x}, verbose
    )


def check_reparam_backward(student_fn: Callable, *, seed: int = 0, verbose: bool = True):
    """Check reparam_backward(dz, mu, logvar, eps) -> (dmu, dlogvar) (§3.4).

    z = mu + exp(logvar / 2) * eps with M = 3 samples: mu, logvar (B, k); eps, dz (M, B, k).
    """
    rng = np.random.default_rng(seed)
    M, B, k = 3, 4, 2
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
    )


def check_kl_backward(student_fn: Callable, *, seed: int = 0, verbose: bool = True):
    """Check kl_backward(mu, logvar) -> (dmu, dlogvar) of sum_b KL(q(z|x_b) || N(0, I)) (§4.3)."""
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

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
    )


def check_bernoulli_backward(student_fn: Callable, *, seed: int = 0, verbose: bool = True):
    """Check bernoulli_backward(x, logits) -> dlogits of -sum_b log p(x_b | z_b) (§5.3).

    x (B, d) binary pixels; logits (B, d) the decoder's output.
    """
    rng = np.random.default_rng(seed)
    x = (rng.random((4, 6)) < 0.5).astype(np.float64)
    logits = 2.0 * rng.normal(size=(4, 6))

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
    )


CHECKS = {
    "dense_backward": check_dense_backward,
    "relu_backward": check_relu_backward,
    "reparam_backward": check_reparam_backward,
    "kl_backward": check_kl_backward,
    "bernoulli_backward": check_bernoulli_backward,
}
