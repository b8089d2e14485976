"""The contract every layer keeps: `forward(x)`, then `backward(dout)` for that same `x`."""

from __future__ import annotations

import numpy as np


class Layer:
    """A differentiable map with named parameters.

    `forward(x)` computes the output and caches what the backward needs. `backward(dout)`
    takes dL/d(output) and returns dL/d(input); for a layer with parameters it also
    *overwrites* `grads[name]` with dL/d(params[name]). Overwrite, not accumulate: calling
    backward twice leaves the gradient of the last call, never a stale sum.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, D_in) -> out (N, D_out)."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, D_out) -> dx (N, D_in)."""
        raise NotImplementedError

    def _saved(self, attribute: str) -> np.ndarray:
        """What forward cached under `attribute`; an error if forward has not run."""
        value = getattr(self, attribute, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
