"""Exercise on the importance-weighted bound (derivations.md §9.1; lecture 004).

    iwae_bound(logw) -> (bound, dlogw)
        bound_b = log (1/K) sum_j exp(logw_bj)                      (9.1), by (9.3)
        dlogw = d(sum_b bound_b) / d logw = softmax over j of logw  (9.4)

logw (B, K) are log importance weights of a few hundred nats below zero, as on MNIST, so
exp(logw) underflows to 0 unless the row's maximum is taken out first. The reference is the
formula.
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.vae import ASSIGNMENT_3


def _bound(logw, axis=1, log_k=True):
    peak = np.max(logw, axis=axis, keepdims=True)
    weights = np.exp(logw - peak)
    total = np.sum(weights, axis=axis, keepdims=True)
    bound = np.squeeze(peak + np.log(total), axis=axis)
    return bound - (np.log(logw.shape[axis]) if log_k else 0.0), weights / total


IWAE_BOUND = Exercise(
    name="iwae_bound",
    notebook=ASSIGNMENT_3,
    title="the importance-weighted bound and its weight gradient",
    section="§9.1",
    lecture="lecture 004",
    arguments=("logw",),
    outputs=("bound", "dlogw"),
    sizes={"B": 3, "K": 5},
    hidden_sizes=({"B": 4, "K": 7}, {"B": 6, "K": 2}, {"B": 2, "K": 9}),
    draw=lambda s, rng: {"logw": -800.0 + 3.0 * rng.normal(size=(s["B"], s["K"]))},
    reference=lambda i: _bound(i["logw"]),
    reference_name="the formula",
    answer_name="your function",
    nonfinite_hint=(
        "exp(-800) underflows to 0 in float64: take the row's maximum out first, "
        "log sum_j e^{l_j} = l* + log sum_j e^{l_j - l*} (9.3)."
    ),
    mistakes=(
        Mistake(
            "log K missing",
            "the bound averages the K weights inside the log: subtract log K (9.1).",
            lambda logw: _bound(logw, log_k=False),
        ),
        Mistake(
            "the ELBO",
            "that is the average of the log-weights, the K-sample ELBO; the bound takes the "
            "log of the average weight, and its gradient weighs sample j by softmax(logw)_j, "
            "not 1/K.",
            lambda logw: (logw.mean(axis=1), np.full_like(logw, 1.0 / logw.shape[1])),
        ),
        Mistake(
            "not normalised",
            "the weights of the gradient are normalised: divide exp(logw_j - max) by their sum "
            "over j (9.4).",
            lambda logw: (_bound(logw)[0], np.exp(logw - logw.max(axis=1, keepdims=True))),
        ),
        Mistake(
            "softmax over the batch",
            "the softmax runs over the K samples of each data point (axis 1), not over the batch.",
            lambda logw: (_bound(logw)[0], _bound(logw, axis=0)[1]),
        ),
    ),
)
