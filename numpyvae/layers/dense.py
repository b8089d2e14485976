"""The dense (affine) layer, out = x W + b, and its weight initialisations."""

from __future__ import annotations

import numpy as np

from numpyvae.layers.base import Layer
from numpyvae.validation import check_choice, check_dtype, check_positive_int

INITS = ("uniform", "he", "glorot")


def init_weights(
    n_in: int, n_out: int, scheme: str, rng: np.random.Generator, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Return W (n_in, n_out) and b (n_out,) drawn by `scheme`.

    - "uniform" (default): W, b ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), PyTorch's `nn.Linear`
      default, so that numpyvae and the PyTorch reference start from the same distribution.
    - "he": W ~ N(0, 2/n_in), b = 0, which keeps the variance of ReLU activations constant.
    - "glorot": W ~ U(-a, a) with a = sqrt(6/(n_in + n_out)), b = 0, for tanh and sigmoid.
    """
    check_choice("init", scheme, INITS)
    if scheme == "uniform":
        bound = 1.0 / np.sqrt(n_in)
        W = rng.uniform(-bound, bound, size=(n_in, n_out))
        b = rng.uniform(-bound, bound, size=n_out)
    elif scheme == "he":
        W = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        b = np.zeros(n_out)
    else:
        bound = np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-bound, bound, size=(n_in, n_out))
        b = np.zeros(n_out)
    return W.astype(dtype), b.astype(dtype)


class Dense(Layer):
    """Affine layer out = x W + b (derivations.md §6.1).

    Shapes: x (N, n_in), W (n_in, n_out), b (n_out,), out (N, n_out).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        rng: np.random.Generator,
        dtype: np.dtype | type = np.float64,
        init: str = "uniform",
    ) -> None:
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_out = check_positive_int("n_out", n_out)
        dtype = check_dtype("dtype", dtype)
        W, b = init_weights(self.n_in, self.n_out, init, rng, dtype)
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, n_in) -> out (N, n_out) = x W + b."""
        self._x = x
        out = x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """dout (N, n_out) -> dx (N, n_in); sets grads W (n_in, n_out) and b (n_out,).

        dW = x^T dout, db = sum over rows of dout, dx = dout W^T (derivations.md §6.1).
        With `need_input_grad=False` (the first layer of the encoder, whose input is data)
        the product dout W^T is skipped and None is returned.
        """
        x = self._saved("_x")
        # Written into the gradient arrays themselves (out=): in a model they are views of
        # one flat buffer that the optimizer reads in a single pass (numpyvae.kernels).
        np.matmul(x.T, dout, out=self.grads["W"])
        np.add.reduce(dout, axis=0, out=self.grads["b"])  # np.sum without its Python layers
        return dout @ self.params["W"].T if need_input_grad else None

    def vjp(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, n_out) -> dx (N, n_in) = dout W^T, leaving `grads` alone (§12.4)."""
        return dout @ self.params["W"].T

    def jvp(self, dx: np.ndarray) -> np.ndarray:
        """Tangent dx (N, n_in) -> d(out) (N, n_out) = dx W: the bias has no tangent (§12.4).

        Caches dx for `dual_backward`, as forward caches x.
        """
        self._dx = dx
        return dx @ self.params["W"]

    def dual_backward(
        self, dout: np.ndarray, dtangent: np.ndarray, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """H = dL/d(out), T = dL/d(tangent out), both (N, n_out) -> (dL/dx, dL/d(dx)) (N, n_in).

        out = x W + b and its tangent dx W both hold W, so (derivations.md §12.4)
        dW = x^T H + dx^T T, db = column sums of H, dL/dx = H W^T, dL/d(dx) = T W^T.
        Overwrites `grads`; without `need_input_grad` the two input products are skipped.
        """
        x, dx = self._saved("_x"), self._saved("_dx")
        grad_W = np.matmul(x.T, dout, out=self.grads["W"])
        grad_W += dx.T @ dtangent
        np.sum(dout, axis=0, out=self.grads["b"])
        if not need_input_grad:
            return None, None
        W = self.params["W"]
        return dout @ W.T, dtangent @ W.T

    def adopt(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Keep W, b and their gradients in the given arrays from now on (shaped like them).

        The values move into `params`; the model passes views of its flat buffers
        (numpyvae.kernels.FlatArrays), so that one optimizer pass updates every layer.
        """
        for name in ("W", "b"):
            params[name][...] = self.params[name]
            grads[name][...] = self.grads[name]
            self.params[name], self.grads[name] = params[name], grads[name]

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out})"
