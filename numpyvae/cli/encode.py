"""`numpyvae encode`: the test set's embeddings (derivations.md §8.2) to .npz or .npy."""

from __future__ import annotations

import argparse

import numpy as np

from numpyvae.atomic import atomic_write
from numpyvae.cli.data import labels_for
from numpyvae.cli.options import (
    Commands,
    add_checkpoint_option,
    add_command,
    add_data_options,
    add_method_option,
    add_out_file_option,
    add_seed_option,
)
from numpyvae.cli.runs import load_for_inference, output_path, test_data


def add_parser(commands: Commands) -> None:
    """The `encode` command and its options."""
    p = add_command(
        commands,
        "encode",
        help="write the test set's embeddings to .npz or .npy",
        description="Embed the test set with a trained model's encoder. A .npz file gets the "
        "arrays z (N, k) and labels (N,); a .npy file gets z only.",
    )
    add_checkpoint_option(p)
    add_method_option(
        p,
        "'mean': the posterior mean (method A); 'sample': a draw z ~ q(z|x) (method B)",
    )
    add_seed_option(p)
    add_data_options(p, from_checkpoint=True)
    add_out_file_option(
        p,
        "file to write, .npz or .npy (default: embeddings_METHOD.npz next to the checkpoint)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`numpyvae encode`: see its --help."""
    out = output_path(args, "embeddings", (".npz", ".npy"))
    checkpoint = load_for_inference(args)
    data = test_data(args, checkpoint)
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
