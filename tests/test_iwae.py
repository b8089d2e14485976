"""The importance-weighted bound L_K and the estimate of log p(x) (derivations.md §9.1, §9.5)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_model
from numpyvae.objectives import log_prior
from numpyvae.objectives.iwae import log_likelihood, log_sum_exp

ARCHITECTURES = [
    dict(hidden=(7,), activation="tanh", seed=0, posterior="diagonal"),
    dict(hidden=(6, 5), activation="relu", seed=3, posterior="full"),
]


def binary_batch(n=5, d=8, seed=0):
    return (np.random.default_rng(seed).random((n, d)) < 0.5).astype(np.float64)


def test_log_sum_exp_survives_huge_and_tiny_values():
    a = np.array([[1000.0, -1000.0], [1000.0, -1001.0]])
    expected = [1000.0 + np.log(2.0), -1000.0 + np.log1p(np.exp(-1.0))]
    np.testing.assert_allclose(log_sum_exp(a, axis=0), expected, rtol=1e-15)


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_l1_is_the_single_sample_elbo_of_estimator_a(posterior):
    """K = 1: log w is log p(x|z) + log p(z) - log q(z|x), the estimator-A ELBO at that eps."""
    x = binary_batch(6)
    kwargs = dict(data_dim=8, latent_dim=3, hidden=(9,), posterior=posterior, seed=2)
    iwae, elbo_a = VAE(**kwargs, objective="iwae"), VAE(**kwargs, kl_estimator="sampled")
    eps = np.random.default_rng(1).standard_normal((1, 6, 3))
    bound, elbo = iwae.loss(x, eps), elbo_a.loss(x, eps)
    assert bound.loss == pytest.approx(elbo.loss, rel=1e-12, abs=1e-12)
    assert bound.reconstruction == pytest.approx(elbo.reconstruction, rel=1e-12, abs=1e-12)
    assert bound.kl == pytest.approx(elbo.kl, rel=1e-12, abs=1e-12)


# The IWAE objective alone (its partial derivatives wrt log p(x|z), z and h) is checked with
# the ELBO objectives in test_estimators.py::test_objective_alone_by_finite_differences.


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("K", [1, 4])
def test_iwae_gradient_through_the_whole_model(arch, K):
    model = VAE(8, 3, objective="iwae", n_samples=K, **arch)
    report = check_model(model, binary_batch())
    assert report.passed, str(report)


def test_bound_grows_with_the_number_of_samples():
    """E[L_1] <= E[L_5] <= E[L_50] (Burda et al.): checked on 300 independent draws each.

    Tolerance: a decrease of more than 3 combined standard errors fails. The increase from
    K = 1 to 50 must also be clearly positive (more than 3 standard errors), which a bound
    that averaged log w instead of w would miss.
    """
    model = VAE(8, 2, (10,), activation="tanh", seed=4)
    for p in model.decoder.params.values():
        p *= 3.0  # a sharper likelihood makes the posterior and the gaps between bounds larger
    x = binary_batch(10, seed=5)
    rng = np.random.default_rng(6)
    means, errors = [], []
    for K in (1, 5, 50):
        bounds = [
            log_sum_exp(
                model.log_weights(model.prepare(x), rng.standard_normal((K, 10, 2))), 0
            ).mean()
            - np.log(K)
            for _ in range(300)
        ]
        means.append(np.mean(bounds))
        errors.append(np.std(bounds) / np.sqrt(len(bounds)))
    for i in range(2):
        combined = np.hypot(errors[i], errors[i + 1])
        assert means[i + 1] > means[i] - 3 * combined, (means, errors)
    assert means[2] - means[0] > 3 * np.hypot(errors[0], errors[2]), (means, errors)


def quadrature_log_px(model, x, n_grid):
    """log p(x) = log of the integral of p(x|z) p(z) over [-8, 8]^k by the trapezoid rule."""
    k = model.latent_dim
    axis = np.linspace(-8.0, 8.0, n_grid)
    log_weight_1d = np.log(np.full(n_grid, axis[1] - axis[0]))
    log_weight_1d[[0, -1]] -= np.log(2.0)
    mesh = np.meshgrid(*([np.arange(n_grid)] * k), indexing="ij")
    z = np.stack([axis[i.ravel()] for i in mesh], axis=1)  # (n_grid^k, k)
    log_weight = sum(log_weight_1d[i.ravel()] for i in mesh)
    out = model.decoder.forward(z)  # (G, d), the same for every image: repeat it (G, B, d)
    out = np.repeat(out[:, np.newaxis, :], x.shape[0], axis=1)
    log_joint = model.likelihood.log_prob(x, out) + log_prior(z)[:, np.newaxis]
    return log_sum_exp(log_joint + log_weight[:, np.newaxis], axis=0)


@pytest.mark.parametrize(("latent_dim", "n_grid"), [(1, 801), (2, 321)])
def test_log_likelihood_agrees_with_numerical_integration(latent_dim, n_grid):
    """K = 5000 importance sampling against the trapezoid rule on a fine grid.

    Tolerance: 4 standard errors of the estimate, sd(w) / (sqrt(K) mean(w)) by the delta
    method (0.002 to 0.02 nats here), plus 1e-6 for the quadrature. The grid is fine enough
    that halving the step changes the quadrature by less than 1e-9 (asserted).
    """
    model = VAE(6, latent_dim, (10,), activation="tanh", seed=2)
    for p in model.decoder.params.values():
        p *= 3.0
    x = binary_batch(4, 6)
    exact = quadrature_log_px(model, x, n_grid)
    assert np.max(np.abs(exact - quadrature_log_px(model, x, 2 * n_grid - 1))) < 1e-9
    K = 5000
    estimate = log_likelihood(model, x, K, chunk_size=K, rng=np.random.default_rng(1))
    eps = np.random.default_rng(1).standard_normal((K, 4, latent_dim))
    log_w = model.log_weights(model.prepare(x), eps)
    w = np.exp(log_w - log_w.max(axis=0))
    standard_error = w.std(axis=0) / (np.sqrt(K) * w.mean(axis=0))
    assert np.all(standard_error < 0.05)
    np.testing.assert_array_less(np.abs(estimate - exact), 4 * standard_error + 1e-6)
    # Far tighter than the single-sample ELBO, whose gap here is tenths of a nat.
    assert np.abs(estimate - exact).max() < 0.1


def test_chunks_combine_exactly():
    """The chunked estimate equals the one-chunk estimate and -(IWAE loss) at the same eps."""
    model = VAE(8, 3, (9,), seed=7, objective="iwae", n_samples=60)
    x = binary_batch(5)
    one_chunk = log_likelihood(model, x, 60, chunk_size=60, rng=np.random.default_rng(2))
    # With all points in one batch, chunks of eps drawn in turn are the rows of one big draw.
    chunked = log_likelihood(model, x, 60, chunk_size=7, batch_size=5, rng=np.random.default_rng(2))
    np.testing.assert_allclose(chunked, one_chunk, rtol=1e-12)
    eps = np.random.default_rng(2).standard_normal((60, 5, 3))
    assert -one_chunk.mean() == pytest.approx(model.loss(x, eps).loss, rel=1e-12)
    # Batches of data points change only which eps each point gets, not the estimator.
    batched = model.log_likelihood(x, 60, chunk_size=7, batch_size=2)
    assert batched.shape == (5,) and np.all(np.abs(batched - one_chunk) < 1.0)


def test_log_likelihood_estimate_is_above_the_elbo_on_average():
    model = VAE(8, 3, (9,), seed=8)
    x = binary_batch(20, seed=9)
    elbo = -np.mean([model.evaluate(x).loss for _ in range(50)])
    assert model.log_likelihood(x, 500).mean() > elbo


def test_objective_is_validated():
    with pytest.raises(ValueError, match="objective"):
        VAE(4, 2, objective="iwea")
