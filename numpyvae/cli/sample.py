"""`numpyvae sample`: a PNG grid of generated digits (derivations.md §8.1)."""

from __future__ import annotations

import argparse
import math

from numpyvae.cli.data import N_DIGITS
from numpyvae.cli.figures import generation_name, image_shape, plot_digit_rows
from numpyvae.cli.options import (
    PROG,
    CommandError,
    Commands,
    add_checkpoint_option,
    add_command,
    add_method_option,
    add_out_file_option,
    add_seed_option,
    non_negative_int,
    positive_int,
)
from numpyvae.cli.runs import load_for_inference, output_path

# The grid's widest row: the samples figure is 600 x 640 pixels, so 20 digits of 28 pixels
# fill a row at their own size; more would shrink each digit below its own pixels, and the
# memory drawn grows with --n, not with the figure (100,000 digits took 7 GB).
MAX_COLUMNS = 20


def add_parser(commands: Commands) -> None:
    """The `sample` command and its options."""
    p = add_command(
        commands,
        "sample",
        help="write a PNG grid of generated digits",
        description="Generate digits from z ~ N(0, I) with a trained model and write a PNG grid.",
    )
    add_checkpoint_option(p)
    add_method_option(
        p,
        "'mean': the decoder's mean E[x|z] (method A); 'sample': a draw x ~ p(x|z) (method B)",
    )
    p.add_argument(
        "--n",
        type=positive_int,
        default=64,
        help=f"how many digits, at most {MAX_COLUMNS**2} (a {MAX_COLUMNS} x {MAX_COLUMNS} "
        "grid, in which each digit keeps about its 28 x 28 pixels); a conditional model "
        f"without --label draws one row per digit, N/10 (rounded up) in each, at most "
        f"{MAX_COLUMNS}",
    )
    p.add_argument(
        "--label",
        type=non_negative_int,
        metavar="C",
        default=None,
        help="for a conditional model (train --conditional): draw only digit C, 0..9 "
        "(default: one row per digit)",
    )
    add_seed_option(p)
    add_out_file_option(
        p,
        "PNG to write (default: samples_METHOD.png, or samples_digitC_METHOD.png with "
        "--label, next to the checkpoint)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`numpyvae sample`: see its --help."""
    from numpyvae import plots

    label = args.label
    stem = "samples" if label is None else f"samples_digit{label}"
    out = output_path(args, stem, (".png",))
    checkpoint = load_for_inference(args)
    model = checkpoint.model
    check_grid_size(args.n, rows_of_digits=model.n_classes is not None and label is None)
    if label is not None and model.n_classes is None:
        raise CommandError(
            f"--label {label} needs a conditional model (`{PROG} train --conditional`), but "
            f"{args.checkpoint} is not conditional; leave --label out"
        )
    if label is not None and label >= model.n_classes:
        raise CommandError(
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
            f"{args.n} generated {which}: {generation_name(model, args.method)}",
            image_shape=image_shape(model),
        )
    print(plots.save_figure(fig, out))
    return 0


def check_grid_size(n: int, rows_of_digits: bool) -> None:
    """Refuse a grid wider than MAX_COLUMNS digits, with the largest --n that fits."""
    columns = -(-n // N_DIGITS) if rows_of_digits else math.ceil(math.sqrt(n))
    if columns <= MAX_COLUMNS:
        return
    most = MAX_COLUMNS * N_DIGITS if rows_of_digits else MAX_COLUMNS**2
    layout = "one row per digit" if rows_of_digits else "a square grid"
    raise CommandError(
        f"--n {n} needs {columns} digits a row in {layout}; at most {MAX_COLUMNS} fit the "
        f"600 x 640-pixel figure at their own 28 x 28 pixels: use --n {most} or fewer (run "
        "sample again with another --seed for more)"
    )
