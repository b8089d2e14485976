"""Exercise on the optimizer: one Adam step (derivations.md §9.3; lecture 000).

    adam_step(param, grad, m, v, t, lr, beta1, beta2, eps) -> (param, m, v)
        m_t = beta1 m + (1 - beta1) g,  v_t = beta2 v + (1 - beta2) g^2,
        param_t = param - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)  (9.7)

The hyperparameters are drawn too (eps near 1e-3, where it sits matters), so an answer with
PyTorch's defaults written in fails. The reference is the formula.
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.vae import ASSIGNMENT_3


def _adam(param, grad, m, v, t, lr, beta1, beta2, eps, correct=True, ascent=False, old=False):
    """(9.7), with switches for its typical mistakes."""
    m_t = beta1 * m + (1 - beta1) * grad
    v_t = beta2 * v + (1 - beta2) * grad**2
    m_used, v_used = (m, v) if old else (m_t, v_t)
    c1, c2 = (1 - beta1**t, 1 - beta2**t) if correct else (1.0, 1.0)
    step = lr / c1 * m_used / (np.sqrt(v_used) / np.sqrt(c2) + eps)
    return (param + step if ascent else param - step), m_t, v_t


def _draw(s, rng):
    shape = (s["P"], s["Q"])
    return {
        "param": rng.normal(size=shape),
        "grad": 0.1 * rng.normal(size=shape),
        "m": 0.05 * rng.normal(size=shape),
        "v": 0.01 * rng.random(shape) + 1e-4,
        "t": np.array(float(rng.integers(1, 6))),
        "lr": np.array(rng.uniform(0.01, 0.1)),
        "beta1": np.array(rng.uniform(0.8, 0.95)),
        "beta2": np.array(rng.uniform(0.99, 0.999)),
        "eps": np.array(rng.uniform(1e-3, 1e-2)),
    }


ADAM_ARGUMENTS = ("param", "grad", "m", "v", "t", "lr", "beta1", "beta2", "eps")

ADAM_STEP = Exercise(
    name="adam_step",
    notebook=ASSIGNMENT_3,
    title="one Adam step",
    section="§9.3",
    lecture="lecture 000",
    arguments=ADAM_ARGUMENTS,
    outputs=("new_param", "new_m", "new_v"),
    sizes={"P": 3, "Q": 2},
    hidden_sizes=({"P": 4, "Q": 5}, {"P": 2, "Q": 6}, {"P": 7, "Q": 3}),
    draw=_draw,
    reference=lambda i: _adam(*(i[name] for name in ADAM_ARGUMENTS)),
    reference_name="the formula (9.7)",
    answer_name="your function",
    mistakes=(
        Mistake(
            "no bias correction",
            "m and v start at 0 and are biased toward it: divide the step by 1 - beta1^t and "
            "sqrt(v_t) by sqrt(1 - beta2^t) (9.7).",
            lambda *a: _adam(*a, correct=False),
        ),
        Mistake(
            "ascent",
            "a sign error: numpyvae minimises the loss, so the step is subtracted.",
            lambda *a: _adam(*a, ascent=True),
        ),
        Mistake(
            "old moments",
            "update m and v first, then take the step with the new m_t and v_t.",
            lambda *a: _adam(*a, old=True),
        ),
        Mistake(
            "eps inside the root",
            "eps is added to sqrt(v_t) / sqrt(1 - beta2^t), outside the square root (9.7).",
            lambda param, grad, m, v, t, lr, beta1, beta2, eps: (
                param
                - lr
                / (1 - beta1**t)
                * (beta1 * m + (1 - beta1) * grad)
                / np.sqrt((beta2 * v + (1 - beta2) * grad**2) / (1 - beta2**t) + eps),
                beta1 * m + (1 - beta1) * grad,
                beta2 * v + (1 - beta2) * grad**2,
            ),
        ),
    ),
)
