"""The training objectives: the ELBO by estimator B (analytic KL) or A (sampled KL).

Every objective sees the same quantities of one forward pass,

    log_px (M, B)   log p_theta(x_i | z_ij), one per noise draw j and data point i,
    z, eps (M, B, k)  z_ij = g(h_i, eps_ij), the reparameterized samples (derivations.md §3.4),
    h (B, P)        the encoder output that parameterizes q_phi(z | x_i),

and returns an `ObjectiveGrad`: the loss (LossParts) and its partial derivatives with respect
to log_px, to z (the paths that do not go through the decoder) and to h (the paths that do
not go through z). The VAE carries these back through the decoder, the reparameterization and
the encoder; the importance-weighted bound (numpyvae.iwae) keeps the same contract.

A posterior written as z = mu + A eps (A = diag(sigma) or a Cholesky factor L) has, by the
change of variables (derivations.md §7.1),

    log q(z | x) = log N(eps; 0, I) - log |det A|,

so log q has no path through z for a fixed eps: its gradient with respect to the posterior's
parameters is -d log|det A| / dh, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))
KL_ESTIMATORS = ("analytic", "sampled")  # AEVB's estimators B and A (derivations.md §7.2)


@dataclass(frozen=True)
class LossParts:
    """The loss of a batch and its two terms, each averaged over the batch (nats).

    For the ELBO, loss = reconstruction + beta * kl (beta = 1 unless a KL weight is set,
    derivations.md §9.4). For the importance-weighted bound, `reconstruction` is the mean of
    -log p(x|z) over the K samples and `kl` is the rest, loss - reconstruction.
    """

    loss: float
    reconstruction: float
    kl: float


@dataclass(frozen=True)
class ObjectiveGrad:
    """A loss and its partial derivatives at the joints of the model.

    dlog_px: dloss / d log p(x | z_ij), a float (the same for all ij) or an array (M, B).
    dz: dloss / dz_ij along the paths that skip the decoder, (M, B, k), or None.
    dh: dloss / dh along the paths that skip z, (B, P).
    """

    parts: LossParts
    dlog_px: float | np.ndarray
    dz: np.ndarray | None
    dh: np.ndarray


def log_prior(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) = -k/2 log 2pi - 1/2 ||z||^2: z (..., k) -> (...) (derivations.md §7.1)."""
    k = z.shape[-1]
    return -0.5 * (k * LOG_2PI + np.sum(z * z, axis=-1))


def log_posterior(posterior, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """log q(z | x) at z = g(h, eps), as log N(eps; 0, I) - log|det dz/deps| (derivations.md §7.1).

    h (B, P), eps (M, B, k) -> (M, B). No solve is needed: the eps that made z is known.
    """
    return log_prior(eps) - posterior.log_det(h)


def elbo_analytic_kl(
    log_px: np.ndarray, z: np.ndarray, eps: np.ndarray, h: np.ndarray, posterior, beta: float
) -> ObjectiveGrad:
    """Estimator B: loss = (1/B) sum_i [-(1/M) sum_j log p(x_i|z_ij) + beta KL(q_i || N(0, I))].

    The KL and its gradient are the posterior's closed forms (derivations.md §4.1, §4.3,
    §7.2); the beta-weighted form is §9.4. Shapes as in the module docstring.
    """
    M, B = log_px.shape
    reconstruction = -float(log_px.sum()) / (M * B)
    kl = float(posterior.kl(h).sum()) / B
    parts = LossParts(reconstruction + beta * kl, reconstruction, kl)
    return ObjectiveGrad(parts, -1.0 / (M * B), None, posterior.kl_grad(h) * (beta / B))


def elbo_sampled_kl(
    log_px: np.ndarray, z: np.ndarray, eps: np.ndarray, h: np.ndarray, posterior, beta: float
) -> ObjectiveGrad:
    """Estimator A: the KL replaced by its one-sample estimate log q(z_ij|x_i) - log p(z_ij).

    loss = (1/(M B)) sum_ij [-log p(x_i|z_ij) + beta (log q(z_ij|x_i) - log p(z_ij))]
    (derivations.md §7.2), with log q(z|x) = log N(eps; 0, I) - log|det A| (§7.1). Gradient:
    d/dz_ij = beta z_ij / (M B) from -log p(z) (through the reparameterization), and
    d/dh_i = -beta (1/B) d log|det A_i| / dh_i from log q (directly: log q has no path through
    z). For the diagonal posterior d log|det A| / d log sigma^2 = 1/2 (§7.2, §9.4).
    """
    M, B = log_px.shape
    reconstruction = -float(log_px.sum()) / (M * B)
    kl_samples = log_posterior(posterior, h, eps) - log_prior(z)  # (M, B)
    kl = float(kl_samples.sum()) / (M * B)
    parts = LossParts(reconstruction + beta * kl, reconstruction, kl)
    dz = z * (beta / (M * B))
    dh = posterior.log_det_grad(h) * (-beta / B)
    return ObjectiveGrad(parts, -1.0 / (M * B), dz, dh)
