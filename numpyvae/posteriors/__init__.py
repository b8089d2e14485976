"""Approximate posteriors q_phi(z|x): how the encoder's output becomes a distribution over z.

numpyvae.posteriors.base.Posterior is the contract (and the checklist for a new one). Each
posterior draws z = g(h, eps) = mu + A eps from the encoder output h (B, P) and the noise
eps (M, B, k), with A = diag(sigma) ("diagonal") or a lower-triangular Cholesky factor L
("full"). Each has `log_det` and `log_det_grad`: log|det A| = log|det dz/deps| and its gradient,
which the sampled-KL and importance-weighted objectives need (derivations.md §7.1).
"planar" and "radial" bend that diagonal Gaussian by K normalizing-flow steps whose
log-determinant depends on eps (derivations.md §14).
"""

from numpyvae.posteriors.base import Posterior
from numpyvae.posteriors.diagonal_gaussian import DiagonalGaussian
from numpyvae.posteriors.flow import FlowPosterior
from numpyvae.posteriors.full_covariance import FullCovarianceGaussian
from numpyvae.posteriors.planar import PlanarFlow
from numpyvae.posteriors.radial import RadialFlow

POSTERIORS: dict[str, type[Posterior]] = {
    cls.name: cls for cls in (DiagonalGaussian, FullCovarianceGaussian, PlanarFlow, RadialFlow)
}


__all__ = [
    "POSTERIORS",
    "DiagonalGaussian",
    "FlowPosterior",
    "FullCovarianceGaussian",
    "PlanarFlow",
    "Posterior",
    "RadialFlow",
]
