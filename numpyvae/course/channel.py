"""The runner's reply, read as untrusted data: frames of a JSON line and .npy arrays.

A frame is {"exercise": name, "set": i, "arrays": [n bytes, ...]}\\n followed by that many
bytes of each array in NumPy's .npy format, or {"exercise": name, "set": i, "error": text}\\n
(numpyvae.course.runner writes them). `parse_reply` keeps only what the judge asked for: a known
exercise and set, each answered once, arrays of plain numbers (no pickle, no object or record
dtype) of at most MAX_ELEMENTS entries. Anything else in the reply is ignored, and a reply that
cannot be read past some point keeps the frames before it and says why.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping

import numpy as np

from numpyvae.course.submissions import shown

MAX_HEADER = 4096  # bytes of a frame's JSON line
MAX_ELEMENTS = 1_000_000  # entries of one returned array
MAX_ERROR = 300  # characters of an error line kept


class ReplyError(ValueError):
    """The reply cannot be read past this point."""


def parse_reply(
    data: bytes, expected: Mapping[str, tuple[int, int]]
) -> tuple[dict[tuple[str, int], tuple[np.ndarray, ...] | str], str | None]:
    """({(exercise, set): arrays or an error line}, why reading stopped or None).

    `expected[name] = (number of input sets, number of outputs)`.
    """
    replies: dict[tuple[str, int], tuple[np.ndarray, ...] | str] = {}
    view = memoryview(data)
    at = 0
    try:
        while at < len(data):
            end = data.find(b"\n", at, at + MAX_HEADER)
            if end < 0:
                raise ReplyError(f"a frame header at byte {at} is not a line of JSON")
            header = _header(bytes(view[at:end]))
            at = end + 1
            blobs = []
            for size in header.get("arrays", []):
                if at + size > len(data):
                    raise ReplyError(f"an array at byte {at} is cut short")
                blobs.append(bytes(view[at : at + size]))
                at += size
            key = (header["exercise"], header["set"])
            sets, outputs = expected.get(key[0], (0, 0))
            if not 0 <= key[1] < sets or key in replies:
                continue  # not asked for, or answered twice: the first answer counts
            if "error" in header:
                replies[key] = _one_line(header["error"])
            elif len(blobs) > max(outputs, 1) * 4:
                replies[key] = f"returned {len(blobs)} arrays"
            else:
                replies[key] = tuple(load_array(blob) for blob in blobs)
            # ReplyError stops the reading; so does anything else a forged array provokes
    except ReplyError as exc:
        return replies, str(exc)
    return replies, None


def _header(line: bytes) -> dict:
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReplyError(f"a frame header is not JSON ({type(exc).__name__})") from None
    if not (
        isinstance(header, dict)
        and isinstance(header.get("exercise"), str)
        and type(header.get("set")) is int
        and (
            isinstance(header.get("error"), str)
            or (
                isinstance(header.get("arrays"), list)
                and len(header["arrays"]) <= 64
                and all(type(n) is int and 0 < n <= 16 * MAX_ELEMENTS for n in header["arrays"])
            )
        )
    ):
        raise ReplyError("a frame header is not {exercise, set, arrays or error}")
    return header


def load_array(blob: bytes) -> np.ndarray:
    """The float64 array in `blob` (.npy bytes), checked before NumPy allocates anything."""
    stream = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ReplyError(f"an array in .npy format version {version}")
    except Exception as exc:  # a forged header: ValueError, or RecursionError in its literal
        raise ReplyError(f"an array that is not .npy data ({type(exc).__name__})") from None
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
        raise ReplyError(f"an array of dtype {dtype}, not of numbers")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count > MAX_ELEMENTS or count * dtype.itemsize != len(blob) - stream.tell():
        raise ReplyError(f"an array of shape {shape} whose size does not match its bytes")
    stream.seek(0)
    try:
        array = np.load(stream, allow_pickle=False)
        return np.asarray(array, dtype=np.float64)
    except Exception as exc:
        raise ReplyError(f"an array that cannot be loaded ({type(exc).__name__})") from None


def _one_line(text: str) -> str:
    """`text` in one line of printable characters (a terminal escape written out), cut short."""
    return shown(" ".join(text.split()))[:MAX_ERROR]
