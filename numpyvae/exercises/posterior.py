"""Exercises on the Gaussian posterior: the reparameterization and the KL (lectures 000, 003).

reparam_backward(dz, mu, logvar, eps) -> (dmu, dlogvar)
                              z_j = mu + exp(logvar/2) eps_j, j = 1..M           (§3.4)
kl_backward(mu, logvar) -> (dmu, dlogvar)
                              of sum_b KL(N(mu_b, diag(exp(logvar_b))) || N(0, I)) (§4.3)
"""

from __future__ import annotations

import numpy as np

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.layers import ASSIGNMENT_1
from numpyvae.exercises.references import by_finite_differences, vjp_loss
from numpyvae.posteriors import DiagonalGaussian


def reparam_forward(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """z = mu + sigma * eps with sigma = exp(logvar / 2) (derivations.md §3.4).

    mu, logvar (B, k), eps (M, B, k) -> z (M, B, k).
    """
    k = mu.shape[1]
    return DiagonalGaussian(k).sample(np.concatenate([mu, logvar], axis=1), eps)


def kl_forward(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row: mu, logvar (B, k) -> (B,) (§4.1)."""
    k = mu.shape[1]
    return DiagonalGaussian(k).kl(np.concatenate([mu, logvar], axis=1))


def _right_dlogvar(dz, logvar, eps):
    return (dz * eps).sum(axis=0) * np.exp(0.5 * logvar) / 2


def _draw_reparam(s, rng):
    mu, logvar = rng.normal(size=(s["B"], s["k"])), rng.normal(size=(s["B"], s["k"]))
    eps, dz = rng.normal(size=(s["M"], s["B"], s["k"])), rng.normal(size=(s["M"], s["B"], s["k"]))
    return {"dz": dz, "mu": mu, "logvar": logvar, "eps": eps}


REPARAM_BACKWARD = Exercise(
    name="reparam_backward",
    notebook=ASSIGNMENT_1,
    title="the reparameterization's backward",
    section="§3.4",
    lecture="lecture 000",
    arguments=("dz", "mu", "logvar", "eps"),
    outputs=("dmu", "dlogvar"),
    sizes={"M": 3, "B": 4, "k": 2},
    hidden_sizes=({"M": 5, "B": 6, "k": 3}, {"M": 2, "B": 7, "k": 4}, {"M": 6, "B": 3, "k": 5}),
    draw=_draw_reparam,
    reference=by_finite_differences(
        vjp_loss(reparam_forward, "dz", "mu", "logvar", "eps"), ("mu", "logvar")
    ),
    mistakes=(
        Mistake(
            "1/M",
            "1/M with M = {M}: dz already carries the loss's average over the M samples; "
            "dividing by M again counts it twice. Sum dz over the samples.",
            lambda dz, mu, lv, eps: (dz.mean(axis=0), _right_dlogvar(dz, lv, eps) / len(dz)),
        ),
        Mistake(
            "M",
            "M = {M}: you multiplied by M; each sample z_j contributes dz_j once, so the sum "
            "over j is all.",
            lambda dz, mu, lv, eps: (
                len(dz) * dz.sum(axis=0),
                len(dz) * _right_dlogvar(dz, lv, eps),
            ),
        ),
        Mistake(
            "twice",
            "a factor 1/2 is missing: d sigma / d log sigma^2 = sigma / 2, since "
            "sigma = exp(log sigma^2 / 2).",
            lambda dz, mu, lv, eps: (dz.sum(axis=0), 2 * _right_dlogvar(dz, lv, eps)),
        ),
        Mistake(
            "variance for sigma",
            "you used sigma^2 = exp(logvar) where sigma = exp(logvar / 2) belongs: "
            "dz/dlogvar = eps sigma / 2.",
            lambda dz, mu, lv, eps: (dz.sum(axis=0), (dz * eps).sum(axis=0) * np.exp(lv) / 2),
        ),
        Mistake(
            "eps dropped",
            "z depends on logvar through sigma * eps: the upstream dz must be multiplied by eps "
            "before summing over the samples.",
            lambda dz, mu, lv, eps: (dz.sum(axis=0), dz.sum(axis=0) * np.exp(lv / 2) / 2),
        ),
    ),
    factors={"M": "eps:0"},
)

KL_BACKWARD = Exercise(
    name="kl_backward",
    notebook=ASSIGNMENT_1,
    title="the KL to N(0, I)",
    section="§4.3",
    lecture="lecture 003",
    arguments=("mu", "logvar"),
    outputs=("dmu", "dlogvar"),
    sizes={"B": 4, "k": 3},
    hidden_sizes=({"B": 7, "k": 4}, {"B": 3, "k": 6}, {"B": 9, "k": 2}),
    draw=lambda s, rng: {
        "mu": rng.normal(size=(s["B"], s["k"])),
        "logvar": rng.normal(size=(s["B"], s["k"])),
    },
    reference=by_finite_differences(
        lambda i: float(np.sum(kl_forward(i["mu"], i["logvar"]))), ("mu", "logvar")
    ),
    mistakes=(
        Mistake(
            "half",
            "a factor 2 is missing: d(mu^2 / 2)/d mu = mu (the square's 2 cancels the KL's 1/2).",
            lambda mu, lv: (0.5 * mu, 0.5 * np.expm1(lv)),
        ),
        Mistake(
            "twice",
            "a factor 1/2 is missing: the KL is 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1), so "
            "its derivative in log sigma^2 is (sigma^2 - 1)/2.",
            lambda mu, lv: (mu, np.expm1(lv)),
        ),
        Mistake(
            "sign",
            "a sign error: the KL enters the loss (the negative ELBO) with a plus sign, and "
            "this is the gradient of the KL itself.",
            lambda mu, lv: (-mu, -0.5 * np.expm1(lv)),
        ),
        Mistake(
            "-1 dropped",
            "the -log sigma^2 term is missing: its derivative in log sigma^2 is -1, so "
            "dlogvar = (sigma^2 - 1)/2.",
            lambda mu, lv: (mu, 0.5 * np.exp(lv)),
        ),
        Mistake(
            "in sigma^2",
            "that is the derivative in sigma^2, (1 - 1/sigma^2)/2; the variable is log sigma^2, "
            "so multiply by d sigma^2 / d log sigma^2 = sigma^2.",
            lambda mu, lv: (mu, 0.5 * (1.0 - np.exp(-lv))),
        ),
    ),
    factors={"B": "mu:0"},
)
