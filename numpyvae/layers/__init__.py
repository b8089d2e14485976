"""Hand-written layers: each has `forward(x)` and `backward(dout)`, side by side.

Each also has the forward-mode tangent `jvp(dx)` and the reverse pass through primal and
tangent together, `dual_backward(H, T)`, that the Fisher auto-encoder needs (derivations.md
§12.4).
"""

from numpyvae.layers.activations import (
    ACTIVATIONS,
    Activation,
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
    "Activation",
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
