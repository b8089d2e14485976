"""The diagonal Gaussian posterior: reparameterization, KL and log-density, each checked."""

import numpy as np
import pytest

from numpyvae.gradcheck import check_gradient
from numpyvae.posteriors import DiagonalGaussian

K, B, M = 3, 4, 5


def posterior_inputs(seed):
    rng = np.random.default_rng(seed)
    h = np.concatenate([rng.standard_normal((B, K)), rng.uniform(-2, 1, (B, K))], axis=1)
    return h, rng.standard_normal((M, B, K)), rng.standard_normal((M, B, K))


@pytest.mark.parametrize("seed", [0, 1])
def test_reparameterization_backward_matches_finite_differences(seed):
    q = DiagonalGaussian(K)
    h, eps, dz = posterior_inputs(seed)
    q.sample(h, eps)
    dh = q.sample_backward(dz)
    report = check_gradient(lambda: np.sum(dz * q.sample(h, eps)), {"h": h}, {"h": dh})
    assert report.passed and report.max_error < 1e-8, str(report)


def test_reparameterization_uses_the_standard_deviation():
    # z = mu + exp(logvar / 2) eps, not mu + exp(logvar) eps (a known bug in public code).
    q = DiagonalGaussian(1)
    z = q.sample(np.array([[1.0, np.log(4.0)]]), np.array([[[1.0]]]))
    assert z[0, 0, 0] == pytest.approx(1.0 + 2.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_kl_gradient_matches_finite_differences(seed):
    q = DiagonalGaussian(K)
    h = posterior_inputs(seed)[0]
    report = check_gradient(lambda: q.kl(h).sum(), {"h": h}, {"h": q.kl_grad(h)})
    assert report.passed and report.max_error < 1e-8, str(report)


def test_kl_closed_form_matches_monte_carlo():
    # E_q[log q(z|x) - log p(z)] by N draws. Its standard error is std / sqrt(N); 5 of them is
    # a tolerance a correct formula misses with probability < 1e-6.
    q = DiagonalGaussian(K)
    h = posterior_inputs(3)[0]
    n = 200_000
    eps = np.random.default_rng(7).standard_normal((n, B, K))
    z = q.sample(h, eps)
    log_prior = -0.5 * (K * np.log(2 * np.pi) + np.sum(z * z, axis=-1))
    samples = q.log_prob(z, h) - log_prior  # (n, B)
    standard_error = samples.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(samples.mean(axis=0) - q.kl(h)) < 5 * standard_error)


def test_kl_trace_logdet_form_equals_per_dimension_form():
    q = DiagonalGaussian(K)
    h = posterior_inputs(4)[0]
    mu, logvar = q.split(h)
    for i in range(B):
        sigma = np.diag(np.exp(logvar[i]))
        trace_form = 0.5 * (np.trace(sigma) + mu[i] @ mu[i] - K - np.log(np.linalg.det(sigma)))
        assert q.kl(h)[i] == pytest.approx(trace_form, rel=1e-12)


def test_log_prob_matches_change_of_variables():
    # log q(z|x) = log p(eps) - sum_i log sigma_i for z = mu + sigma * eps (derivations.md §7.1).
    q = DiagonalGaussian(K)
    h, eps, _ = posterior_inputs(5)
    z = q.sample(h, eps)
    log_p_eps = -0.5 * (K * np.log(2 * np.pi) + np.sum(eps * eps, axis=-1))
    sum_log_sigma = 0.5 * q.split(h)[1].sum(axis=-1)
    np.testing.assert_allclose(q.log_prob(z, h), log_p_eps - sum_log_sigma, rtol=1e-12)
    # and against the product of univariate normal densities written out directly
    mu, logvar = q.split(h)
    var = np.exp(logvar)
    direct = np.log(np.prod(np.exp(-((z - mu) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var), -1))
    np.testing.assert_allclose(q.log_prob(z, h), direct, rtol=1e-10)


def test_backward_before_sample_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before sample"):
        DiagonalGaussian(2).sample_backward(np.zeros((1, 1, 2)))
