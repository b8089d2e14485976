"""The figures the commands draw from a model: what `train` writes, and the digit rows of a
conditional model that `sample` also draws."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numpyvae.cli.data import N_DIGITS, Data, labels_for
from numpyvae.datasets import IMAGE_SHAPE
from numpyvae.train import Trainer
from numpyvae.vae import VAE

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# Every figure `train` may write into a run folder (which ones depends on the model).
FIGURE_NAMES = (
    "losses.png",
    "reconstructions.png",
    "samples.png",
    "embeddings.png",
    "manifold.png",
    "latent_scatter.png",
)


def image_shape(model: VAE) -> tuple[int, int]:
    """How to show one data point: 28 x 28 for MNIST, else a strip of d pixels."""
    if model.data_dim == IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        return IMAGE_SHAPE
    return (1, model.data_dim)


def generation_name(model: VAE, method: str) -> str:
    """What a generated image is, by method A ("mean") or B ("sample") (derivations.md §8.1)."""
    given = "z" if model.n_classes is None else "z,c"
    return f"decoder mean E[x|{given}]" if method == "mean" else f"samples x ~ p(x|{given})"


def plot_digit_rows(model: VAE, per_row: int, method: str) -> Figure:
    """A conditional model's digits: row c holds `per_row` draws of digit c (derivations.md
    §9.2), each decoded from its own z ~ N(0, I) by `method` (§8.1)."""
    from numpyvae import plots

    rows = [model.generate(per_row, method, c=c) for c in range(model.n_classes)]
    return plots.plot_samples(
        np.concatenate(rows),
        f"{generation_name(model, method)}, one row per digit c = 0..{model.n_classes - 1}",
        image_shape=image_shape(model),
        n_cols=per_row,
    )


def figures_of_run(model: VAE, trainer: Trainer, data: Data) -> dict[str, Figure]:
    """The figures of a trained model by file name.

    For a conditional model, samples.png has one row per digit and the manifold (which would
    need a digit to decode with) is left out; the latent plots need k = 2.
    """
    from numpyvae import plots

    shape = image_shape(model)
    x, c = data.x_test, labels_for(model, data.y_test)
    z = model.encode(x, "mean", c=c)
    if model.n_classes is None:
        samples = plots.plot_generation(model, 64, image_shape=shape)
    else:
        samples = plot_digit_rows(model, N_DIGITS, "mean")
    n = min(10, x.shape[0])
    figures = {
        "losses.png": plots.plot_losses(trainer.history),
        "reconstructions.png": plots.plot_reconstructions(
            x[:n],
            model.reconstruct(x[:n], "mean", c=None if c is None else c[:n]),
            n=n,
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
    return figures


def write_figures(out: Path, model: VAE, trainer: Trainer, data: Data) -> list[Path]:
    """The figures of a trained model, written into `out`; returns their paths."""
    from numpyvae import plots

    figures = figures_of_run(model, trainer, data)
    return [plots.save_figure(fig, out / name) for name, fig in figures.items()]
