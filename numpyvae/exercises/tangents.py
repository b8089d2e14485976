"""Exercises on the Fisher auto-encoder's building block (derivations.md §12.4).

    tanh_jvp(u, x, W, b) -> tangent
        the tangent of out = tanh(x W + b) along the input direction u: (1 - out^2) (u W)  (12.5)
    dual_backward(H, T, x, u, W, b) -> (dx, du, dW, db)
        of L = sum(H * out) + sum(T * tangent): the dual reverse pass (12.6)

x, u (N, D_in); W (D_in, D_out); H, T (N, D_out). The references are centred differences: of
the forward along u for the tangent, and of L for the dual pass.
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.beyond import ASSIGNMENT_4
from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.references import by_finite_differences
from numpyvae.gradcheck import DEFAULT_STEP


def tangent(x, u, W, b, bias=False, slope="output"):
    """(12.5) for one dense layer and tanh, with switches for its typical mistakes."""
    a = x @ W + b
    out = np.tanh(a)
    da = u @ W + (b if bias else 0.0)
    if slope == "none":
        return da
    return (1 - (out if slope == "output" else a) ** 2) * da


def _along_u(i):
    """(f(x + h u) - f(x - h u)) / (2h): the directional derivative of tanh(x W + b)."""
    x, u, W, b = i["x"], i["u"], i["W"], i["b"]
    h = DEFAULT_STEP
    return ((np.tanh((x + h * u) @ W + b) - np.tanh((x - h * u) @ W + b)) / (2 * h),)


def _draw(s, rng):
    N, D_in, D_out = s["N"], s["D_in"], s["D_out"]
    return {
        "H": rng.normal(size=(N, D_out)),
        "T": rng.normal(size=(N, D_out)),
        "x": rng.normal(size=(N, D_in)),
        "u": rng.normal(size=(N, D_in)),
        "W": rng.normal(size=(D_in, D_out)) / np.sqrt(D_in),
        "b": 0.5 * rng.normal(size=D_out),
    }


_SIZES = {"N": 3, "D_in": 4, "D_out": 2}
_HIDDEN = (
    {"N": 4, "D_in": 3, "D_out": 5},
    {"N": 2, "D_in": 6, "D_out": 3},
    {"N": 5, "D_in": 2, "D_out": 4},
)

TANH_JVP = Exercise(
    name="tanh_jvp",
    notebook=ASSIGNMENT_4,
    title="a tangent (JVP) pass through dense and tanh",
    section="§12.4",
    lecture="lecture 004",
    arguments=("u", "x", "W", "b"),
    outputs=("tangent",),
    sizes=_SIZES,
    hidden_sizes=_HIDDEN,
    draw=lambda s, rng: {k: v for k, v in _draw(s, rng).items() if k in ("u", "x", "W", "b")},
    reference=_along_u,
    reference_name="finite differences along u",
    answer_name="your function",
    mistakes=(
        Mistake(
            "bias in the tangent",
            "the bias is a constant shift: it has no tangent, d(x W + b) = u W (12.5).",
            lambda u, x, W, b: tangent(x, u, W, b, bias=True),
        ),
        Mistake(
            "slope missing",
            "the tangent goes through tanh too: multiply u W by tanh'(a) = 1 - out^2.",
            lambda u, x, W, b: tangent(x, u, W, b, slope="none"),
        ),
        Mistake(
            "slope at the input",
            "1 - a^2 uses the pre-activation a = x W + b; tanh' is 1 - tanh(a)^2.",
            lambda u, x, W, b: tangent(x, u, W, b, slope="input"),
        ),
    ),
)


def dual_loss(H, T, x, u, W, b) -> float:
    """sum(H * tanh(x W + b)) + sum(T * tangent): the loss the dual pass differentiates."""
    return float(np.sum(H * np.tanh(x @ W + b)) + np.sum(T * tangent(x, u, W, b)))


def _dual(H, T, x, u, W, b, second=1.0, tangent_weights=True):
    """(12.6) for one dense layer and tanh, with switches for its typical mistakes."""
    out = np.tanh(x @ W + b)
    first = 1 - out**2
    A = H * first + second * T * (-2 * out * first) * (u @ W)
    A_dot = T * first
    dW = x.T @ A + (u.T @ A_dot if tangent_weights else 0.0)
    return A @ W.T, A_dot @ W.T, dW, A.sum(axis=0)


DUAL_BACKWARD = Exercise(
    name="dual_backward",
    notebook=ASSIGNMENT_4,
    title="the dual backward through dense and tanh",
    section="§12.4",
    lecture="lecture 004",
    arguments=("H", "T", "x", "u", "W", "b"),
    outputs=("dx", "du", "dW", "db"),
    sizes=_SIZES,
    hidden_sizes=_HIDDEN,
    draw=_draw,
    reference=by_finite_differences(
        lambda i: dual_loss(i["H"], i["T"], i["x"], i["u"], i["W"], i["b"]), ("x", "u", "W", "b")
    ),
    mistakes=(
        Mistake(
            "second derivative missing",
            "the tangent (1 - out^2)(u W) depends on a = x W + b through tanh': A gets "
            "T tanh''(a) (u W) too, with tanh'' = -2 out (1 - out^2) (12.6).",
            lambda *args: _dual(*args, second=0.0),
        ),
        Mistake(
            "second derivative's sign",
            "tanh'' = -2 tanh (1 - tanh^2): mind its sign.",
            lambda *args: _dual(*args, second=-1.0),
        ),
        Mistake(
            "tangent's weight path",
            "W appears in the primal and in the tangent u W: dW = x^T A + u^T A_dot (12.6).",
            lambda *args: _dual(*args, tangent_weights=False),
        ),
    ),
)
