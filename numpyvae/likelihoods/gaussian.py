"""The Gaussian likelihood with identity covariance: p_theta(x|z) = N(x; x_hat_theta(z), I)."""

from __future__ import annotations

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.likelihoods.base import Likelihood


class Gaussian(Likelihood):
    """log p(x|z) = -d/2 log 2pi - 1/2 ||x - x_hat||^2 (derivations.md §5.1).

    Shapes: x (B, d); out (M, B, d) is the decoder mean x_hat, one slice per sample z_j.
    """

    name = "gaussian"

    def log_prob_and_grad(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(x|z) (M, B), including the constant -d/2 log 2pi, and its gradient
        d log p / d x_hat = x - x_hat (M, B, d), from x (B, d) and x_hat = out (M, B, d)."""
        residual = x - out
        d = x.shape[-1]
        log_p = -0.5 * (d * LOG_2PI + np.sum(residual * residual, axis=-1))
        return log_p, residual

    def mean(self, out: np.ndarray) -> np.ndarray:
        """E[x|z] = x_hat: generation method A (derivations.md §8.1)."""
        return out

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x ~ N(x_hat, I): generation method B (derivations.md §8.1)."""
        return out + rng.standard_normal(out.shape, dtype=out.dtype)
