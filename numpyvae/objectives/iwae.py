"""The importance-weighted bound L_K (Burda et al.) and the estimate of log p(x) it gives.

With K draws z_j = g(h, eps_j) from q_phi(z|x) and log-weights

    log w_j = log p_theta(x | z_j) + log p(z_j) - log q_phi(z_j | x),

    L_K(x) = log (1/K) sum_j w_j  <=  log p(x),

L_1 is the one-sample ELBO (estimator A), L_K grows with K and tends to log p(x)
(derivations.md §9.1, §9.5). Everything is computed in the log domain (log-sum-exp), because
the w_j themselves under- or overflow for any real image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numpyvae.objectives.base import (
    LossParts,
    ObjectiveGrad,
    PathwiseObjective,
    log_posterior,
    log_prior,
)
from numpyvae.validation import ConfigError, check_positive_int

if TYPE_CHECKING:
    from numpyvae.config import VAEConfig
    from numpyvae.posteriors.base import Posterior
    from numpyvae.vae import VAE


def log_importance_weights(
    log_px: np.ndarray,
    z: np.ndarray,
    eps: np.ndarray,
    h: np.ndarray,
    posterior: Posterior,
    beta: float = 1.0,
) -> np.ndarray:
    """log w = log p(x|z) + beta (log p(z) - log q(z|x)): (K, B) (derivations.md §9.1).

    log_px (K, B); z, eps (K, B, k); h (B, P). beta = 1 is the bound; other values weight the
    prior-to-posterior ratio like the KL weight of the ELBO (derivations.md §9.4).
    """
    log_ratio = log_prior(z) - log_posterior(posterior, h, eps)
    if beta != 1.0:
        log_ratio *= beta
    return log_px + log_ratio


def log_sum_exp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """log sum exp(a) along `axis`, without overflow: max + log sum exp(a - max)."""
    peak = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(peak, axis=axis) + np.log(np.sum(np.exp(a - peak), axis=axis))


def iwae_bound(
    log_px: np.ndarray,
    z: np.ndarray,
    eps: np.ndarray,
    h: np.ndarray,
    posterior: Posterior,
    beta: float,
) -> ObjectiveGrad:
    """The IWAE objective loss = -(1/B) sum_i L_K(x_i) and its gradient (derivations.md §9.1).

    Shapes: log_px (K, B); z, eps (K, B, k); h (B, P). With the normalised importance weights
    w~_j = softmax_j(log w_j),

        dL_K = sum_j w~_j d log w_j,

    so each sample's path gets weight -w~_ij / B: log p(x|z) through the decoder; log p(z)
    (gradient -z) through the reparameterization; and -log q(z|x) = -log N(eps) + log|det A|
    straight into h (derivations.md §7.1), where sum_j w~_j = 1 leaves -beta/B d log|det A|/dh,
    the same as estimator A's. A flow's log-determinant differs per sample, so there the
    weights stay (`log_det_backward`, derivations.md §14.1).
    """
    K, B = log_px.shape
    log_w = log_importance_weights(log_px, z, eps, h, posterior, beta)
    log_total = log_sum_exp(log_w, axis=0)  # (B,)
    bound = log_total - np.log(K)
    weights = np.exp(log_w - log_total)  # (K, B): w~, each column sums to 1
    loss = -float(bound.sum()) / B
    reconstruction = -float(log_px.sum()) / (K * B)
    parts = LossParts(loss, reconstruction, loss - reconstruction)
    dlog_w = weights * (-1.0 / B)
    dz = z * (dlog_w[..., np.newaxis] * -beta)  # d log w / dz = -beta z, from log p(z)
    dh = posterior.log_det_backward(h, eps, -beta / B, weights)
    return ObjectiveGrad(parts, dlog_w, dz, dh)


class IWAEBound(PathwiseObjective):
    """The importance-weighted bound L_K with K = the model's n_samples (derivations.md §9.1)."""

    name = "iwae"
    summary = "the importance-weighted bound L_K with K = --samples (derivations.md §9.1)"
    loss_name = "negative IWAE bound -L_K"

    @classmethod
    def check_config(cls, config: VAEConfig) -> None:
        """The bound weighs whole samples: a separate KL estimator has no meaning in it."""
        if config.kl_estimator != "analytic":
            raise ConfigError(
                f"kl_estimator={config.kl_estimator!r} applies to objective='elbo' only: the "
                "importance-weighted bound has no KL term of its own (derivations.md §9.1); "
                "leave one of them out"
            )

    def __init__(self) -> None:
        super().__init__(iwae_bound)


def log_likelihood(
    model: VAE,
    x: np.ndarray,
    n_samples: int = 5000,
    *,
    chunk_size: int = 50,
    batch_size: int = 100,
    c: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The importance-sampling estimate L_K(x) of log p(x) per data point (derivations.md §9.5).

    x (N, d) -> (N,) float64, with K = `n_samples` draws from q(z|x) per point. The draws are
    made `chunk_size` at a time for `batch_size` points at a time, so memory holds about
    chunk_size * batch_size * (decoder width) numbers whatever K is; the chunks' log-sum-exps
    are combined exactly (log(a + b) = logaddexp(log a, log b)). c (N,) are the labels of a
    conditional model. `rng` draws eps (default: the model's generator).

    L_K is a lower bound on log p(x) in expectation that tightens as K grows; it is the
    standard test figure for VAEs (K = 5000 in Burda et al.).
    """
    n_samples = check_positive_int("n_samples", n_samples)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    batch_size = check_positive_int("batch_size", batch_size)
    data = model.prepare(x, c)
    rng = model.rng if rng is None else rng
    result = np.empty(len(data))
    for start in range(0, len(data), batch_size):
        batch = data.rows(slice(start, start + batch_size))
        total = np.full(len(batch), -np.inf)
        for done in range(0, n_samples, chunk_size):
            m = min(chunk_size, n_samples - done)
            eps = model.posterior.draw_eps(rng, m, len(batch), model.dtype)
            log_w = model.log_weights(batch, eps).astype(np.float64)
            total = np.logaddexp(total, log_sum_exp(log_w, axis=0))
        result[start : start + len(batch)] = total - np.log(n_samples)
    return result
