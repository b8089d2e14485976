"""Approximate posteriors q_phi(z|x): how the encoder's output becomes a distribution over z.

Each posterior draws z = g(h, eps) = mu + A eps from the encoder output h (B, P) and the noise
eps (M, B, k), with A = diag(sigma) ("diagonal") or a lower-triangular Cholesky factor L
("full"). `log_det` and `log_det_grad` give log|det A| = log|det dz/deps| and its gradient,
which the sampled-KL and importance-weighted objectives need (derivations.md §7.1).
"""

from __future__ import annotations

import numpy as np

from numpyvae.posteriors.diagonal_gaussian import DiagonalGaussian
from numpyvae.posteriors.full_covariance import FullCovarianceGaussian

POSTERIORS = {"diagonal": DiagonalGaussian, "full": FullCovarianceGaussian}


def log_det(posterior, h: np.ndarray) -> np.ndarray:
    """log|det dz/deps| (B,) of the posterior parameterized by h (B, P) (derivations.md §7.1).

    Diagonal: sum_i log sigma_i = 1/2 sum_i log sigma_i^2. Full: sum_i log L_ii.
    """
    if isinstance(posterior, DiagonalGaussian):
        return 0.5 * np.sum(posterior.split(h)[1], axis=1)
    return posterior.log_det(h)


def log_det_grad(posterior, h: np.ndarray) -> np.ndarray:
    """d log|det dz/deps| / dh (B, P) (derivations.md §7.2).

    Diagonal: 0 for mu and 1/2 for each log sigma^2. Full: 1 for each raw diagonal entry of L.
    """
    if isinstance(posterior, DiagonalGaussian):
        k = posterior.latent_dim
        grad = np.zeros_like(h)
        grad[:, k:] = 0.5
        return grad
    return posterior.log_det_grad(h)


__all__ = ["POSTERIORS", "DiagonalGaussian", "FullCovarianceGaussian", "log_det", "log_det_grad"]
