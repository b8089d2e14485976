"""Atomic file writes: a file appears complete at its path, or not at all.

Every file numpyvae writes (checkpoints, histories, figures, embeddings) goes through
`atomic_write`, so an interruption (an exception, Ctrl-C, a crash, kill -9) never leaves a
half-written file where a complete one was, or is expected.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PathLike = str | os.PathLike


@contextlib.contextmanager
def atomic_write(path: PathLike) -> Iterator[IO[bytes]]:
    """Open a binary file that appears at `path` only if the `with` block completes.

    The bytes go to a temporary file in the same directory (so the final rename stays on one
    file system), which is flushed and fsync'ed, then renamed over `path` with `os.replace`
    (atomic on POSIX and Windows). If the block raises anything, KeyboardInterrupt included,
    the temporary file is deleted and `path` keeps its previous content.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.chmod(tmp_name, 0o666 & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; skipped where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
