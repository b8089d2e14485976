"""Locating, verifying, downloading and loading the full MNIST data set; binarization.

MNIST is the four IDX files listed in ``MNIST_FILES``; each may be stored as ``NAME.gz`` or
``NAME``. Every file is checked against the SHA-256 of its *decompressed* bytes
(``MNIST_SHA256``), so the data is verified whichever mirror or compression produced it.

Where the files are looked for, in order:

1. the ``data_dir`` argument (must hold all four files; never downloaded into);
2. the environment variable ``NUMPYVAE_MNIST_DIR`` (same rules);
3. the per-user cache: ``<root>/mnist`` where ``<root>`` is the ``cache_dir`` argument, else the
   environment variable ``NUMPYVAE_CACHE_DIR``, else ``$XDG_CACHE_HOME/numpyvae``, else
   ``~/.cache/numpyvae``. Missing files are downloaded there when ``download=True``.

Downloads use ``urllib`` with a timeout; each file is written to a temporary file in the cache and
moved into place only after its checksum passed, so a failed download leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..validation import InputError, InvalidTypeError, InvalidValueError
from .idx import is_gzip, open_maybe_gzip, parse_idx

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST",
    "MNIST_FILES",
    "MNIST_SHA256",
    "ChecksumMismatchError",
    "MNISTDownloadError",
    "MNISTNotFoundError",
    "default_cache_dir",
    "find_mnist",
    "load_mnist",
    "load_mnist_arrays",
    "mnist_available",
]

#: The four MNIST files (decompressed names), in the order train images, train labels,
#: test images, test labels.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: SHA-256 of the decompressed bytes of each file. Tests may replace this dict (monkeypatch).
MNIST_SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}

#: Mirrors tried in turn; each serves ``NAME.gz`` under the given prefix.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

IMAGE_SHAPE = (28, 28)  # an MNIST digit; the data sets hold it flattened to 784 pixels
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CHUNK = 1 << 20


class ChecksumMismatchError(InvalidValueError):
    """A file's decompressed bytes do not have the expected SHA-256."""


class MNISTNotFoundError(InputError, FileNotFoundError):
    """The MNIST files are not where they were asked for; the message names what is missing."""


class MNISTDownloadError(InputError, RuntimeError):
    """Every mirror failed for some MNIST file; the message lists each mirror's failure."""


@dataclass(frozen=True)
class MNIST:
    """MNIST (or a subset) as flat float images in [0, 1] and int64 labels.

    Attributes:
        x_train: (n_train, 784) float array, pixel intensities / 255.
        y_train: (n_train,) int64 labels in 0..9.
        x_test: (n_test, 784) float array.
        y_test: (n_test,) int64 labels.
        source: where the data came from, e.g. "mnist (/path/to/dir)" or "embedded subset".
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = "mnist"


# --------------------------------------------------------------------------- locating


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the directory where downloaded MNIST files are kept: ``<root>/mnist``.

    ``<root>`` is ``cache_dir`` if given, else ``$NUMPYVAE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/numpyvae``, else ``~/.cache/numpyvae``.
    """
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get("NUMPYVAE_CACHE_DIR"):
        root = Path(os.environ["NUMPYVAE_CACHE_DIR"])
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]) / "numpyvae"
    else:
        root = Path.home() / ".cache" / "numpyvae"
    return root.expanduser() / "mnist"


def _file_in(directory: Path, name: str) -> Path | None:
    """Return ``directory/NAME.gz`` or ``directory/NAME``, whichever exists first, else None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path) -> list[str]:
    return [name for name in MNIST_FILES if _file_in(directory, name) is None]


def _how_to_place(directory: Path) -> str:
    names = ", ".join(f"{n}.gz" for n in MNIST_FILES)
    return (
        f"To install MNIST by hand, download {names} from one of {', '.join(DEFAULT_MIRRORS)} "
        f"and put them (gzipped or not) in {directory}, or point data_dir= or the environment "
        "variable NUMPYVAE_MNIST_DIR at a directory that holds them."
    )


def _user_dir(data_dir: str | os.PathLike | None) -> tuple[Path, str] | None:
    """The explicit directory (argument, then environment variable) and its description."""
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise InvalidTypeError(
            f"data_dir must be a path (str or os.PathLike) or None, got {data_dir!r}"
        )
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    if os.environ.get("NUMPYVAE_MNIST_DIR"):
        return Path(os.environ["NUMPYVAE_MNIST_DIR"]).expanduser(), "NUMPYVAE_MNIST_DIR"
    return None


def named_mnist_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The MNIST directory the user named (`data_dir`, else ``$NUMPYVAE_MNIST_DIR``), or None."""
    user = _user_dir(data_dir)
    return None if user is None else user[0]


def mnist_available(
    data_dir: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None
) -> bool:
    """Return True if all four files are present locally (no download, checksums not checked)."""
    user = _user_dir(data_dir)
    directory = user[0] if user is not None else default_cache_dir(cache_dir)
    return not _missing(directory)


def find_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    mirrors: list[str] | tuple[str, ...] | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return the directory holding the four MNIST files, downloading into the cache if needed.

    Raises:
        FileNotFoundError: ``data_dir`` (or ``$NUMPYVAE_MNIST_DIR``) lacks a file, or the cache
            lacks one and ``download`` is False.
        MNISTDownloadError: all mirrors failed for some file.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    user = _user_dir(data_dir)
    if user is not None:
        directory, origin = user
        missing = _missing(directory)
        if missing:
            raise MNISTNotFoundError(
                f"MNIST directory {directory} (from {origin}) lacks {', '.join(missing)} "
                f"(as NAME.gz or NAME); nothing is downloaded into an explicit directory. "
                + _how_to_place(directory)
            )
        return directory
    directory = default_cache_dir(cache_dir)
    missing = _missing(directory)
    if missing and not download:
        raise MNISTNotFoundError(
            f"MNIST not found: the cache {directory} lacks {', '.join(missing)} and "
            "download=False. " + _how_to_place(directory)
        )
    if missing:
        directory.mkdir(parents=True, exist_ok=True)
        mirrors = DEFAULT_MIRRORS if mirrors is None else tuple(mirrors)
        if not mirrors or not all(isinstance(m, str) for m in mirrors):
            raise InvalidValueError(
                f"mirrors must be a non-empty list of URL strings, got {mirrors!r}"
            )
        for name in missing:
            _download(name, directory, mirrors, timeout)
    return directory


# --------------------------------------------------------------------------- verifying


def _read_verified(path: Path, name: str) -> bytearray:
    """Read a file's decompressed bytes, hashing them on the way, and check the SHA-256."""
    digest = hashlib.sha256()
    data = bytearray()
    try:
        with open_maybe_gzip(path) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                data += chunk
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ChecksumMismatchError(
            f"{path}: cannot decompress {name} ({exc}). " + _how_to_place(path.parent)
        ) from exc
    _check_digest(str(path), name, digest.hexdigest(), path.parent)
    return data


def _check_digest(where: str, name: str, actual: str, directory: Path) -> None:
    """Raise ChecksumMismatchError naming ``where`` (a path or URL) if ``actual`` is wrong."""
    expected = MNIST_SHA256[name]
    if actual != expected:
        raise ChecksumMismatchError(
            f"{where}: checksum mismatch for {name}: expected SHA-256 {expected} of the "
            f"decompressed bytes, got {actual}. The data is damaged or is not this MNIST file. "
            + _how_to_place(directory)
        )


def _sha256_decompressed(path: Path) -> str:
    digest = hashlib.sha256()
    with open_maybe_gzip(path) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- downloading


def _download(name: str, directory: Path, mirrors: tuple[str, ...], timeout: float) -> Path:
    """Download ``NAME.gz`` from the first mirror that serves it with the right checksum."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        try:
            return _download_one(url, name, directory, timeout)
        except (OSError, EOFError, ValueError, zlib.error, http.client.HTTPException) as exc:
            failures.append(f"  {url}: {type(exc).__name__}: {exc}")
    raise MNISTDownloadError(
        f"could not download {name}; every mirror failed:\n"
        + "\n".join(failures)
        + "\n"
        + _how_to_place(directory)
    )


def _download_one(url: str, name: str, directory: Path, timeout: float) -> Path:
    """Fetch one URL into a temporary file, verify it, then move it into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            received = 0
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
        if length is not None and received != int(length):
            raise OSError(f"connection closed after {received} of {length} bytes")
        _check_digest(url, name, _sha256_decompressed(tmp), directory)
        final = directory / (f"{name}.gz" if is_gzip(tmp) else name)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)  # no-op after a successful os.replace


# --------------------------------------------------------------------------- loading


def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _FLOAT_DTYPES:
        raise InvalidValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def to_float(images: np.ndarray, dtype: object = np.float64) -> np.ndarray:
    """Flatten uint8 images (n, 28, 28) to (n, 784) floats in [0, 1] (pixel / 255)."""
    x = images.reshape(len(images), -1).astype(_check_dtype(dtype))
    x /= 255
    return x


def load_mnist_arrays(directory: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and verify the four files of a directory; return the raw uint8 arrays.

    Returns:
        dict with ``x_train`` (n, 28, 28), ``y_train`` (n,), ``x_test``, ``y_test`` (uint8).
    """
    directory = Path(directory)
    missing = _missing(directory)
    if missing:
        raise MNISTNotFoundError(
            f"{directory} lacks {', '.join(missing)}. " + _how_to_place(directory)
        )
    arrays = {}
    for key, name in zip(("x_train", "y_train", "x_test", "y_test"), MNIST_FILES, strict=True):
        path = _file_in(directory, name)
        arrays[key] = parse_idx(_read_verified(path, name), source=str(path))
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise InvalidValueError(
                f"{directory}: {split} images {x.shape} and labels {y.shape} do not match"
            )
    return arrays


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    mirrors: list[str] | tuple[str, ...] | None = None,
    cache_dir: str | os.PathLike | None = None,
    dtype: object = np.float64,
    timeout: float = 60.0,
) -> MNIST:
    """Load the full MNIST: x (60000, 784) and (10000, 784) in [0, 1], y int64.

    See the module docstring for where the files are looked for. Every file is verified against
    ``MNIST_SHA256`` while it is read (one streaming pass).

    Raises:
        FileNotFoundError: files missing (see ``find_mnist``).
        ChecksumMismatchError (a ValueError): a file has the wrong content.
        MNISTDownloadError (a RuntimeError): all mirrors failed.
    """
    dt = _check_dtype(dtype)
    directory = find_mnist(
        data_dir, download=download, mirrors=mirrors, cache_dir=cache_dir, timeout=timeout
    )
    a = load_mnist_arrays(directory)
    return MNIST(
        x_train=to_float(a["x_train"], dt),
        y_train=a["y_train"].astype(np.int64),
        x_test=to_float(a["x_test"], dt),
        y_test=a["y_test"].astype(np.int64),
        source=f"mnist ({directory})",
    )
