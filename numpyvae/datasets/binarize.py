"""Binarization of intensities in [0, 1] into 0/1 pixels for the Bernoulli likelihood."""

from __future__ import annotations

import numpy as np

from ..validation import InvalidTypeError, InvalidValueError

BINARIZE_METHODS = ("none", "dynamic", "threshold")


def binarize(
    x: np.ndarray,
    method: str,
    rng: np.random.Generator | None = None,
    threshold: float = 0.5,
) -> np.ndarray:
    """Turn intensities in [0, 1] into binary targets; the output keeps x's shape and dtype.

    Args:
        x: float array of intensities in [0, 1], any shape, e.g. (n, 784).
        method: "none" returns x itself (intensities used as Bernoulli targets); "dynamic"
            draws a fresh x' ~ Bernoulli(x) with ``rng`` (call it once per epoch); "threshold"
            returns x > threshold as 0.0/1.0.
        rng: a numpy.random.Generator, required for "dynamic".
        threshold: the cut for "threshold", in [0, 1].
    """
    if method not in BINARIZE_METHODS:
        raise InvalidValueError(f"method must be one of {BINARIZE_METHODS}, got {method!r}")
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise InvalidTypeError(
            f"x must be a floating-point numpy array with values in [0, 1], got {got}"
        )
    if method == "none":
        return x
    if method == "dynamic":
        if not isinstance(rng, np.random.Generator):
            raise InvalidTypeError(
                f"rng must be a numpy.random.Generator for method='dynamic', got {rng!r}"
            )
        return (rng.random(x.shape) < x).astype(x.dtype)
    if not isinstance(threshold, (int, float, np.floating)) or not 0.0 <= threshold <= 1.0:
        raise InvalidValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return (x > threshold).astype(x.dtype)
