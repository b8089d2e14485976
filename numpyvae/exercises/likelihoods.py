"""Exercises on the decoder's likelihoods (derivations.md §5; lecture 002).

bernoulli_backward(x, logits) -> dlogits           of -sum_b log p(x_b | z_b)  (§5.3)
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.layers import FIRST
from numpyvae.exercises.references import by_finite_differences
from numpyvae.layers import sigmoid
from numpyvae.likelihoods import Bernoulli


def bernoulli_nll(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log p(x | z) = -sum_i [x_i l_i - softplus(l_i)] per row: (B, d), (B, d) -> (B,) (§5.3)."""
    return -Bernoulli().log_prob(x, logits[np.newaxis])[0]


BERNOULLI_BACKWARD = Exercise(
    name="bernoulli_backward",
    notebook=FIRST,
    title="the Bernoulli reconstruction loss",
    section="§5.3",
    lecture="lecture 002",
    arguments=("x", "logits"),
    outputs=("dlogits",),
    sizes={"B": 4, "d": 6},
    hidden_sizes=({"B": 5, "d": 9}, {"B": 8, "d": 3}, {"B": 2, "d": 7}),
    draw=lambda s, rng: {
        "x": (rng.random((s["B"], s["d"])) < 0.5).astype(np.float64),
        "logits": 2.0 * rng.normal(size=(s["B"], s["d"])),
    },
    reference=by_finite_differences(
        lambda i: float(np.sum(bernoulli_nll(i["x"], i["logits"]))), ("logits",)
    ),
    mistakes=(
        Mistake(
            "sign",
            "a sign error: the loss is the NEGATIVE log-likelihood, d(-log p)/dl = sigmoid(l) - x.",
            lambda x, logits: x - sigmoid(logits),
        ),
        Mistake(
            "1/B",
            "1/B with B = {B}: this loss sums over the batch; do not average.",
            lambda x, logits: (sigmoid(logits) - x) / len(x),
        ),
        Mistake(
            "sigmoid's slope",
            "you multiplied by the sigmoid's slope s(1 - s): with logits, softplus'(l) = "
            "sigmoid(l) and nothing else, so dl = sigmoid(l) - x.",
            lambda x, logits: sigmoid(logits) * (1 - sigmoid(logits)) * (sigmoid(logits) - x),
        ),
    ),
    factors={"B": "x:0"},
)
