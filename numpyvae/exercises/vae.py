"""Exercises on the whole VAE's gradient (derivations.md §6.3, §7.2; lectures 000, 004).

    sampled_kl_backward(mu, logvar, eps) -> (dmu, dlogvar)
        of sum_b (1/M) sum_j [log q(z_bj | x_b) - log p(z_bj)],  z_bj = mu_b + sigma_b eps_bj
        (estimator A's sampled KL, §7.2)
    vae_backward(x, eps, We, be, Wd, bd) -> (dWe, dbe, dWd, dbd)
        of the negative ELBO (estimator B) of a VAE with a linear encoder
        h = x We + be = [mu | logvar] and a linear Bernoulli decoder logits = z Wd + bd (§6.3)

eps (M, B, k) is given, so both losses are deterministic functions of the parameters and the
references are their centred differences.
"""

from __future__ import annotations

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.likelihoods import bernoulli_nll
from numpyvae.exercises.posterior import kl_forward
from numpyvae.exercises.references import by_finite_differences
from numpyvae.layers import sigmoid

ASSIGNMENT_3 = "13_vae_exercises"


def sampled_kl(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> float:
    """sum_b (1/M) sum_j [log q(z_bj) - log p(z_bj)] at z = mu + sigma eps (7.3, 7.4).

    mu, logvar (B, k); eps (M, B, k). log q is the Gaussian density evaluated at z, so the
    loss depends on (mu, logvar) through z and through the density's own parameters.
    """
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps
    log_q = -0.5 * np.sum(LOG_2PI + logvar + ((z - mu) / sigma) ** 2, axis=-1)
    log_p = -0.5 * np.sum(LOG_2PI + z**2, axis=-1)
    return float(np.sum(np.mean(log_q - log_p, axis=0)))


def _sampled_kl_grads(mu, logvar, eps, log_det=1.0, per_sample=None, score=0.0):
    """The gradient of sampled_kl, with switches for its typical mistakes."""
    M = eps.shape[0]
    weight = 1.0 / M if per_sample is None else per_sample
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps
    dmu = weight * z.sum(axis=0) + score * weight * (eps / sigma).sum(axis=0)
    dlogvar = weight * (z * eps).sum(axis=0) * sigma / 2 - log_det * weight * M / 2
    return dmu, dlogvar


def _draw_latents(s, rng):
    B, k = s["B"], s["k"]
    return {
        "mu": rng.normal(size=(B, k)),
        "logvar": 0.5 * rng.normal(size=(B, k)),
        "eps": rng.normal(size=(s["M"], B, k)),
    }


SAMPLED_KL_BACKWARD = Exercise(
    name="sampled_kl_backward",
    notebook=ASSIGNMENT_3,
    title="estimator A's sampled KL",
    section="§7.2",
    lecture="lecture 004",
    arguments=("mu", "logvar", "eps"),
    outputs=("dmu", "dlogvar"),
    sizes={"M": 3, "B": 2, "k": 4},
    hidden_sizes=({"M": 4, "B": 5, "k": 2}, {"M": 2, "B": 3, "k": 5}, {"M": 6, "B": 4, "k": 3}),
    draw=_draw_latents,
    reference=by_finite_differences(
        lambda i: sampled_kl(i["mu"], i["logvar"], i["eps"]), ("mu", "logvar")
    ),
    mistakes=(
        Mistake(
            "log-det dropped",
            "log q(z|x) at z = mu + sigma eps is log p(eps) - sum_i log sigma_i (7.3): its "
            "log-determinant gives -1/2 per entry of dlogvar (7.5).",
            lambda mu, lv, eps: _sampled_kl_grads(mu, lv, eps, log_det=0.0),
        ),
        Mistake(
            "detached path",
            "you differentiated log q(z|x) in mu with z held fixed, (z - mu) / sigma^2; but z "
            "moves with mu, and along that path log q = log p(eps) - sum log sigma does not "
            "depend on mu at all.",
            lambda mu, lv, eps: _sampled_kl_grads(mu, lv, eps, score=1.0),
        ),
        Mistake(
            "M",
            "M = {M}: the loss averages the M samples; each carries the weight 1/M.",
            lambda mu, lv, eps: _sampled_kl_grads(mu, lv, eps, per_sample=1.0),
        ),
        Mistake(
            "sign",
            "a sign error: this is the gradient of log q - log p (the KL's estimate, which the "
            "loss adds), not of log p - log q.",
            lambda mu, lv, eps: tuple(-g for g in _sampled_kl_grads(mu, lv, eps)),
        ),
    ),
    factors={"M": "eps:0"},
)


def vae_loss(x, eps, We, be, Wd, bd) -> float:
    """The negative ELBO of a linear VAE (estimator B), averaged as numpyvae does (2.10).

    x (B, d) binary, eps (M, B, k), We (d, 2k), be (2k,), Wd (k, d), bd (d,):
    (1/(MB)) sum_{j,b} -log p(x_b | z_bj) + (1/B) sum_b KL(q(z | x_b) || N(0, I)).
    """
    M, B, k = eps.shape
    h = x @ We + be
    mu, logvar = h[:, :k], h[:, k:]
    z = mu + np.exp(0.5 * logvar) * eps
    logits = z @ Wd + bd
    reconstruction = sum(float(np.sum(bernoulli_nll(x, logits[j]))) for j in range(M))
    return reconstruction / (M * B) + float(np.sum(kl_forward(mu, logvar))) / B


def _vae_grads(x, eps, We, be, Wd, bd, recon=1.0, kl=1.0, per_sample=None, through_z=True):
    """The gradient of vae_loss, with switches for its typical mistakes."""
    M, B, k = eps.shape
    h = x @ We + be
    mu, logvar = h[:, :k], h[:, k:]
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps
    dlogits = recon * (sigmoid(z @ Wd + bd) - x) / (B * (M if per_sample is None else 1))
    dWd = np.einsum("jbk,jbd->kd", z, dlogits)
    dbd = dlogits.sum(axis=(0, 1))
    dz = dlogits @ Wd.T if through_z else np.zeros_like(z)
    dmu = dz.sum(axis=0) + kl * mu / B
    dlogvar = (dz * eps).sum(axis=0) * sigma / 2 + kl * np.expm1(logvar) / (2 * B)
    dh = np.concatenate([dmu, dlogvar], axis=1)
    return x.T @ dh, dh.sum(axis=0), dWd, dbd


def _draw_vae(s, rng):
    M, B, d, k = s["M"], s["B"], s["d"], s["k"]
    return {
        "x": (rng.random((B, d)) < 0.5).astype(np.float64),
        "eps": rng.normal(size=(M, B, k)),
        "We": rng.normal(size=(d, 2 * k)) / np.sqrt(d),
        "be": 0.3 * rng.normal(size=2 * k),
        "Wd": rng.normal(size=(k, d)),
        "bd": 0.3 * rng.normal(size=d),
    }


VAE_BACKWARD = Exercise(
    name="vae_backward",
    notebook=ASSIGNMENT_3,
    title="the whole model's backward from its parts",
    section="§6.3",
    lecture="lecture 000",
    arguments=("x", "eps", "We", "be", "Wd", "bd"),
    outputs=("dWe", "dbe", "dWd", "dbd"),
    sizes={"M": 2, "B": 3, "d": 5, "k": 2},
    hidden_sizes=(
        {"M": 3, "B": 4, "d": 6, "k": 3},
        {"M": 4, "B": 2, "d": 7, "k": 2},
        {"M": 2, "B": 5, "d": 4, "k": 3},
    ),
    draw=_draw_vae,
    reference=by_finite_differences(
        lambda i: vae_loss(i["x"], i["eps"], i["We"], i["be"], i["Wd"], i["bd"]),
        ("We", "be", "Wd", "bd"),
    ),
    mistakes=(
        Mistake(
            "KL weight 1/(MB)",
            "the KL is computed once per data point, not once per sample: its weight is 1/B, "
            "not 1/(MB) (6.5).",
            lambda x, eps, *p: _vae_grads(x, eps, *p, kl=1.0 / eps.shape[0]),
        ),
        Mistake(
            "KL missing",
            "the KL's gradient (mu and (sigma^2 - 1)/2, weighted 1/B) joins the "
            "reconstruction's at the encoder's output (6.5).",
            lambda x, eps, *p: _vae_grads(x, eps, *p, kl=0.0),
        ),
        Mistake(
            "detached path",
            "the reconstruction's gradient must reach the encoder through z = mu + sigma eps: "
            "dmu gets sum_j dz_j and dlogvar sum_j dz_j eps_j sigma / 2 (3.12).",
            lambda x, eps, *p: _vae_grads(x, eps, *p, through_z=False),
        ),
        Mistake(
            "1/M missing",
            "M = {M}: the reconstruction is averaged over the M samples; its gradient "
            "carries 1/(MB), not 1/B.",
            lambda x, eps, *p: _vae_grads(x, eps, *p, per_sample=1.0),
        ),
        Mistake(
            "reconstruction sign",
            "the reconstruction term is -log p(x|z): d/dlogits = sigmoid(logits) - x, not "
            "x - sigmoid(logits).",
            lambda x, eps, *p: _vae_grads(x, eps, *p, recon=-1.0),
        ),
    ),
    factors={"M": "eps:0", "B": "x:0"},
)
