"""Element-wise activations with their derivatives (derivations.md §6.2).

Every activation maps x (N, D) -> out (N, D) and dout (N, D) -> dx (N, D).
"""

from __future__ import annotations

import numpy as np

from numpyvae.layers.base import Layer
from numpyvae.validation import check_choice


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), written as (1 + tanh(x/2)) / 2 so it never overflows."""
    out = np.tanh(0.5 * x)
    out += 1.0
    out *= 0.5
    return out


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), finite for every finite x."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


class ReLU(Layer):
    """max(x, 0); derivative 1 where x > 0, else 0 (0 at the kink x = 0, by convention)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.maximum(x, 0.0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self._saved("_mask")


class LeakyReLU(Layer):
    """x where x > 0, else alpha x; derivative 1 or alpha."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        self.alpha = alpha

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, self.alpha * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self._saved("_mask"), dout, self.alpha * dout)

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class Tanh(Layer):
    """tanh(x); derivative 1 - tanh(x)^2, computed from the cached output."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._saved("_out")
        return dout * (1.0 - out * out)


class Sigmoid(Layer):
    """sigmoid(x); derivative s (1 - s), computed from the cached output s."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = sigmoid(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._saved("_out")
        return dout * out * (1.0 - out)


class Softplus(Layer):
    """log(1 + exp(x)); derivative sigmoid(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return softplus(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * sigmoid(self._saved("_x"))


class Identity(Layer):
    """x; derivative 1. The output layer of an MLP whose output is unconstrained."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "softplus": Softplus,
    "identity": Identity,
}


def make_activation(name: str) -> Layer:
    """A new activation layer by name: one of the keys of ACTIVATIONS."""
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()
