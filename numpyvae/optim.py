"""Optimizers written by hand (derivations.md §9.3).

The lectures write gradient ASCENT on the ELBO, theta <- theta + alpha grad ELBO. numpyvae
minimises the loss = -ELBO, so every update here is the same step written as DESCENT:
theta <- theta - alpha grad loss. Parameters are updated in place, so the layers see them.

Each update has two forms side by side: `*_reference`, the lines a student writes from the
formulas (tests/test_kernels.py checks the two agree), and the kernel that runs, which writes
every intermediate into one scratch array (no allocation) and runs once over a model's whole
flat parameter buffer (numpyvae.kernels.FlatArrays) rather than once per parameter, or block
by block over it (numpyvae.kernels.blocks), on one core or two.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

import numpy as np

from numpyvae.kernels import FlatArrays
from numpyvae.kernels.blocks import available_cores, run_in_blocks
from numpyvae.kernels.fastest import Fastest
from numpyvae.validation import (
    InvalidTypeError,
    InvalidValueError,
    check_positive_float,
    check_positive_int,
)

# Adam's stored first moment (pre-scaled, m / (1 - b1)) is flushed to 0 below this many
# smallest normal numbers, once every `flush_every` steps (see `Adam`): 2^16 * 1.2e-38 =
# 7.7e-34 in float32.
FLUSH_MARGIN = 2.0**16


def check_fraction(name: str, value: Any) -> float:
    """Return `value` as a float if it is a number in [0, 1); raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise InvalidValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_params(params: Any) -> dict[str, np.ndarray]:
    """Return `params` if it maps names to float arrays; raise InvalidTypeError otherwise."""
    if not isinstance(params, Mapping):
        raise InvalidTypeError(
            f"params must be a dict of NumPy arrays by name (model.params), got {params!r:.80}"
        )
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise InvalidTypeError(
                f"params[{name!r}] must be a float NumPy array (updated in place), got {p!r:.80}"
            )
    return params


# ------------------------------------------------------------------------- the kernels
def sgd_reference(
    p: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, momentum: float
) -> None:
    """Heavy-ball SGD as written (derivations.md §9.3): v <- mu v + g; p <- p - lr v.

    p, g, velocity: arrays of one shape; p and velocity are updated in place.
    """
    velocity[...] = momentum * velocity + g
    p[...] = p - lr * velocity


def sgd_update(
    p: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, momentum: float
) -> None:
    """`sgd_reference` (derivations.md §9.3) in place, arrays of one shape: three passes."""
    velocity *= momentum
    velocity += g
    p -= lr * velocity


def adam_reference(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> None:
    """Adam's step t >= 1 as written (derivations.md §9.3), arrays of one shape:

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t);  p <- p - lr m_hat / (sqrt(v_hat) + eps).
    """
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p[...] = p - lr * m_hat / (np.sqrt(v_hat) + eps)


def adam_update(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    tmp: np.ndarray,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> None:
    """`adam_reference` in ten passes over memory on PRE-SCALED moments (derivations.md §9.3),
    arrays of one shape, every intermediate in `tmp`.

    m and v hold m / (1 - b1) and v / (1 - b2) (as `Adam.m` and `Adam.v` do), so that their
    updates multiply g by nothing: m <- b1 m + g;  v <- b2 v + g^2. The bias corrections and
    the scales fold into two scalars (Python floats, so float32 stays float32): with
    s = sqrt((1 - b2^t) / (1 - b2)),
    lr m_hat / (sqrt(v_hat) + eps) = [lr (1 - b1) s / (1 - b1^t)] m / (sqrt(v) + eps s).
    In-place passes (m *= b1) cost half of those that write a third array, and the square
    root alone is a quarter of the step. On the example's 652k float32 parameters of a
    2-core Intel Xeon, 1.48 ms a step over the whole arrays on one thread and 0.80 ms by
    halves on two (1.73 and 0.92 ms in the twelve passes of the unscaled form). Whether
    cache-sized blocks pay depends on the machine: with twelve passes they were slower on an
    AMD EPYC (0.8 ms whole, one thread: the calls cost more than the cache saves) and faster
    on another Intel Xeon (2.2 ms whole, 1.7 ms in blocks of 64k entries, which keep every
    line's arrays in the L2 cache). `Adam` therefore runs this kernel on whole arrays or on
    blocks, on one thread or two, whichever it measures fastest (run_in_blocks).
    """
    m *= beta1
    m += g
    v *= beta2
    np.multiply(g, g, out=tmp)
    v += tmp
    s = math.sqrt((1.0 - beta2**t) / (1.0 - beta2))
    np.sqrt(v, out=tmp)
    tmp += eps * s
    np.divide(m, tmp, out=tmp)
    tmp *= lr * (1.0 - beta1) * s / (1.0 - beta1**t)
    p -= tmp


# Block sizes tried for the flat update, in bytes of each array: 16k and 64k float32 entries.
# With Adam's five arrays a block takes 320 KiB or 1.25 MiB of the L2 cache (512 KiB a core
# on the AMD EPYC machines of the earlier benchmarks, 2 MiB on the Intel Xeon ones).
BLOCK_BYTES = (64 * 1024, 256 * 1024)


def flat_update_candidates(
    kernel: Callable[..., None], size: int, itemsize: int, threads: int | None
) -> dict[str, Callable[[list, tuple], None]]:
    """The ways to run an element-wise `kernel` over flat buffers of `size` entries, by name:
    whole arrays or blocks of BLOCK_BYTES, on `threads` threads (None: one, and two if the
    process has two cores). Every way gives the same bits (numpyvae.kernels.blocks)."""
    counts = [threads] if threads is not None else sorted({1, min(2, available_cores())})
    out = {}
    for n in counts:
        out[f"whole arrays, {n} thread(s)"] = functools.partial(
            run_in_blocks, kernel, block=-(-size // n), threads=n
        )
        for nbytes in BLOCK_BYTES:
            block = max(1, nbytes // itemsize)
            if block < -(-size // n):
                out[f"blocks of {block} entries, {n} thread(s)"] = functools.partial(
                    run_in_blocks, kernel, block=block, threads=n
                )
    return out


def flush_subnormal(a: np.ndarray, threshold: float, scratch: np.ndarray) -> None:
    """Set to 0 the entries of `a` with |a| < threshold (derivations.md §11); `scratch` is a
    float array of a's shape that receives |a|."""
    np.abs(a, out=scratch)
    a[scratch < threshold] = 0.0


# ------------------------------------------------------------------------- the optimizers
class Optimizer:
    """Holds the parameters (live arrays, by name) and updates them from a dict of gradients.

    When `params` is a `FlatArrays` (a model's `params`), the state lives in buffers of the
    same layout and each step is one kernel call on the flat buffers; otherwise one call per
    parameter. Gradients from the same model (a `FlatArrays` of that layout) are read in
    place; any other dict of gradients is first gathered into a flat scratch buffer.
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.params = check_params(params)
        self.lr = check_positive_float("lr", lr)
        self.steps = 0
        self._flat = isinstance(params, FlatArrays)
        self._gathered: FlatArrays | None = None

    def _state_like(self) -> dict[str, np.ndarray]:
        """Zeros shaped like the parameters: one flat buffer of their layout, or per array."""
        if self._flat:
            return self.params.zeros_like()
        return {n: np.zeros_like(p) for n, p in self.params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Update every parameter in place from grads[name] (same shape)."""
        same_layout = isinstance(grads, FlatArrays) and grads.layout is self.params.layout
        missing = () if same_layout else set(self.params) - set(grads)
        if missing:
            raise InvalidValueError(f"grads lacks the parameters {sorted(missing)}")
        self.steps += 1
        if not self._flat:
            for name, p in self.params.items():
                self._update(name, p, grads[name])
            return
        if same_layout:
            flat_grad = grads.flat
        else:
            if self._gathered is None:
                self._gathered = self.params.zeros_like()
            for name, g in self._gathered.items():
                g[...] = grads[name]
            flat_grad = self._gathered.flat
        self._update_flat(self.params.flat, flat_grad)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _update_flat(self, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's state as named arrays (for checkpoints)."""
        return {"steps": np.array(self.steps)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned."""
        self.steps = int(state["steps"])

    def load_standard_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state whose entries are the quantities of the formulas (derivations.md
        §9.3), as numpyvae's checkpoints before format 3 stored them. The same as
        `load_state_dict` unless the optimizer stores its state scaled (Adam)."""
        self.load_state_dict(state)


class SGD(Optimizer):
    """SGD with (heavy-ball) momentum: v <- mu v + g; p <- p - lr v. Momentum 0 is plain SGD."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 0.01, momentum: float = 0.9):
        super().__init__(params, lr)
        self.momentum = check_fraction("momentum", momentum)
        self.velocity = self._state_like()

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        sgd_update(p, g, self.velocity[name], self.lr, self.momentum)

    def _update_flat(self, p: np.ndarray, g: np.ndarray) -> None:
        sgd_update(p, g, self.velocity.flat, self.lr, self.momentum)

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

    The state is kept PRE-SCALED (derivations.md §9.3), which saves two passes a step
    (`adam_update`): the attributes `m` and `v` (arrays by name, like the parameters) hold
    m / (1 - b1) and v / (1 - b2), and so do `state_dict`'s entries m/<name> and v/<name>
    (checkpoints of format 3 on). Adam's moments of the formula are (1 - b1) * adam.m[name]
    and (1 - b2) * adam.v[name]; `load_standard_state_dict` reads a state holding those.

    Subnormal numbers (derivations.md §11): where g is 0 for many steps (a pixel that is
    almost always blank), the stored m decays by b1 a step into the subnormal range, where
    x86 arithmetic is ten times slower. Every `flush_every` steps, entries of the stored m
    below FLUSH_MARGIN smallest normal numbers are set to 0: chosen so that b1^flush_every
    is about 1/FLUSH_MARGIN, no entry decays from above the threshold into the subnormal
    range before the next flush (the pre-scaled m decays by b1 too, so the threshold applies
    to it unchanged), and a moment below 1e-33 moves no parameter. v decays too slowly to
    matter.

    The update of a model's flat buffers (numpyvae.kernels) runs on whole arrays or on
    cache-sized blocks, on one thread or on `threads` (None: one or two, as many as the
    process has cores), in whichever form `kernel` (numpyvae.kernels.fastest.Fastest)
    measures fastest on this machine. All forms compute the same bits.
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        threads: int | None = None,
    ) -> None:
        super().__init__(params, lr)
        # Threads for the update of a flat buffer (a model's params); None: measured, below.
        self.threads = None if threads is None else check_positive_int("threads", threads)
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise InvalidTypeError(f"betas must be two numbers in [0, 1), got {betas!r:.80}")
        self.beta1 = check_fraction("betas[0]", betas[0])
        self.beta2 = check_fraction("betas[1]", betas[1])
        self.eps = check_positive_float("eps", eps)
        self.m = self._state_like()
        self.v = self._state_like()
        # One scratch array (one flat, or one per parameter): every intermediate goes there.
        self._scratch = (
            np.empty_like(self.m.flat)
            if self._flat
            else {n: np.empty_like(p) for n, p in self.m.items()}
        )
        self.flush_every = (
            max(1, int(math.log(FLUSH_MARGIN) / -math.log(self.beta1))) if self.beta1 > 0 else 1
        )
        # The flat update runs whichever of its equivalent forms (whole arrays or cache-sized
        # blocks, one thread or two) is measured fastest here (numpyvae.kernels.fastest).
        self.kernel = (
            Fastest(
                flat_update_candidates(
                    adam_update, self.m.flat.size, self.m.flat.itemsize, self.threads
                )
            )
            if self._flat
            else None
        )

    def _flush(self, m: np.ndarray, scratch: np.ndarray) -> None:
        if self.steps % self.flush_every == 0:
            flush_subnormal(m, FLUSH_MARGIN * float(np.finfo(m.dtype).tiny), scratch)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        m, tmp = self.m[name], self._scratch[name]
        adam_update(p, g, m, self.v[name], tmp, self.steps, *self._hyper())
        self._flush(m, tmp)

    def _update_flat(self, p: np.ndarray, g: np.ndarray) -> None:
        m, tmp = self.m.flat, self._scratch
        self.kernel([p, g, m, self.v.flat, tmp], (self.steps, *self._hyper()))
        self._flush(m, tmp)

    def _hyper(self) -> tuple[float, float, float, float]:
        return self.lr, self.beta1, self.beta2, self.eps

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            **super().state_dict(),
            **{f"m/{n}": a for n, a in self.m.items()},
            **{f"v/{n}": a for n, a in self.v.items()},
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned (pre-scaled moments): bit for bit."""
        super().load_state_dict(state)
        for n in self.m:
            self.m[n][...] = state[f"m/{n}"]
            self.v[n][...] = state[f"v/{n}"]

    def load_standard_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state whose m/<name> and v/<name> are Adam's moments of the formula, not
        pre-scaled (numpyvae's checkpoints before format 3): they are divided by (1 - b1) and
        (1 - b2) in the parameters' dtype, which rounds, so training on from them agrees with
        training on from the old state to rounding, not bit for bit."""
        super().load_state_dict(state)
        for n in self.m:
            np.divide(state[f"m/{n}"], 1.0 - self.beta1, out=self.m[n])
            np.divide(state[f"v/{n}"], 1.0 - self.beta2, out=self.v[n])


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
