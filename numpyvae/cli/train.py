"""`numpyvae train`: train a VAE on MNIST, checkpoint every epoch, write the figures.

The command in three named steps: `start_run` (a new run, or the one in --out resumed),
`train_with_checkpoints` (the epochs, a checkpoint and a history line after each), and
`print_summary`. The model's options come from VAEConfig (numpyvae.config); the options
below are the training run's own.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numpyvae.cli.data import N_DIGITS, Data, data_name, labels_for, load_data, resolve_binarize
from numpyvae.cli.epochs import (
    EpochEnd,
    RunWriteError,
    Stopped,
    Terminated,
    report_interrupt,
    terminate_as_interrupt,
    what_is_kept,
    write_history,
)
from numpyvae.cli.figures import write_figures
from numpyvae.cli.folder import FILES_KEY, claim_folder, files_to_replace, read_run_history
from numpyvae.cli.options import (
    CHECKPOINT_NAME,
    DEFAULT_OUT,
    HISTORY_NAME,
    CommandError,
    Commands,
    add_command,
    add_data_options,
    add_model_options,
    non_negative_float,
    non_negative_int,
    output_dir,
    positive_float,
    positive_int,
)
from numpyvae.cli.run_options import (
    RUN_DEFAULTS,
    TRAINING_DEFAULTS,
    check_noise,
    check_resume_options,
    model_config,
    resumed_config,
)
from numpyvae.cli.runs import log_likelihood_report, read_run, term_names, units
from numpyvae.objectives import OBJECTIVES
from numpyvae.optim import OPTIMIZERS
from numpyvae.train import DivergenceError, Trainer
from numpyvae.vae import VAE

DEFAULT_EPOCHS = 25


def add_parser(commands: Commands) -> None:
    """The `train` command and its options."""
    p = add_command(
        commands,
        "train",
        help="train a VAE and write its checkpoint and figures",
        description="Train a VAE on MNIST. A checkpoint is saved at the end of every epoch "
        "(OUT/checkpoint.npz); at the end the figures are written to OUT. With --resume, the "
        "run in OUT continues for --epochs more epochs, exactly as if it had not stopped. "
        "Options left out take the defaults shown, or, with --resume, the checkpoint's values.",
    )
    add_data_options(p, from_checkpoint=False)
    p.add_argument(
        "--download",
        action="store_true",
        help="with --data mnist: download the full files into the cache if absent",
    )
    model = p.add_argument_group("model")
    add_model_options(model)
    model.add_argument(
        "--conditional",
        action="store_true",
        default=None,
        help=f"a conditional VAE on the digit labels c: q(z|x,c) and p(x|z,c), c one-hot over "
        f"{N_DIGITS} classes (derivations.md §9.2); samples.png then has one row per digit",
    )
    fit = p.add_argument_group("training")
    d = TRAINING_DEFAULTS
    fit.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        default=DEFAULT_EPOCHS,
        help="epochs to train (with --resume: epochs to add)",
    )
    fit.add_argument(
        "--batch-size",
        type=positive_int,
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
        type=positive_float,
        metavar="RATE",
        default=None,
        help=f"learning rate (default: {d['lr']:g})",
    )
    fit.add_argument(
        "--kl-warmup-epochs",
        type=non_negative_int,
        metavar="N",
        default=None,
        help="raise the KL weight linearly from 0 to --beta over the first N epochs, "
        "N * ceil(training images / batch size) steps (derivations.md §9.4); 0: no warm-up "
        f"(default: {d['kl_warmup_epochs']})",
    )
    fit.add_argument(
        "--noise",
        type=non_negative_float,
        metavar="STD",
        default=None,
        help="add N(0, STD^2) noise to the intensities, fresh for every minibatch (the test "
        "set once, from --seed): continuous data for --objective fisher (derivations.md "
        "§12.3); 0: none (default: 0.1 for --objective fisher on unbinarized data, else 0)",
    )
    fit.add_argument(
        "--eval-log-likelihood",
        type=non_negative_int,
        metavar="K",
        default=0,
        help="after training, estimate the test log p(x) by importance sampling with K "
        "samples per image, e.g. 5000 (derivations.md §9.5), and print it with its standard "
        "error (default: 0, off)",
    )
    run_group = p.add_argument_group("output")
    run_group.add_argument(
        "--out",
        type=output_dir,
        metavar="DIR",
        default=DEFAULT_OUT,
        help="directory for the checkpoint, history and figures",
    )
    run_group.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in OUT/checkpoint.npz for --epochs more epochs",
    )
    run_group.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in OUT even though OUT holds one: the files the old run "
        "recorded writing (its checkpoint, history and figures) are removed once every check "
        "has passed, nothing else in OUT; without it, train writes a new run only into an "
        "empty folder. Not with --resume",
    )
    run_group.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none anyway when the output is not a terminal)",
    )
    p.set_defaults(run=run)


# =========================================================================== the steps


@dataclass
class Run:
    """A training run ready to go: its trainer, its options, its data, where it is written."""

    trainer: Trainer
    config: dict[str, Any]
    data: Data
    out: Path
    resumed: bool
    # The names of the files the run wrote into `out`, recorded in its history so that
    # --overwrite later removes exactly these.
    files: list[str] = field(default_factory=lambda: [CHECKPOINT_NAME, HISTORY_NAME])

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    @property
    def metadata(self) -> dict[str, Any]:
        """What the checkpoint and the history record of the run besides the model."""
        return {
            "config": {**self.config, "hidden": list(self.config["hidden"])},
            "source": self.data.source,
        }

    @property
    def record(self) -> dict[str, Any]:
        """What history.json records besides the losses: the metadata and the run's files."""
        return {**self.metadata, FILES_KEY: sorted(set(self.files))}


def run(args: argparse.Namespace) -> int:
    """`numpyvae train`: see its --help."""
    started = time.perf_counter()
    current = start_run(args)
    with claim_folder(current, overwrite=args.overwrite):
        first_epoch = current.trainer.epoch + 1
        print(describe(current, first_epoch, first_epoch + args.epochs - 1), flush=True)
        result = train_with_checkpoints(current, args)
    if isinstance(result, Stopped):
        return result.exit_code
    train_seconds, written, log_likelihood = result
    print_summary(current, args, train_seconds, time.perf_counter() - started)
    if log_likelihood:
        print(log_likelihood)
    print("wrote:")
    for path in [current.checkpoint_path, current.out / HISTORY_NAME, *written]:
        print(f"  {path}")
    return 0


def start_run(args: argparse.Namespace) -> Run:
    """A new run from the options, or, with --resume, the run saved in --out; its data loaded.
    Nothing is written yet."""
    out: Path = args.out
    if args.resume and args.overwrite:
        raise CommandError(
            "--resume and --overwrite contradict each other: --resume continues the run in "
            f"{out}, --overwrite replaces it with a new one; give one of them"
        )
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out must be a directory, but {str(out)!r} is a file")
    checkpoint_path = out / CHECKPOINT_NAME
    given = {k: getattr(args, k) for k in RUN_DEFAULTS if getattr(args, k) is not None}
    if "data_dir" in given:  # stored absolute, so the run's commands work from any folder
        given["data_dir"] = str(Path(given["data_dir"]).expanduser().resolve())
    if args.resume:
        checkpoint = read_run(checkpoint_path, "resume")
        config = resumed_config(checkpoint, checkpoint_path)
        check_resume_options(given, config, checkpoint_path)
        trainer = checkpoint.trainer
        if "data_dir" in given and config["data"] == "embedded":
            raise CommandError(
                f"--data-dir {given['data_dir']}: the run in {out} was trained on the embedded "
                "subset, which reads no directory, and a resumed run keeps its data: leave "
                "--data-dir out"
            )
        if "data_dir" in given:
            config["data_dir"] = given["data_dir"]
        if "lr" in given and given["lr"] != config["lr"]:
            change = {"epoch": trainer.epoch, "lr": [config["lr"], given["lr"]]}
            config["changes"] = [*config.get("changes", []), change]
            config["lr"] = trainer.optimizer.lr = given["lr"]
        data = load_data(config, download=args.download)
        trainer.transform = data.transform
        listed = (read_run_history(out / HISTORY_NAME) or {}).get(FILES_KEY)
        earlier = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
        files = [CHECKPOINT_NAME, HISTORY_NAME, *earlier]
        return Run(trainer, config, data, out, resumed=True, files=files)
    files_to_replace(out, args.overwrite)  # refused now, before the data is loaded
    config = {**RUN_DEFAULTS, **given}
    objective = model_config(config, data_dim=1).objective  # refuse a bad combination early
    if config["kl_warmup_epochs"] and not OBJECTIVES[objective].uses_kl_weight:
        raise CommandError(
            f"--kl-warmup-epochs {config['kl_warmup_epochs']} does not apply to --objective "
            f"{objective}, which has no KL weight; leave it out"
        )
    check_noise(config)
    config["binarize"] = resolve_binarize(config["binarize"], config["likelihood"])
    data = load_data(config, download=args.download)
    if config["data"] == "auto" and data.source.startswith("embedded"):
        print(
            "no full MNIST named (--data-dir, $NUMPYVAE_MNIST_DIR) or in the cache: training "
            "on the embedded 10,000-image subset (--data mnist --download fetches the full set)",
            flush=True,
        )
    config["data"] = data_name(data.source)
    return Run(new_trainer(config, data), config, data, out, resumed=False)


def new_trainer(config: dict[str, Any], data: Data) -> Trainer:
    """A new model, optimizer and trainer as the run's options say."""
    model = VAE(config=model_config(config, data.x_train.shape[1]))
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


def describe(current: Run, first_epoch: int, last_epoch: int) -> str:
    """The lines printed before the first epoch: the model, the data, the schedule."""
    trainer, config, data = current.trainer, current.config, current.data
    text = (
        f"{'resuming' if current.resumed else 'training'} {trainer.model!r}\n"
        f"  on {data.x_train.shape[0]} training and {data.x_test.shape[0]} test images "
        f"({data.source}; binarize {config['binarize']}), "
        f"epochs {first_epoch}..{last_epoch}, batch size {trainer.batch_size}, "
        f"{config['optimizer']} lr {config['lr']:g}, seed {config['seed']}"
    )
    if trainer.kl_warmup_steps:
        text += (
            f"\n  KL weight beta from 0 to {trainer.final_beta:g} over the first "
            f"{config['kl_warmup_epochs']} epoch(s) ({trainer.kl_warmup_steps} steps)"
        )
    return text


def train_with_checkpoints(
    current: Run, args: argparse.Namespace
) -> tuple[float, list[Path], str | None] | Stopped:
    """The epochs, each followed by a checkpoint, then the figures (and the log p(x)
    estimate). Returns (seconds of training, figures written, the estimate's report), or
    `Stopped` after Ctrl-C or SIGTERM, once the resume hint is printed. A divergence or a
    failed write (disk full, permission) ends in one error that says what is intact and how
    to continue."""
    trainer, data = current.trainer, current.data
    model = trainer.model
    last_epoch = trainer.epoch + args.epochs
    epoch_end = EpochEnd(current, last_epoch)
    try:
        with terminate_as_interrupt():
            train_started = time.perf_counter()
            trainer.fit(
                data.x_train,
                args.epochs,
                y_train=labels_for(model, data.y_train),
                x_test=data.x_test,
                y_test=labels_for(model, data.y_test),
                progress=not args.no_progress and sys.stderr.isatty(),
                on_epoch_end=epoch_end,
            )
            train_seconds = time.perf_counter() - train_started
            written = write_figures(current.out, model, trainer, data)
            current.files += [path.name for path in written]
            write_history(current.out / HISTORY_NAME, trainer, current.record)
            report = None
            if args.eval_log_likelihood:
                report = log_likelihood_report(
                    model, data.x_test, data.y_test, args.eval_log_likelihood
                )
    except KeyboardInterrupt as exc:
        signal_name = "SIGTERM" if isinstance(exc, Terminated) else None
        report_interrupt(current.out, epoch_end.saved_epoch, last_epoch, trainer.epoch, signal_name)
        return Stopped(143 if signal_name else 130)
    except DivergenceError as exc:
        lower = f"{trainer.optimizer.lr / 10:g}"
        raise DivergenceError(
            f"{exc}. {what_is_kept(current, epoch_end.saved_epoch, last_epoch, f' --lr {lower}')}"
        ) from exc
    except OSError as exc:
        raise RunWriteError(
            f"{exc}. {what_is_kept(current, epoch_end.saved_epoch, last_epoch)}"
        ) from exc
    return train_seconds, written, report


def print_summary(
    current: Run, args: argparse.Namespace, train_seconds: float, total_seconds: float
) -> None:
    """The time taken and the final train and test losses with their terms."""
    trainer, config = current.trainer, current.config
    model, h = trainer.model, trainer.history
    first_epoch = trainer.epoch - args.epochs + 1
    print(
        f"\ntrained epochs {first_epoch}..{trainer.epoch} in {train_seconds:.1f} s "
        f"({train_seconds / args.epochs:.2f} s per epoch); total {total_seconds:.1f} s"
    )
    first, rest = term_names(model)
    weighted = model.objective == "elbo" and (config["beta"] != 1 or trainer.kl_warmup_steps)
    print(
        f"final train loss {h.loss[-1]:.2f} = {first} {h.reconstruction[-1]:.2f} "
        f"+ {'beta * ' if weighted else ''}{rest} {h.kl[-1]:.2f} {units(model)}"
        + (f" (beta {model.beta:g} at the end)" if weighted else "")
    )
    print(
        f"final test loss  {h.test_loss[-1]:.2f} = {first} "
        f"{h.test_reconstruction[-1]:.2f} + {rest} {h.test_kl[-1]:.2f} {units(model)}"
        + (" (beta 1)" if weighted else "")
    )
