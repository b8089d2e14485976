"""Atomic file writes: a file appears complete at its path, or not at all.

Every file numpyvae writes (checkpoints, histories, figures, embeddings) goes through
`atomic_write`, so an interruption (an exception, Ctrl-C, a crash, kill -9) never leaves a
half-written file where a complete one was, or is expected.

The temporary file is named `.NAME.PID.RANDOM.tmp` beside NAME. A writer killed by SIGKILL
cannot delete its own; the next write of NAME deletes those whose process is gone, so killed
writers leave no debris behind for long. An error (disk full, permission, read-only file
system) names the user's path, not the temporary file's.
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
    remove_stale_temporaries(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.chmod(tmp_name, 0o666 & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise _naming(exc, path) from exc
        raise
    _fsync_directory(path.parent)


def _naming(exc: OSError, path: Path) -> OSError:
    """The same error (same type and errno) with a message that names `path`."""
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot write {path}: {reason}; it keeps its previous content")


def temporaries_of(path: PathLike) -> list[Path]:
    """The temporary files that writes of `path` left or are using: .NAME.*.tmp beside it."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob_escape(path.name)}.*.tmp"))


def glob_escape(name: str) -> str:
    """`name` with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (POSIX: signal 0 probes it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    except OSError:
        return False
    return True


def remove_stale_temporaries(path: PathLike) -> list[Path]:
    """Delete the temporary files of writes of `path` whose writer is no longer running
    (killed in the middle of a write); return them. Those of live processes are left."""
    removed = []
    for tmp in temporaries_of(path):
        middle = tmp.name[len(Path(path).name) + 2 : -len(".tmp")]
        pid_text = middle.split(".", 1)[0]
        # A name without a process id comes from a numpyvae that did not record one.
        if pid_text.isdigit() and (int(pid_text) == os.getpid() or process_alive(int(pid_text))):
            continue
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


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
