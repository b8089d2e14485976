"""Exercises on the decoder's likelihoods (derivations.md §5; lectures 000, 004).

bernoulli_backward(x, logits) -> dlogits           of -sum_b log p(x_b | z_b)  (§5.3)
"""

from __future__ import annotations

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.layers import ASSIGNMENT_1
from numpyvae.exercises.references import by_finite_differences
from numpyvae.layers import sigmoid
from numpyvae.likelihoods import Bernoulli


def bernoulli_nll(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log p(x | z) = -sum_i [x_i l_i - softplus(l_i)] per row: (B, d), (B, d) -> (B,) (§5.3)."""
    return -Bernoulli().log_prob(x, logits[np.newaxis])[0]


BERNOULLI_BACKWARD = Exercise(
    name="bernoulli_backward",
    notebook=ASSIGNMENT_1,
    title="the Bernoulli reconstruction loss",
    section="§5.3",
    lecture="lecture 004",
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


# ------------------------------------------------------------ the Gaussian decoders (§5.1, §5.2)


def gaussian_nll(x: np.ndarray, xhat: np.ndarray, v: np.ndarray | float = 0.0) -> float:
    """-sum_b log N(x_b; xhat_b, e^v I): x, xhat (B, d), v the shared log-variance (§5.1, §5.2)."""
    r = x - xhat
    return float(0.5 * np.sum(LOG_2PI + v + r**2 * np.exp(-v)))


def _draw_gaussian(s, rng):
    return {"x": rng.normal(size=(s["B"], s["d"])), "xhat": rng.normal(size=(s["B"], s["d"]))}


def _right_learned(x, xhat, v):
    r = x - xhat
    return -r * np.exp(-v), 0.5 * np.sum(1.0 - r**2 * np.exp(-v))


GAUSSIAN_BACKWARD = Exercise(
    name="gaussian_backward",
    notebook="12_layers_and_backprop_exercises",
    title="the Gaussian likelihood with identity covariance",
    section="§5.1",
    lecture="lecture 000",
    arguments=("x", "xhat"),
    outputs=("dxhat",),
    sizes={"B": 3, "d": 5},
    hidden_sizes=({"B": 4, "d": 7}, {"B": 6, "d": 3}, {"B": 2, "d": 9}),
    draw=_draw_gaussian,
    reference=by_finite_differences(lambda i: gaussian_nll(i["x"], i["xhat"]), ("xhat",)),
    mistakes=(
        Mistake(
            "sign",
            "a sign error: d log p / d xhat = x - xhat, and the loss is the NEGATIVE "
            "log-likelihood, so dxhat = xhat - x.",
            lambda x, xhat: x - xhat,
        ),
        Mistake(
            "squared error without 1/2",
            "-log N(x; xhat, I) = 1/2 ||x - xhat||^2 + const: the 1/2 cancels the square's 2 "
            "(||x - xhat||^2 without it is erratum E1 of derivations.md §10).",
            lambda x, xhat: 2 * (xhat - x),
        ),
        Mistake(
            "mean over pixels",
            "1/d with d = {d}: the log-likelihood sums over the d pixels (a mean-squared-error "
            "loss averages them, which is another likelihood).",
            lambda x, xhat: (xhat - x) / x.shape[1],
        ),
    ),
    factors={"d": "x:1", "B": "x:0"},
)

GAUSSIAN_LEARNED_BACKWARD = Exercise(
    name="gaussian_learned_backward",
    notebook="12_layers_and_backprop_exercises",
    title="the Gaussian likelihood with a learned shared variance",
    section="§5.2",
    lecture="lecture 004",
    arguments=("x", "xhat", "v"),
    outputs=("dxhat", "dv"),
    sizes={"B": 3, "d": 5},
    hidden_sizes=({"B": 4, "d": 7}, {"B": 6, "d": 3}, {"B": 2, "d": 9}),
    draw=lambda s, rng: {**_draw_gaussian(s, rng), "v": np.array(rng.uniform(-1.0, 1.0))},
    reference=by_finite_differences(
        lambda i: gaussian_nll(i["x"], i["xhat"], i["v"]), ("xhat", "v")
    ),
    mistakes=(
        Mistake(
            "variance ignored",
            "the residual is divided by the variance: dxhat = (xhat - x) e^{-v}.",
            lambda x, xhat, v: (xhat - x, _right_learned(x, xhat, v)[1]),
        ),
        Mistake(
            "log-variance term dropped",
            "the normal's normaliser contributes 1/2 v per pixel to -log p, so each pixel "
            "adds 1/2 to dv: dv = 1/2 sum(1 - r^2 e^{-v}).",
            lambda x, xhat, v: (
                _right_learned(x, xhat, v)[0],
                -0.5 * np.sum((x - xhat) ** 2 * np.exp(-v)),
            ),
        ),
        Mistake(
            "v counted once",
            "v is shared by every pixel of every row: its 1/2 enters B d times, so "
            "dv = 1/2 (B d - ||r||^2 e^{-v}).",
            lambda x, xhat, v: (
                _right_learned(x, xhat, v)[0],
                0.5 * (1.0 - np.sum((x - xhat) ** 2) * np.exp(-v)),
            ),
        ),
        Mistake(
            "e^{+v}",
            "d(e^{-v})/dv = -e^{-v}: the residual is divided by e^{v}, not multiplied.",
            lambda x, xhat, v: (
                (xhat - x) * np.exp(v),
                0.5 * np.sum(1.0 - (x - xhat) ** 2 * np.exp(v)),
            ),
        ),
    ),
)
