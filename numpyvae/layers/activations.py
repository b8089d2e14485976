"""Element-wise activations with their derivatives (derivations.md §6.2).

Every activation maps x (N, D) -> out (N, D) and dout (N, D) -> dx (N, D). For the Fisher
auto-encoder each also gives its second derivative, which the tangent (JVP) and the dual
reverse pass need (derivations.md §12.4).
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


class Activation(Layer):
    """An element-wise out = phi(a): the tangent and dual passes from phi' and phi''.

    Tangent: d(out) = phi'(a) * da. Dual reverse, with H = dL/d(out), T = dL/d(tangent out):
    dL/da = H * phi'(a) + T * phi''(a) * da and dL/d(da) = T * phi'(a) (derivations.md §12.4).
    """

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray | float, np.ndarray | None]:
        """phi'(a) and phi''(a) (N, D) at the last forward's input; phi'' None where it is 0."""
        raise NotImplementedError

    def jvp(self, dx: np.ndarray) -> np.ndarray:
        """da (N, D) -> phi'(a) * da (N, D); caches da for `dual_backward`."""
        self._da = dx
        return self.derivatives(dx.dtype)[0] * dx

    def dual_backward(
        self, dout: np.ndarray, dtangent: np.ndarray, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """H, T (N, D) -> dL/da = H phi' + T phi'' da and dL/d(da) = T phi' (both (N, D))."""
        if not need_input_grad:
            return None, None
        first, second = self.derivatives(dout.dtype)
        da = self._saved("_da")
        dx = dout * first
        if second is not None:
            dx += dtangent * second * da
        return dx, dtangent * first


class ReLU(Activation):
    """max(x, 0); derivative 1 where x > 0, else 0 (0 at the kink x = 0, by convention)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.maximum(x, 0.0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self._saved("_mask")

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, None]:
        """phi' = 1 where a > 0 else 0; phi'' = 0 away from the kink."""
        return self._saved("_mask").astype(dtype), None


class LeakyReLU(Activation):
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

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, None]:
        """phi' = 1 or alpha; phi'' = 0 away from the kink."""
        return np.where(self._saved("_mask"), dtype.type(1.0), dtype.type(self.alpha)), None

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class Tanh(Activation):
    """tanh(x); derivative 1 - tanh(x)^2, computed from the cached output."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._saved("_out")
        return dout * (1.0 - out * out)

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """phi' = 1 - t^2, phi'' = -2 t (1 - t^2), with t = tanh(a) cached."""
        out = self._saved("_out")
        first = 1.0 - out * out
        return first, -2.0 * out * first


class Sigmoid(Activation):
    """sigmoid(x); derivative s (1 - s), computed from the cached output s."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = sigmoid(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._saved("_out")
        return dout * out * (1.0 - out)

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """phi' = s (1 - s), phi'' = s (1 - s)(1 - 2 s), with s = sigmoid(a) cached."""
        out = self._saved("_out")
        first = out * (1.0 - out)
        return first, first * (1.0 - 2.0 * out)


class Softplus(Activation):
    """log(1 + exp(x)); derivative sigmoid(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return softplus(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * sigmoid(self._saved("_x"))

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """phi' = s, phi'' = s (1 - s), with s = sigmoid(a)."""
        first = sigmoid(self._saved("_x"))
        return first, first * (1.0 - first)


class Identity(Activation):
    """x; derivative 1. The output layer of an MLP whose output is unconstrained."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout

    def derivatives(self, dtype: np.dtype) -> tuple[float, None]:
        """phi' = 1, phi'' = 0."""
        return 1.0, None

    def jvp(self, dx: np.ndarray) -> np.ndarray:
        """The tangent passes through unchanged (no copy)."""
        self._da = dx
        return dx

    def dual_backward(
        self, dout: np.ndarray, dtangent: np.ndarray, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """H and T pass through unchanged."""
        return (dout, dtangent) if need_input_grad else (None, None)


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
