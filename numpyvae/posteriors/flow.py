"""Normalizing-flow posteriors: a diagonal Gaussian bent by K invertible steps (derivations.md §14).

z_0 = mu + sigma * eps is the diagonal posterior's sample (§3.4); then z_k = f_k(z_{k-1}) for
k = 1..K, each f_k a `FlowStep` whose parameters the encoder outputs for every data point
(amortised, as in Rezende and Mohamed 2015). By the change of variables (§7.1, §14.1)

    log q(z_K | x) = log N(eps; 0, I) - sum_i log sigma_i - sum_k log|det df_k/dz_{k-1}|,

so log|det dz_K/deps| depends on eps: `log_det_at(h, eps)` gives it per sample (M, B) and
`log_det_backward` carries a loss's derivative with respect to it back to h, through every
step (the log-determinant of step k depends on z_{k-1}, hence on the steps before it and on
mu and sigma). A flow has no closed-form KL: the ELBO takes it by sampling (estimator A).

The encoder's output h (B, P) is [mu | log sigma^2 | theta_1 | ... | theta_K], P = 2k + K p.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.posteriors.base import Posterior
from numpyvae.posteriors.diagonal_gaussian import DiagonalGaussian
from numpyvae.validation import check_non_negative_int

if TYPE_CHECKING:
    from numpyvae.config import VAEConfig


def softplus(a: np.ndarray) -> np.ndarray:
    """log(1 + e^a), element-wise, without overflow for large a."""
    return np.logaddexp(0.0, a)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-a) = d softplus / da, element-wise, without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


class FlowStep(ABC):
    """One invertible map z' = f(z; theta) of R^k, its log-determinant and their backward.

    Shapes: z, z' (M, B, k); theta (B, p), one parameter vector per data point, shared by its
    M samples; log_det (M, B) = log|det df/dz| at each sample. The methods are pure: the
    forward returns a cache that its backward reads, so one step object serves any number of
    flows (the posterior's K steps, or a flow fitted to a 2-D density).
    """

    def __init__(self, latent_dim: int) -> None:
        self.latent_dim = latent_dim

    @property
    @abstractmethod
    def n_params(self) -> int:
        """p, the length of one step's parameter vector theta."""

    @abstractmethod
    def forward(self, z: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """z (M, B, k), theta (B, p) -> z' (M, B, k), log|det df/dz| (M, B), cache."""

    @abstractmethod
    def backward(
        self, cache: Any, dz_out: np.ndarray, dlog_det: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """dL/dz' (M, B, k) and dL/dlog_det (M, B) -> dL/dz (M, B, k), dL/dtheta (B, p)."""

    @abstractmethod
    def inverse(self, z_out: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """z = f^-1(z'): z' (M, B, k), theta (B, p) -> z (M, B, k)."""


class FlowPosterior(Posterior):
    """q(z_K|x): a diagonal Gaussian z_0 pushed through K steps of `step_type` (§14).

    Shapes: h (B, 2k + K p); eps, z (M, B, k). `flow_length` K = 0 is the diagonal posterior.
    """

    step_type: ClassVar[type[FlowStep]]
    has_closed_form_kl: ClassVar[bool] = False

    def __init__(self, latent_dim: int, flow_length: int = 1) -> None:
        super().__init__(latent_dim)
        self.flow_length = check_non_negative_int("flow_length", flow_length)
        self.base = DiagonalGaussian(latent_dim)
        self.step = self.step_type(latent_dim)
        self._cache: tuple | None = None

    @classmethod
    def from_config(cls, config: VAEConfig) -> FlowPosterior:
        """The flow of the configuration's latent_dim and flow_length."""
        return cls(config.latent_dim, config.flow_length)

    @classmethod
    def check_config(cls, config: VAEConfig) -> None:
        """A flow uses every posterior option (flow_length included): nothing to refuse."""

    @property
    def n_params(self) -> int:
        """Width of the encoder output: the base's 2k, then p numbers for each of K steps."""
        return self.base.n_params + self.flow_length * self.step.n_params

    def split(self, h: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """h (B, P) -> the base's [mu | log sigma^2] (B, 2k) and K views theta_k (B, p)."""
        start, p = self.base.n_params, self.step.n_params
        thetas = [h[:, start + i * p : start + (i + 1) * p] for i in range(self.flow_length)]
        return h[:, :start], thetas

    def transform(self, h: np.ndarray, z0: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        """z_0 (M, B, k) -> z_K (M, B, k), sum_k log|det df_k/dz_{k-1}| (M, B), the caches."""
        z, log_det, caches = z0, np.zeros(z0.shape[:2], dtype=z0.dtype), []
        for theta in self.split(h)[1]:
            z, step_log_det, cache = self.step.forward(z, theta)
            log_det += step_log_det
            caches.append(cache)
        return z, log_det, caches

    def mean(self, h: np.ndarray) -> np.ndarray:
        """f_K(...f_1(mu)) (B, k): the base's mean carried through the flow.

        Embedding method A (derivations.md §8.2) for a flow: the image of the base mean, the
        sample at eps = 0. It is not E[z_K] in general (the flow is not linear).
        """
        mu = self.base.mean(self.split(h)[0])
        return self.transform(h, mu[np.newaxis])[0][0]

    def gaussian_marginals(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The base's means and variances (B, k) when K = 0; None for K >= 1, whose marginals
        are not Gaussian (the diagnostics sample them: derivations.md §13.4)."""
        return None if self.flow_length else self.base.gaussian_marginals(self.split(h)[0])

    def sample(self, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """z_K = f_K(...f_1(mu + sigma * eps)) (derivations.md §14.1).

        h (B, P), eps (M, B, k) -> z (M, B, k). Caches every step's forward for the two
        backwards, `sample_backward` and `log_det_backward`.
        """
        base_h = self.split(h)[0]
        z0 = self.base.sample(base_h, eps)
        z, log_det, caches = self.transform(h, z0)
        self._cache = (h, eps, caches)
        return z

    def _backward(
        self, h: np.ndarray, dz: np.ndarray, dlog_det: np.ndarray | None, scale: float = 0.0
    ) -> np.ndarray:
        """dL/dz_K (M, B, k) and dL/d(sum_k log_det_k) (M, B) or None -> dL/dh (B, P) (§14.4).

        The base's log-determinant sum_i log sigma_i is the same for all M samples, so its
        weights, which sum to 1, leave `scale` alone (as for the diagonal posterior, §9.1).
        """
        caches = self._cache[2]
        if dlog_det is None:
            dlog_det = np.zeros(dz.shape[:2], dtype=dz.dtype)
        dthetas = []
        for cache in reversed(caches):
            dz, dtheta = self.step.backward(cache, dz, dlog_det)
            dthetas.append(dtheta)
        dbase = self.base.sample_backward(dz)
        if scale:
            dbase += self.base.log_det_backward(self.split(h)[0], self._cache[1], scale)
        return np.concatenate([dbase, *reversed(dthetas)], axis=1)

    def _check_cache(self, h: np.ndarray, eps: np.ndarray | None, caller: str) -> None:
        if self._cache is None or self._cache[0] is not h:
            raise RuntimeError(f"{type(self).__name__}.{caller} called before sample(h, eps)")
        if eps is not None and self._cache[1] is not eps:
            raise RuntimeError(
                f"{type(self).__name__}.{caller} needs the eps of the last sample(h, eps)"
            )

    def sample_backward(self, dz: np.ndarray) -> np.ndarray:
        """dL/dz_K (M, B, k) -> dL/dh (B, P) through every step and the base (§14.4)."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.sample_backward called before sample")
        return self._backward(self._cache[0], dz, None)

    def log_det_at(self, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """log|det dz_K/deps| = sum_i log sigma_i + sum_k log|det df_k/dz_{k-1}| (M, B) (§14.1).

        h (B, P), eps (M, B, k). Computed afresh (no cache is read or written).
        """
        base_h = self.split(h)[0]
        mu, logvar = self.base.split(base_h)
        z0 = mu + np.exp(0.5 * logvar) * eps
        return self.base.log_det(base_h) + self.transform(h, z0)[1]

    def log_det_backward(
        self, h: np.ndarray, eps: np.ndarray, scale: float, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """d/dh of scale * sum_j weights_ij log|det dz_ij/deps_ij|: (B, P) (§14.4).

        weights (M, B), each column summing to 1 (None: 1/M each). Must follow sample(h, eps)
        with the same arrays: it reads that forward's cache.
        """
        self._check_cache(h, eps, "log_det_backward")
        M = eps.shape[0]
        if weights is None:
            dlog_det = np.full(eps.shape[:2], scale / M, dtype=h.dtype)
        else:
            dlog_det = (scale * weights).astype(h.dtype, copy=False)
        return self._backward(h, np.zeros_like(eps), dlog_det, scale)

    def inverse(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        """eps = g^-1(z): z (M, B, k), h (B, P) -> eps (M, B, k), step by step backwards."""
        base_h, thetas = self.split(h)
        for theta in reversed(thetas):
            z = self.step.inverse(z, theta)
        mu, logvar = self.base.split(base_h)
        return (z - mu) * np.exp(-0.5 * logvar)

    def log_prob(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        """log q(z|x) = log N(eps; 0, I) - log|det dz/deps| at eps = g^-1(z) (§14.1).

        z (M, B, k), h (B, P) -> (M, B). Each step is inverted (planar: a scalar equation
        solved by bisection; radial: a quadratic), then the forward's log-determinants taken.
        """
        eps = self.inverse(z, h)
        log_normal = -0.5 * (self.latent_dim * LOG_2PI + np.sum(eps * eps, axis=-1))
        return log_normal - self.log_det_at(h, eps)

    def _no_closed_form(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"posterior={self.name!r} has no closed-form {what}: a flow's log-determinant "
            "depends on eps; use log_det_at(h, eps) and the sampled KL (derivations.md §14.1)"
        )

    def kl(self, h: np.ndarray) -> np.ndarray:
        """Refused: KL(q(z_K|x) || N(0, I)) has no closed form for a flow (§14.1)."""
        raise self._no_closed_form("KL")

    def kl_grad(self, h: np.ndarray) -> np.ndarray:
        """Refused: see `kl`."""
        raise self._no_closed_form("KL")

    def log_det(self, h: np.ndarray) -> np.ndarray:
        """Refused: a flow's log|det dz/deps| depends on eps; `log_det_at(h, eps)` gives it."""
        raise self._no_closed_form("log-determinant of h alone")

    def log_det_grad(self, h: np.ndarray) -> np.ndarray:
        """Refused: see `log_det`; `log_det_backward` gives its gradient."""
        raise self._no_closed_form("log-determinant of h alone")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(latent_dim={self.latent_dim}, flow_length={self.flow_length})"
        )
