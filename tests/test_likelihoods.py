"""The decoder likelihoods: values against direct formulas, gradients against finite differences."""

import numpy as np
import pytest

from numpyvae.gradcheck import check_gradient
from numpyvae.likelihoods import Bernoulli, Gaussian

M, B, D = 2, 3, 5


def data(seed):
    rng = np.random.default_rng(seed)
    return rng.random((B, D)), 3 * rng.standard_normal((M, B, D))


@pytest.mark.parametrize("seed", [0, 1])
def test_bernoulli_gradient_matches_finite_differences(seed):
    x, logits = data(seed)
    grad = Bernoulli().log_prob_and_grad(x, logits)[1]
    np.testing.assert_allclose(grad, x - 1 / (1 + np.exp(-logits)), rtol=1e-12)
    report = check_gradient(
        lambda: Bernoulli().log_prob(x, logits).sum(), {"l": logits}, {"l": grad}
    )
    assert report.passed and report.max_error < 1e-8, str(report)


def test_bernoulli_matches_naive_formula():
    x, logits = data(2)
    p = 1 / (1 + np.exp(-logits))
    naive = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)
    np.testing.assert_allclose(Bernoulli().log_prob(x, logits), naive, rtol=1e-12)


def test_bernoulli_log_prob_is_stable_at_extreme_logits():
    x = np.array([[0.0, 1.0, 0.0, 1.0]])
    logits = np.array([[[-1000.0, 1000.0, 1000.0, -1000.0]]])
    log_p, grad = Bernoulli().log_prob_and_grad(x, logits)
    # log p = 0 + 0 + log(1 - sigmoid(1000)) + log(sigmoid(-1000)) = -1000 - 1000, exactly.
    assert log_p[0, 0] == -2000.0
    np.testing.assert_array_equal(grad, [[[0.0, 0.0, -1.0, 1.0]]])


def test_gaussian_log_prob_includes_constant():
    x, mean = data(3)
    direct = np.log(np.prod(np.exp(-0.5 * (x - mean) ** 2) / np.sqrt(2 * np.pi), axis=-1))
    np.testing.assert_allclose(Gaussian().log_prob(x, mean), direct, rtol=1e-12)
    # at x = x_hat only the constant -d/2 log 2 pi remains
    assert Gaussian().log_prob(x, x[None])[0, 0] == pytest.approx(-D / 2 * np.log(2 * np.pi))


@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_gradient_matches_finite_differences(seed):
    x, mean = data(seed)
    grad = Gaussian().log_prob_and_grad(x, mean)[1]
    np.testing.assert_array_equal(grad, x - mean)
    report = check_gradient(lambda: Gaussian().log_prob(x, mean).sum(), {"m": mean}, {"m": grad})
    assert report.passed and report.max_error < 1e-8, str(report)


def test_means_and_samples():
    rng = np.random.default_rng(0)
    logits = np.zeros((1, 20000))
    assert Bernoulli().mean(logits)[0, 0] == 0.5
    draws = Bernoulli().sample(logits, rng)
    assert set(np.unique(draws)) == {0.0, 1.0} and abs(draws.mean() - 0.5) < 0.02
    draws = Gaussian().sample(np.full((1, 20000), 3.0), rng)
    assert abs(draws.mean() - 3.0) < 0.03 and abs(draws.std() - 1.0) < 0.03


def test_bernoulli_targets_outside_unit_interval_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="divide by 255"):
        Bernoulli().check_targets("x", np.array([[0.0, 255.0]]))
