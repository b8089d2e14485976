"""Exercises beyond the diagonal VAE: the full-covariance posterior and the conditional model.

    fullcov_backward(dz, mu, a, eps, g) -> (dmu, da)                     (§4.4, §7.1; lecture 004)
        z_j = mu + L eps_j with L = tril(a, -1) + diag(exp(diag(a))), per data point;
        the loss sum(dz * z) + g sum_b log det L_b (the log-determinant of log q, (7.2))
    conditional_decoder_backward(dout, z, c, W, b) -> (dz, dW, db)      (§9.2; lecture 004)
        out = [z | c] W + b: the label c is concatenated to the decoder's input

The references are the centred differences of the losses.
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.references import by_finite_differences, vjp_loss

ASSIGNMENT_4 = "14_beyond_exercises"


def cholesky_factor(a: np.ndarray) -> np.ndarray:
    """L = tril(a, -1) + diag(exp(diag(a))): a (B, k, k) -> L (B, k, k), lower, diagonal > 0."""
    diagonal = np.exp(np.diagonal(a, axis1=-2, axis2=-1))
    return np.tril(a, -1) + diagonal[..., np.newaxis] * np.eye(a.shape[-1])


def fullcov_loss(dz, mu, a, eps, g) -> float:
    """sum(dz * z) + g sum_b log det L_b with z_jb = mu_b + L_b eps_jb (4.7, 7.3)."""
    L = cholesky_factor(a)
    z = mu + np.einsum("bac,jbc->jba", L, eps)
    log_det = np.sum(np.diagonal(a, axis1=-2, axis2=-1))
    return float(np.sum(dz * z) + g * log_det)


def _fullcov_grads(dz, mu, a, eps, g, log_det=1.0, lower=True, chain=True, outer="jba,jbc->bac"):
    """The gradient of fullcov_loss, with switches for its typical mistakes (4.7)."""
    k = a.shape[-1]
    L = cholesky_factor(a)
    dL = np.einsum(outer, dz, eps)
    da = np.tril(dL, -1) if lower else dL - dL * np.eye(k)
    diagonal = np.diagonal(dL, axis1=-2, axis2=-1) * (
        np.diagonal(L, axis1=-2, axis2=-1) if chain else 1.0
    )
    da = da + (diagonal + log_det * g)[..., np.newaxis] * np.eye(k)
    return dz.sum(axis=0), da


def _draw_fullcov(s, rng):
    M, B, k = s["M"], s["B"], s["k"]
    return {
        "dz": rng.normal(size=(M, B, k)),
        "mu": rng.normal(size=(B, k)),
        "a": 0.5 * rng.normal(size=(B, k, k)),
        "eps": rng.normal(size=(M, B, k)),
        "g": np.array(rng.uniform(-2.0, -0.5)),
    }


FULLCOV_BACKWARD = Exercise(
    name="fullcov_backward",
    notebook=ASSIGNMENT_4,
    title="the full-covariance reparameterization and its log-determinant",
    section="§4.4",
    lecture="lecture 004",
    arguments=("dz", "mu", "a", "eps", "g"),
    outputs=("dmu", "da"),
    sizes={"M": 2, "B": 3, "k": 3},
    hidden_sizes=({"M": 3, "B": 2, "k": 4}, {"M": 4, "B": 3, "k": 2}, {"M": 2, "B": 4, "k": 5}),
    draw=_draw_fullcov,
    reference=by_finite_differences(
        lambda i: fullcov_loss(i["dz"], i["mu"], i["a"], i["eps"], i["g"]), ("mu", "a")
    ),
    mistakes=(
        Mistake(
            "log-det missing",
            "the log-determinant term is missing: log det L = sum_i log L_ii = sum_i a_ii, so "
            "each diagonal entry of da gets + g.",
            lambda *args: _fullcov_grads(*args, log_det=0.0),
        ),
        Mistake(
            "upper triangle",
            "the entries above the diagonal are not parameters (L is lower triangular): their "
            "gradient is 0, so keep only tril of sum_j dz_j eps_j^T (4.7).",
            lambda *args: _fullcov_grads(*args, lower=False),
        ),
        Mistake(
            "diagonal chain",
            "L_ii = exp(a_ii): the diagonal's gradient is multiplied by dL_ii/da_ii = L_ii (4.7).",
            lambda *args: _fullcov_grads(*args, chain=False),
        ),
        Mistake(
            "outer product transposed",
            "dz_a / dL_ac = eps_c: the outer product is dz eps^T (row a from dz, column c from "
            "eps), not eps dz^T.",
            lambda *args: _fullcov_grads(*args, outer="jbc,jba->bac"),
        ),
    ),
    factors={"M": "eps:0"},
)


def conditional_forward(z: np.ndarray, c: np.ndarray, W: np.ndarray, b: np.ndarray):
    """[z | c] W + b: z (N, k), c (N, n), W (k + n, D), b (D,) -> (N, D) (§9.2)."""
    return np.concatenate([z, c], axis=1) @ W + b


def _draw_conditional(s, rng):
    N, k, n, D = s["N"], s["k"], s["n"], s["D"]
    return {
        "dout": rng.normal(size=(N, D)),
        "z": rng.normal(size=(N, k)),
        "c": np.eye(n)[rng.integers(0, n, size=N)],
        "W": rng.normal(size=(k + n, D)),
        "b": rng.normal(size=D),
    }


CONDITIONAL_DECODER_BACKWARD = Exercise(
    name="conditional_decoder_backward",
    notebook=ASSIGNMENT_4,
    title="the conditional decoder's label concatenation",
    section="§9.2",
    lecture="lecture 004",
    arguments=("dout", "z", "c", "W", "b"),
    outputs=("dz", "dW", "db"),
    sizes={"N": 4, "k": 2, "n": 3, "D": 5},
    hidden_sizes=(
        {"N": 5, "k": 3, "n": 4, "D": 2},
        {"N": 3, "k": 4, "n": 2, "D": 6},
        {"N": 6, "k": 2, "n": 5, "D": 3},
    ),
    draw=_draw_conditional,
    reference=by_finite_differences(
        vjp_loss(conditional_forward, "dout", "z", "c", "W", "b"), ("z", "W", "b")
    ),
    mistakes=(
        Mistake(
            "label weights zeroed",
            "c is data, but the rows of W that multiply it are parameters: their gradient is "
            "c^T dout, the lower block of [z | c]^T dout.",
            lambda dout, z, c, W, b: (
                dout @ W[: z.shape[1]].T,
                np.concatenate([z.T @ dout, np.zeros((c.shape[1], dout.shape[1]))]),
                dout.sum(axis=0),
            ),
        ),
        Mistake(
            "concatenation order",
            "z comes first in [z | c]: dz uses the first k rows of W, W[:k].",
            lambda dout, z, c, W, b: (
                dout @ W[-z.shape[1] :].T,
                np.concatenate([z, c], axis=1).T @ dout,
                dout.sum(axis=0),
            ),
        ),
    ),
    factors={"N": "z:0"},
)
