"""Decoder likelihoods p_theta(x|z): how the decoder's output scores the data."""

from numpyvae.likelihoods.bernoulli import Bernoulli
from numpyvae.likelihoods.gaussian import Gaussian

LIKELIHOODS = {"bernoulli": Bernoulli, "gaussian": Gaussian}

__all__ = ["LIKELIHOODS", "Bernoulli", "Gaussian"]
