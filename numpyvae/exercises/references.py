"""How an exercise computes the right answer without trusting a hand-written gradient.

`by_finite_differences(loss, wrt)` is the reference of a backward exercise: the centred
differences (derivations.md §6.4) of a scalar loss of the inputs, with respect to some of
them. The loss reads the arrays it is given, which are nudged in place one entry at a time on
copies, so the caller's inputs are never changed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from numpyvae.gradcheck import numerical_gradient

Inputs = dict[str, np.ndarray]


def by_finite_differences(
    loss: Callable[[Inputs], float], wrt: tuple[str, ...]
) -> Callable[[Inputs], tuple[np.ndarray, ...]]:
    """inputs -> (d loss / d inputs[name] for name in wrt), each of its input's shape."""

    def reference(inputs: Inputs) -> tuple[np.ndarray, ...]:
        copies = {name: np.array(a, dtype=np.float64) for name, a in inputs.items()}
        return tuple(numerical_gradient(lambda: loss(copies), copies[name]) for name in wrt)

    return reference


def vjp_loss(forward: Callable[..., np.ndarray], upstream: str, *arguments: str):
    """The loss sum(upstream * forward(*arguments)), whose gradient a backward pass returns."""

    def loss(inputs: Inputs) -> float:
        return float(np.sum(inputs[upstream] * forward(*(inputs[a] for a in arguments))))

    return loss
