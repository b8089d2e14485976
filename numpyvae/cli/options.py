"""What the commands share: the parser, the option types, the options several commands take,
and the model options, which are derived from `numpyvae.config.VAEConfig`."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from numpyvae.config import options as model_options
from numpyvae.datasets import BINARIZE_METHODS
from numpyvae.validation import InputError

PROG = "numpyvae"
DEFAULT_OUT = Path("runs") / "latest"
CHECKPOINT_NAME = "checkpoint.npz"
HISTORY_NAME = "history.json"
DATA_CHOICES = ("auto", "embedded", "mnist")
METHOD_CHOICES = ("mean", "sample")


class CommandError(InputError):
    """A mistake in what the user asked for, found by a command: printed as one line."""


# =========================================================================== option types


def option_type(parse: Callable[[str], Any], accept: Callable[[Any], bool], wanted: str) -> Any:
    """An argparse type: `parse` the text, keep it if `accept`, else say what is `wanted`."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
        return value

    return convert


def whole_number(text: str) -> int:
    """An integer written as one: "1.5", "1e3" and "0x10" are refused."""
    value = int(text)
    if str(value) != text.strip().lstrip("+"):
        raise ValueError(text)
    return value


positive_int = option_type(whole_number, lambda v: v >= 1, "a positive integer (1, 2, ...)")
non_negative_int = option_type(int, lambda v: v >= 0, "an integer >= 0")
non_negative_float = option_type(
    float, lambda v: np.isfinite(v) and v >= 0, "a finite number >= 0 (e.g. 0.5)"
)
positive_float = option_type(
    float, lambda v: np.isfinite(v) and v > 0, "a finite number > 0 (e.g. 1e-3)"
)


def output_dir(text: str) -> Path:
    """A directory path; an empty one is refused (it would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"must be a directory path such as runs/latest, got {text!r}"
        )
    return Path(text)


def output_file(text: str) -> Path:
    """A file path; an empty one is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a file path, got {text!r}")
    return Path(text)


def layer_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated positive layer sizes, e.g. "400" or "512,256"."""
    try:
        sizes = tuple(int(p) for p in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive layer sizes such as 400 or 512,256, got {text!r}"
        )
    return sizes


# =========================================================================== the parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage block above them."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already states its default
    or there is none to state (None, or False for a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        default = action.default
        if "default" in help_text or default in (None, False, argparse.SUPPRESS):
            return help_text
        return help_text + " (default: %(default)s)"


# What ArgumentParser.add_subparsers returns, to which each command module adds its parser.
Commands = Any


def add_command(
    commands: Commands, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """A sub-parser for one command, with the package's help format."""
    return commands.add_parser(
        name, help=help, description=description, formatter_class=HelpFormatter
    )


# =========================================================================== model options


def model_flag(name: str) -> str:
    """The command-line flag of a VAEConfig field, e.g. n_samples -> --samples."""
    field = model_options()[name]
    return "--" + field.metadata.get("flag", name).replace("_", "-")


def model_dest(name: str) -> str:
    """The argparse destination (and run-record key) of a VAEConfig field."""
    return model_flag(name)[2:].replace("-", "_")


def _checked_by(field: dataclasses.Field, parse: Any) -> Any:
    """An argparse type: `parse` the text, then the field's own check from VAEConfig."""

    def convert(text: str) -> Any:
        value = parse(text)
        check = field.metadata["check"]
        if check is None:
            return value
        try:
            return check(field.name, value)
        except InputError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (got {text!r})") from exc

    convert.__name__ = field.name  # argparse names the type in its messages
    return convert


def _parser_of(field: dataclasses.Field) -> Any:
    """How the text of an option becomes the field's value, by the field's default."""
    if field.name == "hidden":
        return layer_sizes
    if isinstance(field.default, bool) or isinstance(field.default, str):
        return str
    if isinstance(field.default, int):
        return positive_int if field.name != "seed" else non_negative_int
    return non_negative_float


def _shown(default: Any) -> str:
    """A default as the user would type it: 400,200 for a tuple, 1 for 1.0."""
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return f"{default:g}" if isinstance(default, float) else str(default)


def add_model_options(group: Any) -> list[str]:
    """One option per command-line field of VAEConfig (flag, type, choices, help and default
    from the field); returns their destinations. Every option's default is None, so that a
    resumed run can tell the options given from those left out."""
    dests = []
    for name, field in model_options().items():
        if not field.metadata.get("cli", True):
            continue
        shown = _shown(field.default)
        kwargs: dict[str, Any] = {"help": f"{field.metadata['help']} (default: {shown})"}
        if "choices" in field.metadata:
            kwargs["choices"] = field.metadata["choices"]
        else:
            kwargs["type"] = _checked_by(field, _parser_of(field))
            kwargs["metavar"] = field.metadata.get("metavar", model_dest(name).upper())
        group.add_argument(model_flag(name), dest=model_dest(name), default=None, **kwargs)
        dests.append(model_dest(name))
    return dests


# The fields the command line sets through another option, with the words it uses for them.
SET_BY_ANOTHER_OPTION = {"n_classes": "--conditional"}


def in_option_words(message: str) -> str:
    """A configuration message in the command line's words: field=value becomes --flag value
    (e.g. kl_estimator='sampled' -> --kl-estimator sampled; n_classes=10 -> --conditional)."""
    for name, words in SET_BY_ANOTHER_OPTION.items():
        message = re.sub(rf"\b{name}=[^\s,;)]*", words, message)
        message = re.sub(rf"\b{name}\b", words, message)
    for name in model_options():
        if name in SET_BY_ANOTHER_OPTION:
            continue
        pattern = rf"\b{name}=('?)([^'\s,;)]*)\1"
        message = re.sub(pattern, lambda m, n=name: f"{model_flag(n)} {m.group(2)}", message)
    return message


# =========================================================================== shared options


def add_data_options(p: argparse.ArgumentParser, from_checkpoint: bool) -> None:
    """--data, --data-dir, --limit and --binarize; for the commands that read a checkpoint
    the defaults are the training run's."""
    same = " (default: as in training, from the checkpoint)" if from_checkpoint else ""
    p.add_argument(
        "--data",
        choices=DATA_CHOICES,
        default=None,
        help="which MNIST: 'embedded' is the 10,000/2,000-image subset shipped with numpyvae; "
        "'mnist' the full 60,000/10,000 files (from --data-dir, $NUMPYVAE_MNIST_DIR or the "
        "cache); 'auto' the full files if found locally, else the subset"
        + (same or " (default: auto)"),
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="directory holding the MNIST .gz files" + (same or " (default: none)"),
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        default=None,
        help="use only the first N training images and the first N test images, for quick "
        "tries and tests" + (same or " (default: all)"),
    )
    p.add_argument(
        "--binarize",
        choices=BINARIZE_METHODS,
        default=None,
        help="turn intensities into 0/1 pixels: 'dynamic' draws fresh pixels ~ Bernoulli("
        "intensity) for every minibatch (the test set once, from --seed); 'threshold' cuts at "
        "0.5; 'none' keeps intensities"
        + (same or " (default: dynamic for --likelihood bernoulli, none for the Gaussians)"),
    )


def add_checkpoint_option(p: argparse.ArgumentParser) -> None:
    """--checkpoint PATH, the run a command reads."""
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        default=DEFAULT_OUT / CHECKPOINT_NAME,
        help="checkpoint written by `numpyvae train`, or the run directory that holds it",
    )


def add_method_option(p: argparse.ArgumentParser, help: str) -> None:
    """--method mean|sample: the lectures' methods A and B."""
    p.add_argument("--method", choices=METHOD_CHOICES, default="mean", help=help)


def add_out_file_option(p: argparse.ArgumentParser, help: str) -> None:
    """--out FILE, the file a command writes, and --overwrite, which lets it replace one."""
    p.add_argument("--out", type=output_file, metavar="FILE", default=None, help=help)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the output file if it exists (never a run's checkpoint or history); "
        "without it, an existing file is left as it is and the command stops",
    )


def add_seed_option(p: argparse.ArgumentParser) -> None:
    """--seed S of an inference command's random draws."""
    p.add_argument(
        "--seed",
        type=non_negative_int,
        metavar="S",
        default=None,
        help="seed of the random draws (default: continue the checkpoint's generator)",
    )
