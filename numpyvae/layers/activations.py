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
    """1 / (1 + exp(-x)) (N, D) -> (N, D), to a few ulps for every x (derivations.md §11).

    Two branches that share e = exp(-|x|) <= 1, so nothing overflows:
    1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. The second keeps the relative precision
    for negative x, which (1 + tanh(x/2)) / 2 loses to cancellation (that form returns 0 at
    x = -40, where the answer is 4e-18).
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def sigmoid_slope(x: np.ndarray) -> np.ndarray:
    """sigmoid'(x) = s (1 - s) = e / (1 + e)^2 with e = exp(-|x|): (N, D) -> (N, D).

    The product s (1 - s) of the cached output loses every digit of 1 - s once s rounds to 1
    (x > 37 in float64); e / (1 + e)^2 is the same number, symmetric in x, to a few ulps.
    """
    e = np.exp(-np.abs(x))
    one_plus = 1.0 + e
    return e / (one_plus * one_plus)


def sech_squared(x: np.ndarray) -> np.ndarray:
    """tanh'(x) = 1 - tanh(x)^2 = sech(x)^2, sech(x) = 2 f / (1 + f^2), f = exp(-|x|):
    (N, D) -> (N, D), to a few ulps for every x (derivations.md §11).

    The textbook 1 - t^2 from t = tanh(x) cancels near saturation: relative error about
    1e-16 / sech(x)^2, all digits gone by |x| = 19 in float64 (9 in float32).
    """
    f = np.exp(-np.abs(x))
    sech = 2.0 * f / (1.0 + f * f)
    return sech * sech


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), finite for every finite x (N, D) -> (N, D).

    log sigmoid(x) = -softplus(-x), to the same precision.
    """
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
    """tanh(x); derivative 1 - tanh(x)^2 = sech(x)^2, from the cached input (`sech_squared`:
    1 - t^2 of the cached output t loses all precision near saturation)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * sech_squared(self._saved("_x"))

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """phi' = sech^2(a) = 1 - t^2, phi'' = -2 t (1 - t^2), with t = tanh(a) cached."""
        first = sech_squared(self._saved("_x"))
        return first, -2.0 * self._saved("_out") * first


class Sigmoid(Activation):
    """sigmoid(x); derivative s (1 - s), from the cached input (`sigmoid_slope`: s (1 - s) of
    the cached output s loses all precision once s rounds to 1)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return sigmoid(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * sigmoid_slope(self._saved("_x"))

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """phi' = s (1 - s), phi'' = s (1 - s)(1 - 2 s), with 1 - 2 s = -tanh(a/2) (no
        cancellation where s is near 1/2 or 1)."""
        a = self._saved("_x")
        first = sigmoid_slope(a)
        return first, -first * np.tanh(0.5 * a)


class Softplus(Activation):
    """log(1 + exp(x)); derivative sigmoid(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return softplus(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * sigmoid(self._saved("_x"))

    def derivatives(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """phi' = s, phi'' = s (1 - s), with s = sigmoid(a)."""
        a = self._saved("_x")
        return sigmoid(a), sigmoid_slope(a)


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
