"""The ELBO, by estimator B (analytic KL, the default) or A (sampled KL) (derivations.md §7.2).

A pathwise objective (numpyvae.objectives.base) sees the same quantities of one forward pass,

    log_px (M, B)   log p_theta(x_i | z_ij), one per noise draw j and data point i,
    z, eps (M, B, k)  z_ij = g(h_i, eps_ij), the reparameterized samples (derivations.md §3.4),
    h (B, P)        the encoder output that parameterizes q_phi(z | x_i),

and returns an `ObjectiveGrad`: the loss (LossParts) and its partial derivatives with respect
to log_px, to z (the paths that do not go through the decoder) and to h (the paths that do
not go through z). The VAE carries these back through the decoder, the reparameterization and
the encoder; the importance-weighted bound (numpyvae.objectives.iwae) keeps the same contract.

A posterior written as z = mu + A eps (A = diag(sigma) or a Cholesky factor L) has, by the
change of variables (derivations.md §7.1),

    log q(z | x) = log N(eps; 0, I) - log |det A|,

so log q has no path through z for a fixed eps: its gradient with respect to the posterior's
parameters is -d log|det A| / dh, and nothing else. For a normalizing flow log|det dz/deps|
depends on eps as well, and the posterior's `log_det_backward` carries it back through every
step (derivations.md §14.1, §14.4).
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
from numpyvae.posteriors import POSTERIORS
from numpyvae.validation import ConfigError

if TYPE_CHECKING:
    from numpyvae.config import VAEConfig
    from numpyvae.posteriors.base import Posterior

KL_ESTIMATORS = ("analytic", "sampled")  # AEVB's estimators B and A (derivations.md §7.2)


def elbo_analytic_kl(
    log_px: np.ndarray,
    z: np.ndarray,
    eps: np.ndarray,
    h: np.ndarray,
    posterior: Posterior,
    beta: float,
) -> ObjectiveGrad:
    """Estimator B: loss = (1/B) sum_i [-(1/M) sum_j log p(x_i|z_ij) + beta KL(q_i || N(0, I))].

    The KL and its gradient are the posterior's closed forms (derivations.md §4.1, §4.3,
    §7.2); the beta-weighted form is §9.4. Shapes as in the module docstring.
    """
    M, B = log_px.shape
    reconstruction = -float(log_px.sum()) / (M * B)
    kl = float(posterior.kl(h).sum()) / B
    parts = LossParts(reconstruction + beta * kl, reconstruction, kl)
    return ObjectiveGrad(parts, -1.0 / (M * B), None, posterior.kl_grad(h) * (beta / B))


def elbo_sampled_kl(
    log_px: np.ndarray,
    z: np.ndarray,
    eps: np.ndarray,
    h: np.ndarray,
    posterior: Posterior,
    beta: float,
) -> ObjectiveGrad:
    """Estimator A: the KL replaced by its one-sample estimate log q(z_ij|x_i) - log p(z_ij).

    loss = (1/(M B)) sum_ij [-log p(x_i|z_ij) + beta (log q(z_ij|x_i) - log p(z_ij))]
    (derivations.md §7.2), with log q(z|x) = log N(eps; 0, I) - log|det A| (§7.1). Gradient:
    d/dz_ij = beta z_ij / (M B) from -log p(z) (through the reparameterization), and
    d/dh_i = -beta (1/B) d log|det A_i| / dh_i from log q (directly: log q has no path through
    z). For the diagonal posterior d log|det A| / d log sigma^2 = 1/2 (§7.2, §9.4).
    """
    M, B = log_px.shape
    reconstruction = -float(log_px.sum()) / (M * B)
    kl_samples = log_posterior(posterior, h, eps) - log_prior(z)  # (M, B)
    kl = float(kl_samples.sum()) / (M * B)
    parts = LossParts(reconstruction + beta * kl, reconstruction, kl)
    dz = z * (beta / (M * B))
    dh = posterior.log_det_backward(h, eps, -beta / B)
    return ObjectiveGrad(parts, -1.0 / (M * B), dz, dh)


class ELBO(PathwiseObjective):
    """The negative ELBO of the package's loss convention (derivations.md §2.4), its KL term
    in closed form (`kl_estimator="analytic"`) or by one sample per z (`"sampled"`) (§7.2)."""

    name = "elbo"
    summary = "the evidence lower bound (derivations.md §2.4)"
    loss_name = "negative ELBO"
    term_names = ("reconstruction", "KL")

    def __init__(self, kl_estimator: str = "analytic") -> None:
        super().__init__(elbo_sampled_kl if kl_estimator == "sampled" else elbo_analytic_kl)
        self.kl_estimator = kl_estimator

    @classmethod
    def check_config(cls, config: VAEConfig) -> None:
        """A posterior without a closed-form KL (a flow, derivations.md §14) needs estimator A."""
        closed_form = POSTERIORS[config.posterior].has_closed_form_kl
        if config.kl_estimator == "analytic" and not closed_form:
            raise ConfigError(
                f"posterior={config.posterior!r} has no closed-form KL, so "
                "kl_estimator='analytic' cannot be used: pass kl_estimator='sampled' "
                "(estimator A) or objective='iwae' (derivations.md §14.1)"
            )

    @classmethod
    def from_config(cls, config: VAEConfig) -> ELBO:
        """The ELBO with the configuration's KL estimator."""
        return cls(config.kl_estimator)

    def __repr__(self) -> str:
        return f"ELBO(kl_estimator={self.kl_estimator!r})"
