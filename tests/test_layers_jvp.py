"""The tangent (JVP) and dual reverse passes of every layer (derivations.md §12.4), float64.

Three checks per layer, each of which a wrong formula fails:
- the dot-product test <J g, r> = <g, J^T r> between `jvp` and `vjp`/`backward`;
- `jvp` against centred differences of `forward` along the direction g;
- `dual_backward` against centred differences of F = <H, out(x)> + <T, J(x) g> with respect
  to the input x, the tangent input g and every parameter.
"""

import numpy as np
import pytest

from numpyvae.gradcheck import numerical_gradient, rel_error
from numpyvae.layers import ACTIVATIONS, MLP, Dense, make_activation

TOLERANCE = 1e-7


def away_from_kinks(shape, seed):
    """|x| >= 0.1: ReLU's kink at 0 has no derivative for a centred difference to measure."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


def make_layers():
    rng = np.random.default_rng(7)
    layers = {"dense": Dense(5, 3, rng=rng)}
    layers.update({f"act_{name}": make_activation(name) for name in sorted(ACTIVATIONS)})
    for act in ("relu", "tanh", "softplus", "sigmoid", "leaky_relu"):
        layers[f"mlp_{act}"] = MLP([5, 6, 4, 3], activation=act, rng=rng)
    layers["mlp_tanh_sigmoid_out"] = MLP(
        [5, 6, 3], activation="tanh", output_activation="sigmoid", rng=rng
    )
    return layers


LAYERS = sorted(make_layers())


def array_error(analytic, numeric):
    """max |a - n| / max |n|: centred differences carry an absolute rounding error of about
    1e-16 |F| / h, so an entry near 0 has a large element-wise relative error for no fault."""
    return float(np.max(np.abs(analytic - numeric)) / np.max(np.abs(numeric)))


def setup(name, seed=0):
    layer = make_layers()[name]
    n_in = 5 if not name.startswith("act_") else 4
    x = away_from_kinks((6, n_in), seed)
    out = layer.forward(x)
    rng = np.random.default_rng(seed + 100)
    g = rng.standard_normal(x.shape)
    H = rng.standard_normal(out.shape)
    T = rng.standard_normal(out.shape)
    return layer, x, g, H, T


@pytest.mark.parametrize("name", LAYERS)
def test_dot_product_jvp_against_vjp(name):
    layer, x, g, H, T = setup(name)
    Jg = layer.jvp(g)
    JTr = layer.vjp(T)
    left, right = np.sum(Jg * T), np.sum(g * JTr)
    assert abs(left - right) <= 1e-12 * max(1.0, abs(left))
    # vjp equals backward's input gradient and leaves the gradients of the last backward alone.
    np.testing.assert_allclose(layer.backward(T), JTr, rtol=1e-13, atol=1e-15)
    if layer.params:
        layer.backward(H)
        saved = {k: v.copy() for k, v in layer.grads.items()}
        layer.vjp(T)
        for key, value in layer.grads.items():
            np.testing.assert_array_equal(value, saved[key])


@pytest.mark.parametrize("name", LAYERS)
def test_jvp_matches_central_differences_of_forward(name):
    layer, x, g, _, _ = setup(name, seed=1)
    Jg = layer.jvp(g)
    h = 1e-6
    numeric = (layer.forward(x + h * g) - layer.forward(x - h * g)) / (2 * h)
    assert rel_error(Jg, numeric) < TOLERANCE


@pytest.mark.parametrize("name", LAYERS)
def test_dual_backward_matches_finite_differences(name):
    layer, x, g, H, T = setup(name, seed=2)

    def objective():
        out = layer.forward(x)
        return np.sum(H * out) + np.sum(T * layer.jvp(g))

    objective()
    dx, dg = layer.dual_backward(H, T)
    analytic = {"x": dx, "g": dg, **{k: v.copy() for k, v in layer.grads.items()}}
    # h = 1e-5: the outputs are small (|dx| ~ 0.02 for the sigmoid MLP), so the rounding
    # error 1e-16 |F| / h of h = 1e-6 would be 1e-8 of them; truncation h^2 stays ~1e-10.
    h = 1e-5
    numeric = {"x": numerical_gradient(objective, x, h), "g": numerical_gradient(objective, g, h)}
    numeric.update({k: numerical_gradient(objective, v, h) for k, v in layer.params.items()})
    assert set(analytic) == set(numeric)
    for key in analytic:
        assert array_error(analytic[key], numeric[key]) < TOLERANCE, key


def test_dual_backward_without_input_grad_keeps_parameter_gradients():
    layer, x, g, H, T = setup("mlp_tanh", seed=3)
    layer.jvp(g)
    layer.dual_backward(H, T)
    full = {k: v.copy() for k, v in layer.grads.items()}
    assert layer.dual_backward(H, T, need_input_grad=False) == (None, None)
    for key, value in layer.grads.items():
        np.testing.assert_array_equal(value, full[key])


def test_second_derivatives_match_differences_of_first():
    """phi'' of each activation against centred differences of its phi' (away from kinks)."""
    a = away_from_kinks((5, 4), seed=4)
    h = 1e-6
    for name in sorted(ACTIVATIONS):
        layer = make_activation(name)
        layer.forward(a)
        first, second = layer.derivatives(a.dtype)
        layer.forward(a + h)
        up = layer.derivatives(a.dtype)[0]
        layer.forward(a - h)
        down = layer.derivatives(a.dtype)[0]
        numeric = (np.asarray(up) - np.asarray(down)) / (2 * h) * np.ones_like(a)
        analytic = np.zeros_like(a) if second is None else second
        assert np.max(np.abs(analytic - numeric)) < 1e-8, name


def test_float32_tangents_stay_float32():
    layer = MLP([4, 5, 3], activation="leaky_relu", rng=np.random.default_rng(0), dtype=np.float32)
    x = np.ones((2, 4), dtype=np.float32)
    layer.forward(x)
    assert layer.jvp(x).dtype == np.float32
    dx, dg = layer.dual_backward(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    assert dx.dtype == dg.dtype == np.float32
    assert all(v.dtype == np.float32 for v in layer.grads.values())
