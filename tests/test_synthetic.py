"""2-D toy data: shapes, labels, reproducibility, argument validation."""

from __future__ import annotations

import numpy as np
import pytest

from numpyvae.datasets import gaussian_mixture, pinwheel, two_moons

MAKERS = {
    "two_moons": (two_moons, dict(noise=0.1), 2),
    "gaussian_mixture": (gaussian_mixture, dict(n_components=6, radius=3.0, std=0.1), 6),
    "pinwheel": (pinwheel, dict(n_arms=4), 4),
}


@pytest.mark.parametrize("name", MAKERS)
def test_shapes_labels_and_reproducibility(name):
    make, kwargs, n_labels = MAKERS[name]
    x, y = make(601, rng=np.random.default_rng(0), **kwargs)
    assert x.shape == (601, 2) and x.dtype == np.float64 and np.all(np.isfinite(x))
    assert y.shape == (601,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(n_labels))
    x2, y2 = make(601, rng=np.random.default_rng(0), **kwargs)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = make(601, rng=np.random.default_rng(1), **kwargs)
    assert not np.array_equal(x, x3)


def test_two_moons_geometry():
    x, y = two_moons(1000, 0.0, np.random.default_rng(0))
    assert np.bincount(y).tolist() == [500, 500]
    np.testing.assert_allclose(np.linalg.norm(x[y == 0], axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(x[y == 1] - [1.0, 0.5], axis=1), 1.0)


def test_gaussian_mixture_means_on_circle():
    x, y = gaussian_mixture(4000, 4, 2.0, 0.05, np.random.default_rng(0))
    means = np.array([x[y == k].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(means, [[2, 0], [0, 2], [-2, 0], [0, -2]], atol=0.02)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda r: two_moons(0, 0.1, r), ValueError, "n must be an integer >= 2, got 0"),
        (lambda r: two_moons(10.5, 0.1, r), TypeError, "n must be an integer"),
        (lambda r: two_moons(10, -1.0, r), ValueError, "noise must be .* got -1.0"),
        (lambda r: two_moons(10, 0.1, 42), TypeError, "rng must be a numpy.random.Generator"),
        (lambda r: gaussian_mixture(10, 0, rng=r), ValueError, "n_components"),
        (lambda r: gaussian_mixture(10, 3, std=0.0, rng=r), ValueError, "std must be .* > 0"),
        (lambda r: gaussian_mixture(10, 3, radius=np.inf, rng=r), ValueError, "radius"),
        (lambda r: pinwheel(10, n_arms=True, rng=r), TypeError, "n_arms"),
        (lambda r: pinwheel(10, rate="fast", rng=r), TypeError, "rate .* got 'fast'"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(np.random.default_rng(0))


def test_each_generator_runs_with_its_own_default_rng():
    """rng=None (the default) draws from a fresh generator instead of refusing its default."""
    for make in (two_moons, gaussian_mixture, pinwheel):
        x, labels = make(256)
        assert x.shape == (256, 2) and labels.shape == (256,) and np.all(np.isfinite(x))
