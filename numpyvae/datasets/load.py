"""Choosing the data set: the full MNIST files, the embedded subset, or whichever is here."""

from __future__ import annotations

import os

import numpy as np

from ..validation import InvalidValueError
from .embedded import load_embedded_mnist
from .mnist import MNIST, load_mnist, mnist_available, named_mnist_dir


def load_dataset(
    name: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    dtype: object = np.float64,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> MNIST:
    """Load "mnist" (the full files), "embedded" (the shipped subset) or "auto".

    Data is what was asked for. A directory named by `data_dir` or ``$NUMPYVAE_MNIST_DIR`` must
    hold the four files, for "mnist" and "auto" alike: one that does not is an error
    (MNISTNotFoundError, naming the missing files), never a quiet switch to other data. "auto"
    uses the full MNIST from that directory or the cache (never downloaded), and falls back to
    the embedded subset only when no directory was named and the cache is incomplete; the
    ``source`` field tells which. "mnist" also looks in the cache, downloading with
    ``download=True``. "embedded" takes no data_dir.
    """
    if name == "embedded":
        if data_dir is not None:
            raise InvalidValueError(
                f"data_dir={str(data_dir)!r} was given with name='embedded', which ships inside "
                "numpyvae and reads no directory; use name='mnist' (or 'auto') for the full files"
            )
        return load_embedded_mnist(dtype=dtype)
    if name == "mnist":
        return load_mnist(data_dir, download=download, cache_dir=cache_dir, dtype=dtype)
    if name == "auto":
        named = named_mnist_dir(data_dir) is not None
        if named or mnist_available(cache_dir=cache_dir):
            return load_mnist(data_dir, download=False, cache_dir=cache_dir, dtype=dtype)
        return load_embedded_mnist(dtype=dtype)
    raise InvalidValueError(f"name must be one of 'mnist', 'embedded', 'auto', got {name!r}")
