"""Extremes: log sigma^2 at +-100, logits at +-1000, images all 0 or all 1 stay finite.

The clamp of log sigma^2 (derivations.md §11) is checked by finite differences inside the range
and beyond it, where the clamp is flat and the gradient is zero.
"""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_gradient, check_model, numerical_gradient
from numpyvae.posteriors import DiagonalGaussian
from numpyvae.posteriors.diagonal_gaussian import LOGVAR_LIMIT

D, K, B = 6, 2, 3


def model_with_logvar(value, dtype, likelihood="bernoulli"):
    """A model whose encoder outputs log sigma^2 = value for every input (and mu = 0)."""
    model = VAE(D, K, (5,), likelihood=likelihood, seed=0, dtype=dtype)
    last = model.encoder.dense[-1]
    last.params["W"][...] = 0.0
    last.params["b"][...] = 0.0
    last.params["b"][K:] = value
    return model


def all_finite(parts, grads):
    return np.isfinite(parts.loss) and all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("logvar", [-100.0, 100.0])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_extreme_log_variance_keeps_loss_and_gradients_finite(dtype, logvar, likelihood):
    model = model_with_logvar(logvar, dtype, likelihood)
    x = np.random.default_rng(0).random((B, D)).astype(dtype)
    with np.errstate(over="raise", invalid="raise"):
        parts, grads = model.loss_and_grads(x)
    assert all_finite(parts, grads)
    # beyond the clamp the posterior is the clamp's: KL = 1/2 k (exp(L) - L - 1) for +L
    if logvar > 0:
        expected = 0.5 * K * (np.exp(LOGVAR_LIMIT) - LOGVAR_LIMIT - 1)
        assert parts.kl == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("logit", [-1000.0, 1000.0])
def test_extreme_logits_keep_loss_and_gradients_finite(dtype, logit):
    model = VAE(D, K, (5,), seed=1, dtype=dtype)
    last = model.decoder.dense[-1]
    last.params["W"][...] = 0.0
    last.params["b"][...] = logit
    x = np.zeros((B, D), dtype=dtype)
    x[:, ::2] = 1.0
    with np.errstate(over="raise", invalid="raise"):
        parts, grads = model.loss_and_grads(x)
    assert all_finite(parts, grads)
    # half the pixels are predicted with certainty and wrong: 1000 nats each
    assert parts.reconstruction == pytest.approx(1000.0 * D / 2, rel=1e-6)


@pytest.mark.parametrize("fill", [0.0, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_images_all_zero_or_all_one(fill, dtype):
    model = VAE(D, K, (5,), seed=2, dtype=dtype)
    x = np.full((B, D), fill, dtype=dtype)
    parts, grads = model.loss_and_grads(x)
    assert all_finite(parts, grads)
    if dtype == np.float64:
        assert check_model(model, x).passed


def test_clamp_gradient_matches_finite_differences_inside_and_beyond():
    q = DiagonalGaussian(4)
    rng = np.random.default_rng(3)
    # log-variances inside the range and beyond its lower end; the upper end is checked below
    # apart, since a KL of exp(30) = 1e13 drowns any finite difference in rounding.
    h = np.concatenate([rng.standard_normal((2, 4)), [[-2.0, 5.0, -100.0, -45.0]] * 2], axis=1)
    eps, dz = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4))
    q.sample(h, eps)
    dh = q.sample_backward(dz)
    assert check_gradient(lambda: np.sum(dz * q.sample(h, eps)), {"h": h}, {"h": dh}).passed
    assert check_gradient(lambda: q.kl(h).sum(), {"h": h}, {"h": q.kl_grad(h)}).passed
    beyond = np.abs(h) > LOGVAR_LIMIT
    assert np.all(dh[beyond] == 0) and np.all(q.kl_grad(h)[beyond] == 0)
    assert np.all(q.kl_grad(h)[:, 4:6] != 0)  # inside, the gradient is untouched


def test_clamp_is_flat_above_the_upper_limit():
    q = DiagonalGaussian(2)
    h = np.array([[0.3, -0.2, 100.0, 0.5]])
    numeric = numerical_gradient(lambda: q.kl(h).sum(), h)
    assert numeric[0, 2] == 0.0 and q.kl_grad(h)[0, 2] == 0.0  # exactly: the clamp is flat
    assert q.kl_grad(h)[0, 3] == pytest.approx(0.5 * np.expm1(0.5), rel=1e-15)  # inside


def test_whole_model_gradient_beyond_the_clamp():
    model = model_with_logvar(-45.0, np.float64)  # every log-variance below -LOGVAR_LIMIT
    model.encoder.dense[-1].params["W"][...] = 0.01  # ... but still a function of x
    x = np.random.default_rng(4).random((B, D))
    # the gradients here are small (about 1e-3), so a larger step keeps rounding below them
    report = check_model(model, x, h=1e-5, tolerance=1e-6)
    assert report.passed, str(report)
    _, grads = model.loss_and_grads(x)
    assert np.all(grads["encoder.1.b"][K:] == 0)  # no gradient flows back through the clamp


def test_no_subnormal_numbers_reach_the_hot_path():
    from numpyvae.likelihoods import Bernoulli
    from numpyvae.optim import Adam

    tiny = np.finfo(np.float32).tiny
    x = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    logits = np.array([[[-95.0, 95.0, 75.0, -80.0]]], dtype=np.float32)
    log_p, grad = Bernoulli().log_prob_and_grad(x, logits)
    assert np.all((grad == 0) | (np.abs(grad) >= tiny))
    np.testing.assert_array_equal(grad, [[[0.0, 0.0, -1.0, 1.0]]])  # sigmoid exactly 0 or 1
    assert log_p[0, 0] == np.float32(-75.0 - 80.0)
    # Adam's first moment where the gradient has gone to 0: it decays to 0, never subnormal
    p = np.ones(3, dtype=np.float32)
    adam = Adam({"p": p}, lr=1e-3)
    adam.step({"p": np.full(3, 1e-3, dtype=np.float32)})
    for _ in range(1200):
        adam.step({"p": np.zeros(3, dtype=np.float32)})
        m = adam.m["p"]
        assert np.all((m == 0) | (np.abs(m) >= tiny))
    assert np.all(adam.m["p"] == 0)
