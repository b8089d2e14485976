"""`numpyvae evaluate`: the test set's bound and its terms, the latent diagnostics (§13.4);
optionally log p(x) (§9.5)."""

from __future__ import annotations

import argparse

from numpyvae.cli.data import labels_for
from numpyvae.cli.options import (
    Commands,
    add_checkpoint_option,
    add_command,
    add_data_options,
    add_seed_option,
    non_negative_int,
    positive_int,
)
from numpyvae.cli.runs import (
    bound_name,
    load_for_inference,
    log_likelihood_report,
    term_names,
    test_data,
    units,
)
from numpyvae.diagnostics import diagnose


def add_parser(commands: Commands) -> None:
    """The `evaluate` command and its options."""
    p = add_command(
        commands,
        "evaluate",
        help="print the test negative ELBO, its two terms and the latent diagnostics",
        description="Print the negative ELBO of the test set (nats per image, lower is better) "
        "and its two terms, reconstruction and KL (for a model trained with --objective iwae: "
        "the negative bound -L_K); the latent diagnostics of the test set: active units, "
        "I(x; z) under the aggregate posterior, and the KL of each latent dimension "
        "(derivations.md §13.4); with --log-likelihood, also an estimate of log p(x).",
    )
    add_checkpoint_option(p)
    p.add_argument(
        "--samples",
        type=positive_int,
        metavar="M",
        default=None,
        help="samples of z per image in the estimate (default: the model's, as in training)",
    )
    p.add_argument(
        "--log-likelihood",
        type=non_negative_int,
        metavar="K",
        default=0,
        help="also estimate the test log p(x) by importance sampling with K samples per image, "
        "e.g. 5000 (derivations.md §9.5), with its standard error over the images; --limit "
        "takes fewer images (default: 0, off)",
    )
    add_seed_option(p)
    add_data_options(p, from_checkpoint=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`numpyvae evaluate`: see its --help."""
    checkpoint = load_for_inference(args)
    model = checkpoint.model
    data = test_data(args, checkpoint)
    if args.samples is not None:
        model.n_samples = args.samples
    labels = labels_for(model, data.y_test)
    parts = model.evaluate(data.x_test, c=labels)
    first, rest = term_names(model)
    print(
        f"test {bound_name(model)} {parts.loss:.2f} = {first} {parts.reconstruction:.2f} "
        f"+ {rest} {parts.kl:.2f} {units(model)}\n"
        f"  ({data.x_test.shape[0]} test images of {data.source}, M = {model.n_samples} "
        f"sample(s) of z each; checkpoint {args.checkpoint}, epoch {checkpoint.trainer.epoch})"
    )
    summary = diagnose(model, data.x_test, labels).summary()
    print("latent diagnostics of the test images:\n  " + summary.replace("\n", "\n  "))
    if args.log_likelihood:
        print(log_likelihood_report(model, data.x_test, data.y_test, args.log_likelihood))
    return 0
