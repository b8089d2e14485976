"""Grayscale MNIST with a little added Gaussian noise: continuous data for the Fisher
auto-encoder (derivations.md §12.3).

Why noise at all. The Fisher objective is a score matching in x: it needs a data density p_d
that is smooth on all of R^d (the integration by parts of §12.1 drops boundary terms and uses
grad_x log p_d). Grayscale MNIST is not such a density: its intensities are quantized to 256
levels, and about 80% of the pixels are exactly 0 in every image, so p_d has no score and the
decoder can drive its variance s^2 to 0 on the background, where the term -d / s^2 of the loss
runs to minus infinity. Adding x' = x + NOISE_STD * n, n ~ N(0, I), makes p_d the convolution
of MNIST with N(0, NOISE_STD^2 I): smooth, positive everywhere, and its best decoder variance
is at least about NOISE_STD^2. Binarized digits are worse still (no density at all) and are
refused by the objective.

Why NOISE_STD = 0.1. Large enough: it is 25 times the quantization step 1/255, so the noisy
data no longer sees the 256 levels, and it keeps s^2 >= ~0.01, so the loss's d / s^2 stays
below ~8e4 for d = 784 (float32 is safe). Small enough: the digits (intensity ~1 on 0) stay at
a signal-to-noise ratio of 10 and read clearly. It is also the noise of the independent
re-implementation (Wenliang, arXiv 2210.13390), so results can be compared.

Training draws fresh noise for every minibatch (`noisy_transform`, like dynamic binarization),
which samples the smoothed density rather than one noisy copy; a test set is noised once from
a fixed seed (`add_noise`), so that every evaluation sees the same images.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from numpyvae.datasets.load import load_dataset
from numpyvae.datasets.mnist import MNIST
from numpyvae.validation import InvalidValueError

NOISE_STD = 0.1
NOISE_KEY = 0x0015E  # the second seed word of the test set's noise: it depends on `seed` only


def add_noise(x: np.ndarray, rng: np.random.Generator, std: float = NOISE_STD) -> np.ndarray:
    """x (N, d) + std * N(0, I) noise, a new array of x's dtype (derivations.md §12.3)."""
    if not np.isfinite(std) or std < 0:
        raise InvalidValueError(f"the noise std must be a finite number >= 0, got {std!r}")
    noise = rng.standard_normal(x.shape, dtype=x.dtype)
    noise *= x.dtype.type(std)
    noise += x
    return noise


def noisy_transform(
    std: float = NOISE_STD,
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """A Trainer `transform`: fresh noise of `std` on every minibatch (see the module doc)."""

    def transform(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return add_noise(x, rng, std)

    return transform


def load_noisy_mnist(
    name: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    std: float = NOISE_STD,
    seed: int = 0,
    dtype: object = np.float64,
) -> MNIST:
    """MNIST ("auto", "mnist" or "embedded", as `load_dataset`) with the noise added once.

    Both sets (N, 784) get noise of `std` from the generator seeded by (seed, NOISE_KEY) (the
    training set first): for notebooks and tests that want fixed arrays; the command line's
    training draws fresh noise per minibatch instead. The `source` says which noise.
    """
    data = load_dataset(name, data_dir, dtype=dtype)
    rng = np.random.default_rng([seed, NOISE_KEY])
    return replace(
        data,
        x_train=add_noise(data.x_train, rng, std),
        x_test=add_noise(data.x_test, rng, std),
        source=f"{data.source} + N(0, {std:g}^2) noise",
    )
