"""The run folder of `numpyvae train`: owned by one training at a time, checked writable before
the first epoch, and written only when it is empty, holds the run being resumed, or is named
with --overwrite.

`numpyvae train` holds OUT/.numpyvae-train.lock from before its first write until it ends.
The file names the process (host, process id, start time). A second training into the same
folder is refused while that process runs; a lock left by a process that no longer runs
(killed with kill -9, or a machine that crashed), or whose process id now belongs to a
process started after the lock was written (the machine rebooted), is taken over, and the
taking over is said in one line. A lock that cannot be probed (another host's) is refused
with the command that shows it and the one that removes it.

--overwrite removes the files the previous run wrote, as it recorded them: its checkpoint and
history (recognised by their content) and the figures its history lists under "files". It
removes nothing else, refuses if another file in OUT has the name of one the new run writes,
and removes only after every check that can fail before training (the disk space included).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numpyvae.atomic import process_alive
from numpyvae.checkpoint import is_checkpoint
from numpyvae.cli.options import CHECKPOINT_NAME, HISTORY_NAME, CommandError
from numpyvae.cli.runs import RUN_FILES
from numpyvae.train import Trainer

if TYPE_CHECKING:
    from numpyvae.cli.train import Run

LOCK_NAME = ".numpyvae-train.lock"
WRITE_TEST_PREFIX = ".numpyvae-write-test."
# The key of history.json that lists the files the run wrote into its folder.
FILES_KEY = "files"


class RunLock:
    """Ownership of a run folder: `acquire()` or an error naming the owner; `release()`."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.taken_over: dict | None = None  # the dead owner's record, when one was replaced
        self._held = False

    def acquire(self) -> RunLock:
        """Create the lock file, or take over that of a dead process; refuse a live owner."""
        record = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        for _ in range(2):  # a second try after removing a dead owner's lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if self._alive(owner):
                    raise CommandError(self._held_by(owner)) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                self.taken_over = owner
                continue
            except OSError as exc:  # read-only folder, permission denied, ...
                raise CommandError(
                    f"cannot write in --out {self.path.parent}: {exc.strerror or exc}; "
                    "nothing was trained or changed there"
                ) from exc
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            self._held = True
            return self
        raise CommandError(f"cannot take the lock {self.path}: another process keeps taking it")

    def _held_by(self, owner: dict) -> str:
        """The refusal for a lock whose owner may be running, with the way out."""
        folder, pid, host = self.path.parent, owner.get("pid"), owner.get("host")
        remove = f"rm {shlex.quote(str(self.path))}"
        if host != socket.gethostname():
            probe = f"check on {host} with `ps -p {pid} -o args`"
        else:
            probe = f"check with `ps -p {pid} -o args`"
        return (
            f"{folder} is being written by another training (process {pid} on {host}, "
            f"started {_when(owner.get('started'))}); nothing was trained. Wait for it to end "
            f"or train into another --out; if that process is not a numpyvae training ({probe}), "
            f"remove its lock with `{remove}`"
        )

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._held = False

    def _owner(self) -> dict:
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # unreadable or half-written: its writer died before finishing it
        return owner if isinstance(owner, dict) else {}

    @staticmethod
    def _alive(owner: dict) -> bool:
        """Whether the owner may run: a lock of another host is taken as alive (it cannot be
        probed from here); one whose process id belongs to a process started after the lock
        was written (a reboot, ids reused) as dead."""
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return False
        if owner.get("host") != socket.gethostname():
            return True
        if pid == os.getpid() or not process_alive(pid):
            return False
        started, locked = process_start_time(pid), owner.get("started")
        if started is not None and isinstance(locked, (int, float)):
            return started <= locked + 1.0  # /proc counts in clock ticks: a second of slack
        return True

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from Linux's /proc; else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _when(started: object) -> str:
    if not isinstance(started, (int, float)):
        return "at an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))


@contextlib.contextmanager
def claim_folder(current: Run, overwrite: bool) -> Iterator[None]:
    """The run folder made, owned (RunLock) and checked writable while the block runs.

    A new run goes only into an empty folder, or with --overwrite into one whose previous
    run's files (`previous_run_files`) are then removed, and nothing else. An unwritable
    folder, or one on a disk too full for two checkpoints, is refused before anything is
    removed and before the first epoch.
    """
    out = current.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(
            f"cannot create --out {out}: {exc.strerror or exc}; nothing was trained"
        ) from exc
    lock = RunLock(out).acquire()
    try:
        if lock.taken_over is not None:
            owner = lock.taken_over
            print(
                f"{out}: taking over the lock of process {owner.get('pid', '?')}, which no "
                "longer runs (it was killed or its machine stopped)",
                flush=True,
            )
        doomed = [] if current.resumed else files_to_replace(out, overwrite)
        freed = sum(path.stat().st_size for path in doomed)
        check_writable(out, checkpoint_bytes(current.trainer), freed)
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        yield
    finally:
        lock.release()


def own_entries(name: str) -> bool:
    """Whether a folder entry is train's own working file (its lock, a write test, an atomic
    write's temporary), which does not make a folder non-empty."""
    return (
        name == LOCK_NAME
        or name.startswith(WRITE_TEST_PREFIX)
        or (name.startswith(".") and name.endswith(".tmp"))
    )


def previous_run_files(out: Path) -> list[Path]:
    """The files of OUT that a previous run wrote, as it recorded them: its checkpoint and
    history (each recognised by its content) and the files the history lists."""
    found = []
    checkpoint = out / CHECKPOINT_NAME
    if checkpoint.is_file() and is_checkpoint(checkpoint):
        found.append(checkpoint)
    history = read_run_history(out / HISTORY_NAME)
    if history is not None:
        found.append(out / HISTORY_NAME)
        listed = history.get(FILES_KEY, [])
        names = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
        # only names a run writes, and only as plain files of OUT: a record cannot point out
        found += [out / n for n in names if n in RUN_FILES and (out / n).is_file()]
    return sorted(set(found))


def read_run_history(path: Path) -> dict | None:
    """history.json as numpyvae writes it (a dict with its epochs and units), else None."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if isinstance(record, dict) and "epoch" in record and "units" in record:
        return record
    return None


def files_to_replace(out: Path, overwrite: bool) -> list[Path]:
    """What a new run in `out` must remove first; a CommandError if it may not start there.

    Without --overwrite the folder must be empty (train's own working files aside). With it,
    the previous run's files go, the rest stays, and a file the run would write that no
    previous run recorded is refused, never replaced.
    """
    if not out.is_dir():
        return []
    previous = previous_run_files(out)
    others = sorted(p.name for p in out.iterdir() if p not in previous and not own_entries(p.name))
    if not overwrite:
        if (out / CHECKPOINT_NAME) in previous:
            raise CommandError(
                f"{out} already holds a run ({out / CHECKPOINT_NAME}); continue it with "
                "--resume, write the new run elsewhere with --out DIR, or replace it with "
                "--overwrite"
            )
        if previous or others:
            held = [p.name for p in previous] + others
            raise CommandError(
                f"--out {out} is not empty (it holds {_some(held)}); a new run is written only "
                "into an empty folder: choose another --out, or add --overwrite to replace a "
                "previous run's own files (the others are kept)"
            )
        return []
    clashes = [name for name in others if name in RUN_FILES]
    if clashes:
        raise CommandError(
            f"--out {out} holds {_some(clashes)}, which the new run would write but no previous "
            f"run there recorded writing; --overwrite replaces only a run's own files: move "
            f"{'it' if len(clashes) == 1 else 'them'} or choose another --out; nothing was "
            "trained or removed"
        )
    return previous


def _some(names: list[str]) -> str:
    """The first few names of a list, and how many more."""
    shown = ", ".join(names[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def checkpoint_bytes(trainer: Trainer) -> int:
    """About how large one checkpoint of `trainer` is: its parameters and optimizer state."""
    arrays = [*trainer.model.params.values(), *trainer.optimizer.state_dict().values()]
    return sum(np.asarray(a).nbytes for a in arrays)


def check_writable(folder: Path, needed: int, freed: int = 0) -> None:
    """Refuse a folder that cannot take a file, or whose disk, once `freed` bytes are removed,
    has less than twice `needed` bytes free (the new checkpoint is written beside the old one,
    then replaces it)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=WRITE_TEST_PREFIX)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise CommandError(
            f"cannot write in --out {folder}: {exc.strerror or exc}; nothing was trained"
        ) from exc
    free = shutil.disk_usage(folder).free + freed
    if free < 2 * needed:
        raise CommandError(
            f"the disk of --out {folder} has {free / 2**20:.1f} MiB free, less than the "
            f"{2 * needed / 2**20:.1f} MiB that two checkpoints need; nothing was trained"
            + (" and nothing removed" if freed else "")
        )
