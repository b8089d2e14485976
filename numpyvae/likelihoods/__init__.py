"""Decoder likelihoods p_theta(x|z): how the decoder's output scores the data.

A likelihood may have parameters of its own (`params`, `grads`, `backward_params`) and may
ask the decoder for more than d outputs per z (`n_outputs(d)`); the helpers below give the
answers for the likelihoods that have neither (Bernoulli, Gaussian).
"""

from __future__ import annotations

import numpy as np

from numpyvae.likelihoods.bernoulli import Bernoulli
from numpyvae.likelihoods.gaussian import Gaussian
from numpyvae.likelihoods.gaussian_learned import GaussianPixelVariance, GaussianSharedVariance

LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "gaussian_shared_var": GaussianSharedVariance,
    "gaussian_pixel_var": GaussianPixelVariance,
}


def make_likelihood(name: str, dtype: np.dtype):
    """The likelihood registered as `name`; one with parameters gets them in `dtype`."""
    cls = LIKELIHOODS[name]
    return cls(dtype=dtype) if hasattr(cls, "backward_params") else cls()


def likelihood_params(likelihood) -> dict[str, np.ndarray]:
    """The likelihood's own parameters (live arrays, by name); {} for most."""
    return getattr(likelihood, "params", {})


def output_width(likelihood, data_dim: int) -> int:
    """How many numbers the decoder outputs per z: d, or what the likelihood asks for."""
    n_outputs = getattr(likelihood, "n_outputs", None)
    return data_dim if n_outputs is None else n_outputs(data_dim)


__all__ = [
    "LIKELIHOODS",
    "Bernoulli",
    "Gaussian",
    "GaussianPixelVariance",
    "GaussianSharedVariance",
    "likelihood_params",
    "make_likelihood",
    "output_width",
]
