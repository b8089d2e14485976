"""What every approximate posterior q_phi(z|x) provides: the checklist for a new one.

A posterior turns the encoder's output h (B, P) into a distribution over z in R^k and draws
from it by a reparameterization z = g(h, eps), eps (M, B, k) ~ N(0, I). A new one (say a
normalizing flow) subclasses `Posterior` and provides, each derived in a section of
derivations.md that its docstring names and checked by finite differences in tests/:

1. `name` (its key in numpyvae.posteriors.POSTERIORS) and `n_params`, the encoder width P;
2. `sample(h, eps)` -> z (M, B, k), caching what `sample_backward(dz)` -> dh (B, P) needs;
3. `mean(h)` (B, k), embedding method A (derivations.md §8.2);
4. `kl(h)` (B,) = KL(q(z|x) || N(0, I)) and `kl_grad(h)` (B, P), for the analytic-KL ELBO;
5. `log_det(h)` (B,) = log|det dz/deps| and `log_det_grad(h)` (B, P), which the sampled-KL
   ELBO and the importance-weighted bound need (derivations.md §7.1), and `log_prob(z, h)`;
6. `gaussian_marginals(h)`, the means and variances of the marginals q(z_j|x) when each is
   Gaussian in closed form (the latent diagnostics of derivations.md §13.4 read them); a
   posterior that leaves it at None gets those diagnostics by sampling instead.

The objectives reach the log-determinant through `log_det_at(h, eps)` and
`log_det_backward(h, eps, scale, weights)`, which default to the two above. A posterior whose
log|det dz/deps| depends on eps (a normalizing flow, derivations.md §14) overrides those two
instead, sets `has_closed_form_kl = False` (the ELBO then refuses the analytic KL), and builds
itself from the configuration in `from_config` if it has options of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from numpyvae.validation import ConfigError, check_positive_int

if TYPE_CHECKING:
    from numpyvae.config import VAEConfig


class Posterior(ABC):
    """q_phi(z|x) for a latent z in R^k. Shapes: h (B, P); eps, z (M, B, k)."""

    name: ClassVar[str]
    has_closed_form_kl: ClassVar[bool] = True  # whether `kl` exists (estimator B)

    def __init__(self, latent_dim: int) -> None:
        self.latent_dim = check_positive_int("latent_dim", latent_dim)

    @classmethod
    def from_config(cls, config: VAEConfig) -> Posterior:
        """The posterior of a checked configuration: its latent_dim alone by default."""
        return cls(config.latent_dim)

    @classmethod
    def check_config(cls, config: VAEConfig) -> None:
        """Refuse, in one line, an option of the configuration that this posterior does not
        use: by default the flows' `flow_length`, which must keep its default."""
        unused = type(config).flow_length
        if config.flow_length != unused:
            raise ConfigError(
                f"flow_length={config.flow_length} is an option of the flow posteriors "
                f"('planar', 'radial'), got posterior={config.posterior!r}: choose a flow, or "
                f"leave it out"
            )

    @property
    @abstractmethod
    def n_params(self) -> int:
        """P, the width of the encoder output that parameterizes q."""

    @abstractmethod
    def mean(self, h: np.ndarray) -> np.ndarray:
        """The posterior mean (B, k): embedding method A (derivations.md §8.2)."""

    @abstractmethod
    def sample(self, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """z = g(h, eps) (M, B, k); caches what `sample_backward` needs."""

    @abstractmethod
    def sample_backward(self, dz: np.ndarray) -> np.ndarray:
        """dL/dz (M, B, k) -> dL/dh (B, P) through the last `sample`."""

    @abstractmethod
    def kl(self, h: np.ndarray) -> np.ndarray:
        """KL(q(z|x) || N(0, I)) (B,), summed over the k latent dimensions."""

    @abstractmethod
    def kl_grad(self, h: np.ndarray) -> np.ndarray:
        """dKL/dh (B, P)."""

    @abstractmethod
    def log_det(self, h: np.ndarray) -> np.ndarray:
        """log|det dz/deps| (B,), the change of variables of derivations.md §7.1."""

    @abstractmethod
    def log_det_grad(self, h: np.ndarray) -> np.ndarray:
        """d log|det dz/deps| / dh (B, P)."""

    def log_det_at(self, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """log|det dz/deps| at the samples z = g(h, eps): h (B, P), eps (M, B, k) -> an array
        that broadcasts to (M, B); here `log_det(h)` (B,), the same for every eps."""
        return self.log_det(h)

    def log_det_backward(
        self, h: np.ndarray, eps: np.ndarray, scale: float, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """d/dh of scale * sum_j weights_ij log|det dz_ij/deps_ij|: (B, P).

        weights (M, B) sum to 1 over the M samples of each point (None: 1/M each), so a
        log-determinant that does not depend on eps gives scale * `log_det_grad(h)`
        (derivations.md §7.2, §9.1).
        """
        return self.log_det_grad(h) * scale

    @abstractmethod
    def log_prob(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        """log q(z|x): z (M, B, k), h (B, P) -> (M, B) (derivations.md §7.1)."""

    def gaussian_marginals(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The means E_q[z_j | x] and variances Var_q[z_j | x] (B, k) of the marginals
        q(z_j | x), in float64, when each is a Gaussian in closed form; None when not (a
        normalizing flow, whose diagnostics are estimated by sampling: derivations.md §13.4)."""
        return None

    def draw_eps(
        self, rng: np.random.Generator, n_samples: int, batch: int, dtype: np.dtype
    ) -> np.ndarray:
        """eps ~ N(0, I) of shape (n_samples, batch, k) in `dtype`."""
        return rng.standard_normal((n_samples, batch, self.latent_dim), dtype=dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(latent_dim={self.latent_dim})"
