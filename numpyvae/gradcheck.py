"""Gradient checking by centred finite differences: the students' tool as much as ours.

The centred difference (f(x + h e_i) - f(x - h e_i)) / (2h) has error O(h^2) from truncation
and O(eps_machine |f| / h) from rounding (derivations.md §6.4); h = 1e-6 lies within a factor
10 of the float64 optimum (about 1e-5) and leaves errors near 1e-10. In float32 no h is
good: check gradients in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from numpyvae.validation import InvalidValueError

DEFAULT_STEP = 1e-6
DEFAULT_TOLERANCE = 1e-6


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> float:
    """max_i |a_i - b_i| / max(|a_i| + |b_i|, floor): the element-wise relative error."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise InvalidValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor), initial=0.0))


def numerical_gradient(
    f: Callable[[], float], x: np.ndarray, h: float = DEFAULT_STEP
) -> np.ndarray:
    """d f / d x by centred differences, x any shape -> array of x's shape.

    `f()` takes no argument and reads `x`, which is nudged in place entry by entry and
    restored exactly (the saved value is written back, never recomputed as x + h - h).
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + h
        f_plus = float(f())
        x[i] = saved - h
        f_minus = float(f())
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def numerical_vjp(
    f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = DEFAULT_STEP
) -> np.ndarray:
    """The vector-Jacobian product sum_j dout_j d f_j / d x, by centred differences.

    For a layer out = f(x) and an upstream gradient dout = dL/d(out), this is dL/dx, the
    quantity the layer's backward returns; x any shape -> array of x's shape.
    """
    return numerical_gradient(lambda: np.sum(f() * dout), x, h)


@dataclass(frozen=True)
class ArrayCheck:
    """The comparison of one gradient array: its error and its worst entry."""

    name: str
    error: float
    index: tuple[int, ...]
    analytic: float
    numeric: float

    def describe(self) -> str:
        """One line a student can read."""
        where = f"{self.name}[{', '.join(map(str, self.index))}]"
        return (
            f"{self.name}: relative error {self.error:.2e}; worst entry {where}: "
            f"backward gave {self.analytic:.10g}, finite differences {self.numeric:.10g}"
        )


@dataclass(frozen=True)
class GradCheckReport:
    """The result of a gradient check: `passed` is True when every array's error <= tolerance."""

    checks: list[ArrayCheck]
    tolerance: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.error <= self.tolerance for c in self.checks)

    @property
    def worst(self) -> ArrayCheck:
        return max(self.checks, key=lambda c: c.error)

    @property
    def max_error(self) -> float:
        return self.worst.error

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"{verdict}: largest relative error {self.max_error:.2e} "
            f"(tolerance {self.tolerance:.0e})"
        ]
        lines += [
            ("  ok    " if c.error <= self.tolerance else "  WRONG ") + c.describe()
            for c in self.checks
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def compare(name: str, analytic: np.ndarray, numeric: np.ndarray) -> ArrayCheck:
    """Compare a hand-written gradient with a numerical one of the same shape.

    The error is max_i |a_i - n_i| / max(max_j |a_j|, max_j |n_j|): each entry's discrepancy
    measured against the largest gradient in the array. Finite-difference noise is absolute
    (about 1e-10 in float64), so an entry that is itself near zero could not be judged
    against its own size (derivations.md §6.4).
    """
    if analytic is None:
        raise InvalidValueError(
            f"the gradient of {name} is missing (None): was backward implemented?"
        )
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise InvalidValueError(
            f"the gradient of {name} has shape {analytic.shape}, but {name} has shape "
            f"{numeric.shape}"
        )
    diff = np.abs(analytic - numeric)
    if not np.all(np.isfinite(diff)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(diff))[0])
        return ArrayCheck(name, float("inf"), index, float(analytic[index]), float(numeric[index]))
    scale = max(
        float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0))
    )
    index = (
        tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape)) if diff.size else ()
    )
    worst = float(diff[index]) if diff.size else 0.0
    error = worst / scale if scale > 0 else worst
    a_i = float(analytic[index]) if diff.size else 0.0
    n_i = float(numeric[index]) if diff.size else 0.0
    return ArrayCheck(name, error, index, a_i, n_i)


def check_gradient(
    f: Callable[[], float],
    inputs: dict[str, np.ndarray],
    analytic: dict[str, np.ndarray],
    *,
    h: float = DEFAULT_STEP,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GradCheckReport:
    """Check hand-written gradients of a scalar function against finite differences.

    `f()` reads the arrays in `inputs` (nudged in place); `analytic[name]` is the claimed
    d f / d inputs[name].
    """
    checks = [compare(n, analytic.get(n), numerical_gradient(f, x, h)) for n, x in inputs.items()]
    return GradCheckReport(checks, tolerance, _precision_notes(inputs))


def check_layer(
    layer,
    x: np.ndarray,
    *,
    dout: np.ndarray | None = None,
    seed: int = 0,
    h: float = DEFAULT_STEP,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GradCheckReport:
    """Check a layer's backward: dL/dx and dL/d(every parameter) for L = sum(dout * layer(x)).

    x (N, D_in); dout (N, D_out), drawn from N(0, 1) with `seed` when None.
    """
    out = layer.forward(x)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    dx = layer.backward(dout)
    analytic = {"x": dx, **{name: g.copy() for name, g in layer.grads.items()}}
    inputs = {"x": x, **layer.params}
    checks = [
        compare(n, analytic[n], numerical_vjp(lambda: layer.forward(x), arr, dout, h))
        for n, arr in inputs.items()
    ]
    return GradCheckReport(checks, tolerance, _precision_notes(inputs))


def check_model(
    model,
    x: np.ndarray,
    eps: np.ndarray | None = None,
    *,
    seed: int = 0,
    h: float = DEFAULT_STEP,
    tolerance: float = DEFAULT_TOLERANCE,
    names: list[str] | None = None,
) -> GradCheckReport:
    """Check the whole model's gradient of the negative ELBO with respect to every parameter.

    x (B, d); eps (M, B, k), drawn from N(0, I) with `seed` when None, is held fixed so the
    loss is a deterministic function of the parameters. `names` limits the check to some
    parameters (all by default).
    """
    if eps is None:
        eps = (
            np.random.default_rng(seed)
            .standard_normal((model.n_samples, x.shape[0], model.latent_dim))
            .astype(model.dtype)
        )
    _, grads = model.loss_and_grads(x, eps)
    analytic = {n: g.copy() for n, g in grads.items()}
    names = list(model.params) if names is None else names
    unknown = [n for n in names if n not in model.params]
    if unknown:
        raise InvalidValueError(f"names {unknown} are not parameters; known: {list(model.params)}")
    checks = [
        compare(
            n, analytic[n], numerical_gradient(lambda: model.loss(x, eps).loss, model.params[n], h)
        )
        for n in names
    ]
    return GradCheckReport(checks, tolerance, _precision_notes(model.params))


def _precision_notes(arrays: dict[str, np.ndarray]) -> list[str]:
    if any(np.asarray(a).dtype == np.float32 for a in arrays.values()):
        return ["float32 arrays: rounding error swamps finite differences; check in float64"]
    return []
