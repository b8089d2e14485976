"""IDX parsing: small files written by the test (gz and raw), wrong magic, wrong sizes."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from numpyvae.datasets import read_idx, write_idx


@pytest.mark.parametrize("compress", [False, True])
def test_write_then_read_roundtrip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    # The name says nothing about compression: gzip is detected from the content.
    write_idx(tmp_path / "images", images, gzip=compress)
    write_idx(tmp_path / "labels.bin", labels, gzip=compress)
    assert (tmp_path / "images").read_bytes()[:2] == (b"\x1f\x8b" if compress else b"\x00\x00")
    got = read_idx(tmp_path / "images")
    assert got.dtype == np.uint8 and got.shape == (5, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.bin"), labels)


def _hand_built_images() -> tuple[bytes, np.ndarray]:
    """3 images of 2 x 4 pixels, built with struct, independently of write_idx."""
    pixels = list(range(24))
    raw = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", 3, 2, 4) + bytes(pixels)
    return raw, np.arange(24, dtype=np.uint8).reshape(3, 2, 4)


@pytest.mark.parametrize("compress", [False, True])
def test_hand_built_bytes(tmp_path, compress):
    raw, expected = _hand_built_images()
    path = tmp_path / "hand.idx.gz"  # a misleading name on purpose when not compressed
    path.write_bytes(gzip.compress(raw) if compress else raw)
    got = read_idx(path)
    assert got.shape == (3, 2, 4)
    np.testing.assert_array_equal(got, expected)

    labels = struct.pack(">II", 0x00000801, 4) + bytes([7, 0, 9, 3])
    (tmp_path / "lab").write_bytes(labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "lab"), [7, 0, 9, 3])


def test_write_idx_matches_hand_built_bytes(tmp_path):
    raw, array = _hand_built_images()
    assert write_idx(tmp_path / "w", array).read_bytes() == raw


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(struct.pack(">II", 0x00000802, 3) + bytes(3))
    with pytest.raises(ValueError) as err:
        read_idx(path)
    msg = str(err.value)
    assert str(path) in msg and "0x00000802" in msg
    assert "0x00000801" in msg and "0x00000803" in msg


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_file(tmp_path, compress):
    raw, _ = _hand_built_images()
    data = raw[:-5]
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match="truncated") as err:
        read_idx(path)
    msg = str(err.value)
    assert str(path) in msg and str(len(raw)) in msg and str(len(data)) in msg


def test_too_long_file(tmp_path):
    raw, _ = _hand_built_images()
    path = tmp_path / "long"
    path.write_bytes(raw + b"\x00\x01")
    with pytest.raises(ValueError, match="too long") as err:
        read_idx(path)
    assert str(path) in str(err.value)
    assert f"{len(raw)} bytes expected" in str(err.value) and str(len(raw) + 2) in str(err.value)


def test_truncated_gzip_stream(tmp_path):
    raw, _ = _hand_built_images()
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(path)


def test_write_idx_rejects_bad_arrays(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros((2, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        write_idx(tmp_path / "x", np.zeros((2, 3), dtype=np.uint8))
