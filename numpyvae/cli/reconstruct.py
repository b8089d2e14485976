"""`numpyvae reconstruct`: test images above their reconstructions, as a PNG."""

from __future__ import annotations

import argparse

from numpyvae.cli.data import labels_for
from numpyvae.cli.figures import image_shape
from numpyvae.cli.options import (
    CommandError,
    Commands,
    add_checkpoint_option,
    add_command,
    add_data_options,
    add_method_option,
    add_out_file_option,
    add_seed_option,
    positive_int,
)
from numpyvae.cli.runs import load_for_inference, output_path, test_data


def add_parser(commands: Commands) -> None:
    """The `reconstruct` command and its options."""
    p = add_command(
        commands,
        "reconstruct",
        help="write a PNG of test images above their reconstructions",
        description="Reconstruct the first N test images (decoder mean at their embedding) "
        "and write them below the originals as a PNG.",
    )
    add_checkpoint_option(p)
    add_method_option(
        p,
        "embedding to decode: 'mean' the posterior mean, 'sample' a draw from q(z|x)",
    )
    p.add_argument("--n", type=positive_int, default=10, help="how many test images")
    add_seed_option(p)
    add_data_options(p, from_checkpoint=True)
    add_out_file_option(
        p,
        "PNG to write (default: reconstructions_METHOD.png next to the checkpoint)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`numpyvae reconstruct`: see its --help."""
    from numpyvae import plots

    out = output_path(args, "reconstructions", (".png",))
    checkpoint = load_for_inference(args)
    model = checkpoint.model
    data = test_data(args, checkpoint)
    available = data.x_test.shape[0]
    if args.n > available:
        raise CommandError(
            f"--n {args.n} asks for more test images than there are ({available} in "
            f"{data.source}); use --n {available} or fewer"
        )
    x, c = data.x_test[: args.n], labels_for(model, data.y_test[: args.n])
    fig = plots.plot_reconstructions(
        x,
        model.reconstruct(x, args.method, c=c),
        n=args.n,
        image_shape=image_shape(model),
        title=f"Test images and their reconstructions (decoder mean at the posterior "
        f"{args.method})",
    )
    print(plots.save_figure(fig, out))
    return 0
