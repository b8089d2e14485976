"""Radial flows: z' = z + beta (z - z0) / (alpha + |z - z0|) (Rezende and Mohamed 2015; §14.3).

One step pulls the space towards (beta < 0) or pushes it away from (beta > 0) the centre z0,
most strongly within a radius about alpha. With r = |z - z0| and h = 1/(alpha + r) its
Jacobian is (1 + beta h) I + beta h'(r) (z - z0)(z - z0)^T / r (h is eta in
derivations.md §14.3), so

    log|det| = (k - 1) log(1 + beta h) + log(1 + beta alpha h^2).

It is invertible when beta >= -alpha; the encoder's raw numbers give alpha = softplus(a) > 0
and beta = -alpha + softplus(c) > -alpha. One step has p = k + 2 parameters
theta = [z0 | a | c].
"""

from __future__ import annotations

import numpy as np

from numpyvae.posteriors.flow import FlowPosterior, FlowStep, sigmoid, softplus


class RadialStep(FlowStep):
    """f(z) = z + beta h(r) (z - z0), h = 1/(alpha + r), theta = [z0 | a | c] (B, k + 2)."""

    @property
    def n_params(self) -> int:
        """The centre z0 in R^k and the raw a (alpha) and c (beta)."""
        return self.latent_dim + 2

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """theta (B, k + 2) -> z0 (B, k), alpha (B,) > 0, beta (B,) > -alpha (§14.3)."""
        k = self.latent_dim
        alpha = softplus(theta[:, k])
        return theta[:, :k], alpha, softplus(theta[:, k + 1]) - alpha

    def forward(self, z: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        """z' = z + beta h (z - z0), log_det = (k-1) log(1 + beta h) + log(1 + beta alpha h^2).

        z (M, B, k), theta (B, k + 2) -> z' (M, B, k), log_det (M, B), cache (§14.3).
        """
        centre, alpha, beta = self.split(theta)
        d = z - centre
        r = np.sqrt(np.sum(d * d, axis=-1))
        h = 1.0 / (alpha + r)
        outer = 1.0 + beta * h  # the k - 1 eigenvalues across d
        radial = 1.0 + beta * alpha * h * h  # the eigenvalue along d
        log_det = (self.latent_dim - 1) * np.log(np.abs(outer)) + np.log(np.abs(radial))
        z_out = z + (beta * h)[..., np.newaxis] * d
        return z_out, log_det, (theta, d, r, h, alpha, beta, outer, radial)

    def backward(
        self, cache: tuple, dz_out: np.ndarray, dlog_det: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """dL/dz' (M, B, k), dL/dlog_det (M, B) -> dL/dz (M, B, k), dL/dtheta (B, k + 2).

        derivations.md (14.9)-(14.10): h = 1/(alpha + r) collects three paths, then reaches
        alpha and r with dh/dalpha = dh/dr = -h^2; beta = -alpha + softplus(c).
        """
        theta, d, r, h, alpha, beta, outer, radial = cache
        k = self.latent_dim
        dbh = np.einsum("mbk,mbk->mb", dz_out, d) + dlog_det * (k - 1) / outer  # d/d(beta h)
        dradial = dlog_det / radial
        dh = dbh * beta + dradial * (2.0 * beta * alpha * h)
        dbeta = np.sum(dbh * h + dradial * (alpha * h * h), axis=0)
        dalpha = np.sum(dradial * (beta * h * h) - dh * h * h, axis=0)
        dr = -dh * h * h
        safe_r = np.where(r > 0, r, 1.0)  # at d = 0 the d/r below multiplies d = 0
        dd = (beta * h)[..., np.newaxis] * dz_out + (dr / safe_r)[..., np.newaxis] * d
        da = (dalpha - dbeta) * sigmoid(theta[:, k])
        dc = dbeta * sigmoid(theta[:, k + 1])
        dtheta = np.concatenate([-dd.sum(axis=0), da[:, None], dc[:, None]], axis=1)
        return dz_out + dd, dtheta

    def inverse(self, z_out: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """z = z0 + (z' - z0) / (1 + beta h(r)), r the root of a quadratic (§14.3).

        |z' - z0| = rho = r (1 + beta/(alpha + r)) gives r^2 + (alpha + beta - rho) r - alpha
        rho = 0, whose non-negative root is taken in the form free of cancellation.
        """
        centre, alpha, beta = self.split(theta)
        d_out = z_out - centre
        rho = np.sqrt(np.sum(d_out * d_out, axis=-1))
        p = alpha + beta - rho
        root = np.sqrt(p * p + 4.0 * alpha * rho)
        safe = np.where(p > 0, p + root, 1.0)
        r = np.where(p > 0, 2.0 * alpha * rho / safe, 0.5 * (root - p))
        return centre + d_out / (1.0 + beta / (alpha + r))[..., np.newaxis]


class RadialFlow(FlowPosterior):
    """q(z_K|x): the diagonal Gaussian pushed through K radial steps (derivations.md §14.3).

    Shapes: h (B, 2k + K (k + 2)) = [mu | log sigma^2 | z0_1 | a_1 | c_1 | ...]; eps, z
    (M, B, k).
    """

    name = "radial"
    step_type = RadialStep
