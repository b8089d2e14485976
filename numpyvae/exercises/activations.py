"""Exercises on the activations' backward passes (derivations.md §6.2; lecture 000).

    tanh_backward(dout, x) -> dx          out = tanh(x)                 tanh' = 1 - out^2
    sigmoid_backward(dout, x) -> dx       out = 1 / (1 + exp(-x))       sigmoid' = out (1 - out)
    softplus_backward(dout, x) -> dx      out = log(1 + exp(x))         softplus' = sigmoid(x)
    leaky_relu_backward(dout, x, alpha) -> dx
                                          out = x (x > 0), alpha x (x <= 0)

Each is element-wise on (N, D); the loss is L = sum(dout * out) and the reference its centred
differences in x. The inputs keep |x| >= 0.1, away from the leaky ReLU's kink.
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.layers import away_from_zero
from numpyvae.exercises.references import by_finite_differences, vjp_loss
from numpyvae.layers import sigmoid, softplus

ASSIGNMENT_2 = "12_layers_and_backprop_exercises"
_SIZES = {"N": 3, "D": 5}
_HIDDEN = ({"N": 4, "D": 7}, {"N": 6, "D": 2}, {"N": 2, "D": 8})


def _draw(s, rng):
    shape = (s["N"], s["D"])
    return {"dout": rng.normal(size=shape), "x": away_from_zero(rng, shape) * 1.5}


def _activation(name, title, forward, mistakes) -> Exercise:
    return Exercise(
        name=name,
        notebook=ASSIGNMENT_2,
        title=title,
        section="§6.2",
        lecture="lecture 000",
        arguments=("dout", "x"),
        outputs=("dx",),
        sizes=_SIZES,
        hidden_sizes=_HIDDEN,
        draw=_draw,
        reference=by_finite_differences(vjp_loss(forward, "dout", "x"), ("x",)),
        mistakes=mistakes,
    )


TANH_BACKWARD = _activation(
    "tanh_backward",
    "tanh's backward",
    np.tanh,
    (
        Mistake(
            "input for output",
            "1 - x^2 uses the input; tanh' = 1 - tanh(x)^2, the square of the OUTPUT.",
            lambda dout, x: dout * (1 - x**2),
        ),
        Mistake(
            "dout dropped",
            "you returned tanh'(x) alone: the chain rule multiplies it by the upstream dout.",
            lambda dout, x: 1 - np.tanh(x) ** 2,
        ),
        Mistake(
            "sign",
            "a sign error: tanh' = 1 - tanh^2 is positive everywhere.",
            lambda dout, x: dout * (np.tanh(x) ** 2 - 1),
        ),
        Mistake(
            "forward for derivative",
            "you multiplied dout by tanh(x), the forward's output; its derivative is 1 - tanh^2.",
            lambda dout, x: dout * np.tanh(x),
        ),
    ),
)

SIGMOID_BACKWARD = _activation(
    "sigmoid_backward",
    "the sigmoid's backward",
    sigmoid,
    (
        Mistake(
            "input for output",
            "x (1 - x) uses the input; sigmoid' = s (1 - s) with s = sigmoid(x), the OUTPUT.",
            lambda dout, x: dout * x * (1 - x),
        ),
        Mistake(
            "(1 - s) dropped",
            "sigmoid' = s (1 - s): the factor (1 - s) is missing.",
            lambda dout, x: dout * sigmoid(x),
        ),
        Mistake(
            "dout dropped",
            "you returned sigmoid'(x) alone: the chain rule multiplies it by the upstream dout.",
            lambda dout, x: sigmoid(x) * (1 - sigmoid(x)),
        ),
    ),
)

SOFTPLUS_BACKWARD = _activation(
    "softplus_backward",
    "softplus's backward",
    softplus,
    (
        Mistake(
            "sigmoid(-x)",
            "softplus' = e^x / (1 + e^x) = sigmoid(x), not sigmoid(-x) = 1 / (1 + e^x).",
            lambda dout, x: dout * sigmoid(-x),
        ),
        Mistake(
            "sigmoid's slope",
            "you used the sigmoid's derivative s (1 - s); softplus' is the sigmoid itself.",
            lambda dout, x: dout * sigmoid(x) * (1 - sigmoid(x)),
        ),
        Mistake(
            "forward for derivative",
            "you multiplied dout by softplus(x), the forward's output; its derivative is "
            "sigmoid(x).",
            lambda dout, x: dout * softplus(x),
        ),
    ),
)


def leaky_relu_forward(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """x where x > 0, alpha x elsewhere; x any shape, alpha a scalar (§6.2)."""
    return np.where(x > 0, x, alpha * x)


LEAKY_RELU_BACKWARD = Exercise(
    name="leaky_relu_backward",
    notebook=ASSIGNMENT_2,
    title="the leaky ReLU's backward",
    section="§6.2",
    lecture="lecture 000",
    arguments=("dout", "x", "alpha"),
    outputs=("dx",),
    sizes=_SIZES,
    hidden_sizes=_HIDDEN,
    draw=lambda s, rng: {**_draw(s, rng), "alpha": np.array(rng.uniform(0.05, 0.3))},
    reference=by_finite_differences(vjp_loss(leaky_relu_forward, "dout", "x", "alpha"), ("x",)),
    mistakes=(
        Mistake(
            "ReLU's indicator",
            "that is ReLU's gradient: where x < 0 the slope is alpha, not 0.",
            lambda dout, x, alpha: dout * (x > 0),
        ),
        Mistake(
            "slopes swapped",
            "the slopes are swapped: 1 where x > 0, alpha where x <= 0.",
            lambda dout, x, alpha: dout * np.where(x > 0, alpha, 1.0),
        ),
        Mistake(
            "times the input",
            "you multiplied by x (the forward's alpha x); the derivative of alpha x is alpha.",
            lambda dout, x, alpha: dout * np.where(x > 0, 1.0, alpha * x),
        ),
    ),
)
