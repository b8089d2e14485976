"""What the commands that read a trained run share: the checkpoint, its test data, where the
output goes, and the figures printed about a model's bound and log-likelihood."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from numpyvae.checkpoint import Checkpoint, is_checkpoint, read_checkpoint
from numpyvae.cli.data import Data, labels_for, load_data, resolve_binarize
from numpyvae.cli.figures import FIGURE_NAMES
from numpyvae.cli.options import CHECKPOINT_NAME, HISTORY_NAME, PROG, CommandError
from numpyvae.vae import VAE

# The files a training run owns in its folder: only `train` writes them.
RUN_FILES = (CHECKPOINT_NAME, HISTORY_NAME, *FIGURE_NAMES)


def read_run(path: Path, command: str) -> Checkpoint:
    """The checkpoint at `path` (or in the run directory `path`), or an error that says how to
    make one."""
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CommandError(
            f"no checkpoint at {path}; train one first (`{PROG} train --out {path.parent}`) "
            f"or name it with --{'out DIR' if command == 'resume' else 'checkpoint PATH'}"
        )
    return read_checkpoint(path)


def load_for_inference(args: argparse.Namespace) -> Checkpoint:
    """The checkpoint named by --checkpoint, its model's generator reseeded by --seed."""
    checkpoint = read_run(args.checkpoint, args.command)
    if args.seed is not None:
        checkpoint.model.rng = np.random.default_rng(args.seed)
    return checkpoint


def test_data(args: argparse.Namespace, checkpoint: Checkpoint) -> Data:
    """The test set as it was prepared in training, unless options say otherwise."""
    model = checkpoint.model
    saved = checkpoint.metadata.get("config", {})
    if args.data_dir and not args.data and saved.get("data") == "embedded":
        raise CommandError(
            f"--data-dir {args.data_dir}: this run was trained on the embedded subset, which "
            "reads no directory; add --data mnist to use the full MNIST files there"
        )
    if args.data_dir:  # absolute, as train stores it
        args.data_dir = str(Path(args.data_dir).expanduser().resolve())
    config = {
        "data": args.data or saved.get("data", "auto"),
        "data_dir": args.data_dir or saved.get("data_dir"),
        "limit": args.limit or saved.get("limit"),
        "binarize": args.binarize
        or saved.get("binarize")
        or resolve_binarize(None, model.likelihood.name),
        "seed": saved.get("seed", 0),
        "dtype": model.dtype.name,
        "objective": model.objective,
        "noise": saved.get("noise"),
    }
    data = load_data(config)
    if data.x_test.shape[1] != model.data_dim:
        raise CommandError(
            f"the model expects {model.data_dim} pixels per image but the data has "
            f"{data.x_test.shape[1]}"
        )
    return data


def output_path(args: argparse.Namespace, stem: str, suffixes: tuple[str, ...]) -> Path:
    """Where a command writes: --out, or STEM_METHOD.SUFFIX next to the checkpoint.

    The file must be new, or replaceable with --overwrite; its suffix must be one of
    `suffixes` (the format written); and it is never a file of a run (its checkpoint or
    history, which only `train` writes), --overwrite or not.
    """
    run_dir = args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent
    out = args.out if args.out is not None else run_dir / f"{stem}_{args.method}{suffixes[0]}"
    if out.is_dir():
        raise CommandError(f"--out must be a file path, but {str(out)!r} is a directory")
    if out.suffix.lower() not in suffixes:
        raise CommandError(
            f"--out must end in {' or '.join(suffixes)} (the format written), got {str(out)!r}"
        )
    protected = out.name in (CHECKPOINT_NAME, HISTORY_NAME) or (out.exists() and is_checkpoint(out))
    if protected or out.resolve() == args.checkpoint.resolve():
        raise CommandError(
            f"--out {out} is a training run's file; only `{PROG} train` writes a run's checkpoint "
            "and history: choose another --out"
        )
    if out.exists() and not args.overwrite:
        raise CommandError(f"{out} exists; choose another --out, or add --overwrite to replace it")
    if not out.parent.is_dir():
        raise CommandError(f"--out {out}: the directory {out.parent} does not exist")
    return out


def term_names(model: VAE) -> tuple[str, str]:
    """The names of the two terms of the model's loss: reconstruction and KL for the ELBO."""
    return model.objective_fn.term_names


def rest_name(model: VAE) -> str:
    """The name of loss - reconstruction: the KL for the ELBO, 'rest' for the IWAE bound."""
    return term_names(model)[1]


def bound_name(model: VAE) -> str:
    """What the loss of `model` is: the negative ELBO, the negative IWAE bound, ..."""
    return model.objective_fn.loss_name


def units(model: VAE) -> str:
    """The units of the model's loss: nats per image for the bounds."""
    return model.objective_fn.units


def log_likelihood_report(model: VAE, x: np.ndarray, y: np.ndarray, n_samples: int) -> str:
    """The importance-sampling estimate of log p(x) with `n_samples` draws per image
    (derivations.md §9.5), averaged over the images x (N, d) with labels y (N,), and its
    standard error over the images, as two printable lines. Draws from the model's generator.
    For a conditional model the estimate is of log p(x|c), c the image's label."""
    started = time.perf_counter()
    log_p = model.log_likelihood(x, n_samples, c=labels_for(model, y))
    n = log_p.shape[0]
    error = f"{log_p.std(ddof=1) / np.sqrt(n):.2f}" if n > 1 else "n/a, one image"
    given = "x" if model.n_classes is None else "x|c"
    return (
        f"test log p({given}) estimate {log_p.mean():.2f} (standard error {error}) "
        "nats per image\n"
        f"  (importance sampling with K = {n_samples} samples of z per image, {n} images; "
        f"{time.perf_counter() - started:.1f} s)"
    )
