"""Between epochs and after them: the checkpoint and history saved after each epoch, and what
Ctrl-C leaves behind."""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numpyvae.atomic import atomic_write
from numpyvae.checkpoint import save_checkpoint
from numpyvae.cli.options import CHECKPOINT_NAME, HISTORY_NAME, PROG
from numpyvae.cli.runs import rest_name
from numpyvae.train import Trainer

if TYPE_CHECKING:
    from numpyvae.cli.train import Run


class EpochEnd:
    """After each epoch: save the checkpoint and the history, print one line."""

    def __init__(self, current: Run, last_epoch: int) -> None:
        self.run = current
        self.last_epoch = last_epoch
        self.saved_epoch = current.trainer.epoch if current.resumed else None
        self.started = time.perf_counter()

    def __call__(self, trainer: Trainer) -> None:
        save_checkpoint(self.run.checkpoint_path, trainer, self.run.metadata)
        self.saved_epoch = trainer.epoch
        write_history(self.run.out / HISTORY_NAME, trainer, self.run.record)
        h = trainer.history
        now = time.perf_counter()
        beta = f"  beta {trainer.model.beta:.3g}" if trainer.kl_warmup_steps else ""
        print(
            f"epoch {trainer.epoch:3d}/{self.last_epoch}  train {h.loss[-1]:8.2f}  "
            f"test {h.test_loss[-1]:8.2f} = rec {h.test_reconstruction[-1]:.2f} "
            f"+ {rest_name(trainer.model)} {h.test_kl[-1]:.2f}{beta}  "
            f"({now - self.started:.1f} s)",
            flush=True,
        )
        self.started = now


def write_history(path: Path, trainer: Trainer, metadata: dict[str, Any]) -> None:
    """history.json: the per-epoch losses and the run's options, written atomically."""
    record: dict[str, Any] = {"epoch": list(range(1, len(trainer.history) + 1))}
    record.update(trainer.history.as_json())
    record["units"] = trainer.model.objective_fn.units
    record.update(metadata)
    with atomic_write(path) as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())


def report_interrupt(
    out: Path, saved_epoch: int | None, last_epoch: int, epoch: int, signal_name: str | None = None
) -> None:
    """What Ctrl-C (or SIGTERM, `signal_name`) left: the epoch whose checkpoint is intact,
    and the command that resumes."""
    checkpoint_path = out / CHECKPOINT_NAME
    stopped = "interrupted" if signal_name is None else f"terminated ({signal_name})"
    if saved_epoch is None:
        print(
            f"\n{PROG}: {stopped} during epoch {epoch}, before any epoch of this run "
            "finished; nothing was saved.",
            file=sys.stderr,
        )
        return
    remaining = last_epoch - saved_epoch
    if remaining == 0:
        print(
            f"\n{PROG}: {stopped} after the last epoch ({saved_epoch}) was saved in "
            f"{checkpoint_path}; some figures may be missing.",
            file=sys.stderr,
        )
        return
    resume = f"{PROG} train --out {shlex.quote(str(out))} --resume --epochs {remaining}"
    print(
        f"\n{PROG}: {stopped} during epoch {saved_epoch + 1}; the checkpoint of epoch "
        f"{saved_epoch} is intact in {checkpoint_path}.\nResume with: {resume}",
        file=sys.stderr,
    )


@dataclass
class Stopped:
    """A training stopped by Ctrl-C (exit code 130) or SIGTERM (143), its state saved."""

    exit_code: int


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that both stop a run the same way."""


class RunWriteError(OSError):
    """A file of the run could not be written (disk full, permission, read-only)."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` (a KeyboardInterrupt)."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def what_is_kept(current: Run, saved_epoch: int | None, last_epoch: int, extra: str = "") -> str:
    """One sentence: which checkpoint is intact, and the command that continues from it."""
    if saved_epoch is None:
        return "No epoch of this run was saved: start it again once the cause is fixed"
    resume = (
        f"{PROG} train --out {shlex.quote(str(current.out))} --resume"
        f"{extra} --epochs {max(last_epoch - saved_epoch, 1)}"
    )
    return (
        f"The checkpoint of epoch {saved_epoch} is intact in {current.checkpoint_path}; "
        f"continue with: {resume}"
    )
