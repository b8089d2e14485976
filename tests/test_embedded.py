"""The embedded MNIST subset: contents, size, provenance, byte-reproducible rebuild."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from numpyvae.datasets import build_embedded_subset, load_embedded_mnist, read_idx
from numpyvae.datasets.embedded import (
    EMBEDDED_PATH,
    load_embedded_arrays,
    save_npz_reproducible,
    stratified_indices,
)

REAL_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"
needs_real = pytest.mark.skipif(
    not REAL_DIR.is_dir(), reason=f"the full MNIST files are not in {REAL_DIR}"
)


@pytest.fixture(scope="module")
def subset():
    return load_embedded_mnist()


def test_shapes_values_and_source(subset):
    assert subset.x_train.shape == (10000, 784) and subset.x_test.shape == (2000, 784)
    assert subset.y_train.shape == (10000,) and subset.y_test.shape == (2000,)
    assert subset.x_train.dtype == np.float64 and subset.y_train.dtype == np.int64
    for x in (subset.x_train, subset.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert subset.source == "embedded subset"
    assert load_embedded_mnist(np.float32).x_test.dtype == np.float32


def test_exactly_balanced(subset):
    assert np.bincount(subset.y_train, minlength=10).tolist() == [1000] * 10
    assert np.bincount(subset.y_test, minlength=10).tolist() == [200] * 10


def test_file_size_and_stored_arrays():
    assert EMBEDDED_PATH.stat().st_size <= 3 * 1024 * 1024
    a = load_embedded_arrays()
    assert a["x_train"].dtype == np.uint8 and a["y_train"].dtype == np.uint8
    for key, n, total in (("train_index", 10000, 60000), ("test_index", 2000, 10000)):
        index = a[key]
        assert index.shape == (n,) and np.all(np.diff(index) > 0)
        assert index[0] >= 0 and index[-1] < total


def test_stratified_indices_is_reproducible_and_stratified():
    labels = np.arange(500) % 10
    a = stratified_indices(labels, 7, seed=3)
    np.testing.assert_array_equal(a, stratified_indices(labels, 7, seed=3))
    assert np.bincount(labels[a]).tolist() == [7] * 10 and np.all(np.diff(a) > 0)
    with pytest.raises(ValueError, match="fewer than 60"):
        stratified_indices(labels, 60)


def test_save_npz_is_byte_reproducible(tmp_path):
    arrays = {"a": np.arange(1000, dtype=np.uint8), "b": np.eye(3)}
    first = save_npz_reproducible(tmp_path / "1.npz", arrays).read_bytes()
    second = save_npz_reproducible(tmp_path / "2.npz", arrays).read_bytes()
    assert first == second
    with np.load(tmp_path / "1.npz") as npz:
        np.testing.assert_array_equal(npz["b"], np.eye(3))


@needs_real
def test_indices_point_at_the_same_images_in_the_full_files():
    a = load_embedded_arrays()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(REAL_DIR / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(REAL_DIR / f"{prefix}-labels-idx1-ubyte.gz")
        index = a[f"{split}_index"]
        np.testing.assert_array_equal(a[f"x_{split}"], images[index])
        np.testing.assert_array_equal(a[f"y_{split}"], labels[index])


@needs_real
def test_rebuild_gives_the_same_bytes(tmp_path):
    out = build_embedded_subset(REAL_DIR, tmp_path / "rebuilt.npz")
    assert out.read_bytes() == EMBEDDED_PATH.read_bytes()
