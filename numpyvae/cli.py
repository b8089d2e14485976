"""The command line: `numpyvae train | sample | encode | reconstruct | evaluate`.

`numpyvae train` trains a VAE on MNIST (the embedded 10,000-image subset unless the full files
are found locally), saves a checkpoint at the end of every epoch, and writes the figures.
The other commands load a checkpoint and generate, embed, reconstruct or evaluate. Every
command explains its options with `--help`.

Errors in what the user typed end the program with one line on stderr and exit code 2; Ctrl-C
during training keeps the last epoch's checkpoint, prints the command that resumes, exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from numpyvae import __version__
from numpyvae.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    read_checkpoint,
    save_checkpoint,
)
from numpyvae.layers.activations import ACTIVATIONS
from numpyvae.layers.dense import INITS
from numpyvae.likelihoods import LIKELIHOODS
from numpyvae.objectives import KL_ESTIMATORS
from numpyvae.optim import OPTIMIZERS
from numpyvae.posteriors import POSTERIORS
from numpyvae.train import DivergenceError, Trainer
from numpyvae.vae import OBJECTIVES, VAE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PROG = "numpyvae"
DEFAULT_OUT = Path("runs") / "latest"
CHECKPOINT_NAME = "checkpoint.npz"
HISTORY_NAME = "history.json"
IMAGE_SHAPE = (28, 28)
DATA_CHOICES = ("auto", "embedded", "mnist")
BINARIZE_CHOICES = ("none", "dynamic", "threshold")
DTYPE_CHOICES = ("float32", "float64")
METHOD_CHOICES = ("mean", "sample")
N_DIGITS = 10  # the classes c of a conditional VAE (--conditional): the digit labels 0..9
# A fixed second word for the generator that binarizes the test set once ("dynamic"), so the
# test set depends on --seed only, and a resumed run evaluates on the same binary images.
TEST_BINARIZE_KEY = 0x7E57

# The defaults of `train`, chosen so that the default run on the embedded subset takes under a
# minute on 2 cores and gives recognisable digits: 784-400-20 in float64 trains at about 1.7 s
# an epoch there (float32: about 0.9 s); 25 epochs took 45 s in all and reached a test loss of
# 108.5 nats per image.
TRAIN_DEFAULTS: dict[str, Any] = {
    "data": "auto",
    "data_dir": None,
    "limit": None,
    "likelihood": "bernoulli",
    "latent_dim": 20,
    "hidden": (400,),
    "activation": "relu",
    "init": "uniform",
    "batch_size": 128,
    "lr": 1e-3,
    "optimizer": "adam",
    "samples": 1,
    "posterior": "diagonal",
    "objective": "elbo",
    "kl_estimator": "analytic",
    "beta": 1.0,
    "kl_warmup_epochs": 0,
    "conditional": False,
    "seed": 0,
    "dtype": "float64",
    "binarize": None,  # "dynamic" for the Bernoulli likelihood, "none" for the Gaussian
}
DEFAULT_EPOCHS = 25
# The options a resumed run must share with the run it continues (a different value would
# not continue the same computation); --data-dir may change because it is only a location.
RESUME_FIXED = tuple(k for k in TRAIN_DEFAULTS if k != "data_dir")


# =========================================================================== option types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(value) != text.strip().lstrip("+"):
        raise argparse.ArgumentTypeError(f"must be a positive integer (1, 2, ...), got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (e.g. 0.5), got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 (e.g. 1e-3), got {text!r}")
    return value


def _hidden_sizes(text: str) -> tuple[int, ...]:
    parts = text.split(",")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive layer sizes such as 400 or 512,256, got {text!r}"
        )
    return sizes


# =========================================================================== the parser


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage block above them."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already states its default
    or there is none to state (None, or False for a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        default = action.default
        if "default" in help_text or default in (None, False, argparse.SUPPRESS):
            return help_text
        return help_text + " (default: %(default)s)"


_FORMATTER = _HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, one sub-parser per command."""
    parser = _Parser(
        prog=PROG,
        description="A variational autoencoder in NumPy, every gradient written by hand.",
        epilog=f"Start with `{PROG} train`; then `{PROG} <command> --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)
    commands.required = True
    _add_train(commands)
    _add_sample(commands)
    _add_encode(commands)
    _add_reconstruct(commands)
    _add_evaluate(commands)
    return parser


def _add_data_options(p: argparse.ArgumentParser, from_checkpoint: bool) -> None:
    same = " (default: as in training, from the checkpoint)" if from_checkpoint else ""
    p.add_argument(
        "--data",
        choices=DATA_CHOICES,
        default=None,
        help="which MNIST: 'embedded' is the 10,000/2,000-image subset shipped with numpyvae; "
        "'mnist' the full 60,000/10,000 files (from --data-dir, $NUMPYVAE_MNIST_DIR or the "
        "cache); 'auto' the full files if found locally, else the subset"
        + (same or f" (default: {TRAIN_DEFAULTS['data']})"),
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="directory holding the MNIST .gz files" + (same or " (default: none)"),
    )
    p.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        default=None,
        help="use only the first N training images and the first N test images, for quick "
        "tries and tests" + (same or " (default: all)"),
    )
    p.add_argument(
        "--binarize",
        choices=BINARIZE_CHOICES,
        default=None,
        help="turn intensities into 0/1 pixels: 'dynamic' draws fresh pixels ~ Bernoulli("
        "intensity) for every minibatch (the test set once, from --seed); 'threshold' cuts at "
        "0.5; 'none' keeps intensities"
        + (same or " (default: dynamic for --likelihood bernoulli, none for the Gaussians)"),
    )


def _add_train(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a VAE and write its checkpoint and figures",
        description="Train a VAE on MNIST. A checkpoint is saved at the end of every epoch "
        "(OUT/checkpoint.npz); at the end the figures are written to OUT. With --resume, the "
        "run in OUT continues for --epochs more epochs, exactly as if it had not stopped. "
        "Options left out take the defaults shown, or, with --resume, the checkpoint's values.",
        formatter_class=_FORMATTER,
    )
    d = TRAIN_DEFAULTS
    _add_data_options(p, from_checkpoint=False)
    p.add_argument(
        "--download",
        action="store_true",
        help="with --data mnist: download the full files into the cache if absent",
    )
    model = p.add_argument_group("model")
    model.add_argument(
        "--likelihood",
        choices=sorted(LIKELIHOODS),
        default=None,
        help=f"decoder likelihood p(x|z) (default: {d['likelihood']})",
    )
    model.add_argument(
        "--latent-dim",
        type=_positive_int,
        metavar="K",
        default=None,
        help=f"dimension k of z; 2 also draws the latent manifold (default: {d['latent_dim']})",
    )
    model.add_argument(
        "--hidden",
        type=_hidden_sizes,
        metavar="SIZES",
        default=None,
        help="hidden layer sizes of the encoder, comma-separated (the decoder mirrors them), "
        f"e.g. 400 or 512,256 (default: {','.join(map(str, d['hidden']))})",
    )
    model.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default=None,
        help=f"hidden-layer activation (default: {d['activation']})",
    )
    model.add_argument(
        "--init",
        choices=INITS,
        default=None,
        help=f"weight initialisation (default: {d['init']})",
    )
    model.add_argument(
        "--samples",
        type=_positive_int,
        metavar="M",
        default=None,
        help="Monte Carlo samples of z per image in the loss; with --objective iwae, the K of "
        f"the bound (default: {d['samples']})",
    )
    model.add_argument(
        "--posterior",
        choices=sorted(POSTERIORS),
        default=None,
        help="approximate posterior q(z|x): a Gaussian with 'diagonal' covariance, or 'full' "
        "covariance through a Cholesky factor L (derivations.md §4.4) "
        f"(default: {d['posterior']})",
    )
    model.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=None,
        help="what training maximises: 'elbo', or 'iwae', the importance-weighted bound L_K "
        f"with K = --samples (derivations.md §9.1) (default: {d['objective']})",
    )
    model.add_argument(
        "--kl-estimator",
        choices=KL_ESTIMATORS,
        default=None,
        help="the ELBO's KL term: 'analytic', in closed form (AEVB's estimator B), or "
        "'sampled', log q(z|x) - log p(z) at the samples of z (estimator A) "
        f"(derivations.md §7.2); --objective elbo only (default: {d['kl_estimator']})",
    )
    model.add_argument(
        "--beta",
        type=_non_negative_float,
        metavar="BETA",
        default=None,
        help="weight of the KL term: loss = reconstruction + BETA * KL, 1 being the ELBO; "
        "with --objective iwae it weights log p(z) - log q(z|x) in each log-weight "
        f"(derivations.md §9.4); test losses always use 1 (default: {d['beta']:g})",
    )
    model.add_argument(
        "--conditional",
        action="store_true",
        default=None,
        help=f"a conditional VAE on the digit labels c: q(z|x,c) and p(x|z,c), c one-hot over "
        f"{N_DIGITS} classes (derivations.md §9.2); samples.png then has one row per digit",
    )
    model.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default=None,
        help=f"floating-point precision; float32 is faster (default: {d['dtype']})",
    )
    fit = p.add_argument_group("training")
    fit.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        default=DEFAULT_EPOCHS,
        help="epochs to train (with --resume: epochs to add)",
    )
    fit.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="B",
        default=None,
        help=f"images per minibatch (default: {d['batch_size']})",
    )
    fit.add_argument(
        "--optimizer",
        choices=sorted(OPTIMIZERS),
        default=None,
        help=f"optimizer (default: {d['optimizer']}; sgd uses momentum 0.9)",
    )
    fit.add_argument(
        "--lr",
        type=_positive_float,
        metavar="RATE",
        default=None,
        help=f"learning rate (default: {d['lr']:g})",
    )
    fit.add_argument(
        "--kl-warmup-epochs",
        type=_non_negative_int,
        metavar="N",
        default=None,
        help="raise the KL weight linearly from 0 to --beta over the first N epochs, "
        "N * ceil(training images / batch size) steps (derivations.md §9.4); 0: no warm-up "
        f"(default: {d['kl_warmup_epochs']})",
    )
    fit.add_argument(
        "--eval-log-likelihood",
        type=_non_negative_int,
        metavar="K",
        default=0,
        help="after training, estimate the test log p(x) by importance sampling with K "
        "samples per image, e.g. 5000 (derivations.md §9.5), and print it with its standard "
        "error (default: 0, off)",
    )
    fit.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="S",
        default=None,
        help="seed of the initial weights, the shuffling and the noise; the same seed and "
        f"options give the same run, bit for bit (default: {d['seed']})",
    )
    run = p.add_argument_group("output")
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=DEFAULT_OUT,
        help="directory for the checkpoint, history and figures",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in OUT/checkpoint.npz for --epochs more epochs",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in OUT even though OUT holds one (its checkpoint is replaced at "
        "the end of the first epoch); without it, train refuses to touch an existing run",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


def _add_checkpoint_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        default=DEFAULT_OUT / CHECKPOINT_NAME,
        help="checkpoint written by `numpyvae train`",
    )


def _add_method_option(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--method", choices=METHOD_CHOICES, default="mean", help=help)


def _add_out_file_option(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--out", type=Path, metavar="FILE", default=None, help=help)


def _add_seed_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="S",
        default=None,
        help="seed of the random draws (default: continue the checkpoint's generator)",
    )


def _add_sample(commands) -> None:
    p = commands.add_parser(
        "sample",
        help="write a PNG grid of generated digits",
        description="Generate digits from z ~ N(0, I) with a trained model and write a PNG grid.",
        formatter_class=_FORMATTER,
    )
    _add_checkpoint_option(p)
    _add_method_option(
        p,
        "'mean': the decoder's mean E[x|z] (method A); 'sample': a draw x ~ p(x|z) (method B)",
    )
    p.add_argument(
        "--n",
        type=_positive_int,
        default=64,
        help="how many digits; a conditional model without --label draws one row per digit, "
        "N/10 (rounded up) in each",
    )
    p.add_argument(
        "--label",
        type=_non_negative_int,
        metavar="C",
        default=None,
        help="for a conditional model (train --conditional): draw only digit C, 0..9 "
        "(default: one row per digit)",
    )
    _add_seed_option(p)
    _add_out_file_option(
        p,
        "PNG to write (default: samples_METHOD.png, or samples_digitC_METHOD.png with "
        "--label, next to the checkpoint)",
    )
    p.set_defaults(run=run_sample)


def _add_encode(commands) -> None:
    p = commands.add_parser(
        "encode",
        help="write the test set's embeddings to .npz or .npy",
        description="Embed the test set with a trained model's encoder. A .npz file gets the "
        "arrays z (N, k) and labels (N,); a .npy file gets z only.",
        formatter_class=_FORMATTER,
    )
    _add_checkpoint_option(p)
    _add_method_option(
        p,
        "'mean': the posterior mean (method A); 'sample': a draw z ~ q(z|x) (method B)",
    )
    _add_seed_option(p)
    _add_data_options(p, from_checkpoint=True)
    _add_out_file_option(
        p,
        "file to write, .npz or .npy (default: embeddings_METHOD.npz next to the checkpoint)",
    )
    p.set_defaults(run=run_encode)


def _add_reconstruct(commands) -> None:
    p = commands.add_parser(
        "reconstruct",
        help="write a PNG of test images above their reconstructions",
        description="Reconstruct the first N test images (decoder mean at their embedding) "
        "and write them below the originals as a PNG.",
        formatter_class=_FORMATTER,
    )
    _add_checkpoint_option(p)
    _add_method_option(
        p,
        "embedding to decode: 'mean' the posterior mean, 'sample' a draw from q(z|x)",
    )
    p.add_argument("--n", type=_positive_int, default=10, help="how many test images")
    _add_seed_option(p)
    _add_data_options(p, from_checkpoint=True)
    _add_out_file_option(
        p,
        "PNG to write (default: reconstructions_METHOD.png next to the checkpoint)",
    )
    p.set_defaults(run=run_reconstruct)


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="print the test negative ELBO and its two terms",
        description="Print the negative ELBO of the test set (nats per image, lower is better) "
        "and its two terms, reconstruction and KL (for a model trained with --objective iwae: "
        "the negative bound -L_K); with --log-likelihood, also an estimate of log p(x).",
        formatter_class=_FORMATTER,
    )
    _add_checkpoint_option(p)
    p.add_argument(
        "--samples",
        type=_positive_int,
        metavar="M",
        default=None,
        help="samples of z per image in the estimate (default: the model's, as in training)",
    )
    p.add_argument(
        "--log-likelihood",
        type=_non_negative_int,
        metavar="K",
        default=0,
        help="also estimate the test log p(x) by importance sampling with K samples per image, "
        "e.g. 5000 (derivations.md §9.5), with its standard error over the images; --limit "
        "takes fewer images (default: 0, off)",
    )
    _add_seed_option(p)
    _add_data_options(p, from_checkpoint=True)
    p.set_defaults(run=run_evaluate)


# =========================================================================== data


@dataclass
class Data:
    """The prepared data of a run: training and test images and their labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None


def resolve_binarize(binarize: str | None, likelihood: str) -> str:
    """The binarization to use: the one asked for, else the likelihood's natural default."""
    if binarize is not None:
        return binarize
    return "dynamic" if likelihood == "bernoulli" else "none"


def load_data(config: dict[str, Any], download: bool = False) -> Data:
    """Load and prepare MNIST as `config` says (data, data_dir, limit, binarize, seed, dtype)."""
    from numpyvae.datasets import binarize, load_dataset

    dataset = load_dataset(
        config["data"], config["data_dir"], dtype=np.dtype(config["dtype"]), download=download
    )
    n = config["limit"]
    x_train, y_train = dataset.x_train[:n], dataset.y_train[:n]
    x_test, y_test = dataset.x_test[:n], dataset.y_test[:n]
    method = config["binarize"]
    transform = None
    if method == "threshold":
        x_train, x_test = binarize(x_train, "threshold"), binarize(x_test, "threshold")
    elif method == "dynamic":
        test_rng = np.random.default_rng([config["seed"], TEST_BINARIZE_KEY])
        x_test = binarize(x_test, "dynamic", test_rng)

        def transform(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return binarize(xb, "dynamic", rng)

    return Data(x_train, y_train, x_test, y_test, dataset.source, transform)


def labels_for(model: VAE, y: np.ndarray) -> np.ndarray | None:
    """The labels c to pass with the data: `y` for a conditional model, else None."""
    return None if model.n_classes is None else y


def _data_name(source: str) -> str:
    """'mnist' or 'embedded': what "auto" resolved to, so a resumed run loads the same."""
    return "embedded" if source.startswith("embedded") else "mnist"


# =========================================================================== train


def run_train(args: argparse.Namespace) -> int:
    """`numpyvae train`: see its --help."""
    started = time.perf_counter()
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory, but {str(out)!r} is a file")
    checkpoint_path = out / CHECKPOINT_NAME
    given = {k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k) is not None}

    if args.resume:
        checkpoint = _read(checkpoint_path, "resume")
        config = checkpoint.metadata.get("config")
        if config is None:
            raise CheckpointError(
                f"{checkpoint_path}: no training options saved with it (not written by "
                f"`{PROG} train`), so it cannot be resumed from the command line"
            )
        # Options added since the checkpoint was written take their defaults: the plain VAE.
        config = {**TRAIN_DEFAULTS, **config, "hidden": tuple(config["hidden"])}
        _check_resume_options(given, config, checkpoint_path)
        if "data_dir" in given:
            config["data_dir"] = given["data_dir"]
        data = load_data(config, download=args.download)
        trainer = checkpoint.trainer
        trainer.transform = data.transform
    else:
        if checkpoint_path.exists() and not args.overwrite:
            raise ValueError(
                f"{out} already holds a run ({checkpoint_path}); continue it with --resume, "
                f"write the new run elsewhere with --out DIR, or replace it with --overwrite"
            )
        config = {**TRAIN_DEFAULTS, **given}
        _check_option_combinations(config)
        config["binarize"] = resolve_binarize(config["binarize"], config["likelihood"])
        data = load_data(config, download=args.download)
        config["data"] = _data_name(data.source)
        trainer = _new_trainer(config, data)
    model = trainer.model

    out.mkdir(parents=True, exist_ok=True)
    metadata = {"config": {**config, "hidden": list(config["hidden"])}, "source": data.source}
    first_epoch = trainer.epoch + 1
    last_epoch = trainer.epoch + args.epochs
    saved = {"epoch": trainer.epoch if args.resume else None}
    print(
        f"{'resuming' if args.resume else 'training'} {model!r}\n"
        f"  on {data.x_train.shape[0]} training and {data.x_test.shape[0]} test images "
        f"({data.source}; binarize {config['binarize']}), "
        f"epochs {first_epoch}..{last_epoch}, batch size {trainer.batch_size}, "
        f"{config['optimizer']} lr {config['lr']:g}, seed {config['seed']}"
        + _warmup_note(config, trainer),
        flush=True,
    )

    epoch_started = time.perf_counter()

    def on_epoch_end(t: Trainer) -> None:
        nonlocal epoch_started
        save_checkpoint(checkpoint_path, t, metadata)
        saved["epoch"] = t.epoch
        _write_history(out / HISTORY_NAME, t, metadata)
        h = t.history
        now = time.perf_counter()
        beta = f"  beta {t.model.beta:.3g}" if t.kl_warmup_steps else ""
        print(
            f"epoch {t.epoch:3d}/{last_epoch}  train {h.loss[-1]:8.2f}  "
            f"test {h.test_loss[-1]:8.2f} = rec {h.test_reconstruction[-1]:.2f} "
            f"+ {_rest_name(t.model)} {h.test_kl[-1]:.2f}{beta}  ({now - epoch_started:.1f} s)",
            flush=True,
        )
        epoch_started = now

    try:
        train_started = time.perf_counter()
        trainer.fit(
            data.x_train,
            args.epochs,
            y_train=labels_for(model, data.y_train),
            x_test=data.x_test,
            y_test=labels_for(model, data.y_test),
            progress=not args.no_progress,
            on_epoch_end=on_epoch_end,
        )
        train_seconds = time.perf_counter() - train_started
        written = write_figures(out, model, trainer, data)
        if args.eval_log_likelihood:
            log_likelihood = log_likelihood_report(
                model, data.x_test, data.y_test, args.eval_log_likelihood
            )
    except KeyboardInterrupt:
        _report_interrupt(out, saved["epoch"], last_epoch, trainer.epoch)
        return 130
    except DivergenceError as exc:
        kept = "" if saved["epoch"] is None else f"; {checkpoint_path} keeps epoch {saved['epoch']}"
        raise DivergenceError(f"{exc}{kept}") from exc

    h = trainer.history
    total_seconds = time.perf_counter() - started
    print(
        f"\ntrained epochs {first_epoch}..{last_epoch} in {train_seconds:.1f} s "
        f"({train_seconds / args.epochs:.2f} s per epoch); total {total_seconds:.1f} s"
    )
    rest = _rest_name(model)
    weighted = model.objective == "elbo" and (config["beta"] != 1 or trainer.kl_warmup_steps)
    print(
        f"final train loss {h.loss[-1]:.2f} = reconstruction {h.reconstruction[-1]:.2f} "
        f"+ {'beta * ' if weighted else ''}{rest} {h.kl[-1]:.2f} nats per image"
        + (f" (beta {model.beta:g} at the end)" if weighted else "")
    )
    print(
        f"final test loss  {h.test_loss[-1]:.2f} = reconstruction "
        f"{h.test_reconstruction[-1]:.2f} + {rest} {h.test_kl[-1]:.2f} nats per image"
        + (" (beta 1)" if weighted else "")
    )
    if args.eval_log_likelihood:
        print(log_likelihood)
    print("wrote:")
    for path in [checkpoint_path, out / HISTORY_NAME, *written]:
        print(f"  {path}")
    return 0


def _new_trainer(config: dict[str, Any], data: Data) -> Trainer:
    model = VAE(
        data.x_train.shape[1],
        config["latent_dim"],
        config["hidden"],
        likelihood=config["likelihood"],
        activation=config["activation"],
        posterior=config["posterior"],
        n_samples=config["samples"],
        seed=config["seed"],
        dtype=np.dtype(config["dtype"]),
        init=config["init"],
        objective=config["objective"],
        kl_estimator=config["kl_estimator"],
        beta=config["beta"],
        n_classes=N_DIGITS if config["conditional"] else None,
    )
    optimizer = OPTIMIZERS[config["optimizer"]](model.params, lr=config["lr"])
    steps_per_epoch = -(-data.x_train.shape[0] // config["batch_size"])  # ceil(N / B)
    return Trainer(
        model,
        optimizer,
        batch_size=config["batch_size"],
        seed=config["seed"],
        transform=data.transform,
        kl_warmup_steps=config["kl_warmup_epochs"] * steps_per_epoch,
    )


def _check_option_combinations(config: dict[str, Any]) -> None:
    """Refuse options that are valid alone but not together."""
    if config["objective"] == "iwae" and config["kl_estimator"] == "sampled":
        raise ValueError(
            "--kl-estimator sampled applies to --objective elbo only: the importance-weighted "
            "bound has no KL term of its own (derivations.md §9.1); leave one of them out"
        )


def _warmup_note(config: dict[str, Any], trainer: Trainer) -> str:
    if not trainer.kl_warmup_steps:
        return ""
    return (
        f"\n  KL weight beta from 0 to {trainer.final_beta:g} over the first "
        f"{config['kl_warmup_epochs']} epoch(s) ({trainer.kl_warmup_steps} steps)"
    )


def _rest_name(model: VAE) -> str:
    """The name of loss - reconstruction: the KL for the ELBO, 'rest' for the IWAE bound."""
    return "KL" if model.objective == "elbo" else "rest"


def _check_resume_options(given: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """Refuse options that would make a resumed run differ from the run it continues."""
    for key in RESUME_FIXED:
        if key == "data" and given.get(key) == "auto":
            continue  # "auto" was resolved when the run started; it matches either
        if key in given and given[key] != config[key]:
            option = "--" + key.replace("_", "-")
            shown = ",".join(map(str, given[key])) if key == "hidden" else given[key]
            was = ",".join(map(str, config[key])) if key == "hidden" else config[key]
            if key == "conditional":  # a flag: it can only have been given to a plain run
                raise ValueError(
                    f"{option} was given, but the run in {path} is not conditional; a resumed "
                    f"run keeps its options: leave {option} out"
                )
            raise ValueError(
                f"{option} {shown} differs from the run in {path} ({option} {was}); a resumed "
                f"run keeps its options: leave {option} out"
            )


def _write_history(path: Path, trainer: Trainer, metadata: dict[str, Any]) -> None:
    arrays = trainer.history.as_arrays()
    record = {"epoch": list(range(1, len(trainer.history) + 1))}
    record.update({k: v.tolist() for k, v in arrays.items()})
    record["units"] = "nats per image"
    record.update(metadata)
    with atomic_write(path) as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())


def write_figures(out: Path, model: VAE, trainer: Trainer, data: Data) -> list[Path]:
    """The figures of a trained model, written into `out`; returns their paths.

    For a conditional model, samples.png has one row per digit and the manifold (which would
    need a digit to decode with) is left out.
    """
    from numpyvae import plots

    shape = _image_shape(model)
    x, c = data.x_test, labels_for(model, data.y_test)
    z = model.encode(x, "mean", c=c)
    if model.n_classes is None:
        samples = plots.plot_generation(model, 64, image_shape=shape)
    else:
        samples = plot_digit_rows(model, N_DIGITS, "mean")
    figures = {
        "losses.png": plots.plot_losses(trainer.history),
        "reconstructions.png": plots.plot_reconstructions(
            x[:10],
            model.reconstruct(x[:10], "mean", c=None if c is None else c[:10]),
            n=10,
            image_shape=shape,
            title="Test images and their reconstructions (decoder mean at the posterior mean)",
        ),
        "samples.png": samples,
        "embeddings.png": plots.plot_embeddings(
            z, data.y_test, title="Posterior means of the test set"
        ),
    }
    if model.latent_dim == 2 and model.n_classes is None:
        figures["manifold.png"] = plots.plot_latent_manifold(model, 20, image_shape=shape)
    if model.latent_dim == 2:
        figures["latent_scatter.png"] = plots.plot_latent_scatter(
            z, data.y_test, 20, title="Posterior means of the test set"
        )
    return [plots.save_figure(fig, out / name) for name, fig in figures.items()]


def plot_digit_rows(model: VAE, per_row: int, method: str) -> Figure:
    """A conditional model's digits: row c holds `per_row` draws of digit c (derivations.md
    §9.2), each decoded from its own z ~ N(0, I) by `method` (§8.1)."""
    from numpyvae import plots

    rows = [model.generate(per_row, method, c=c) for c in range(model.n_classes)]
    return plots.plot_samples(
        np.concatenate(rows),
        f"{_generation_name(model, method)}, one row per digit c = 0..{model.n_classes - 1}",
        image_shape=_image_shape(model),
        n_cols=per_row,
    )


def _generation_name(model: VAE, method: str) -> str:
    given = "z" if model.n_classes is None else "z,c"
    return f"decoder mean E[x|{given}]" if method == "mean" else f"samples x ~ p(x|{given})"


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


def _report_interrupt(out: Path, saved_epoch: int | None, last_epoch: int, epoch: int) -> None:
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


# =========================================================================== other commands


def _read(path: Path, command: str) -> Checkpoint:
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train one first (`{PROG} train --out {path.parent}`) "
            f"or name it with --{'out DIR' if command == 'resume' else 'checkpoint PATH'}"
        )
    return read_checkpoint(path)


def _load_for_inference(args: argparse.Namespace) -> Checkpoint:
    checkpoint = _read(args.checkpoint, args.command)
    if args.seed is not None:
        checkpoint.model.rng = np.random.default_rng(args.seed)
    return checkpoint


def _test_data(args: argparse.Namespace, checkpoint: Checkpoint) -> Data:
    """The test set as it was prepared in training, unless options say otherwise."""
    model = checkpoint.model
    saved = checkpoint.metadata.get("config", {})
    config = {
        "data": args.data or saved.get("data", "auto"),
        "data_dir": args.data_dir or saved.get("data_dir"),
        "limit": args.limit or saved.get("limit"),
        "binarize": args.binarize
        or saved.get("binarize")
        or resolve_binarize(None, model.likelihood.name),
        "seed": saved.get("seed", 0),
        "dtype": model.dtype.name,
    }
    data = load_data(config)
    if data.x_test.shape[1] != model.data_dim:
        raise ValueError(
            f"the model expects {model.data_dim} pixels per image but the data has "
            f"{data.x_test.shape[1]}"
        )
    return data


def _default_output(args: argparse.Namespace, stem: str, suffix: str) -> Path:
    if args.out is not None:
        return args.out
    return args.checkpoint.parent / f"{stem}_{args.method}{suffix}"


def run_sample(args: argparse.Namespace) -> int:
    """`numpyvae sample`: see its --help."""
    from numpyvae import plots

    checkpoint = _load_for_inference(args)
    model = checkpoint.model
    label = args.label
    if label is not None and model.n_classes is None:
        raise ValueError(
            f"--label {label} needs a conditional model (`{PROG} train --conditional`), but "
            f"{args.checkpoint} is not conditional; leave --label out"
        )
    if label is not None and label >= model.n_classes:
        raise ValueError(
            f"--label must be a digit 0..{model.n_classes - 1} of the conditional model, "
            f"got {label}"
        )
    if model.n_classes is not None and label is None:
        fig = plot_digit_rows(model, -(-args.n // N_DIGITS), args.method)
    else:
        images = model.generate(args.n, args.method, c=label)
        which = "digits" if label is None else f"draws of digit {label}"
        fig = plots.plot_samples(
            images,
            f"{args.n} generated {which}: {_generation_name(model, args.method)}",
            image_shape=_image_shape(model),
        )
    stem = "samples" if label is None else f"samples_digit{label}"
    print(plots.save_figure(fig, _default_output(args, stem, ".png")))
    return 0


def run_encode(args: argparse.Namespace) -> int:
    """`numpyvae encode`: see its --help."""
    out = _default_output(args, "embeddings", ".npz")
    if out.suffix not in (".npz", ".npy"):
        raise ValueError(f"--out must end in .npz or .npy, got {str(out)!r}")
    checkpoint = _load_for_inference(args)
    data = _test_data(args, checkpoint)
    model = checkpoint.model
    z = model.encode(data.x_test, args.method, c=labels_for(model, data.y_test))
    with atomic_write(out) as f:
        if out.suffix == ".npz":
            np.savez(f, z=z, labels=data.y_test)
        else:
            np.save(f, z)
    kept = "z and labels" if out.suffix == ".npz" else "z only; use .npz to keep the labels"
    print(f"{out}: {z.shape[0]} test embeddings of dimension {z.shape[1]} ({kept})")
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    """`numpyvae reconstruct`: see its --help."""
    from numpyvae import plots

    checkpoint = _load_for_inference(args)
    model = checkpoint.model
    data = _test_data(args, checkpoint)
    x, c = data.x_test[: args.n], labels_for(model, data.y_test[: args.n])
    fig = plots.plot_reconstructions(
        x,
        model.reconstruct(x, args.method, c=c),
        n=args.n,
        image_shape=_image_shape(model),
        title=f"Test images and their reconstructions (decoder mean at the posterior "
        f"{args.method})",
    )
    print(plots.save_figure(fig, _default_output(args, "reconstructions", ".png")))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """`numpyvae evaluate`: see its --help."""
    checkpoint = _load_for_inference(args)
    model = checkpoint.model
    data = _test_data(args, checkpoint)
    if args.samples is not None:
        model.n_samples = args.samples
    parts = model.evaluate(data.x_test, c=labels_for(model, data.y_test))
    bound = "negative ELBO" if model.objective == "elbo" else "negative IWAE bound -L_K"
    print(
        f"test {bound} {parts.loss:.2f} = reconstruction {parts.reconstruction:.2f} "
        f"+ {_rest_name(model)} {parts.kl:.2f} nats per image\n"
        f"  ({data.x_test.shape[0]} test images of {data.source}, M = {model.n_samples} "
        f"sample(s) of z each; checkpoint {args.checkpoint}, epoch {checkpoint.trainer.epoch})"
    )
    if args.log_likelihood:
        print(log_likelihood_report(model, data.x_test, data.y_test, args.log_likelihood))
    return 0


def _image_shape(model: VAE) -> tuple[int, int]:
    if model.data_dim == IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        return IMAGE_SHAPE
    return (1, model.data_dim)  # not an MNIST model: show each vector as a strip


# =========================================================================== entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an option error already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError) as exc:  # CheckpointError is a ValueError
        if os.environ.get("NUMPYVAE_TRACEBACK"):
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (DivergenceError, OSError) as exc:
        if os.environ.get("NUMPYVAE_TRACEBACK"):
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
