"""Exercise on the chain rule through a small MLP (derivations.md §6.3; lecture 000).

    mlp_backward(dout, x, W1, b1, W2, b2) -> (dx, dW1, db1, dW2, db2)
        out = tanh(x W1 + b1) W2 + b2,   x (N, D_in), W1 (D_in, H), W2 (H, D_out)

The layers' backward passes (§6.1, §6.2) in reverse order: the dense layer on top, then tanh,
then the dense layer below. The loss is L = sum(dout * out).
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.activations import ASSIGNMENT_2
from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.references import by_finite_differences, vjp_loss


def mlp_forward(x, W1, b1, W2, b2) -> np.ndarray:
    """tanh(x W1 + b1) W2 + b2: x (N, D_in) -> out (N, D_out) (derivations.md §6.3)."""
    return np.tanh(x @ W1 + b1) @ W2 + b2


def _chain(dout, x, W1, b1, W2, b2, slope):
    """The backward with the tanh's slope computed by `slope(a, h)`: the right one and two wrong."""
    a = x @ W1 + b1
    h = np.tanh(a)
    dh = dout @ W2.T
    da = dh * slope(a, h)
    return da @ W1.T, x.T @ da, da.sum(axis=0), h.T @ dout, dout.sum(axis=0)


def _draw(s, rng):
    N, D_in, H, D_out = s["N"], s["D_in"], s["H"], s["D_out"]
    return {
        "dout": rng.normal(size=(N, D_out)),
        "x": rng.normal(size=(N, D_in)),
        "W1": rng.normal(size=(D_in, H)) / np.sqrt(D_in),
        "b1": 0.5 * rng.normal(size=H),
        "W2": rng.normal(size=(H, D_out)),
        "b2": rng.normal(size=D_out),
    }


MLP_BACKWARD = Exercise(
    name="mlp_backward",
    notebook=ASSIGNMENT_2,
    title="the chain rule through dense, tanh, dense",
    section="§6.3",
    lecture="lecture 000",
    arguments=("dout", "x", "W1", "b1", "W2", "b2"),
    outputs=("dx", "dW1", "db1", "dW2", "db2"),
    sizes={"N": 4, "D_in": 5, "H": 3, "D_out": 2},
    hidden_sizes=(
        {"N": 5, "D_in": 3, "H": 6, "D_out": 4},
        {"N": 3, "D_in": 7, "H": 4, "D_out": 5},
        {"N": 6, "D_in": 4, "H": 2, "D_out": 3},
    ),
    draw=_draw,
    reference=by_finite_differences(
        vjp_loss(mlp_forward, "dout", "x", "W1", "b1", "W2", "b2"), ("x", "W1", "b1", "W2", "b2")
    ),
    mistakes=(
        Mistake(
            "tanh skipped",
            "the gradient skipped tanh: between dout W2^T and the lower layer, multiply by "
            "tanh'(a) = 1 - h^2, h the hidden layer's output.",
            lambda *args: _chain(*args, slope=lambda a, h: 1.0),
        ),
        Mistake(
            "slope at the input",
            "1 - a^2 uses the pre-activation a = x W1 + b1; tanh' is 1 - h^2 with h = tanh(a).",
            lambda *args: _chain(*args, slope=lambda a, h: 1 - a**2),
        ),
        Mistake(
            "pre-activation for h",
            "dW2 = h^T dout with h = tanh(x W1 + b1), the input of the top layer, not the "
            "pre-activation x W1 + b1.",
            lambda dout, x, W1, b1, W2, b2: (
                *_chain(dout, x, W1, b1, W2, b2, slope=lambda a, h: 1 - h**2)[:3],
                (x @ W1 + b1).T @ dout,
                dout.sum(axis=0),
            ),
        ),
    ),
    factors={"N": "x:0"},
)
