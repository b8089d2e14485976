"""Checkpoints: a trainer (model, optimizer, history, RNG states) in one `.npz`, written atomically.

A checkpoint holds everything a run needs to continue exactly where it stopped: the model's
architecture and weights, the optimizer's hyperparameters and state (Adam's moments, SGD's
velocity, the step count), the epoch, the history, the trainer's batch size and seed, and the
states of BOTH random generators (the trainer's, which shuffles and binarizes, and the model's,
which draws eps). Training 2 epochs, saving, loading and training 2 more therefore gives the
same weights, bit for bit, as training 4 epochs in one go.

The file is an uncompressed `.npz` (a zip of `.npy` arrays, readable with `np.load`):

    format_version          int, FORMAT_VERSION
    meta                    a JSON string: architecture, optimizer, trainer, RNG states, metadata
    param/<name>            the model's parameters, e.g. param/encoder.0.W
    optimizer/<key>         the optimizer's state_dict(), e.g. optimizer/m/encoder.0.W
                            (Adam's moments pre-scaled, m / (1 - b1) and v / (1 - b2))
    history/<series>        the per-epoch losses, e.g. history/test_loss, and the latent
                            diagnostics when recorded (history/active_units, ...)

The zip format stores a CRC-32 of every member, so truncation and bit flips are detected on
load; any such problem raises `CheckpointError`, never a half-loaded model. Writing goes to a
temporary file in the same directory that replaces the old checkpoint only once complete
(`atomic_write`), so an interruption (an exception, Ctrl-C, a crash) leaves the previous
checkpoint as it was.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from numpyvae.atomic import PathLike, atomic_write
from numpyvae.config import VAEConfig
from numpyvae.history import DIAGNOSTIC_KEYS, HISTORY_KEYS, History
from numpyvae.optim import OPTIMIZERS, SGD, Adam, Optimizer
from numpyvae.train import Trainer
from numpyvae.vae import VAE
from numpyvae.validation import InputError, InvalidTypeError, InvalidValueError
from numpyvae.version import __version__

# Version 3 stores Adam's moments pre-scaled (numpyvae.optim.Adam: m / (1 - b1), v / (1 - b2));
# versions 1 and 2 stored the moments of the formula, which are divided on reading (resuming
# from them then agrees with the old code to rounding, not bit for bit). Version 2 records the
# model's VAEConfig as the architecture and the current KL weight with the trainer; version 1
# (numpyvae 0.1.0 before VAEConfig) is migrated on reading.
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


class CheckpointError(InvalidValueError):
    """A file is not a readable numpyvae checkpoint (corrupt, truncated, other version, ...)."""


class CheckpointNotFoundError(InputError, FileNotFoundError):
    """There is no file at the checkpoint's path."""


@dataclass
class Checkpoint:
    """What `read_checkpoint` returns: the restored trainer and the caller's metadata."""

    trainer: Trainer
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def model(self) -> VAE:
        return self.trainer.model


# --------------------------------------------------------------------------- saving


def save_checkpoint(
    path: PathLike, trainer: Trainer, metadata: dict[str, Any] | None = None
) -> Path:
    """Write `trainer` (its model, optimizer, epoch, history, RNG states) to `path` atomically.

    `metadata`, if given, is any JSON-serialisable dict stored alongside (the command line
    keeps its data options there, so that `--resume` rebuilds the same data). Returns the path.
    """
    path = Path(path)
    model, optimizer = trainer.model, trainer.optimizer
    meta = {
        "format_version": FORMAT_VERSION,
        "numpyvae_version": __version__,
        "architecture": architecture(model),
        "optimizer": {
            "name": optimizer_name(optimizer),
            "hyperparameters": optimizer_hyperparameters(optimizer),
        },
        "trainer": {
            "batch_size": trainer.batch_size,
            # informational: the generator state below is what restores the run
            "seed": trainer.seed,
            "epoch": trainer.epoch,
            "kl_warmup_steps": trainer.kl_warmup_steps,
            "final_beta": trainer.final_beta,
            "beta_now": model.beta,
        },
        "rng": {
            "trainer": trainer.rng.bit_generator.state,
            "model": model.rng.bit_generator.state,
        },
        "metadata": metadata or {},
    }
    try:
        meta_json = json.dumps(meta)
    except TypeError as exc:
        raise InvalidTypeError(
            f"metadata must be JSON-serialisable, got {metadata!r:.200}"
        ) from exc
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "meta": np.array(meta_json),
    }
    arrays.update({f"param/{n}": p for n, p in model.params.items()})
    arrays.update({f"optimizer/{k}": v for k, v in optimizer.state_dict().items()})
    arrays.update({f"history/{k}": v for k, v in trainer.history.as_arrays().items()})
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def architecture(model: VAE) -> dict[str, Any]:
    """The model's options (its VAEConfig) that rebuild it, weights aside, JSON-ready.

    `beta` is the configured KL weight; the weight of the moment (during a KL warm-up) is saved
    with the trainer.
    """
    return model.config.as_dict()


def optimizer_hyperparameters(optimizer: Optimizer) -> dict[str, Any]:
    """The keyword arguments that rebuild `optimizer` (its state aside), JSON-ready."""
    if isinstance(optimizer, Adam):
        return {
            "lr": optimizer.lr,
            "betas": [optimizer.beta1, optimizer.beta2],
            "eps": optimizer.eps,
        }
    if isinstance(optimizer, SGD):
        return {"lr": optimizer.lr, "momentum": optimizer.momentum}
    raise InvalidTypeError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} to be checkpointed, "
        f"got {type(optimizer).__name__}"
    )


def optimizer_name(optimizer: Optimizer) -> str:
    """The name `optimizer` is registered under in numpyvae.optim.OPTIMIZERS."""
    for name, cls in OPTIMIZERS.items():
        if type(optimizer) is cls:
            return name
    raise InvalidTypeError(
        f"optimizer must be one of {sorted(OPTIMIZERS)}, got {type(optimizer).__name__}"
    )


def _migrate(version: int, arch: dict[str, Any], trainer_meta: dict[str, Any]) -> None:
    """Bring a version-1 record to version 2 in place: there `beta` in the architecture was
    the weight of the moment and the trainer's `final_beta` the configured one."""
    if version == 1:
        trainer_meta.setdefault("beta_now", arch.get("beta", 1.0))
        if "beta" in arch:
            arch["beta"] = trainer_meta.get("final_beta", arch["beta"])


# --------------------------------------------------------------------------- loading


def load_checkpoint(
    path: PathLike,
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> Trainer:
    """The trainer saved at `path`, ready to `fit` more epochs. Raises CheckpointError.

    A transform (e.g. dynamic binarization) is code, not data: pass it again here.
    """
    return read_checkpoint(path, transform).trainer


def load_model(path: PathLike) -> VAE:
    """Only the model saved at `path` (with its generator's state). Raises CheckpointError."""
    return read_checkpoint(path).model


def read_checkpoint(
    path: PathLike,
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> Checkpoint:
    """The trainer and the metadata saved at `path`.

    Raises FileNotFoundError if there is no file, and CheckpointError (naming the file and the
    problem) if the file is not a complete checkpoint of this FORMAT_VERSION.
    """
    path = Path(path)
    arrays = _read_arrays(path)

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"{path}: {problem}")

    if "format_version" not in arrays or arrays["format_version"].shape != ():
        raise fail(
            "not a numpyvae checkpoint: an .npz without numpyvae's record (no format_version "
            f"entry; it holds {', '.join(sorted(arrays)[:5]) or 'no arrays'})"
        )
    version = arrays["format_version"].item()
    if version not in READABLE_VERSIONS:
        raise fail(
            f"written in checkpoint format version {version}; this numpyvae "
            f"({__version__}) reads versions {', '.join(map(str, READABLE_VERSIONS))} only"
        )
    try:
        meta = json.loads(str(arrays["meta"].item()))
        arch = meta["architecture"]
        opt_meta = meta["optimizer"]
        trainer_meta = meta["trainer"]
        rng_states = meta["rng"]
        metadata = meta.get("metadata", {})
        _migrate(version, arch, trainer_meta)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise fail(f"the meta entry is missing or incomplete ({problem})") from exc

    try:
        model = VAE(config=VAEConfig.from_dict(arch))
        optimizer = OPTIMIZERS[opt_meta["name"]](model.params, **opt_meta["hyperparameters"])
        trainer = Trainer(
            model,
            optimizer,
            batch_size=trainer_meta["batch_size"],
            seed=trainer_meta["seed"],
            transform=transform,
            kl_warmup_steps=trainer_meta.get("kl_warmup_steps", 0),
        )
        # The Trainer takes its target KL weight from the model when made; then the model gets
        # the weight it had when saved (they differ only during a warm-up).
        model.beta = trainer_meta.get("beta_now", model.beta)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise fail(f"cannot rebuild the model or optimizer ({problem})") from exc

    # Copy into the live arrays: the layers and the optimizer hold references to them.
    for name, p in model.params.items():
        p[...] = _entry(arrays, f"param/{name}", p, fail)
    state = {
        key: _entry(arrays, f"optimizer/{key}", value, fail)
        for key, value in optimizer.state_dict().items()
    }
    if version < 3:  # the formulas' quantities, before Adam's moments were stored scaled
        optimizer.load_standard_state_dict(state)
    else:
        optimizer.load_state_dict(state)
    history = {}
    for key in HISTORY_KEYS:
        series = arrays.get(f"history/{key}")
        if series is None or series.ndim != 1:
            raise fail(f"the entry history/{key} is missing or not a 1-D array")
        history[key] = series
    for key in DIAGNOSTIC_KEYS:  # optional: older checkpoints lack them
        if f"history/{key}" in arrays:
            history[key] = arrays[f"history/{key}"]
    trainer.history = History.from_arrays(history)
    try:
        trainer.epoch = int(trainer_meta["epoch"])
        trainer.rng.bit_generator.state = rng_states["trainer"]
        model.rng.bit_generator.state = rng_states["model"]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise fail(f"cannot restore the random state ({type(exc).__name__}: {exc})") from exc
    _check_finite(trainer, fail)
    return Checkpoint(trainer, metadata, path)


def _check_finite(trainer: Trainer, fail: Callable[[str], CheckpointError]) -> None:
    """Refuse weights or optimizer state holding NaN or infinity: nothing evaluated, sampled or
    resumed from them means anything, and no learning rate can repair them."""
    arrays = {f"param/{n}": p for n, p in trainer.model.params.items()}
    arrays.update({f"optimizer/{k}": v for k, v in trainer.optimizer.state_dict().items()})
    bad = [key for key, value in arrays.items() if not np.all(np.isfinite(value))]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise fail(
            f"the checkpoint of epoch {trainer.epoch} is damaged: {', '.join(bad[:3])}{more} "
            "hold NaN or infinity, so nothing computed from it would mean anything. Use a "
            "checkpoint saved before the damage (an earlier epoch's copy, if you kept one); "
            "numpyvae train saves only finite weights, so a run it wrote can be trained again"
        )


def is_checkpoint(path: PathLike) -> bool:
    """Whether the file at `path` is a numpyvae checkpoint (a zip with a format_version)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "format_version.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_metadata(path: PathLike) -> dict[str, Any]:
    """Only the metadata dict saved with `save_checkpoint(..., metadata=...)`."""
    return read_checkpoint(path).metadata


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at `path`, read completely so each member's CRC is checked."""
    if not path.is_file():
        raise CheckpointNotFoundError(f"no checkpoint at {path}")
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not head.startswith(b"PK"):  # every zip, so every .npz, starts so
        raise CheckpointError(
            f"{path}: not a numpyvae checkpoint: {kind_of_file(head)}, not an .npz archive"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception as exc:  # BadZipFile, NotImplementedError of a flipped version, ...
        raise CheckpointError(
            f"{path}: not a readable .npz checkpoint; the zip archive is corrupt or truncated "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not any(name.endswith(".npy") for name in names):
        raise CheckpointError(
            f"{path}: not a numpyvae checkpoint: a zip archive that is not an .npz (it holds "
            f"no .npy arrays: {', '.join(names[:3]) or 'nothing'})"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, OSError, ...
        # NumPy's own advice for pickled arrays (allow_pickle=True) would run code from the
        # file: a checkpoint never holds Python objects, so say that instead.
        detail = (
            "it holds pickled Python objects, which a numpyvae checkpoint never does"
            if "allow_pickle" in str(exc)
            else f"{type(exc).__name__}: {exc}"
        )
        raise CheckpointError(
            f"{path}: not a readable .npz checkpoint; the file is corrupt, truncated or of "
            f"another kind ({detail})"
        ) from exc


def kind_of_file(head: bytes) -> str:
    """What a file that is not a zip archive is, from its first bytes (up to 512)."""
    signatures = {
        b"\x93NUMPY": "a single .npy array",
        b"\x89PNG": "a PNG image",
        b"\xff\xd8\xff": "a JPEG image",
        b"%PDF": "a PDF document",
        b"\x1f\x8b": "a gzip-compressed file",
        b"\x80": "a Python pickle",
    }
    for signature, kind in signatures.items():
        if head.startswith(signature):
            return kind
    if not head:
        return "an empty file"
    try:
        text = head.decode("utf-8").lstrip()
    except UnicodeDecodeError:
        return "binary data of an unknown kind"
    return "a JSON file" if text[:1] in ("{", "[") else "a text file"


def _entry(
    arrays: dict[str, np.ndarray],
    key: str,
    like: np.ndarray,
    fail: Callable[[str], CheckpointError],
) -> np.ndarray:
    """arrays[key], which must exist with the shape and dtype of `like`."""
    value = arrays.get(key)
    if value is None:
        raise fail(f"the entry {key} is missing")
    if value.shape != like.shape or value.dtype != like.dtype:
        raise fail(
            f"the entry {key} has shape {value.shape} and dtype {value.dtype}; the architecture "
            f"needs shape {like.shape} and dtype {like.dtype}"
        )
    return value
