"""Decoder likelihoods p_theta(x|z): how the decoder's output scores the data.

numpyvae.likelihoods.base.Likelihood is the contract (and the checklist for a new one);
LIKELIHOODS is the registry that `VAEConfig.likelihood` chooses from.
"""

from __future__ import annotations

import numpy as np

from numpyvae.likelihoods.base import Likelihood
from numpyvae.likelihoods.bernoulli import Bernoulli
from numpyvae.likelihoods.gaussian import Gaussian
from numpyvae.likelihoods.gaussian_learned import GaussianPixelVariance, GaussianSharedVariance

LIKELIHOODS: dict[str, type[Likelihood]] = {
    cls.name: cls for cls in (Bernoulli, Gaussian, GaussianSharedVariance, GaussianPixelVariance)
}


def make_likelihood(name: str, dtype: np.dtype) -> Likelihood:
    """The likelihood registered as `name`, its parameters (if any) in `dtype`."""
    return LIKELIHOODS[name](dtype=dtype)


__all__ = [
    "LIKELIHOODS",
    "Bernoulli",
    "Gaussian",
    "GaussianPixelVariance",
    "GaussianSharedVariance",
    "Likelihood",
    "make_likelihood",
]
