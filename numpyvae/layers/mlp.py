"""A multilayer perceptron: Dense and activation layers chained, forward and backward."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numpyvae.layers.activations import make_activation
from numpyvae.layers.base import Layer
from numpyvae.layers.dense import Dense
from numpyvae.validation import check_dtype, check_positive_int


class MLP(Layer):
    """Dense -> activation -> ... -> Dense -> output activation.

    `sizes` = [n_in, h_1, ..., h_L, n_out]: x (N, n_in) -> out (N, n_out). Parameters are
    named "<i>.W" and "<i>.b" for the i-th Dense layer (0-based). Backward follows the chain
    rule in reverse (derivations.md §6.3) and overwrites `grads`.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str = "relu",
        output_activation: str = "identity",
        rng: np.random.Generator,
        dtype: np.dtype | type = np.float64,
        init: str = "uniform",
    ) -> None:
        # No Layer.__init__: the parameters and gradients live in the Dense layers.
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least n_in and n_out, got {list(sizes)}")
        self.sizes = [check_positive_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)]
        self.dtype = check_dtype("dtype", dtype)
        self.dense: list[Dense] = []
        self.layers: list[Layer] = []
        last = len(self.sizes) - 2
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            dense = Dense(n_in, n_out, rng=rng, dtype=self.dtype, init=init)
            self.dense.append(dense)
            self.layers.append(dense)
            self.layers.append(make_activation(output_activation if i == last else activation))
        # The parameter dicts hold the Dense layers' own arrays, so an optimizer's in-place
        # update, or a finite-difference nudge, changes the weights the forward pass uses.
        self.params = {f"{i}.{k}": v for i, d in enumerate(self.dense) for k, v in d.params.items()}

    def adopt(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Keep every Dense layer's parameters and gradients in the given arrays, named
        "<i>.W" and "<i>.b" like `params` (views of the model's flat buffers); the values
        move into them (Dense.adopt)."""
        for i, dense in enumerate(self.dense):
            names = {k: f"{i}.{k}" for k in dense.params}
            dense.adopt(
                {k: params[n] for k, n in names.items()}, {k: grads[n] for k, n in names.items()}
            )
        self.params = {f"{i}.{k}": v for i, d in enumerate(self.dense) for k, v in d.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """dL/d(param) for every parameter, as left by the last backward."""
        return {f"{i}.{k}": v for i, d in enumerate(self.dense) for k, v in d.grads.items()}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, sizes[0]) -> out (N, sizes[-1])."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """dout (N, sizes[-1]) -> dx (N, sizes[0]), or None if `need_input_grad` is False."""
        first = self.layers[0]
        for layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        return first.backward(dout, need_input_grad=need_input_grad)

    def vjp(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, sizes[-1]) -> J(x)^T dout (N, sizes[0]) at the last forward's x.

        The input gradient alone: `grads` is left as it was (derivations.md §12.4).
        """
        for layer in reversed(self.layers):
            dout = layer.vjp(dout)
        return dout

    def jvp(self, dx: np.ndarray) -> np.ndarray:
        """Tangent dx (N, sizes[0]) -> J(x) dx (N, sizes[-1]) at the last forward's x.

        da_l = dh_{l-1} W_l, dh_l = phi_l'(a_l) * da_l (derivations.md §12.4); each layer
        caches its tangent input for `dual_backward`.
        """
        for layer in self.layers:
            dx = layer.jvp(dx)
        return dx

    def dual_backward(
        self, dout: np.ndarray, dtangent: np.ndarray, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The reverse pass through the last forward and jvp together (derivations.md §12.4).

        dout = dL/d(out) and dtangent = dL/d(J dx), both (N, sizes[-1]), for a loss L of the
        output and its tangent. Overwrites `grads` with dL/d(param) and returns dL/dx and
        dL/d(dx), both (N, sizes[0]), or (None, None) if `need_input_grad` is False.
        """
        for layer in reversed(self.layers[1:]):
            dout, dtangent = layer.dual_backward(dout, dtangent)
        return self.layers[0].dual_backward(dout, dtangent, need_input_grad=need_input_grad)

    def __repr__(self) -> str:
        return "MLP(" + " -> ".join(repr(layer) for layer in self.layers) + ")"
