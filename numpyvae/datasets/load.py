"""Choosing the data set: the full MNIST files, the embedded subset, or whichever is here."""

from __future__ import annotations

import os

import numpy as np

from ..validation import InvalidValueError
from .embedded import load_embedded_mnist
from .mnist import MNIST, load_mnist, mnist_available


def load_dataset(
    name: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    dtype: object = np.float64,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> MNIST:
    """Load "mnist" (the full files), "embedded" (the shipped subset) or "auto".

    "auto" uses the full MNIST if it is found locally (data_dir, ``$NUMPYVAE_MNIST_DIR`` or the
    cache; never downloaded), else the embedded subset. The ``source`` field tells which.
    "mnist" raises FileNotFoundError if the files are absent, unless ``download=True``.
    """
    if name == "embedded":
        return load_embedded_mnist(dtype=dtype)
    if name == "mnist":
        return load_mnist(data_dir, download=download, cache_dir=cache_dir, dtype=dtype)
    if name == "auto":
        if mnist_available(data_dir, cache_dir=cache_dir):
            return load_mnist(data_dir, download=False, cache_dir=cache_dir, dtype=dtype)
        return load_embedded_mnist(dtype=dtype)
    raise InvalidValueError(f"name must be one of 'mnist', 'embedded', 'auto', got {name!r}")
