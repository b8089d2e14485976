"""The run folder of `numpyvae train`: owned by one training at a time, checked writable before
the first epoch, and cleared of an old run's files only by --overwrite.

`numpyvae train` holds OUT/.numpyvae-train.lock from before its first write until it ends.
The file names the process (host, process id, start time). A second training into the same
folder is refused while that process runs; a lock left by a process that no longer runs
(killed with kill -9, or a machine that crashed) is taken over, and the taking over is said
in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numpyvae.atomic import process_alive
from numpyvae.cli.options import CommandError
from numpyvae.cli.runs import RUN_FILES
from numpyvae.train import Trainer

if TYPE_CHECKING:
    from numpyvae.cli.train import Run

LOCK_NAME = ".numpyvae-train.lock"


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
                    raise CommandError(
                        f"{self.path.parent} is being written by another training (process "
                        f"{owner.get('pid')} on {owner.get('host')}, started "
                        f"{_when(owner.get('started'))}); wait for it to end, or train into "
                        "another --out"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                self.taken_over = owner
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            self._held = True
            return self
        raise CommandError(f"cannot take the lock {self.path}: another process keeps taking it")

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
        """Whether the owner runs; a lock of another host is taken as alive (it cannot be
        probed from here)."""
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return False
        if owner.get("host") != socket.gethostname():
            return True
        return pid != os.getpid() and process_alive(pid)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _when(started: object) -> str:
    if not isinstance(started, (int, float)):
        return "at an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))


@contextlib.contextmanager
def claim_folder(current: Run, overwrite: bool) -> Iterator[None]:
    """The run folder made, owned (RunLock) and checked writable while the block runs.

    A new run with --overwrite first removes what the old run wrote there (RUN_FILES) and
    nothing else. An unwritable folder, or one on a disk too full for two checkpoints, is
    refused before the first epoch.
    """
    out = current.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create --out {out}: {exc.strerror or exc}") from exc
    lock = RunLock(out).acquire()
    try:
        if lock.taken_over is not None:
            owner = lock.taken_over
            print(
                f"{out}: taking over the lock of process {owner.get('pid', '?')}, which no "
                "longer runs (it was killed or its machine stopped)",
                flush=True,
            )
        if not current.resumed and current.checkpoint_path.exists() and not overwrite:
            raise CommandError(f"{out} already holds a run; see --resume and --overwrite")
        if not current.resumed and overwrite:
            for name in RUN_FILES:
                with contextlib.suppress(FileNotFoundError):
                    (out / name).unlink()
        check_writable(out, checkpoint_bytes(current.trainer))
        yield
    finally:
        lock.release()


def checkpoint_bytes(trainer: Trainer) -> int:
    """About how large one checkpoint of `trainer` is: its parameters and optimizer state."""
    arrays = [*trainer.model.params.values(), *trainer.optimizer.state_dict().values()]
    return sum(np.asarray(a).nbytes for a in arrays)


def check_writable(folder: Path, needed: int) -> None:
    """Refuse a folder that cannot take a file, or whose disk has less than twice `needed`
    bytes free (the new checkpoint is written beside the old one, then replaces it)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".numpyvae-write-test.")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise CommandError(
            f"cannot write in --out {folder}: {exc.strerror or exc}; nothing was trained"
        ) from exc
    free = shutil.disk_usage(folder).free
    if free < 2 * needed:
        raise CommandError(
            f"the disk of --out {folder} has {free / 2**20:.1f} MiB free, less than the "
            f"{2 * needed / 2**20:.1f} MiB that two checkpoints need; nothing was trained"
        )
