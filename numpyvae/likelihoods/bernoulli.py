"""Bernoulli likelihood on logits l: p(x|z) = prod_i s_i^x_i (1 - s_i)^(1 - x_i), s = sigma(l)."""

from __future__ import annotations

import functools
import math

import numpy as np

from numpyvae.kernels.blocks import available_cores, run_in_blocks
from numpyvae.kernels.fastest import Fastest
from numpyvae.layers.activations import sigmoid, softplus
from numpyvae.likelihoods.base import Likelihood
from numpyvae.validation import InvalidValueError, value_range


@functools.cache
def flush_limit(dtype: np.dtype) -> float:
    """|l| beyond which exp(-|l|) counts as 0: 0.8 of -log(smallest normal number).

    69.8 in float32 (exp(-69.8) = 5e-31) and 566.7 in float64 (1e-246): far below the
    precision of every sum these terms join, and far enough above the subnormal range
    (exp(-87.3) in float32) that the loss's scaling by 1/(M B) cannot bring them into it.
    """
    return 0.8 * -float(np.log(np.finfo(dtype).tiny))


def bernoulli_reference(x: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The formulas as written (derivations.md §5.3): x (B, d), logits (M, B, d) ->

    log p(x|z) = sum_i [x_i l_i - softplus(l_i)] (M, B), d log p / dl = x - sigmoid(l) (M, B, d).
    """
    log_p = np.sum(x * logits - softplus(logits), axis=-1)
    return log_p, x - sigmoid(logits)


def bernoulli_fast(
    x: np.ndarray,
    logits: np.ndarray,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`bernoulli_reference` (derivations.md §5.3) from one tanh and one log1p per entry:
    x (B, d), logits (M, B, d) -> log p (M, B) and x - sigmoid(l) (M, B, d), written into
    `out` = (log p, gradient) if given. The float32 path.

    With t = tanh(l/2): sigmoid(l) = (1 + t)/2 (the package's `sigmoid`), so
    x - sigmoid(l) = (x - 1/2) - t/2; and softplus(l) = max(l, 0) + log(1 + e^-|l|) with
    1 + e^-|l| = 2 / (1 + |t|), while x l - max(l, 0) = (x - 1/2) l - |l|/2. Hence

        log p = sum_i [(x_i - 1/2) l_i - |l_i|/2 + (log1p(|t_i|) - log 2)].

    tanh saturates at exactly +-1 where |l| is large, so sigmoid is then exactly 0 or 1 and
    the last bracket exactly 0: no subnormal number and no overflow arise, and no clamp is
    needed (derivations.md §11). Measured on 128 x 784 float32 logits here, tanh, log1p and
    exp cost 35-45 us each, and np.maximum, np.where and np.copysign 40-340 us, against
    6-15 us for + - * and abs: the kernel uses the first two and none of the last three.

    Precision limit (derivations.md §11): log1p(|t|) - log 2 cancels, so each pixel's log p
    is within 2 ulps of max(1, |log p|), not of a log p near 0 (x = 1, l = 20: exact -2e-9,
    computed 0); likewise x - sigmoid(l) to an ulp of 1. `sigmoid` is exact to a few ulps.
    """
    x_centred = x - 0.5
    half = logits * 0.5
    t = np.tanh(half)
    log_p_out, grad_out = (None, None) if out is None else out
    terms = np.multiply(x_centred, logits, out=grad_out)  # the gradient's buffer, for now
    terms -= np.abs(half, out=half)  # (x - 1/2) l - |l|/2 = x l - max(l, 0)
    log_term = np.abs(t)
    np.log1p(log_term, out=log_term)
    log_term -= math.log(2.0)  # -log(1 + e^-|l|), exactly 0 where tanh saturates
    terms += log_term
    log_p = terms.sum(axis=-1, out=log_p_out)
    t *= 0.5
    grad = np.subtract(x_centred, t, out=terms)  # x - 1/2 - t/2 = x - sigmoid(l)
    return log_p, grad


def bernoulli_rows(x: np.ndarray, logits: np.ndarray, log_p: np.ndarray, grad: np.ndarray) -> None:
    """`bernoulli_fast` on some rows of a batch, each array with the batch axis first:
    x (b, d), logits (b, M, d) -> log p (b, M) and the gradient (b, M, d), written in place."""
    bernoulli_fast(x, logits.swapaxes(0, 1), out=(log_p.swapaxes(0, 1), grad.swapaxes(0, 1)))


def bernoulli_threads(
    x: np.ndarray, logits: np.ndarray, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """`bernoulli_fast` with the batch's rows split over `threads` threads: the same bits
    (each row's log p sums that row alone). x (B, d), logits (M, B, d)."""
    M, B, _ = logits.shape
    log_p = np.empty((M, B), dtype=logits.dtype)
    grad = np.empty_like(logits)
    arrays = [x, logits.swapaxes(0, 1), log_p.swapaxes(0, 1), grad.swapaxes(0, 1)]
    run_in_blocks(bernoulli_rows, arrays, (), block=-(-B // threads), threads=threads)
    return log_p, grad


class Bernoulli(Likelihood):
    """log p(x|z) from the decoder's logits l = f_theta(z) (derivations.md §5.3).

    Shapes: x (B, d) targets in [0, 1]; out (M, B, d) logits, one slice per sample z_j.
    """

    name = "bernoulli"

    def __init__(self, *, dtype: np.dtype | type = np.float64) -> None:
        super().__init__(dtype=dtype)
        # The float32 kernel on one core, or its rows split over two, whichever is measured
        # faster here (numpyvae.kernels.fastest), for each shape of logits apart (training
        # batches, evaluation batches): tanh and log1p keep a core busy.
        self.candidates = {"1 thread": bernoulli_fast}
        if available_cores() > 1:
            self.candidates["2 threads"] = functools.partial(bernoulli_threads, threads=2)
        self.kernels: dict[tuple[int, ...], Fastest] = {}

    def log_prob_and_grad(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(x|z) = sum_i [x_i l_i - softplus(l_i)] (M, B) and its gradient
        d log p / dl = x - sigmoid(l) (M, B, d), from x (B, d) and logits out (M, B, d).

        softplus(l) = max(l, 0) + log1p(exp(-|l|)) never overflows, unlike log(sigmoid(l)).
        Both come from one exp(-|l|), so the hot path evaluates no exponential twice.
        float32 (training) runs `bernoulli_fast`; float64, the precision of the gradient
        checks, keeps log1p and the lines below.
        """
        if out.dtype == np.float32:
            if out.shape not in self.kernels:
                self.kernels[out.shape] = Fastest(self.candidates)
            return self.kernels[out.shape](x, out)
        e = np.abs(out)
        # Where exp(-|l|) would be nearly subnormal it is set to 0 (derivations.md §11):
        # arithmetic on subnormal numbers is ten times slower on x86, and there the terms it
        # feeds are below the working precision. Sigmoid(l) is then exactly 0 or 1.
        limit = flush_limit(e.dtype)
        negligible = e > limit
        np.minimum(e, limit, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = exp(-|l|), computed in one buffer
        e[negligible] = 0.0
        # log p = sum_i x_i l_i - softplus(l_i), softplus(l) = max(l, 0) + log1p(e).
        terms = x * out
        terms -= np.maximum(out, 0.0)
        terms -= np.log1p(e)
        log_p = terms.sum(axis=-1)
        # sigmoid(l) = 1 / (1 + e) for l >= 0 and e / (1 + e) for l < 0.
        grad = np.where(out >= 0, 1.0, e)
        e += 1.0
        grad /= e
        np.subtract(x, grad, out=grad)  # x - sigmoid(l), in place of sigmoid(l)
        return log_p, grad

    def mean(self, out: np.ndarray) -> np.ndarray:
        """E[x|z] = sigmoid(l): generation method A (derivations.md §8.1). Same shape as out."""
        return sigmoid(out)

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x ~ Bernoulli(sigmoid(l)), in out's dtype: generation method B (derivations.md §8.1)."""
        return (rng.random(out.shape) < sigmoid(out)).astype(out.dtype)

    def check_targets(self, name: str, x: np.ndarray) -> None:
        """Bernoulli targets must lie in [0, 1]; raise ValueError otherwise."""
        lo, hi = value_range(x)
        if not (lo >= 0.0 and hi <= 1.0):  # NaN fails too
            hint = " (pixels in 0..255? divide by 255)" if hi > 1.0 else ""
            raise InvalidValueError(
                f"{name} must lie in [0, 1] for the Bernoulli likelihood, got values in "
                f"[{lo:g}, {hi:g}]{hint}"
            )
