"""Hand-written layers: each has `forward(x)` and `backward(dout)`, side by side."""

from numpyvae.layers.activations import (
    ACTIVATIONS,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
    make_activation,
    sigmoid,
    softplus,
)
from numpyvae.layers.base import Layer
from numpyvae.layers.dense import INITS, Dense, init_weights
from numpyvae.layers.mlp import MLP

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "MLP",
    "Dense",
    "Identity",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "init_weights",
    "make_activation",
    "sigmoid",
    "softplus",
]
