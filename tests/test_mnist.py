"""MNIST loading: the real files (when present), checksums, where files are found, binarization."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from numpyvae.datasets import (
    MNIST_FILES,
    binarize,
    find_mnist,
    load_dataset,
    load_mnist,
    mnist_available,
    write_idx,
)
from numpyvae.datasets import mnist as mnist_module

REAL_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"
needs_real = pytest.mark.skipif(
    not REAL_DIR.is_dir(), reason=f"the full MNIST files are not in {REAL_DIR}"
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test sees the user's real environment variables or cache."""
    monkeypatch.delenv("NUMPYVAE_MNIST_DIR", raising=False)
    monkeypatch.delenv("NUMPYVAE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def make_fake_mnist(directory: Path, n_train: int = 30, n_test: int = 10) -> dict[str, str]:
    """Write four small MNIST-format files (gzipped); return their decompressed SHA-256s."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = [
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        (np.arange(n_test) % 10).astype(np.uint8),
    ]
    sums = {}
    for name, array in zip(MNIST_FILES, arrays, strict=True):
        write_idx(directory / f"{name}.gz", array, gzip=True)
        raw = write_idx(directory / "raw.tmp", array).read_bytes()
        sums[name] = hashlib.sha256(raw).hexdigest()
    (directory / "raw.tmp").unlink()
    return sums


# --------------------------------------------------------------------------- the real files


@pytest.fixture(scope="module")
def real_mnist():
    if not REAL_DIR.is_dir():
        pytest.skip(f"the full MNIST files are not in {REAL_DIR}")
    return load_mnist(REAL_DIR, download=False)


@needs_real
def test_real_shapes_and_types(real_mnist):
    m = real_mnist
    assert m.x_train.shape == (60000, 784) and m.x_test.shape == (10000, 784)
    assert m.y_train.shape == (60000,) and m.y_test.shape == (10000,)
    assert m.x_train.dtype == np.float64 and m.y_train.dtype == np.int64
    assert m.x_train.min() == 0.0 and m.x_train.max() == 1.0
    assert m.source == f"mnist ({REAL_DIR})"


@needs_real
def test_real_label_counts(real_mnist):
    train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(real_mnist.y_train).tolist() == train
    assert np.bincount(real_mnist.y_test).tolist() == test


@needs_real
def test_real_pixel_statistics(real_mnist):
    assert round(float(real_mnist.x_train.mean()), 4) == 0.1307
    assert round(float(real_mnist.x_train.std()), 4) == 0.3081


@needs_real
def test_real_float32():
    m = load_mnist(REAL_DIR, download=False, dtype=np.float32)
    assert m.x_test.dtype == np.float32
    assert m.x_train.shape == (60000, 784)


# --------------------------------------------------------------------------- checksums


def test_checksum_mismatch_names_file_and_both_checksums(tmp_path):
    data = tmp_path / "fake"
    sums = make_fake_mnist(data)  # real-looking files whose checksums are not MNIST's
    with pytest.raises(ValueError) as err:
        load_mnist(data)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg
    assert mnist_module.MNIST_SHA256["train-images-idx3-ubyte"] in msg
    assert sums["train-images-idx3-ubyte"] in msg
    assert str(data) in msg and "train-labels-idx1-ubyte.gz" in msg  # how to place by hand


def test_fake_files_load_with_patched_checksums(tmp_path, monkeypatch):
    data = tmp_path / "fake"
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", make_fake_mnist(data))
    m = load_mnist(data, dtype="float32")
    assert m.x_train.shape == (30, 784) and m.x_test.shape == (10, 784)
    assert m.x_train.dtype == np.float32 and m.y_train.dtype == np.int64
    assert 0.0 <= m.x_train.min() and m.x_train.max() <= 1.0
    np.testing.assert_array_equal(m.y_test, np.arange(10))


def test_uncompressed_files_are_accepted(tmp_path, monkeypatch):
    data = tmp_path / "fake"
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", make_fake_mnist(data))
    for name in MNIST_FILES:  # replace NAME.gz by NAME
        gz = data / f"{name}.gz"
        (data / name).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert load_mnist(data).x_train.shape == (30, 784)


# --------------------------------------------------------------------------- where files are found


def test_explicit_dir_missing_file_is_an_error_without_download(tmp_path, monkeypatch):
    data = tmp_path / "fake"
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", make_fake_mnist(data))
    (data / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(data, mirrors=["http://127.0.0.1:9/"])
    assert str(data) in str(err.value) and "t10k-labels-idx1-ubyte" in str(err.value)
    assert not (data / "t10k-labels-idx1-ubyte.gz").exists()
    assert not mnist_available(data)


def test_env_dir_then_cache(tmp_path, monkeypatch):
    sums = make_fake_mnist(tmp_path / "env")
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", sums)
    assert not mnist_available()
    with pytest.raises(FileNotFoundError, match="download=False"):
        find_mnist(download=False)
    # The per-user cache: $XDG_CACHE_HOME/numpyvae/mnist.
    make_fake_mnist(tmp_path / "xdg" / "numpyvae" / "mnist")
    assert mnist_available()
    assert find_mnist(download=False) == tmp_path / "xdg" / "numpyvae" / "mnist"
    # $NUMPYVAE_CACHE_DIR beats XDG, the cache_dir argument beats both.
    monkeypatch.setenv("NUMPYVAE_CACHE_DIR", str(tmp_path / "other"))
    assert not mnist_available()
    assert mnist_available(cache_dir=tmp_path / "xdg" / "numpyvae")
    # $NUMPYVAE_MNIST_DIR beats the cache, the data_dir argument beats everything.
    monkeypatch.setenv("NUMPYVAE_MNIST_DIR", str(tmp_path / "env"))
    assert find_mnist() == tmp_path / "env"
    assert load_mnist().source == f"mnist ({tmp_path / 'env'})"
    with pytest.raises(FileNotFoundError, match="data_dir"):
        find_mnist(tmp_path / "empty")


def test_load_dataset_auto_and_embedded(tmp_path, monkeypatch):
    assert load_dataset("auto").source == "embedded subset"
    assert load_dataset("embedded").source == "embedded subset"
    with pytest.raises(FileNotFoundError):
        load_dataset("mnist")
    data = tmp_path / "fake"
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", make_fake_mnist(data))
    got = load_dataset("auto", data)
    assert got.source == f"mnist ({data})" and got.x_train.shape == (30, 784)
    assert load_dataset("mnist", data, dtype=np.float32).x_train.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="cifar"), "'mnist', 'embedded', 'auto'"),
        (dict(name="embedded", dtype=np.int32), "float32 or float64"),
        (dict(name="mnist", data_dir=3), "data_dir must be a path"),
    ],
)
def test_load_dataset_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        load_dataset(**kwargs)


# --------------------------------------------------------------------------- binarization


@pytest.fixture
def intensities():
    return np.random.default_rng(3).random((400, 784)).astype(np.float32)


def test_binarize_none_returns_x(intensities):
    assert binarize(intensities, "none") is intensities


def test_binarize_threshold(intensities):
    b = binarize(intensities, "threshold")
    assert b.dtype == np.float32
    np.testing.assert_array_equal(b, (intensities > 0.5).astype(np.float32))
    assert set(np.unique(binarize(intensities, "threshold", threshold=0.9))) == {0.0, 1.0}
    with pytest.raises(ValueError, match="threshold"):
        binarize(intensities, "threshold", threshold=2.0)


def test_binarize_dynamic_reproducible_and_unbiased(intensities):
    a = binarize(intensities, "dynamic", rng=np.random.default_rng(7))
    b = binarize(intensities, "dynamic", rng=np.random.default_rng(7))
    c = binarize(intensities, "dynamic", rng=np.random.default_rng(8))
    assert a.dtype == np.float32 and set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Mean of n Bernoulli draws: standard error <= 0.5 / sqrt(n); allow 5 standard errors.
    assert abs(a.mean() - intensities.mean()) < 5 * 0.5 / np.sqrt(a.size)
    zeros_ones = np.array([0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(
        binarize(zeros_ones, "dynamic", np.random.default_rng(0)), zeros_ones
    )


def test_binarize_bad_arguments(intensities):
    with pytest.raises(ValueError, match="'none', 'dynamic', 'threshold'") as err:
        binarize(intensities, "stochastic")
    assert "stochastic" in str(err.value)
    with pytest.raises(TypeError, match="rng"):
        binarize(intensities, "dynamic")
    with pytest.raises(TypeError, match="floating"):
        binarize(np.zeros(3, dtype=np.uint8), "threshold")
