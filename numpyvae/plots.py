"""The figures of a trained VAE: losses, reconstructions, generated digits, embeddings, manifold.

Every function returns a `matplotlib.figure.Figure` built with the object API and never shows
it (no pyplot, so no GUI backend and no global figure list); `save_figure` writes a PNG.
Each kind of figure has a fixed size (FIGURE_SIZES, in inches) and DPI, so a saved PNG is
exactly size * DPI pixels: the layout engine ("constrained") fits titles, labels and colour
bars inside that box rather than growing it.

In a notebook, a returned figure displays itself as a PNG when it is a cell's last value,
whatever the backend: the figures are `DisplayFigure`s, which carry IPython's `_repr_png_`.
Without it, a pyplot-free Figure is shown as `<Figure size ...>` until something activates
the inline backend (importing pyplot does). Creating the figures through pyplot instead would
also display them, but would register every figure in pyplot's global list (the command line
draws six per run and never closes them) and open windows under an interactive backend.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure

from numpyvae.atomic import PathLike, atomic_write
from numpyvae.datasets.mnist import IMAGE_SHAPE
from numpyvae.history import HISTORY_KEYS, UNITS
from numpyvae.validation import check_positive_int

DPI = 100
FIGURE_SIZES = {  # inches; pixels = inches * DPI
    "losses": (12.0, 4.0),
    "reconstructions": (10.0, 2.6),
    "samples": (6.0, 6.4),
    "generation": (11.0, 6.0),
    "embeddings": (7.0, 6.0),
    "manifold": (8.0, 8.4),
    "latent_scatter": (7.0, 6.0),
}
INK = colormaps["gray_r"].with_extremes(bad="#b8c8dc")  # NaN (between tiles): pale blue


class DisplayFigure(Figure):
    """A Figure that IPython displays as a PNG of its fixed size, with or without pyplot."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


def _figure(kind: str) -> DisplayFigure:
    return DisplayFigure(figsize=FIGURE_SIZES[kind], dpi=DPI, layout="constrained")


def save_figure(fig: Figure, path: PathLike) -> Path:
    """Write `fig` as a PNG of FIGURE_SIZES * DPI pixels to `path`, atomically; return the path."""
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return path


# --------------------------------------------------------------------------- losses


def plot_losses(history: object) -> Figure:
    """The negative ELBO and its two terms per epoch, train and test, in three panels.

    `history` is a `numpyvae.history.History` or a mapping with the same keys (lists of
    floats), e.g. history.json. The train curve averages the minibatch losses over each
    epoch; the test curve evaluates the model at the end of the epoch (derivations.md §2.4).
    """
    series = _history_series(history)
    fig = _figure("losses")
    axes = fig.subplots(1, 3)
    panels = [
        ("loss", "negative ELBO (the loss)"),
        ("reconstruction", r"reconstruction $-\mathbb{E}_q[\log p(x\,|\,z)]$"),
        ("kl", r"$\mathrm{KL}(q(z\,|\,x)\;\|\;\mathcal{N}(0, I))$"),
    ]
    for ax, (key, title) in zip(axes, panels, strict=True):
        train, test = series[key], series[f"test_{key}"]
        ax.plot(np.arange(1, len(train) + 1), train, marker="o", ms=3, label="train")
        if len(test):
            ax.plot(np.arange(1, len(test) + 1), test, marker="s", ms=3, label="test")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(UNITS)
        ax.grid(alpha=0.3)
        ax.legend()
        if len(train) <= 12:
            ax.set_xticks(np.arange(1, max(len(train), 1) + 1))
    fig.suptitle("Training curves (lower is better)")
    return fig


def _history_series(history: object) -> dict[str, np.ndarray]:
    get = history.get if isinstance(history, Mapping) else lambda k: getattr(history, k, None)
    series = {}
    for key in HISTORY_KEYS:
        values = get(key)
        if values is None:
            if key.startswith("test_"):
                values = []
            else:
                raise TypeError(f"history must have a '{key}' series, got {type(history)}")
        series[key] = np.asarray(values, dtype=np.float64)
    return series


# --------------------------------------------------------------------------- images


def tile_images(
    images: np.ndarray, n_cols: int, image_shape: Sequence[int] = IMAGE_SHAPE, pad: int = 1
) -> np.ndarray:
    """Arrange images (N, h*w) row by row into one mosaic of ceil(N/n_cols) x n_cols tiles.

    Returns (rows*(h+pad)+pad, n_cols*(w+pad)+pad). Unused tiles are 0 (blank); the padding
    is NaN, which `_show_mosaic` paints in a colour no pixel has, so the tiles stay apart even when
    the images are mostly white (samples) or mostly black.
    """
    h, w = image_shape
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 2 or images.shape[1] != h * w:
        raise ValueError(
            f"images must have shape (N, {h * w}) for image_shape {tuple(image_shape)}, "
            f"got {images.shape}"
        )
    n = images.shape[0]
    n_cols = check_positive_int("n_cols", n_cols)
    n_rows = max(1, math.ceil(n / n_cols))
    mosaic = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad), np.nan)
    for i, image in enumerate(images.reshape(n, h, w)):
        r, c = divmod(i, n_cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        mosaic[top : top + h, left : left + w] = image
    for i in range(n, n_rows * n_cols):  # unused tiles of the last row: blank paper
        r, c = divmod(i, n_cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        mosaic[top : top + h, left : left + w] = 0.0
    return mosaic


def _show_mosaic(ax, mosaic: np.ndarray, title: str) -> None:
    # Intensities are probabilities (or Gaussian means): fix the scale to [0, 1] so that
    # panels are comparable; values outside (Gaussian samples) are clipped by the colour map.
    # gray_r draws ink dark on white, like the digits on paper.
    ax.imshow(mosaic, cmap=INK, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_reconstructions(
    x: np.ndarray,
    x_rec: np.ndarray,
    n: int = 10,
    image_shape: Sequence[int] = IMAGE_SHAPE,
    title: str = "Reconstructions",
) -> Figure:
    """The first n images of x (N, d) above their reconstructions x_rec (N, d), two panels."""
    n = check_positive_int("n", n)
    x, x_rec = np.asarray(x), np.asarray(x_rec)
    if x.shape != x_rec.shape:
        raise ValueError(f"x and x_rec must have the same shape, got {x.shape} and {x_rec.shape}")
    n = min(n, x.shape[0])
    fig = _figure("reconstructions")
    top, bottom = fig.subplots(2, 1)
    _show_mosaic(top, tile_images(x[:n], n, image_shape), "originals")
    _show_mosaic(bottom, tile_images(x_rec[:n], n, image_shape), "reconstructions")
    fig.suptitle(title)
    return fig


def plot_samples(
    images: np.ndarray,
    title: str = "Generated digits",
    image_shape: Sequence[int] = IMAGE_SHAPE,
    n_cols: int | None = None,
) -> Figure:
    """A grid of images (N, d), e.g. generated digits; square-ish unless n_cols is given."""
    images = np.asarray(images)
    if n_cols is None:
        n_cols = max(1, math.ceil(math.sqrt(images.shape[0])))
    fig = _figure("samples")
    ax = fig.subplots()
    _show_mosaic(ax, tile_images(images, n_cols, image_shape), title)
    return fig


def plot_generation(model, n: int = 64, image_shape: Sequence[int] = IMAGE_SHAPE) -> Figure:
    """New digits from z ~ N(0, I) by both methods, side by side (derivations.md §8.1).

    Left, method A: the decoder's mean E[x|z]. Right, method B: one draw x ~ p(x|z) for the
    SAME z, so each tile on the right is a sample of the tile at the same place on the left.
    Uses (and advances) the model's generator.
    """
    n = check_positive_int("n", n)
    z = model.rng.standard_normal((n, model.latent_dim), dtype=model.dtype)
    means = model.decode(z, "mean")
    samples = model.decode(z, "sample")
    n_cols = max(1, math.ceil(math.sqrt(n)))
    fig = _figure("generation")
    left, right = fig.subplots(1, 2)
    mean_title = r"method A: the decoder mean $\mathbb{E}[x\,|\,z]$"
    sample_title = r"method B: a sample $x \sim p(x\,|\,z)$"
    _show_mosaic(left, tile_images(means, n_cols, image_shape), mean_title)
    _show_mosaic(right, tile_images(samples, n_cols, image_shape), sample_title)
    fig.suptitle(
        rf"{n} digits generated from $z \sim \mathcal{{N}}(0, I)$ (the same z in both panels)"
    )
    return fig


# --------------------------------------------------------------------------- latent space


def pca(z: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project z (N, k) onto its first principal components, by the SVD of the centred data.

    Returns (projected (N, n_components), explained (n_components,)), where explained[i] is
    the fraction of the total variance along component i. With fewer points than components
    (N = 1, say) the missing components are 0: there is no variance left to project on.
    """
    z = np.asarray(z, dtype=np.float64)
    centred = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    variance = np.zeros(n_components)
    found = min(n_components, s.shape[0])
    variance[:found] = s[:found] ** 2
    total = float(np.sum(s**2))
    explained = variance / total if total > 0 else np.zeros(n_components)
    projected = np.zeros((z.shape[0], n_components))
    projected[:, :found] = centred @ vt[:found].T
    return projected, explained


def _labelled_scatter(fig: Figure, ax, points: np.ndarray, labels: np.ndarray | None) -> None:
    """Scatter (N, 2) points coloured by integer labels, with a discrete colour bar."""
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.6)
        return
    labels = np.asarray(labels)
    if labels.shape != (points.shape[0],):
        raise ValueError(f"labels must have shape ({points.shape[0]},), got {labels.shape}")
    classes = np.unique(labels)
    index = np.searchsorted(classes, labels)  # colour by position among the classes present
    cmap = "tab10" if len(classes) <= 10 else "tab20"
    norm = BoundaryNorm(np.arange(len(classes) + 1) - 0.5, len(classes))
    dots = ax.scatter(points[:, 0], points[:, 1], c=index, cmap=cmap, norm=norm, s=4, alpha=0.7)
    bar = fig.colorbar(dots, ax=ax, ticks=np.arange(len(classes)))
    bar.ax.set_yticklabels([str(c) for c in classes])
    bar.set_label("label (digit)")


def plot_embeddings(
    z: np.ndarray, labels: np.ndarray | None = None, title: str = "Embeddings"
) -> Figure:
    """A scatter of embeddings z (N, k) coloured by label (derivations.md §8.2).

    k = 2 is drawn as is; k > 2 is projected onto its first two principal components (PCA by
    SVD, in NumPy), as the title says; k = 1 is drawn against the label.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"z must have shape (N, k), got {z.shape}")
    k = z.shape[1]
    fig = _figure("embeddings")
    ax = fig.subplots()
    if k == 1:
        if labels is None:
            raise ValueError("a 1-D embedding is drawn against its labels; pass labels")
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, z.shape[0])
        _labelled_scatter(fig, ax, np.column_stack([z[:, 0], labels + jitter]), labels)
        ax.set_xlabel("z")
        ax.set_ylabel("label (jittered)")
        ax.set_title(f"{title} (k = 1)")
    elif k == 2:
        _labelled_scatter(fig, ax, z, labels)
        ax.set_xlabel(r"$z_1$")
        ax.set_ylabel(r"$z_2$")
        ax.set_title(f"{title} (k = 2)")
    else:
        projected, explained = pca(z, 2)
        _labelled_scatter(fig, ax, projected, labels)
        ax.set_xlabel(f"principal component 1 ({explained[0]:.0%} of variance)")
        ax.set_ylabel(f"principal component 2 ({explained[1]:.0%} of variance)")
        ax.set_title(f"{title}: k = {k} projected to 2-D by PCA")
    ax.grid(alpha=0.3)
    return fig


def probit(p: np.ndarray) -> np.ndarray:
    """The inverse of the standard normal CDF, Phi^{-1}(p), for p in (0, 1), elementwise.

    p any shape -> the same shape. `statistics.NormalDist().inv_cdf` (Wichura's algorithm
    AS241, accurate to about 1e-16 relative, deep into the tails) does the work.
    """
    p = np.asarray(p, dtype=np.float64)
    outside = ~((p > 0) & (p < 1))  # written so that NaN counts as outside
    if np.any(outside):
        raise ValueError(f"p must lie strictly between 0 and 1, got {p[outside].ravel()[0]}")
    inv_cdf = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])
    return inv_cdf(p) + 0.0  # + 0.0 turns a -0.0 at p = 1/2 into 0.0


def latent_grid(n: int = 20) -> np.ndarray:
    """The n values Phi^{-1}((i + 1/2) / n), i = 0..n-1: equal-probability slices of N(0, 1)."""
    n = check_positive_int("n", n)
    return probit((np.arange(n) + 0.5) / n)


def plot_latent_manifold(model, n: int = 20, image_shape: Sequence[int] = IMAGE_SHAPE) -> Figure:
    """Decoder means over an n x n grid of the 2-D latent plane (derivations.md §8.1).

    Needs latent_dim = 2. The grid is placed by the inverse normal CDF, so each tile covers
    the same prior probability, 1/n^2: the figure shows the whole prior, not a square of it.
    z1 grows to the right, z2 upwards. The mosaic is (n * h, n * w) for image_shape (h, w).
    """
    n = check_positive_int("n", n)
    if model.latent_dim != 2:
        raise ValueError(f"the latent manifold needs latent_dim = 2, got {model.latent_dim}")
    h, w = image_shape
    values = latent_grid(n)
    z1, z2 = np.meshgrid(values, values[::-1])  # row 0 is the top: the largest z2
    z = np.column_stack([z1.ravel(), z2.ravel()]).astype(model.dtype)
    mosaic = tile_images(model.decode(z, "mean"), n, image_shape, pad=0)
    fig = _figure("manifold")
    ax = fig.subplots()
    ax.imshow(mosaic, cmap=INK, vmin=0.0, vmax=1.0, interpolation="nearest")
    ticks = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
    ax.set_xticks(ticks * w + (w - 1) / 2, [f"{values[i]:.2f}" for i in ticks])
    ax.set_yticks(ticks * h + (h - 1) / 2, [f"{values[::-1][i]:.2f}" for i in ticks])
    ax.set_xlabel(r"$z_1$ (quantiles of $\mathcal{N}(0, 1)$)")
    ax.set_ylabel(r"$z_2$ (quantiles of $\mathcal{N}(0, 1)$)")
    ax.set_title(
        rf"Decoder means $\mathbb{{E}}[x\,|\,z]$ on a {n} $\times$ {n} grid"
        "\n"
        rf"$z_i = \Phi^{{-1}}(p)$, $p = 1/{2 * n}, 3/{2 * n}, \ldots$ (equal prior mass per tile)"
    )
    return fig


def plot_latent_scatter(
    z: np.ndarray, labels: np.ndarray | None = None, n: int = 20, title: str = "Posterior means"
) -> Figure:
    """Embeddings z (N, 2) coloured by label, over the grid of `plot_latent_manifold(n=n)`.

    The dashed lines mark the outermost rows and columns of that grid, so a region of this
    scatter can be read against the decoded digits at the same place in the manifold figure.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z must have shape (N, 2), got {z.shape}")
    fig = _figure("latent_scatter")
    ax = fig.subplots()
    values = latent_grid(n)
    for v in (values[0], values[-1]):
        ax.axvline(v, color="0.5", lw=0.8, ls="--")
        ax.axhline(v, color="0.5", lw=0.8, ls="--")
    _labelled_scatter(fig, ax, z, labels)
    ax.set_xlabel(r"$z_1$")
    ax.set_ylabel(r"$z_2$")
    ax.set_title(f"{title}\n(dashed: the outer rows and columns of the manifold's grid)")
    ax.grid(alpha=0.3)
    return fig
