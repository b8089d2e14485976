"""Gaussian likelihoods with learned variance, shared or per pixel (derivations.md §5.2)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_gradient, check_model
from numpyvae.likelihoods import Gaussian, GaussianPixelVariance, GaussianSharedVariance


def data(n=5, d=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_unit_variance_is_the_identity_covariance_gaussian():
    x, rng = data(), np.random.default_rng(1)
    mean = rng.normal(size=(3, 5, 6))
    expected = Gaussian().log_prob(x, mean)
    np.testing.assert_allclose(GaussianSharedVariance().log_prob(x, mean), expected, rtol=1e-14)
    out = np.concatenate([mean, np.zeros_like(mean)], axis=-1)
    np.testing.assert_allclose(GaussianPixelVariance().log_prob(x, out), expected, rtol=1e-14)


def test_log_prob_is_the_normal_density():
    x = np.array([[1.0, -2.0]])
    out = np.array([[[0.5, 0.0, np.log(4.0), np.log(0.25)]]])  # means, log-variances
    expected = -0.5 * (2 * np.log(2 * np.pi) + np.log(4.0) + np.log(0.25) + 0.25 / 4 + 4 / 0.25)
    assert GaussianPixelVariance().log_prob(x, out)[0, 0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("seed", [0, 1])
def test_shared_variance_gradients_alone(seed):
    """f = sum_ij a_ij log p(x_i|z_ij): gradients wrt the decoder output and the log-variance."""
    rng = np.random.default_rng(seed)
    x, out = data(seed=seed), rng.normal(size=(3, 5, 6))
    a = rng.normal(size=(3, 5))
    lik = GaussianSharedVariance(logvar=rng.normal())
    dout = lik.log_prob_and_grad(x, out)[1] * a[..., None]
    dlogvar = lik.backward_params(a)["logvar"].copy()
    report = check_gradient(
        lambda: np.sum(a * lik.log_prob(x, out)),
        {"out": out, "logvar": lik.params["logvar"]},
        {"out": dout, "logvar": dlogvar},
    )
    assert report.passed, str(report)


@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_variance_gradients_alone(seed):
    rng = np.random.default_rng(seed)
    x, out = data(seed=seed), rng.normal(size=(3, 5, 12))
    a = rng.normal(size=(3, 5))
    lik = GaussianPixelVariance()
    dout = lik.log_prob_and_grad(x, out)[1] * a[..., None]
    report = check_gradient(lambda: np.sum(a * lik.log_prob(x, out)), {"out": out}, {"out": dout})
    assert report.passed, str(report)


def test_shared_variance_gradient_vanishes_at_the_mean_squared_residual():
    """d log p / dv = 0 at exp(v) = ||x - x_hat||^2 / d, the maximum-likelihood variance."""
    x, mean = data(), data(seed=3)[np.newaxis]
    lik = GaussianSharedVariance(logvar=np.log(np.mean((x - mean) ** 2)))
    lik.log_prob_and_grad(x, mean)
    assert abs(lik.backward_params(1.0)["logvar"][0]) < 1e-12


@pytest.mark.parametrize(
    "options",
    [
        dict(hidden=(7,), activation="tanh", seed=0),
        dict(hidden=(6, 5), activation="relu", seed=3, n_samples=2, posterior="full"),
        dict(hidden=(5,), activation="tanh", seed=4, objective="iwae", n_samples=3),
    ],
)
@pytest.mark.parametrize("likelihood", ["gaussian_shared_var", "gaussian_pixel_var"])
def test_gradient_through_the_whole_model(likelihood, options):
    model = VAE(6, 2, likelihood=likelihood, **options)
    if likelihood == "gaussian_shared_var":
        model.params["likelihood.logvar"][:] = -0.7  # away from 0, where a bug could hide
        assert "likelihood.logvar" in model.params
    report = check_model(model, data())
    assert report.passed, str(report)


def test_decoder_width_and_outputs():
    model = VAE(6, 2, (5,), likelihood="gaussian_pixel_var", seed=0)
    assert model.decoder.sizes[-1] == 12
    assert model.generate(4).shape == (4, 6)
    assert model.generate(4, "sample").shape == (4, 6)
    assert model.reconstruct(data()).shape == (5, 6)


def test_shared_variance_is_learned_and_an_optimizer_updates_it():
    from numpyvae.optim import Adam

    x = 0.1 * data(64, 6, seed=5)  # small residuals: the best variance is far below 1
    model = VAE(6, 2, (8,), likelihood="gaussian_shared_var", seed=1)
    optimizer = Adam(model.params, lr=0.05)
    for _ in range(100):
        optimizer.step(model.loss_and_grads(x)[1])
    assert model.likelihood.params["logvar"][0] < -2.0
    assert model.params["likelihood.logvar"] is model.likelihood.params["logvar"]


def test_float32_model_keeps_its_dtype():
    model = VAE(6, 2, (5,), likelihood="gaussian_shared_var", dtype=np.float32)
    _, grads = model.loss_and_grads(data().astype(np.float32))
    assert all(g.dtype == np.float32 for g in grads.values())
