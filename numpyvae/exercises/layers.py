"""Exercises on the layers' backward passes (derivations.md §6; lecture 000).

    dense_backward(dout, x, W, b) -> (dx, dW, db)      out = x W + b               (§6.1)
    relu_backward(dout, x) -> dx                       out = max(x, 0)             (§6.2)

The upstream gradient comes first, then the forward's inputs; the loss is
L = sum(dout * out), so dL/d(out) = dout, and the reference is the centred differences of L.
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.references import by_finite_differences, vjp_loss

ASSIGNMENT_1 = "06_gradient_check_exercises"


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out = x W + b: x (N, D_in), W (D_in, D_out), b (D_out,) -> out (N, D_out) (§6.1)."""
    return x @ W + b


def relu_forward(x: np.ndarray) -> np.ndarray:
    """out = max(x, 0), element-wise, any shape (derivations.md §6.2)."""
    return np.maximum(x, 0.0)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values of either sign with |x| in [0.1, 2]: finite differences never straddle a kink."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


def _draw_dense(s, rng):
    x, W = rng.normal(size=(s["N"], s["D_in"])), rng.normal(size=(s["D_in"], s["D_out"]))
    b, dout = rng.normal(size=s["D_out"]), rng.normal(size=(s["N"], s["D_out"]))
    return {"dout": dout, "x": x, "W": W, "b": b}


DENSE_BACKWARD = Exercise(
    name="dense_backward",
    notebook=ASSIGNMENT_1,
    title="the dense layer's backward",
    section="§6.1",
    lecture="lecture 000",
    arguments=("dout", "x", "W", "b"),
    outputs=("dx", "dW", "db"),
    sizes={"N": 4, "D_in": 5, "D_out": 3},
    hidden_sizes=(
        {"N": 6, "D_in": 7, "D_out": 5},
        {"N": 7, "D_in": 3, "D_out": 6},
        {"N": 3, "D_in": 8, "D_out": 2},
    ),
    draw=_draw_dense,
    reference=by_finite_differences(
        vjp_loss(dense_forward, "dout", "x", "W", "b"), ("x", "W", "b")
    ),
    mistakes=(
        Mistake(
            "1/N",
            "you divided by the batch size N: this loss sums over the rows, and dout already "
            "carries any average the loss takes.",
            lambda dout, x, W, b: (dout @ W.T / len(x), x.T @ dout / len(x), dout.mean(axis=0)),
        ),
        Mistake(
            "sign",
            "a sign error: dout already is dL/d(out), and x W + b enters out with a plus "
            "sign; nothing here flips it.",
            lambda dout, x, W, b: (-dout @ W.T, -x.T @ dout, -dout.sum(axis=0)),
        ),
    ),
    factors={"N": "x:0"},
)

RELU_BACKWARD = Exercise(
    name="relu_backward",
    notebook=ASSIGNMENT_1,
    title="ReLU's backward",
    section="§6.2",
    lecture="lecture 000",
    arguments=("dout", "x"),
    outputs=("dx",),
    sizes={"N": 4, "D": 6},
    hidden_sizes=({"N": 5, "D": 7}, {"N": 8, "D": 3}, {"N": 2, "D": 9}),
    draw=lambda s, rng: {
        "x": away_from_zero(rng, (s["N"], s["D"])),
        "dout": rng.normal(size=(s["N"], s["D"])),
    },
    reference=by_finite_differences(vjp_loss(relu_forward, "dout", "x"), ("x",)),
    mistakes=(
        Mistake(
            "indicator",
            "the gradient goes through where x > 0 (slope 1) and is 0 where x < 0; yours "
            "uses the other side.",
            lambda dout, x: dout * (x < 0),
        ),
        Mistake(
            "times the output",
            "you multiplied dout by max(x, 0), the forward's output; the derivative is the "
            "indicator of x > 0.",
            lambda dout, x: dout * np.maximum(x, 0.0),
        ),
        Mistake(
            "sign",
            "a sign error: ReLU passes dout through unchanged where x > 0.",
            lambda dout, x: -dout * (x > 0),
        ),
    ),
)
