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

    def __repr__(self) -> str:
        return "MLP(" + " -> ".join(repr(layer) for layer in self.layers) + ")"
