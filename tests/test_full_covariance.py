"""The full-covariance Gaussian posterior N(mu, L L^T) (derivations.md §4.4)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_gradient, check_model, numerical_vjp
from numpyvae.posteriors import DiagonalGaussian, FullCovarianceGaussian


def random_h(k, batch=4, seed=0):
    q = FullCovarianceGaussian(k)
    return q, np.random.default_rng(seed).normal(scale=0.7, size=(batch, q.n_params))


def test_layout_of_the_encoder_output():
    q = FullCovarianceGaussian(3)
    assert q.n_params == 3 + 6
    h = np.arange(9.0)[np.newaxis] / 10
    mu, L = q.split(h)
    np.testing.assert_array_equal(mu, [[0.0, 0.1, 0.2]])
    # raw = [L00, L10, L11, L20, L21, L22], diagonal entries through exp.
    expected = [[np.exp(0.3), 0, 0], [0.4, np.exp(0.5), 0], [0.6, 0.7, np.exp(0.8)]]
    np.testing.assert_allclose(L[0], expected, rtol=1e-15)


@pytest.mark.parametrize("k", [1, 3])
def test_kl_against_monte_carlo(k):
    """KL = E_q[log q(z) - log p(z)]; 200,000 draws, tolerance 5 standard errors."""
    q, h = random_h(k, batch=3, seed=k)
    eps = np.random.default_rng(1).standard_normal((200_000, 3, k))
    z = q.sample(h, eps)
    samples = q.log_prob(z, h) + 0.5 * (k * np.log(2 * np.pi) + np.sum(z * z, axis=-1))
    error = samples.std(axis=0) / np.sqrt(samples.shape[0])
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - q.kl(h)), 5 * error)


def test_kl_by_trace_and_log_determinant():
    q, h = random_h(3, seed=2)
    mu, L = q.split(h)
    cov = q.covariance(h)
    expected = 0.5 * (
        np.trace(cov, axis1=1, axis2=2) + np.sum(mu * mu, axis=1) - 3 - np.linalg.slogdet(cov)[1]
    )
    np.testing.assert_allclose(q.kl(h), expected, rtol=1e-12)


def test_log_prob_is_the_multivariate_normal_density():
    q, h = random_h(3, seed=3)
    z = np.random.default_rng(4).normal(size=(2, 4, 3))
    mu, _ = q.split(h)
    cov = q.covariance(h)
    r = z - mu
    quad = np.einsum("mbi,bij,mbj->mb", r, np.linalg.inv(cov), r)
    expected = -0.5 * (3 * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + quad)
    np.testing.assert_allclose(q.log_prob(z, h), expected, rtol=1e-12)


def test_samples_have_covariance_l_l_transpose():
    q, h = random_h(2, batch=1, seed=5)
    z = q.sample(h, np.random.default_rng(6).standard_normal((100_000, 1, 2)))[:, 0]
    np.testing.assert_allclose(np.cov(z.T), q.covariance(h)[0], atol=0.02)


def test_diagonal_l_is_the_diagonal_posterior():
    """raw_ii = log sigma_i^2 / 2 and zeros below the diagonal give the diagonal posterior."""
    rng = np.random.default_rng(7)
    k = 3
    full, diag = FullCovarianceGaussian(k), DiagonalGaussian(k)
    h_diag = rng.normal(size=(5, 2 * k))
    mu, logvar = diag.split(h_diag)
    h_full = np.zeros((5, full.n_params))
    h_full[:, :k] = mu
    h_full[:, k + full._diag] = 0.5 * logvar
    np.testing.assert_array_equal(full.kl(h_full), diag.kl(h_diag))  # exactly
    eps = rng.standard_normal((2, 5, k))
    np.testing.assert_array_equal(full.sample(h_full, eps), diag.sample(h_diag, eps))
    z = rng.normal(size=(2, 5, k))
    np.testing.assert_allclose(full.log_prob(z, h_full), diag.log_prob(z, h_diag), rtol=1e-12)
    # d/draw_ii = d/dlogvar_i * dlogvar_i/draw_ii = 2 d/dlogvar_i.
    grad_full, grad_diag = full.kl_grad(h_full), diag.kl_grad(h_diag)
    np.testing.assert_array_equal(grad_full[:, :k], grad_diag[:, :k])
    np.testing.assert_allclose(grad_full[:, k + full._diag], 2 * grad_diag[:, k:], rtol=1e-14)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_kl_gradient_by_finite_differences(k):
    q, h = random_h(k, seed=8)
    report = check_gradient(lambda: q.kl(h).sum(), {"h": h}, {"h": q.kl_grad(h)})
    assert report.passed, str(report)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_sample_backward_by_finite_differences(k):
    q, h = random_h(k, seed=9)
    rng = np.random.default_rng(10)
    eps = rng.standard_normal((3, 4, k))
    dz = rng.normal(size=(3, 4, k))
    q.sample(h, eps)
    analytic = q.sample_backward(dz)
    numeric = numerical_vjp(lambda: q.sample(h, eps), h, dz)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "options",
    [
        dict(hidden=(7,), activation="tanh", seed=0),
        dict(hidden=(6, 5), activation="relu", seed=3, n_samples=2),
        dict(hidden=(5,), activation="tanh", seed=4, kl_estimator="sampled", n_samples=2),
    ],
)
def test_gradient_through_the_whole_model(options):
    x = (np.random.default_rng(1).random((5, 8)) < 0.5).astype(float)
    model = VAE(8, 3, posterior="full", **options)
    report = check_model(model, x)
    assert report.passed, str(report)


def test_full_model_trains():
    from numpyvae.optim import Adam

    x = (np.random.default_rng(2).random((64, 12)) < 0.3).astype(float)
    model = VAE(12, 2, (16,), posterior="full", seed=1)
    optimizer = Adam(model.params, lr=1e-2)
    start = model.evaluate(x).loss
    for _ in range(150):
        optimizer.step(model.loss_and_grads(x)[1])
    assert model.evaluate(x).loss < start - 1.0
