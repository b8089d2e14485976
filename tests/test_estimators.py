"""Estimators A (sampled KL) and B (analytic KL) of the ELBO (derivations.md §7.1, §7.2)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_gradient, check_model
from numpyvae.objectives import elbo_analytic_kl, elbo_sampled_kl, log_posterior, log_prior
from numpyvae.objectives.iwae import iwae_bound
from numpyvae.posteriors import POSTERIORS

ARCHITECTURES = [
    dict(hidden=(7,), activation="tanh", seed=0, posterior="diagonal"),
    dict(hidden=(6, 5), activation="relu", seed=3, posterior="full", n_samples=3),
]


def binary_batch(n=5, d=8, seed=0):
    return (np.random.default_rng(seed).random((n, d)) < 0.5).astype(np.float64)


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_log_q_by_change_of_variables_equals_the_density(posterior):
    """log N(eps) - log|det A| (§7.1) is log q(z|x) evaluated at z = g(h, eps)."""
    rng = np.random.default_rng(1)
    q = POSTERIORS[posterior](3)
    h = rng.normal(size=(4, q.n_params))
    eps = rng.standard_normal((5, 4, 3))
    z = q.sample(h, eps)
    np.testing.assert_allclose(log_posterior(q, h, eps), q.log_prob(z, h), rtol=1e-12)


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_log_det_gradient_by_finite_differences(posterior):
    rng = np.random.default_rng(2)
    q = POSTERIORS[posterior](3)
    h = rng.normal(size=(4, q.n_params))
    weights = rng.normal(size=4)
    report = check_gradient(
        lambda: np.sum(weights * q.log_det(h)),
        {"h": h},
        {"h": weights[:, None] * q.log_det_grad(h)},
    )
    assert report.passed, str(report)


def test_estimator_a_log_q_gradient_is_minus_half_per_log_variance():
    """With z = mu + sigma eps, d log q / d log sigma^2 = -1/2 and d log q / d mu = 0."""
    q = POSTERIORS["diagonal"](2)
    h = np.array([[0.3, -1.0, 0.2, 0.7]])
    np.testing.assert_array_equal(-q.log_det_grad(h), [[0.0, 0.0, -0.5, -0.5]])


@pytest.mark.parametrize("beta", [1.0, 0.7])
@pytest.mark.parametrize("objective", [elbo_sampled_kl, elbo_analytic_kl, iwae_bound])
@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_objective_alone_by_finite_differences(objective, posterior, beta):
    """The partial derivatives an objective hands back: wrt log p(x|z), z and h.

    For the IWAE bound they carry the normalised importance weights (derivations.md §9.1);
    log p(x|z) is spread over several nats so that the weights are far from uniform.
    """
    rng = np.random.default_rng(3)
    q = POSTERIORS[posterior](3)
    M, B = 4, 5
    h = rng.normal(size=(B, q.n_params))
    eps = rng.standard_normal((M, B, 3))
    z = q.sample(h, eps)
    log_px = 3.0 * rng.normal(size=(M, B))
    grad = objective(log_px, z, eps, h, q, beta)
    analytic = {
        "log_px": np.broadcast_to(grad.dlog_px, log_px.shape),
        "z": np.zeros_like(z) if grad.dz is None else grad.dz,
        "h": grad.dh,
    }
    report = check_gradient(
        lambda: objective(log_px, z, eps, h, q, beta).parts.loss,
        {"log_px": log_px, "z": z, "h": h},
        analytic,
    )
    assert report.passed, str(report)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_sampled_kl_gradient_through_the_whole_model(arch):
    model = VAE(8, 3, kl_estimator="sampled", **arch)
    report = check_model(model, binary_batch())
    assert report.passed, str(report)


def test_sampled_kl_averages_to_the_analytic_kl():
    model = VAE(8, 3, (7,), kl_estimator="sampled", n_samples=20000, seed=1)
    x = binary_batch(3)
    sampled = model.loss(x).kl
    analytic = VAE(8, 3, (7,), seed=1).loss(x, np.zeros((1, 3, 3))).kl
    assert sampled == pytest.approx(analytic, abs=0.02)


def test_estimator_b_gradient_has_lower_variance_than_estimator_a():
    """Same model, batch and eps draws: the analytic KL removes the KL's sampling noise.

    Both estimators are unbiased for the same gradient, so their means agree within a few
    standard errors; the total variance of the encoder gradient is smaller for B.
    """
    x = binary_batch(8, 10, seed=4)
    kwargs = dict(data_dim=10, latent_dim=3, hidden=(12,), activation="tanh", seed=5)
    model_a, model_b = VAE(**kwargs, kl_estimator="sampled"), VAE(**kwargs)
    rng = np.random.default_rng(6)
    draws = 2000
    grads_a, grads_b = [], []
    for _ in range(draws):
        eps = rng.standard_normal((1, 8, 3))
        grads_a.append(model_a.loss_and_grads(x, eps)[1]["encoder.0.W"].ravel().copy())
        grads_b.append(model_b.loss_and_grads(x, eps)[1]["encoder.0.W"].ravel().copy())
    grads_a, grads_b = np.array(grads_a), np.array(grads_b)
    standard_error = np.sqrt((grads_a.var(axis=0) + grads_b.var(axis=0)) / draws)
    assert np.all(np.abs(grads_a.mean(axis=0) - grads_b.mean(axis=0)) < 5 * standard_error)
    var_a, var_b = grads_a.var(axis=0).sum(), grads_b.var(axis=0).sum()
    assert var_b < 0.5 * var_a, (var_a, var_b)


def test_kl_estimator_is_validated():
    with pytest.raises(ValueError, match="kl_estimator"):
        VAE(4, 2, kl_estimator="exact")


def test_log_prior_is_the_standard_normal_density():
    z = np.array([[0.0, 0.0], [1.0, -2.0]])
    np.testing.assert_allclose(log_prior(z), -np.log(2 * np.pi) - 0.5 * np.array([0.0, 5.0]))
