"""Data sets for numpyvae: MNIST (full files, with download and checksum verification), a small
embedded MNIST subset that works offline, binarization of intensities, and 2-D toy data."""

from .binarize import BINARIZE_METHODS, binarize
from .embedded import build_embedded_subset, load_embedded_mnist
from .idx import read_idx, write_idx
from .load import load_dataset
from .mnist import (
    DEFAULT_MIRRORS,
    IMAGE_SHAPE,
    MNIST,
    MNIST_FILES,
    MNIST_SHA256,
    ChecksumMismatchError,
    MNISTDownloadError,
    MNISTNotFoundError,
    default_cache_dir,
    find_mnist,
    load_mnist,
    mnist_available,
    named_mnist_dir,
)
from .synthetic import gaussian_mixture, pinwheel, two_moons

__all__ = [
    "BINARIZE_METHODS",
    "DEFAULT_MIRRORS",
    "IMAGE_SHAPE",
    "MNIST",
    "MNIST_FILES",
    "MNIST_SHA256",
    "ChecksumMismatchError",
    "MNISTDownloadError",
    "MNISTNotFoundError",
    "binarize",
    "build_embedded_subset",
    "default_cache_dir",
    "find_mnist",
    "gaussian_mixture",
    "load_dataset",
    "load_embedded_mnist",
    "load_mnist",
    "mnist_available",
    "named_mnist_dir",
    "pinwheel",
    "read_idx",
    "two_moons",
    "write_idx",
]
