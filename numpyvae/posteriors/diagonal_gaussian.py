"""The diagonal Gaussian posterior q_phi(z|x) = N(mu, diag(sigma^2)), sigma = exp(log sigma^2 / 2).

The encoder's output h (B, 2k) holds [mu | log sigma^2]. This object draws z by the
reparameterization (with its backward) and gives the analytic KL to N(0, I) (with its gradient).

Numerical policy (derivations.md §11): log sigma^2 is clamped to [-LOGVAR_LIMIT, LOGVAR_LIMIT].
exp(100) overflows float32 and a standard deviation below exp(-15) is meaningless, so an encoder
output beyond the limit acts as the limit, and, as the derivative of a clamp, passes back a zero
gradient there. Inside the range nothing changes.
"""

from __future__ import annotations

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.posteriors.base import Posterior

LOGVAR_LIMIT = 30.0  # sigma in [3e-7, 3.3e6]; exp(30) = 1.1e13 is far from float32's 3.4e38


class DiagonalGaussian(Posterior):
    """q_phi(z|x) = N(mu, diag(exp(logvar))) for a latent z in R^k.

    Shapes: h (B, 2k) = [mu | logvar]; eps (M, B, k); z (M, B, k).
    """

    name = "diagonal"

    @property
    def n_params(self) -> int:
        """Width of the encoder output: k means and k log-variances."""
        return 2 * self.latent_dim

    def split(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """h (B, 2k) -> mu (B, k) (a view of h), logvar (B, k) clamped to +-LOGVAR_LIMIT."""
        k = self.latent_dim
        # The clamp as two ufuncs: np.clip gives the same values through four Python calls.
        return h[:, :k], np.minimum(np.maximum(h[:, k:], -LOGVAR_LIMIT), LOGVAR_LIMIT)

    def _inside(self, h: np.ndarray) -> np.ndarray:
        """(B, k) True where the raw log-variance lies strictly inside the clamp (slope 1)."""
        return np.abs(h[:, self.latent_dim :]) < LOGVAR_LIMIT

    def mean(self, h: np.ndarray) -> np.ndarray:
        """The posterior mean mu (B, k): embedding method A (derivations.md §8.2)."""
        return self.split(h)[0]

    def gaussian_marginals(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mu and sigma^2 = exp(logvar) (B, k) in float64, the exponential taken in float64
        (derivations.md §13.4)."""
        mu, logvar = self.split(h)
        return mu.astype(np.float64), np.exp(logvar.astype(np.float64))

    def sample(self, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """z = mu + sigma * eps (derivations.md §3.4).

        h (B, 2k), eps (M, B, k) -> z (M, B, k). Caches sigma and eps: `sample_backward`
        always uses the eps of this forward.
        """
        mu, logvar = self.split(h)
        self._sigma = np.exp(0.5 * logvar)
        self._eps = eps
        self._inside_mask = self._inside(h)
        return mu + self._sigma * eps

    def sample_backward(self, dz: np.ndarray) -> np.ndarray:
        """dL/dz (M, B, k) -> dL/dh (B, 2k) through z = mu + exp(logvar / 2) * eps.

        dL/dmu = sum_j dL/dz_j and dL/dlogvar = sum_j dL/dz_j * eps_j * sigma / 2
        (derivations.md §3.4): the factor 1/2 is d sigma / d logvar = sigma / 2.
        """
        if getattr(self, "_eps", None) is None:
            raise RuntimeError("DiagonalGaussian.sample_backward called before sample")
        dmu = dz.sum(axis=0)
        dlogvar = (dz * self._eps).sum(axis=0)
        dlogvar *= self._sigma
        dlogvar *= 0.5
        dlogvar *= self._inside_mask
        return np.concatenate([dmu, dlogvar], axis=1)

    def kl(self, h: np.ndarray) -> np.ndarray:
        """KL(q(z|x) || N(0, I)) = 1/2 sum_i (mu_i^2 + sigma_i^2 - log sigma_i^2 - 1).

        h (B, 2k) -> (B,), summed over the k latent dimensions (derivations.md §4.1).
        """
        mu, logvar = self.split(h)
        return 0.5 * (mu * mu + np.exp(logvar) - logvar - 1.0).sum(axis=1)

    def kl_grad(self, h: np.ndarray) -> np.ndarray:
        """dKL/dh (B, 2k) = [mu | (sigma^2 - 1) / 2] (derivations.md §4.3), 0 beyond the clamp."""
        mu, logvar = self.split(h)
        dlogvar = 0.5 * np.expm1(logvar)
        dlogvar *= self._inside(h)
        return np.concatenate([mu, dlogvar], axis=1)

    def log_det(self, h: np.ndarray) -> np.ndarray:
        """log|det dz/deps| = sum_i log sigma_i = 1/2 sum_i log sigma_i^2: h (B, 2k) -> (B,).

        The change of variables of derivations.md §7.1.
        """
        return 0.5 * np.sum(self.split(h)[1], axis=1)

    def log_det_grad(self, h: np.ndarray) -> np.ndarray:
        """d log|det dz/deps| / dh (B, 2k) = [0 | 1/2] (derivations.md §7.2)."""
        grad = np.zeros_like(h)
        grad[:, self.latent_dim :] = 0.5 * self._inside(h)
        return grad

    def log_prob(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        """log q(z|x) = -k/2 log 2pi - 1/2 sum_i (log sigma_i^2 + (z_i - mu_i)^2 / sigma_i^2).

        z (M, B, k), h (B, 2k) -> (M, B) (derivations.md §7.1).
        """
        mu, logvar = self.split(h)
        u = (z - mu) * np.exp(-0.5 * logvar)
        return -0.5 * (self.latent_dim * LOG_2PI + np.sum(logvar + u * u, axis=-1))
