"""The toy problem E_{x ~ N(phi, 1)}[x^2] (derivations.md §3.3): both estimators, exactly.

Every statistical comparison below allows Z_MAX standard errors, where the standard error
is derived, not guessed: sqrt(Var g / n) for a mean, and sqrt(Var s^2) with
Var s^2 = mu_4 / n - sigma^4 (n - 3) / (n (n - 1)) for a sample variance (§3.3). The seeds
are fixed, so each test is deterministic; Z_MAX = 5 says how far from the truth a correct
implementation could land by bad luck (a normal deviate beyond 5 has probability 6e-7).
"""

from math import prod

import numpy as np
import pytest
from numpy.polynomial import polynomial as P

from numpyvae import reparam_toy as toy

Z_MAX = 5.0
PHIS = [-1.5, 0.0, 1.0, 2.0]
N_SINGLE = 400_000


def gaussian_moment(n: int) -> float:
    """E[eps^n] for eps ~ N(0, 1): 0 for odd n, (n - 1)!! for even n."""
    return 0.0 if n % 2 else float(prod(range(n - 1, 0, -2)))


def expectation(coefficients: np.ndarray) -> float:
    """E[c(eps)] for a polynomial c in eps given by its coefficients (lowest power first)."""
    return float(sum(c * gaussian_moment(n) for n, c in enumerate(coefficients)))


def central_polynomials(phi: float) -> dict[str, np.ndarray]:
    """g - 2 phi as polynomials in eps: x^2 (x - phi) = (phi + eps)^2 eps and 2 (phi + eps)."""
    x = np.array([phi, 1.0])
    score = P.polymul(P.polymul(x, x), [0.0, 1.0])
    reparam = 2.0 * x
    return {
        "score": P.polysub(score, [2.0 * phi]),
        "reparam": P.polysub(reparam, [2.0 * phi]),
    }


@pytest.mark.parametrize("phi", PHIS)
def test_exact_moments_agree_with_the_polynomial_expansion(phi):
    # An independent route to the closed forms of §3.3: expand g - 2 phi as a polynomial in
    # eps and take E[eps^n] term by term. Mean 0 means the estimator is unbiased.
    polys = central_polynomials(phi)
    exact = {
        "score": (
            toy.exact_variance_score_function(phi),
            toy.exact_fourth_central_moment_score_function(phi),
        ),
        "reparam": (
            toy.exact_variance_reparameterization(phi),
            toy.exact_fourth_central_moment_reparameterization(phi),
        ),
    }
    for name, c in polys.items():
        assert expectation(c) == pytest.approx(0.0, abs=1e-12), name
        assert expectation(P.polypow(c, 2)) == pytest.approx(exact[name][0], rel=1e-12), name
        assert expectation(P.polypow(c, 4)) == pytest.approx(exact[name][1], rel=1e-12), name


@pytest.mark.parametrize("phi", PHIS)
def test_both_estimators_have_mean_two_phi(phi):
    rng = np.random.default_rng(1)
    estimates = {
        "score": (
            toy.score_function_gradients(phi, N_SINGLE, rng),
            toy.exact_variance_score_function(phi),
        ),
        "reparam": (
            toy.reparameterization_gradients(phi, N_SINGLE, rng),
            toy.exact_variance_reparameterization(phi),
        ),
    }
    for name, (g, variance) in estimates.items():
        assert g.shape == (N_SINGLE,)
        standard_error = np.sqrt(variance / N_SINGLE)
        assert abs(g.mean() - toy.exact_gradient(phi)) < Z_MAX * standard_error, name


@pytest.mark.parametrize("phi", PHIS)
def test_single_sample_variances_match_the_exact_ones(phi):
    rng = np.random.default_rng(2)
    cases = {
        "score": (
            toy.score_function_gradients(phi, N_SINGLE, rng),
            toy.exact_variance_score_function(phi),
            toy.exact_fourth_central_moment_score_function(phi),
        ),
        "reparam": (
            toy.reparameterization_gradients(phi, N_SINGLE, rng),
            toy.exact_variance_reparameterization(phi),
            toy.exact_fourth_central_moment_reparameterization(phi),
        ),
    }
    for name, (g, variance, mu4) in cases.items():
        tolerance = Z_MAX * np.sqrt(toy.variance_of_sample_variance(variance, mu4, N_SINGLE))
        assert abs(g.var(ddof=1) - variance) < tolerance, name


@pytest.mark.parametrize("phi", [0.0, 2.0])
def test_variance_of_the_n_sample_average_is_variance_over_n(phi):
    sizes = [1, 10, 100, 1000]
    repeats = 4000
    result = toy.estimator_variances(phi, sizes, repeats, np.random.default_rng(3))
    assert list(result.sample_sizes) == sizes
    for name, measured, variance, mu4 in [
        (
            "score",
            result.score_function,
            toy.exact_variance_score_function(phi),
            toy.exact_fourth_central_moment_score_function(phi),
        ),
        (
            "reparam",
            result.reparameterization,
            toy.exact_variance_reparameterization(phi),
            toy.exact_fourth_central_moment_reparameterization(phi),
        ),
    ]:
        for n, got in zip(sizes, measured, strict=True):
            # The average of n draws has variance sigma^2 / n and fourth central moment
            # mu_4 / n^3 + 3 (n - 1) sigma^4 / n^3 (derivations.md §3.3).
            var_avg = variance / n
            mu4_avg = mu4 / n**3 + 3 * (n - 1) * variance**2 / n**3
            tolerance = Z_MAX * np.sqrt(toy.variance_of_sample_variance(var_avg, mu4_avg, repeats))
            assert abs(got - var_avg) < tolerance, (name, n, got, var_avg)


def test_reparameterization_beats_score_function_everywhere():
    # Var g_SF - Var g_RP = phi^4 + 14 phi^2 + 11 > 0 for every phi.
    phi = np.linspace(-5.0, 5.0, 101)
    assert np.all(
        toy.exact_variance_score_function(phi) > toy.exact_variance_reparameterization(phi)
    )


def test_variance_of_sample_variance_for_normal_data_is_two_sigma4_over_n_minus_1():
    # For normal data mu_4 = 3 sigma^4 and the formula reduces to 2 sigma^4 / (n - 1).
    for n in [2, 5, 50]:
        assert toy.variance_of_sample_variance(4.0, 48.0, n) == pytest.approx(2 * 16 / (n - 1))
    # And it describes what we measure: 20,000 sample variances of n = 10 normal draws.
    rng = np.random.default_rng(4)
    s2 = rng.standard_normal((20_000, 10)).var(axis=1, ddof=1)
    predicted = toy.variance_of_sample_variance(1.0, 3.0, 10)
    # Its relative standard error is sqrt((kurtosis - 1) / 20,000) = 1.3 % (s2 ~ chi2_9 / 9 has
    # kurtosis 3 + 12/9), so 10 % is about 8 standard errors.
    assert s2.var(ddof=1) == pytest.approx(predicted, rel=0.1)


def test_bad_arguments_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        toy.score_function_gradients(0.0, 0, rng)
    with pytest.raises(ValueError, match="n_repeats must be at least 2"):
        toy.estimator_variances(0.0, [10], 1, rng)
    with pytest.raises(ValueError, match=r"sample_sizes\[1\]"):
        toy.estimator_variances(0.0, [10, 0], 5, rng)
