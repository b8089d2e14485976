"""Optimizers written by hand (derivations.md §9.3).

The lectures write gradient ASCENT on the ELBO, theta <- theta + alpha grad ELBO. numpyvae
minimises the loss = -ELBO, so every update here is the same step written as DESCENT:
theta <- theta - alpha grad loss. Parameters are updated in place, so the layers see them.
"""

from __future__ import annotations

import math

import numpy as np

from numpyvae.validation import InvalidValueError, check_positive_float


class Optimizer:
    """Holds the parameters (live arrays, by name) and updates them from a dict of gradients."""

    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.params = params
        self.lr = check_positive_float("lr", lr)
        self.steps = 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Update every parameter in place from grads[name] (same shape)."""
        missing = set(self.params) - set(grads)
        if missing:
            raise InvalidValueError(f"grads lacks the parameters {sorted(missing)}")
        self.steps += 1
        for name, p in self.params.items():
            self._update(name, p, grads[name])

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's state as named arrays (for checkpoints)."""
        return {"steps": np.array(self.steps)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned."""
        self.steps = int(state["steps"])


class SGD(Optimizer):
    """SGD with (heavy-ball) momentum: v <- mu v + g; p <- p - lr v. Momentum 0 is plain SGD."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 0.01, momentum: float = 0.9):
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise InvalidValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.velocity = {n: np.zeros_like(p) for n, p in params.items()}

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        v = self.velocity[name]
        v *= self.momentum
        v += g
        p -= self.lr * v

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**super().state_dict(), **{f"velocity/{n}": v for n, v in self.velocity.items()}}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_dict(state)
        for n, v in self.velocity.items():
            v[...] = state[f"velocity/{n}"]


class Adam(Optimizer):
    """Adam (Kingma and Ba), in PyTorch's arrangement of the bias corrections.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise InvalidValueError(f"betas must be two numbers in [0, 1), got {betas}")
        self.beta1, self.beta2 = betas
        self.eps = check_positive_float("eps", eps)
        self.m = {n: np.zeros_like(p) for n, p in params.items()}
        self.v = {n: np.zeros_like(p) for n, p in params.items()}
        # One scratch array per parameter: the update below writes every intermediate
        # into it (out=), so a step allocates nothing. Adam's cost is memory traffic.
        self._scratch = {n: np.empty_like(p) for n, p in params.items()}
        self._below = {n: np.empty(p.shape, dtype=bool) for n, p in params.items()}

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        m, v, tmp = self.m[name], self.v[name], self._scratch[name]
        # m <- b1 m + (1 - b1) g, written m += (1 - b1)(g - m); likewise v with g^2.
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta2
        v += tmp
        # Where g is 0 for many steps (a pixel that is almost always blank), m decays by b1 a
        # step and spends some 150 steps in the subnormal range, where x86 arithmetic is ten
        # times slower, before it underflows to 0. It is set to 0 as soon as it gets there:
        # it no longer moves the parameter (derivations.md §11). v decays too slowly to matter.
        np.abs(m, out=tmp)
        below = self._below[name]
        np.less(tmp, np.finfo(m.dtype).tiny, out=below)
        m[below] = 0.0
        # lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)
        #   = lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps sqrt(1 - b2^t)).
        root = math.sqrt(1.0 - self.beta2**self.steps)  # a Python float keeps float32 float32
        np.sqrt(v, out=tmp)
        tmp += self.eps * root
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr * root / (1.0 - self.beta1**self.steps)
        p -= tmp

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            **super().state_dict(),
            **{f"m/{n}": a for n, a in self.m.items()},
            **{f"v/{n}": a for n, a in self.v.items()},
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_dict(state)
        for n in self.m:
            self.m[n][...] = state[f"m/{n}"]
            self.v[n][...] = state[f"v/{n}"]


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
