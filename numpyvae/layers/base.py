"""The contract every layer keeps: `forward(x)`, then `backward(dout)` for that same `x`."""

from __future__ import annotations

import numpy as np


class Layer:
    """A differentiable map with named parameters.

    `forward(x)` computes the output and caches what the backward needs. `backward(dout)`
    takes dL/d(output) and returns dL/d(input); for a layer with parameters it also
    *overwrites* `grads[name]` with dL/d(params[name]). Overwrite, not accumulate: calling
    backward twice leaves the gradient of the last call, never a stale sum. Dense writes into
    the same arrays each time (they may be views of a model's flat buffer): copy to keep one.
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

    def vjp(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, D_out) -> dx (N, D_in), the input gradient alone: `grads` is not touched.

        For a layer without parameters this is its backward; Dense overrides it
        (derivations.md §12.4).
        """
        return self.backward(dout)

    def jvp(self, dx: np.ndarray) -> np.ndarray:
        """Forward-mode tangent: dx (N, D_in) -> d(out) (N, D_out) = J(x) dx at the last
        forward's x; caches what `dual_backward` needs (derivations.md §12.4)."""
        raise NotImplementedError

    def dual_backward(
        self, dout: np.ndarray, dtangent: np.ndarray, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The reverse pass through the primal and the tangent pass together.

        Given H = dL/d(out) and T = dL/d(tangent out), both (N, D_out), for a loss L of the
        output and of the tangent of the last `forward` and `jvp`, returns dL/dx and
        dL/d(tangent in), both (N, D_in) (None, None without `need_input_grad`), and
        overwrites `grads` (derivations.md §12.4).
        """
        raise NotImplementedError

    def _saved(self, attribute: str) -> np.ndarray:
        """What forward cached under `attribute`; an error if forward has not run."""
        value = getattr(self, attribute, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
