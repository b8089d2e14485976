"""Exercises on the gradient checker itself (derivations.md §6.4; lecture 000).

    rel_error(a, b) -> error            max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-8), a 0-d array
    centred_difference(x, A, c, h) -> grad
        (f(x + h e_i) - f(x - h e_i)) / (2h) for each i, of f(x) = sum_p c_p tanh((A x)_p)

The judge computes both from their formulas. The step h is large (about 0.1), so a one-sided
difference or the exact gradient differ from the centred difference visibly (6.6).
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.activations import ASSIGNMENT_2
from numpyvae.exercises.exercise import Exercise, Mistake

REL_ERROR_FLOOR = 1e-8


def _rel_error(a, b, floor=REL_ERROR_FLOOR):
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor))


def _draw_pair(s, rng):
    shape = (s["N"], s["D"])
    a = rng.normal(size=shape)
    b = a * (1.0 + 1e-3 * rng.normal(size=shape))
    # A few entries near zero, where the floor decides: their own relative error is O(1).
    tiny = rng.random(shape) < 0.3
    a[tiny] = 1e-12 * rng.normal(size=tiny.sum())
    b[tiny] = 1e-12 * rng.normal(size=tiny.sum())
    return {"a": a, "b": b}


REL_ERROR = Exercise(
    name="rel_error",
    notebook=ASSIGNMENT_2,
    title="the relative error of two arrays",
    section="§6.4",
    lecture="lecture 000",
    arguments=("a", "b"),
    outputs=("error",),
    sizes={"N": 4, "D": 5},
    hidden_sizes=({"N": 6, "D": 3}, {"N": 3, "D": 8}, {"N": 7, "D": 7}),
    draw=_draw_pair,
    reference=lambda i: (np.asarray(_rel_error(i["a"], i["b"])),),
    reference_name="the formula",
    answer_name="your function",
    mistakes=(
        Mistake(
            "no floor",
            "without the floor 1e-8 in the denominator, two entries that are both nearly 0 "
            "give a relative error of order 1 (and 0/0 for two zeros): use "
            "max(|a_i| + |b_i|, 1e-8).",
            lambda a, b: _rel_error(a, b, floor=0.0),
        ),
        Mistake(
            "mean for max",
            "the relative error is the WORST entry's (a maximum), not the mean over entries.",
            lambda a, b: np.mean(
                np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), REL_ERROR_FLOOR)
            ),
        ),
        Mistake(
            "relative to a alone",
            "divide by |a_i| + |b_i|, symmetric in the two arrays, not by |a_i| alone.",
            lambda a, b: np.max(np.abs(a - b) / np.maximum(np.abs(a), REL_ERROR_FLOOR)),
        ),
    ),
)


def wavy(x: np.ndarray, A: np.ndarray, c: np.ndarray) -> float:
    """f(x) = sum_p c_p tanh((A x)_p): x (D,), A (P, D), c (P,) -> a float."""
    return float(np.sum(c * np.tanh(A @ x)))


def _differences(x, A, c, h, one_sided=False, step_divisor=2.0):
    grad = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        low = wavy(x, A, c) if one_sided else wavy(x - e, A, c)
        grad[i] = (wavy(x + e, A, c) - low) / ((1.0 if one_sided else step_divisor) * h)
    return grad


CENTRED_DIFFERENCE = Exercise(
    name="centred_difference",
    notebook=ASSIGNMENT_2,
    title="the centred difference",
    section="§6.4",
    lecture="lecture 000",
    arguments=("x", "A", "c", "h"),
    outputs=("grad",),
    sizes={"D": 4, "P": 3},
    hidden_sizes=({"D": 6, "P": 5}, {"D": 3, "P": 7}, {"D": 8, "P": 2}),
    draw=lambda s, rng: {
        "x": rng.normal(size=s["D"]),
        "A": rng.normal(size=(s["P"], s["D"])),
        "c": rng.normal(size=s["P"]),
        "h": np.array(rng.uniform(0.08, 0.15)),
    },
    reference=lambda i: (_differences(i["x"], i["A"], i["c"], float(i["h"])),),
    reference_name="the centred difference",
    answer_name="your function",
    mistakes=(
        Mistake(
            "one-sided",
            "that is the one-sided difference (f(x + h e_i) - f(x)) / h, whose error is O(h); "
            "step to both sides: (f(x + h e_i) - f(x - h e_i)) / (2h).",
            lambda x, A, c, h: _differences(x, A, c, float(h), one_sided=True),
        ),
        Mistake(
            "divided by h",
            "the two points are 2h apart: divide their difference by 2h, not h.",
            lambda x, A, c, h: _differences(x, A, c, float(h), step_divisor=1.0),
        ),
        Mistake(
            "exact gradient",
            "that is the exact gradient A^T (c (1 - tanh^2(A x))); the exercise asks for the "
            "centred difference at this h, which differs from it by about h^2 f''' / 6 (6.6).",
            lambda x, A, c, h: A.T @ (c * (1 - np.tanh(A @ x) ** 2)),
        ),
    ),
)
