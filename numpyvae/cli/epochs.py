"""Between epochs and after them: the checkpoint and history saved after each epoch, and what
Ctrl-C leaves behind."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numpyvae.atomic import atomic_write
from numpyvae.checkpoint import save_checkpoint
from numpyvae.cli.options import CHECKPOINT_NAME, PROG
from numpyvae.cli.runs import rest_name
from numpyvae.history import UNITS
from numpyvae.train import Trainer

if TYPE_CHECKING:
    from numpyvae.cli.train import Run

HISTORY_NAME = "history.json"


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
        write_history(self.run.out / HISTORY_NAME, trainer, self.run.metadata)
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
    arrays = trainer.history.as_arrays()
    record: dict[str, Any] = {"epoch": list(range(1, len(trainer.history) + 1))}
    record.update({k: v.tolist() for k, v in arrays.items()})
    record["units"] = UNITS
    record.update(metadata)
    with atomic_write(path) as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())


def report_interrupt(out: Path, saved_epoch: int | None, last_epoch: int, epoch: int) -> None:
    """What Ctrl-C left: the epoch whose checkpoint is intact, and the command that resumes."""
    checkpoint_path = out / CHECKPOINT_NAME
    if saved_epoch is None:
        print(
            f"\n{PROG}: interrupted during epoch {epoch}, before any epoch of this run "
            "finished; nothing was saved.",
            file=sys.stderr,
        )
        return
    remaining = last_epoch - saved_epoch
    if remaining == 0:
        print(
            f"\n{PROG}: interrupted after the last epoch ({saved_epoch}) was saved in "
            f"{checkpoint_path}; some figures may be missing.",
            file=sys.stderr,
        )
        return
    resume = f"{PROG} train --out {shlex.quote(str(out))} --resume --epochs {remaining}"
    print(
        f"\n{PROG}: interrupted during epoch {saved_epoch + 1}; the checkpoint of epoch "
        f"{saved_epoch} is intact in {checkpoint_path}.\nResume with: {resume}",
        file=sys.stderr,
    )
