"""Each layer's backward against centred finite differences (float64, relative error < 1e-7)."""

import numpy as np
import pytest

from numpyvae.gradcheck import check_layer, numerical_vjp, rel_error
from numpyvae.layers import ACTIVATIONS, MLP, Dense, ReLU, init_weights, make_activation

TOLERANCE = 1e-7


def away_from_kinks(shape, seed):
    """Inputs with |x| >= 0.1: ReLU and LeakyReLU are not differentiable at 0, so a centred
    difference straddling the kink measures the average of the two slopes, not the derivative."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_backward_matches_finite_differences(seed):
    layer = Dense(5, 3, rng=np.random.default_rng(seed))
    x = np.random.default_rng(seed + 10).standard_normal((4, 5))
    report = check_layer(layer, x, seed=seed, tolerance=TOLERANCE)
    assert report.passed, str(report)
    # The element-wise CS231n measure agrees for a well-scaled layer.
    dout = np.random.default_rng(3).standard_normal((4, 3))
    layer.forward(x)
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_vjp(lambda: layer.forward(x), x, dout)) < TOLERANCE


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(name):
    x = away_from_kinks((6, 4), seed=2)
    report = check_layer(make_activation(name), x, tolerance=TOLERANCE)
    assert report.passed, f"{name}: {report}"
    assert report.max_error < TOLERANCE


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus", "leaky_relu", "sigmoid"])
@pytest.mark.parametrize("sizes", [[4, 3], [4, 6, 3], [5, 7, 6, 2]])
def test_mlp_backward_matches_finite_differences(activation, sizes):
    mlp = MLP(sizes, activation=activation, rng=np.random.default_rng(len(sizes)))
    x = np.random.default_rng(4).standard_normal((3, sizes[0]))
    report = check_layer(mlp, x, tolerance=TOLERANCE)
    assert report.passed, str(report)
    assert set(mlp.grads) == set(mlp.params)


def test_backward_overwrites_gradients():
    layer = Dense(3, 2, rng=np.random.default_rng(0))
    x = np.ones((2, 3))
    dout = np.ones((2, 2))
    layer.forward(x)
    layer.backward(dout)
    first = layer.grads["W"].copy()
    layer.backward(dout)  # a second backward for the same forward: same gradient, not double
    np.testing.assert_array_equal(layer.grads["W"], first)
    layer.forward(2 * x)
    layer.backward(dout)
    np.testing.assert_array_equal(layer.grads["W"], 2 * first)


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        ReLU().backward(np.ones((1, 1)))


def test_init_schemes_statistics():
    rng = np.random.default_rng(0)
    n_in, n_out = 400, 300
    W, b = init_weights(n_in, n_out, "uniform", rng, np.float64)
    bound = 1 / np.sqrt(n_in)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
    assert W.var() == pytest.approx(bound**2 / 3, rel=0.02)  # variance of U(-a, a) is a^2 / 3
    W, b = init_weights(n_in, n_out, "he", rng, np.float64)
    assert W.var() == pytest.approx(2 / n_in, rel=0.02) and not b.any()
    W, b = init_weights(n_in, n_out, "glorot", rng, np.float64)
    assert W.var() == pytest.approx(2 / (n_in + n_out), rel=0.02) and not b.any()
    a = init_weights(3, 2, "he", np.random.default_rng(5), np.float32)[0]
    c = init_weights(3, 2, "he", np.random.default_rng(5), np.float32)[0]
    assert a.dtype == np.float32 and np.array_equal(a, c)  # seeded, and in the asked dtype


def test_unknown_activation_lists_the_accepted_names():
    with pytest.raises(ValueError, match="'relu'.*'tanh'") as info:
        make_activation("gelu")
    assert "gelu" in str(info.value)
