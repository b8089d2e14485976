"""Approximate posteriors q_phi(z|x): how the encoder's output becomes a distribution over z."""

from numpyvae.posteriors.diagonal_gaussian import DiagonalGaussian

POSTERIORS = {"diagonal": DiagonalGaussian}

__all__ = ["POSTERIORS", "DiagonalGaussian"]
