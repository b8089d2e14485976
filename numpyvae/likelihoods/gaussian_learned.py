"""Gaussian likelihoods with a learned variance: p_theta(x|z) = N(x; x_hat(z), diag(s^2)).

Two ways to learn the variance s^2 = exp(v):
- GaussianSharedVariance: one log-variance v for every pixel and every image, a parameter of
  the likelihood (params["logvar"], shape (1,); the VAE calls it "likelihood.logvar");
- GaussianPixelVariance: the decoder outputs 2d numbers per z, [x_hat | v], one log-variance
  per pixel and per z.

A warning for MNIST: pixels that are always 0 have no noise to explain, so v there can fall
without bound as training sharpens the fit (the likelihood is unbounded above). The shared
variance is much less exposed than the per-pixel one. No clamping is applied, so every
gradient stays the exact derivative of the loss (derivations.md §11).
"""

from __future__ import annotations

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.likelihoods.base import Likelihood


def gaussian_log_prob_and_grads(
    x: np.ndarray, mean: np.ndarray, logvar: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log N(x; mean, diag(exp(logvar))) summed over the last axis, and its two gradients.

    x (B, d); mean (M, B, d); logvar broadcastable to mean. Returns log_p (M, B),
    d log_p / d mean = (x - mean) / s^2 and d log_p / d logvar = ((x - mean)^2 / s^2 - 1) / 2,
    both (M, B, d) (derivations.md §5.2).
    """
    residual = x - mean
    dmean = residual * np.exp(-logvar)
    scaled_square = residual * dmean  # (x - mean)^2 / s^2
    log_p = -0.5 * np.sum(LOG_2PI + logvar + scaled_square, axis=-1)
    scaled_square -= 1.0
    scaled_square *= 0.5
    return log_p, dmean, scaled_square


class GaussianSharedVariance(Likelihood):
    """log p(x|z) = -d/2 (log 2pi + v) - ||x - x_hat||^2 / (2 exp(v)), v learned (§5.2).

    Shapes: x (B, d); out (M, B, d) is the decoder mean x_hat. params["logvar"] (1,) is v.
    """

    name = "gaussian_shared_var"

    def __init__(self, *, dtype: np.dtype | type = np.float64, logvar: float = 0.0) -> None:
        super().__init__(dtype=dtype)
        self.params["logvar"] = np.full(1, logvar, dtype=self.dtype)
        self.grads["logvar"] = np.zeros_like(self.params["logvar"])

    def log_prob_and_grad(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(x|z) (M, B) and d log p / d x_hat = (x - x_hat) / exp(v) (M, B, d) (§5.2).

        Also keeps d log p / dv (M, B) for `backward_params`.
        """
        log_p, dmean, dlogvar = gaussian_log_prob_and_grads(x, out, self.params["logvar"][0])
        self._dlog_p_dlogvar = dlogvar.sum(axis=-1)
        return log_p, dmean

    def backward_params(self, dlog_p: float | np.ndarray) -> dict[str, np.ndarray]:
        """dloss/dv from dloss/d log p(x|z) (a float or (M, B)), by the chain rule (§5.2).

        dloss/dv = sum_ij dloss/dlog p_ij * (||x_i - x_hat_ij||^2 / exp(v) - d) / 2. Overwrites
        and returns `grads`.
        """
        self.grads["logvar"] = np.reshape(np.sum(dlog_p * self._dlog_p_dlogvar), (1,)).astype(
            self.params["logvar"].dtype
        )
        return self.grads

    def mean(self, out: np.ndarray) -> np.ndarray:
        """E[x|z] = x_hat: generation method A (derivations.md §8.1)."""
        return out

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x ~ N(x_hat, exp(v) I): generation method B (derivations.md §8.1)."""
        noise = rng.standard_normal(out.shape, dtype=out.dtype)
        return out + np.exp(0.5 * self.params["logvar"][0]) * noise

    def __repr__(self) -> str:
        return f"GaussianSharedVariance(logvar={float(self.params['logvar'][0]):.4g})"


class GaussianPixelVariance(Likelihood):
    """log p(x|z) = -1/2 sum_i (log 2pi + v_i + (x_i - x_hat_i)^2 / exp(v_i)) (§5.2).

    Shapes: x (B, d); out (M, B, 2d) = [x_hat | v], both predicted by the decoder.
    """

    name = "gaussian_pixel_var"

    def n_outputs(self, data_dim: int) -> int:
        """The decoder's output width: d means and d log-variances."""
        return 2 * data_dim

    def log_prob_and_grad(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(x|z) (M, B) and d log p / d out (M, B, 2d) = [(x - x_hat) / s^2 | (r^2/s^2 - 1)/2].

        r = x - x_hat, s^2 = exp(v) (derivations.md §5.2).
        """
        d = x.shape[-1]
        log_p, dmean, dlogvar = gaussian_log_prob_and_grads(x, out[..., :d], out[..., d:])
        return log_p, np.concatenate([dmean, dlogvar], axis=-1)

    def mean(self, out: np.ndarray) -> np.ndarray:
        """E[x|z] = x_hat (..., d) from out (..., 2d): generation method A (§8.1)."""
        return out[..., : out.shape[-1] // 2]

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x ~ N(x_hat, diag(exp(v))) (..., d): generation method B (derivations.md §8.1)."""
        d = out.shape[-1] // 2
        noise = rng.standard_normal(out[..., :d].shape, dtype=out.dtype)
        return out[..., :d] + np.exp(0.5 * out[..., d:]) * noise
