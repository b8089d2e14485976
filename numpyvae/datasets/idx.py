"""Reading and writing IDX files, the binary format of the original MNIST files.

An IDX file is a big-endian header followed by raw data::

    bytes 0-1   zero
    byte  2     data type code (only 0x08, unsigned byte, is supported here)
    byte  3     number of dimensions d
    4*d bytes   the size of each dimension, as big-endian unsigned 32-bit integers
    the data    prod(sizes) bytes, row-major (C order)

So the magic number (the first four bytes read as one integer) is 0x00000801 for a 1-D array
(labels) and 0x00000803 for a 3-D array (images). Files may be gzipped; gzip is detected by its
magic bytes (1f 8b), not by the file name.
"""

from __future__ import annotations

import gzip as _gzip
import os
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from ..validation import InvalidTypeError, InvalidValueError

__all__ = [
    "GZIP_MAGIC",
    "IDX_MAGICS",
    "is_gzip",
    "open_maybe_gzip",
    "parse_idx",
    "read_idx",
    "write_idx",
]

GZIP_MAGIC = b"\x1f\x8b"
#: Accepted magic numbers and the number of dimensions each one announces.
IDX_MAGICS = {0x00000801: 1, 0x00000803: 3}
_CHUNK = 1 << 20


def is_gzip(path: str | os.PathLike) -> bool:
    """Return True if the file starts with the gzip magic bytes 1f 8b."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_maybe_gzip(path: str | os.PathLike) -> IO[bytes]:
    """Open a file for binary reading, decompressing it on the fly if it is gzipped."""
    return _gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def _read_all(path: Path) -> bytearray:
    """Return the (decompressed) bytes of a file; a damaged gzip stream raises ValueError."""
    buf = bytearray()
    try:
        with open_maybe_gzip(path) as f:
            while chunk := f.read(_CHUNK):
                buf += chunk
    except (EOFError, _gzip.BadGzipFile, zlib.error) as exc:
        raise InvalidValueError(f"{path}: cannot decompress the gzip data ({exc})") from exc
    return buf


def parse_idx(data: bytes | bytearray, source: str = "<bytes>") -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX file.

    Args:
        data: the whole file content.
        source: a name for error messages, usually the file path.

    Returns:
        A uint8 array with the shape given by the header, e.g. (n,) for labels or
        (n, 28, 28) for images.

    Raises:
        ValueError: wrong magic number, or a size that does not match the header.
    """
    if len(data) < 4:
        raise InvalidValueError(
            f"{source}: not an IDX file: {len(data)} bytes, shorter than the 4-byte magic number"
        )
    (magic,) = struct.unpack(">I", bytes(data[:4]))
    if magic not in IDX_MAGICS:
        accepted = ", ".join(f"0x{m:08x}" for m in IDX_MAGICS)
        raise InvalidValueError(
            f"{source}: not a supported IDX file: magic number 0x{magic:08x} "
            f"(first bytes {bytes(data[:4]).hex(' ')}); accepted: {accepted} "
            "(unsigned-byte labels or images)"
        )
    ndim = IDX_MAGICS[magic]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise InvalidValueError(
            f"{source}: truncated IDX header: expected at least {header_size} bytes, "
            f"got {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", bytes(data[4:header_size]))
    expected = header_size + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "too long"
        raise InvalidValueError(
            f"{source}: IDX file {problem}: the header announces shape {tuple(shape)}, "
            f"so {expected} bytes expected, but the (decompressed) data has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or raw, into a uint8 array with the header's shape.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a damaged gzip stream, wrong magic number, or wrong size (the message
            names the file).
    """
    path = Path(path)
    return parse_idx(_read_all(path), source=str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, gzip: bool = False) -> Path:
    """Write a 1-D or 3-D uint8 array as an IDX file (gzipped if ``gzip`` is True).

    Args:
        path: the destination file.
        array: uint8 array of shape (n,) (labels) or (n, rows, cols) (images).
        gzip: compress the file with gzip (with a zero timestamp, so the bytes are reproducible).

    Returns:
        The path written.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise InvalidTypeError(f"write_idx: array must have dtype uint8, got {array.dtype}")
    magic = {nd: m for m, nd in IDX_MAGICS.items()}.get(array.ndim)
    if magic is None:
        raise InvalidValueError(
            f"write_idx: array must be 1-D (labels) or 3-D (images), got shape {array.shape}"
        )
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    payload = header + np.ascontiguousarray(array).tobytes()
    if gzip:
        payload = _gzip.compress(payload, mtime=0)
    path = Path(path)
    path.write_bytes(payload)
    return path
