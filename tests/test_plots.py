"""Figures: each returns a Figure with the expected panels and labels; PNGs have a fixed size."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from numpyvae import plots
from numpyvae.train import History
from numpyvae.vae import VAE


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the 8-byte signature."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def expected_pixels(kind: str) -> tuple[int, int]:
    width, height = plots.FIGURE_SIZES[kind]
    return round(width * plots.DPI), round(height * plots.DPI)


@pytest.fixture(scope="module")
def model() -> VAE:
    return VAE(784, 2, (8,), seed=0)


@pytest.fixture(scope="module")
def history() -> History:
    return History(
        loss=[200.0, 150.0, 120.0],
        reconstruction=[190.0, 135.0, 100.0],
        kl=[10.0, 15.0, 20.0],
        test_loss=[180.0, 140.0, 118.0],
        test_reconstruction=[172.0, 126.0, 99.0],
        test_kl=[8.0, 14.0, 19.0],
    )


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 784))


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize("as_dict", [False, True])
def test_plot_losses_has_three_labelled_panels_with_train_and_test(history, as_dict):
    source = {k: list(v) for k, v in history.as_arrays().items()} if as_dict else history
    fig = plots.plot_losses(source)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "negative ELBO" in fig.axes[0].get_title()
    assert "reconstruction" in fig.axes[1].get_title()
    assert "KL" in fig.axes[2].get_title()
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "nats per image"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    train_line = fig.axes[2].get_lines()[0]
    assert np.array_equal(train_line.get_xdata(), [1, 2, 3])
    assert np.array_equal(train_line.get_ydata(), history.kl)


def test_plot_losses_without_test_curves(history):
    fig = plots.plot_losses({"loss": [3.0, 2.0], "reconstruction": [2.0, 1.0], "kl": [1.0, 1.0]})
    assert all(len(ax.get_lines()) == 1 for ax in fig.axes)


def test_plot_losses_rejects_what_is_not_a_history():
    with pytest.raises(TypeError, match="'loss'"):
        plots.plot_losses({"kl": [1.0]})


# --------------------------------------------------------------------------- images


def test_tile_images_places_each_image_row_by_row():
    tiles = np.arange(3 * 6, dtype=float).reshape(3, 6)  # three 2x3 images
    mosaic = plots.tile_images(tiles, n_cols=2, image_shape=(2, 3), pad=1)
    assert mosaic.shape == (2 * 3 + 1, 2 * 4 + 1)
    assert np.array_equal(mosaic[1:3, 1:4], tiles[0].reshape(2, 3))
    assert np.array_equal(mosaic[1:3, 5:8], tiles[1].reshape(2, 3))
    assert np.array_equal(mosaic[4:6, 1:4], tiles[2].reshape(2, 3))
    assert np.all(mosaic[4:6, 5:8] == 0.0)  # the unused tile is blank
    assert np.all(np.isnan(mosaic[0])) and np.all(np.isnan(mosaic[:, 4]))  # the padding


def test_tile_images_checks_the_image_shape():
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        plots.tile_images(np.zeros((2, 100)), 2)


def test_plot_reconstructions_puts_originals_above_reconstructions():
    x, x_rec = images(12), images(12, seed=1)
    fig = plots.plot_reconstructions(x, x_rec, n=10)
    assert len(fig.axes) == 2
    assert titles(fig) == ["originals", "reconstructions"]
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert shown[0].shape == (28 + 2, 10 * 29 + 1)  # one row of 10 tiles, padded
    assert np.array_equal(shown[0][1:29, 1:29], x[0].reshape(28, 28))
    assert np.array_equal(shown[1][1:29, 1:29], x_rec[0].reshape(28, 28))


def test_plot_reconstructions_needs_matching_shapes():
    with pytest.raises(ValueError, match="same shape"):
        plots.plot_reconstructions(images(3), images(4))


def test_plot_samples_is_a_square_grid_with_a_title():
    fig = plots.plot_samples(images(16), "sixteen digits")
    assert len(fig.axes) == 1 and titles(fig) == ["sixteen digits"]
    assert fig.axes[0].get_images()[0].get_array().shape == (4 * 29 + 1, 4 * 29 + 1)


def test_plot_generation_shows_method_a_and_b_side_by_side(model):
    fig = plots.plot_generation(model, 9)
    assert len(fig.axes) == 2
    left, right = titles(fig)
    assert left.startswith("method A") and "mean" in left
    assert right.startswith("method B") and "sample" in right
    means = fig.axes[0].get_images()[0].get_array()
    samples = fig.axes[1].get_images()[0].get_array()
    assert means.shape == samples.shape == (3 * 29 + 1, 3 * 29 + 1)
    tile = (slice(1, 29), slice(1, 29))
    assert set(np.unique(samples[tile])) <= {0.0, 1.0}  # Bernoulli draws
    assert 0.0 < means[tile].min() and means[tile].max() < 1.0  # probabilities


# --------------------------------------------------------------------------- latent space


def test_pca_finds_the_direction_of_largest_variance():
    rng = np.random.default_rng(0)
    t = rng.standard_normal(500)
    direction = np.array([3.0, 4.0, 0.0]) / 5.0
    z = np.outer(t, direction) * 10 + rng.standard_normal((500, 3)) * 0.01 + 7.0
    projected, explained = plots.pca(z, 2)
    assert projected.shape == (500, 2)
    assert explained[0] > 0.999 and explained.sum() <= 1.0
    # The first coordinate is t * 10 up to sign and the removed mean.
    first = projected[:, 0] * np.sign(projected[0, 0] * t[0])
    assert np.allclose(first, 10 * (t - t.mean()), atol=0.05)
    assert abs(np.corrcoef(projected.T)[0, 1]) < 1e-6  # uncorrelated components


@pytest.mark.parametrize("k", [1, 2, 5])
def test_plot_embeddings_scatter_with_a_colour_bar(k):
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((300, k)), np.arange(300) % 10
    fig = plots.plot_embeddings(z, labels, title="Posterior means")
    assert len(fig.axes) == 2  # the scatter and its colour bar
    ax, bar = fig.axes
    assert ax.get_title().startswith("Posterior means")
    assert ax.get_xlabel() and ax.get_ylabel() and bar.get_ylabel() == "label (digit)"
    assert [t.get_text() for t in bar.get_yticklabels()] == [str(i) for i in range(10)]
    if k > 2:
        assert "PCA" in ax.get_title() and f"k = {k}" in ax.get_title()
        assert "variance" in ax.get_xlabel()
    else:
        assert "PCA" not in ax.get_title()
    points = ax.collections[0].get_offsets()
    assert points.shape == (300, 2)
    if k == 2:
        assert np.allclose(points, z)


def test_plot_embeddings_without_labels_has_no_colour_bar():
    fig = plots.plot_embeddings(np.random.default_rng(0).standard_normal((50, 2)))
    assert len(fig.axes) == 1


def test_probit_inverts_the_normal_cdf():
    p = np.array([1e-300, 1e-12, 0.001, 0.025, 0.3, 0.5, 0.7, 0.975, 0.999])
    x = plots.probit(p)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    assert np.allclose(cdf / p, 1.0, rtol=1e-12, atol=0)
    assert x[5] == 0.0
    assert np.isclose(x[7], 1.959963984540054, rtol=1e-14, atol=0)  # the familiar 1.96
    assert np.all(np.diff(x) > 0)
    # Symmetric up to the rounding of 1 - p itself (1 - 0.7 is not exactly 0.3).
    assert np.allclose(plots.probit(1 - p[2:6]), -x[2:6], rtol=1e-14, atol=0)
    assert not np.signbit(x[5])  # +0.0, not -0.0


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.5, np.nan])
def test_probit_refuses_values_outside_the_open_unit_interval(bad):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        plots.probit(np.array([0.5, bad]))


def test_latent_grid_is_equal_probability_slices():
    grid = plots.latent_grid(20)
    assert grid.shape == (20,) and np.all(np.diff(grid) > 0)
    assert np.allclose(grid, -grid[::-1], atol=1e-15)
    assert np.isclose(grid[-1], 1.959963984540054)  # Phi^-1(39/40) = Phi^-1(0.975)


def test_plot_latent_manifold_decodes_the_grid(model):
    fig = plots.plot_latent_manifold(model, n=5)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert "grid" in ax.get_title() and "z_1" in ax.get_xlabel() and "z_2" in ax.get_ylabel()
    mosaic = ax.get_images()[0].get_array()
    assert mosaic.shape == (5 * 28, 5 * 28)
    grid = plots.latent_grid(5)
    # Top-left tile: the smallest z1 and the largest z2.
    top_left = model.decode(np.array([[grid[0], grid[-1]]]), "mean").reshape(28, 28)
    assert np.allclose(mosaic[:28, :28], top_left)


def test_plot_latent_manifold_needs_two_latent_dimensions():
    with pytest.raises(ValueError, match="latent_dim = 2"):
        plots.plot_latent_manifold(VAE(784, 3, (8,)))


def test_plot_latent_scatter_marks_the_grid(model):
    z, labels = np.random.default_rng(0).standard_normal((100, 2)), np.arange(100) % 10
    fig = plots.plot_latent_scatter(z, labels, n=20)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert "Posterior means" in ax.get_title() and "dashed" in ax.get_title()
    dashed = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert np.isclose(max(dashed), plots.latent_grid(20)[-1])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.plot_latent_scatter(np.zeros((5, 3)))


# --------------------------------------------------------------------------- saving


def test_save_figure_writes_a_png_of_the_fixed_size_atomically(tmp_path, history):
    path = plots.save_figure(plots.plot_losses(history), tmp_path / "losses.png")
    assert png_size(path) == expected_pixels("losses") == (1200, 400)
    assert [p.name for p in tmp_path.iterdir()] == ["losses.png"]


def test_every_kind_of_figure_has_its_fixed_pixel_size(tmp_path, model, history):
    z, labels = np.random.default_rng(0).standard_normal((60, 2)), np.arange(60) % 10
    figures = {
        "losses": plots.plot_losses(history),
        "reconstructions": plots.plot_reconstructions(images(10), images(10, 1)),
        "samples": plots.plot_samples(images(20), "a long title " * 4),
        "generation": plots.plot_generation(model, 16),
        "embeddings": plots.plot_embeddings(z, labels),
        "manifold": plots.plot_latent_manifold(model, n=6),
        "latent_scatter": plots.plot_latent_scatter(z, labels),
    }
    assert figures.keys() == plots.FIGURE_SIZES.keys()
    for kind, fig in figures.items():
        assert png_size(plots.save_figure(fig, tmp_path / f"{kind}.png")) == expected_pixels(kind)


# --------------------------------------------------------------------------- notebooks


def test_figures_display_as_png_without_pyplot(model):
    """IPython shows a returned figure as a PNG of its fixed size, whatever the backend."""
    formatters = pytest.importorskip("IPython.core.formatters")
    fig = plots.plot_generation(model, 4)
    data, _ = formatters.DisplayFormatter().format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data["image/png"][16:24])
    assert (width, height) == expected_pixels("generation")


def test_probit_is_the_standard_library_inverse_cdf():
    from statistics import NormalDist

    p = np.array([[0.01, 0.5], [0.8, 0.999]])
    expected = [[NormalDist().inv_cdf(v) for v in row] for row in p]
    assert plots.probit(p).shape == (2, 2)
    np.testing.assert_array_equal(plots.probit(p), expected)
