"""The MNIST subset shipped with the package (works offline, no download).

``data/mnist_subset.npz`` holds a stratified subset of MNIST: 1,000 training and 200 test images
per digit (10,000 and 2,000 in all), as uint8 pixels and labels, plus the indices of the chosen
images in the full files (``train_index``, ``test_index``) so the provenance can be checked.

It is built by ``scripts/build_embedded_subset.py`` (that is, ``build_embedded_subset``) from the
full, checksum-verified files. The indices are chosen reproducibly: for each split, a fresh
``np.random.default_rng(SUBSET_SEED)`` permutes 0..n-1; for each class the first N indices in that
order are kept; the kept indices are sorted. The .npz is written byte-reproducibly (fixed zip
timestamps and compression), so rebuilding gives the same bytes.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from ..validation import InvalidValueError
from .mnist import MNIST, load_mnist_arrays, to_float

__all__ = [
    "EMBEDDED_PATH",
    "SUBSET_SEED",
    "build_embedded_subset",
    "load_embedded_mnist",
    "save_npz_reproducible",
    "stratified_indices",
]

EMBEDDED_PATH = Path(__file__).resolve().parent / "data" / "mnist_subset.npz"
SUBSET_SEED = 20261121
TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
MAX_BYTES = 3 * 1024 * 1024
_KEYS = ("x_train", "y_train", "x_test", "y_test", "train_index", "test_index")


def stratified_indices(labels: np.ndarray, per_class: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Pick ``per_class`` indices of each label in 0..9, reproducibly from ``seed``.

    Args:
        labels: (n,) integer labels.
        per_class: how many indices to keep for each class.
        seed: seed of ``np.random.default_rng`` for the permutation.

    Returns:
        (10 * per_class,) int64 sorted indices into ``labels``.
    """
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    chosen = []
    for c in range(10):
        of_class = order[labels[order] == c]
        if len(of_class) < per_class:
            raise InvalidValueError(
                f"class {c} has {len(of_class)} examples, fewer than {per_class}"
            )
        chosen.append(of_class[:per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def save_npz_reproducible(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays like ``np.savez_compressed`` but with fixed zip metadata (same bytes each time).

    Each array is stored as ``NAME.npy`` (np.lib.format.write_array), deflated at level 9, with
    the zip date 1980-01-01 00:00:00, in the order of ``arrays``. ``np.load`` reads it.
    """
    path = Path(path)
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return path


def build_embedded_subset(
    data_dir: str | os.PathLike, out: str | os.PathLike = EMBEDDED_PATH
) -> Path:
    """Build the subset file from the full MNIST files in ``data_dir`` (checksums verified).

    Raises:
        ValueError: if the result would exceed 3 MB.
    """
    full = load_mnist_arrays(data_dir)
    train_index = stratified_indices(full["y_train"], TRAIN_PER_CLASS)
    test_index = stratified_indices(full["y_test"], TEST_PER_CLASS)
    arrays = {
        "x_train": full["x_train"][train_index],
        "y_train": full["y_train"][train_index],
        "x_test": full["x_test"][test_index],
        "y_test": full["y_test"][test_index],
        "train_index": train_index,
        "test_index": test_index,
    }
    out = save_npz_reproducible(out, arrays)
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise InvalidValueError(f"{out}: {size} bytes, larger than the {MAX_BYTES}-byte limit")
    return out


def load_embedded_arrays(path: str | os.PathLike = EMBEDDED_PATH) -> dict[str, np.ndarray]:
    """Return the raw arrays of the subset file: uint8 images (n, 28, 28), labels and indices."""
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in _KEYS}


def load_embedded_mnist(dtype: object = np.float64) -> MNIST:
    """Load the shipped subset: x (10000, 784) and (2000, 784) in [0, 1] (uint8 / 255), y int64."""
    a = load_embedded_arrays()
    return MNIST(
        x_train=to_float(a["x_train"], dtype),
        y_train=a["y_train"].astype(np.int64),
        x_test=to_float(a["x_test"], dtype),
        y_test=a["y_test"].astype(np.int64),
        source="embedded subset",
    )
