"""Planar flows: z' = z + u_hat tanh(w^T z + b) (Rezende and Mohamed 2015; derivations.md §14.2).

One step bends the space along the direction u_hat across the hyperplane w^T z + b = 0. It is
invertible exactly when w^T u_hat >= -1; the encoder's raw u is made to satisfy this by the
paper's reparameterisation

    u_hat = u + (m(w^T u) - w^T u) w / |w|^2,   m(a) = -1 + softplus(a) > -1,

which gives w^T u_hat = m(w^T u). Its log-determinant is log|1 + (1 - tanh^2 s) w^T u_hat|,
s = w^T z + b, and one step has p = 2k + 1 parameters theta = [u | w | b].
"""

from __future__ import annotations

import numpy as np

from numpyvae.posteriors.flow import FlowPosterior, FlowStep, sigmoid, softplus

BISECTION_STEPS = 100  # halves an interval of width 2|m| below any float64 spacing


def reparameterize(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """u_hat = u + (m(a) - a) w / |w|^2, a = w^T u: u, w (B, k) -> u_hat (B, k) (§14.2).

    m(a) - a = softplus(-a) - 1, written so for large a. At w = 0 the step is the translation
    z + u tanh(b), invertible for every u, and u_hat = u.
    """
    a = np.sum(w * u, axis=1, keepdims=True)
    n = np.sum(w * w, axis=1, keepdims=True)
    c = np.where(n > 0, (softplus(-a) - 1.0) / np.where(n > 0, n, 1.0), 0.0)
    return u + c * w


def reparameterize_backward(
    du_hat: np.ndarray, u: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """dL/du_hat (B, k) -> dL/du, dL/dw (B, k) through `reparameterize` (derivations.md (14.8)).

    With c = (m(a) - a)/n, n = |w|^2: dc/da = (m'(a) - 1)/n = -sigmoid(-a)/n and
    dc/dn = -(m(a) - a)/n^2; a = w^T u and n = w^T w carry them to u and w.
    """
    a = np.sum(w * u, axis=1, keepdims=True)
    n = np.sum(w * w, axis=1, keepdims=True)
    inside = n > 0
    n = np.where(inside, n, 1.0)
    c = np.where(inside, (softplus(-a) - 1.0) / n, 0.0)
    dc = np.where(inside, np.sum(du_hat * w, axis=1, keepdims=True), 0.0)
    da = dc * (-sigmoid(-a) / n)
    dn = dc * (-(softplus(-a) - 1.0) / (n * n))
    return du_hat + da * w, c * du_hat + da * u + 2.0 * dn * w


class PlanarStep(FlowStep):
    """f(z) = z + u_hat tanh(w^T z + b) with theta = [u | w | b] (B, 2k + 1) (§14.2)."""

    @property
    def n_params(self) -> int:
        """u and w in R^k and the bias b."""
        return 2 * self.latent_dim + 1

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """theta (B, 2k + 1) -> u (B, k), w (B, k), b (B,)."""
        k = self.latent_dim
        return theta[:, :k], theta[:, k : 2 * k], theta[:, 2 * k]

    def forward(self, z: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        """z' = z + u_hat tanh(s), log_det = log|1 + (1 - tanh^2 s) w^T u_hat| (§14.2).

        z (M, B, k), theta (B, 2k + 1) -> z' (M, B, k), log_det (M, B), cache.
        """
        u, w, b = self.split(theta)
        u_hat = reparameterize(u, w)
        t = np.tanh(np.einsum("mbk,bk->mb", z, w) + b)
        slope = 1.0 - t * t  # tanh'(s)
        wu = np.sum(w * u_hat, axis=1)  # = m(w^T u) > -1
        det = 1.0 + slope * wu
        z_out = z + t[..., np.newaxis] * u_hat
        return z_out, np.log(np.abs(det)), (z, u, w, u_hat, t, slope, wu, det)

    def backward(
        self, cache: tuple, dz_out: np.ndarray, dlog_det: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """dL/dz' (M, B, k), dL/dlog_det (M, B) -> dL/dz (M, B, k), dL/dtheta (B, 2k + 1).

        derivations.md (14.7): s collects the paths through tanh and through the
        slope tanh'(s) of the determinant; w^T u_hat sends its share to w and u_hat.
        """
        z, u, w, u_hat, t, slope, wu, det = cache
        ddet = dlog_det / det
        ds = slope * (np.einsum("mbk,bk->mb", dz_out, u_hat) - 2.0 * t * ddet * wu)
        dwu = np.sum(ddet * slope, axis=0)[:, np.newaxis]  # (B, 1)
        du_hat = np.einsum("mbk,mb->bk", dz_out, t) + dwu * w
        dw = np.einsum("mb,mbk->bk", ds, z) + dwu * u_hat
        db = ds.sum(axis=0)
        du, dw_reparam = reparameterize_backward(du_hat, u, w)
        dz = dz_out + ds[..., np.newaxis] * w
        return dz, np.concatenate([du, dw + dw_reparam, db[:, np.newaxis]], axis=1)

    def inverse(self, z_out: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """z = z' - u_hat tanh(s), s solving s + (w^T u_hat) tanh(s) = w^T z' + b (§14.2).

        The left side increases in s (its slope 1 + (w^T u_hat) tanh'(s) > 0), and
        |s - (w^T z' + b)| <= |w^T u_hat|, so bisection on that interval finds s.
        """
        u, w, b = self.split(theta)
        u_hat = reparameterize(u, w)
        wu = np.sum(w * u_hat, axis=1)
        target = np.einsum("mbk,bk->mb", z_out, w) + b
        low, high = target - np.abs(wu), target + np.abs(wu)
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (low + high)
            above = mid + wu * np.tanh(mid) > target
            high = np.where(above, mid, high)
            low = np.where(above, low, mid)
        s = 0.5 * (low + high)
        return z_out - np.tanh(s)[..., np.newaxis] * u_hat


class PlanarFlow(FlowPosterior):
    """q(z_K|x): the diagonal Gaussian pushed through K planar steps (derivations.md §14.2).

    Shapes: h (B, 2k + K (2k + 1)) = [mu | log sigma^2 | u_1 | w_1 | b_1 | ...]; eps, z
    (M, B, k).
    """

    name = "planar"
    step_type = PlanarStep
