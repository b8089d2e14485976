"""The full-covariance Gaussian posterior q_phi(z|x) = N(mu, L L^T), L lower triangular.

The encoder's output h (B, k + k(k+1)/2) holds [mu | raw], where raw lists the entries of the
lower triangle of L row by row (the order of np.tril_indices(k)). The diagonal of L is
exp(raw) there, so L_ii > 0 and log L_ii = raw: L is a Cholesky factor for every h, and the
covariance L L^T is positive definite. With a diagonal L and raw_ii = log sigma_i^2 / 2 this is
the diagonal posterior.
"""

from __future__ import annotations

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.posteriors.base import Posterior


class FullCovarianceGaussian(Posterior):
    """q_phi(z|x) = N(mu, L L^T) for a latent z in R^k (derivations.md §4.4).

    Shapes: h (B, k + k(k+1)/2) = [mu | raw lower triangle]; L (B, k, k); eps (M, B, k);
    z (M, B, k).
    """

    name = "full"

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        k = self.latent_dim
        self._rows, self._cols = np.tril_indices(k)
        # Positions, within raw, of the diagonal entries L_ii (i = 0..k-1).
        self._diag = np.flatnonzero(self._rows == self._cols)
        self._off = np.flatnonzero(self._rows != self._cols)

    @property
    def n_params(self) -> int:
        """Width of the encoder output: k means and the k(k+1)/2 entries of L."""
        k = self.latent_dim
        return k + k * (k + 1) // 2

    def split(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """h (B, P) -> mu (B, k) (a view of h), L (B, k, k) lower triangular with L_ii > 0."""
        k = self.latent_dim
        raw = h[:, k:]
        L = np.zeros((h.shape[0], k, k), dtype=h.dtype)
        L[:, self._rows, self._cols] = raw
        L[:, np.arange(k), np.arange(k)] = np.exp(raw[:, self._diag])
        return h[:, :k], L

    def mean(self, h: np.ndarray) -> np.ndarray:
        """The posterior mean mu (B, k): embedding method A (derivations.md §8.2)."""
        return h[:, : self.latent_dim]

    def covariance(self, h: np.ndarray) -> np.ndarray:
        """The posterior covariance L L^T (B, k, k)."""
        L = self.split(h)[1]
        return L @ L.transpose(0, 2, 1)

    def gaussian_marginals(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mu and the diagonal of L L^T (B, k), cast to float64 (derivations.md §13.4)."""
        variances = np.diagonal(self.covariance(h), axis1=1, axis2=2)
        return self.mean(h).astype(np.float64), variances.astype(np.float64)

    def sample(self, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """z = mu + L eps (derivations.md §4.4): h (B, P), eps (M, B, k) -> z (M, B, k).

        Caches L and eps: `sample_backward` always uses the eps of this forward.
        """
        mu, L = self.split(h)
        self._L, self._eps = L, eps
        return mu + np.einsum("bij,mbj->mbi", L, eps)

    def sample_backward(self, dz: np.ndarray) -> np.ndarray:
        """dL/dz (M, B, k) -> dL/dh (B, P) through z = mu + L eps (derivations.md §4.4).

        dmu = sum_j dz_j; dL_ab = sum_j dz_ja eps_jb on the lower triangle; a diagonal entry
        L_aa = exp(raw) adds the factor dL_aa / draw = L_aa.
        """
        if getattr(self, "_eps", None) is None:
            raise RuntimeError("FullCovarianceGaussian.sample_backward called before sample")
        dL = np.einsum("mbi,mbj->bij", dz, self._eps)
        draw = dL[:, self._rows, self._cols]
        k = self.latent_dim
        draw[:, self._diag] *= self._L[:, np.arange(k), np.arange(k)]
        return np.concatenate([dz.sum(axis=0), draw], axis=1)

    def kl(self, h: np.ndarray) -> np.ndarray:
        """KL(N(mu, L L^T) || N(0, I)) = 1/2 (tr(L L^T) + mu^T mu - k - 2 sum_i log L_ii).

        h (B, P) -> (B,) (derivations.md §4.4). Written per dimension, 1/2 sum_i (mu_i^2 +
        L_ii^2 - 2 log L_ii - 1) + 1/2 sum_{i>j} L_ij^2, so that a diagonal L gives the
        diagonal KL (derivations.md §4.1) term for term.
        """
        k = self.latent_dim
        mu, raw = h[:, :k], h[:, k:]
        log_var = 2.0 * raw[:, self._diag]  # log L_ii^2
        off = raw[:, self._off]
        per_dim = np.sum(mu * mu + np.exp(log_var) - log_var - 1.0, axis=1)
        return 0.5 * per_dim + 0.5 * np.sum(off * off, axis=1)

    def kl_grad(self, h: np.ndarray) -> np.ndarray:
        """dKL/dh (B, P) = [mu | L_ij below the diagonal, L_ii^2 - 1 on it] (derivations.md §4.4).

        d/dL_ij of tr(L L^T)/2 is L_ij; on the diagonal, d/draw_ii (L_ii^2 / 2 - raw_ii) with
        L_ii = exp(raw_ii) is L_ii^2 - 1.
        """
        k = self.latent_dim
        grad = h.copy()
        raw_grad = grad[:, k:]
        raw_grad[:, self._diag] = np.expm1(2.0 * raw_grad[:, self._diag])
        return grad

    def log_det(self, h: np.ndarray) -> np.ndarray:
        """log|det L| = sum_i log L_ii = sum_i raw_ii: h (B, P) -> (B,) (derivations.md §7.1)."""
        return np.sum(h[:, self.latent_dim :][:, self._diag], axis=1)

    def log_det_grad(self, h: np.ndarray) -> np.ndarray:
        """d log|det L| / dh (B, P): 1 at each raw diagonal entry, 0 elsewhere (§7.2)."""
        grad = np.zeros_like(h)
        grad[:, self.latent_dim + self._diag] = 1.0
        return grad

    def log_prob(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        """log q(z|x) = -k/2 log 2pi - 1/2 ||L^-1 (z - mu)||^2 - sum_i log L_ii.

        z (M, B, k), h (B, P) -> (M, B) (derivations.md §7.1).
        """
        mu, L = self.split(h)
        # One linear solve per data point, all M samples as right-hand sides: u (B, k, M).
        u = np.linalg.solve(L, (z - mu).transpose(1, 2, 0))
        quad = np.sum(u * u, axis=1).T  # (M, B)
        return -0.5 * (self.latent_dim * LOG_2PI + quad) - self.log_det(h)
