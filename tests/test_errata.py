"""The lecture errata of derivations.md §10, each confirmed numerically.

Each test computes the lecture's formula and the corrected one and compares both with a
reference that does not depend on either: a Monte Carlo average, a quadrature, or a closed form
derived independently. The correct form must agree with the reference within Z_MAX standard
errors (or to quadrature accuracy), and the lecture's must miss it by 100 standard errors or
more (or by a margin far above the quadrature error).
"""

import math

import numpy as np
import pytest

from numpyvae import reparam_toy
from numpyvae.likelihoods import Gaussian
from numpyvae.posteriors import DiagonalGaussian
from numpyvae.vae import VAE

Z_MAX = 5.0
N_MC = 400_000
LOG_2PI = math.log(2 * math.pi)


def normal_log_pdf(x, mean, variance):
    return -0.5 * (np.log(2 * np.pi * variance) + (x - mean) ** 2 / variance)


def mc_mean_and_error(values: np.ndarray) -> tuple[float, float]:
    """The Monte Carlo mean and its standard error."""
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def diagonal_samples(mu, sigma, n, seed):
    """n draws of z = mu + sigma * eps through the package's posterior (§3.4): (n, k)."""
    mu, sigma = np.asarray(mu, float), np.asarray(sigma, float)
    h = np.concatenate([mu, np.log(sigma**2)])[None, :]
    eps = np.random.default_rng(seed).standard_normal((n, 1, mu.size))
    return DiagonalGaussian(mu.size).sample(h, eps)[:, 0, :]


def covariance_tolerance(sigma, n):
    """Z_MAX standard errors of each entry of an empirical covariance of normal data.

    Var of the sample covariance of (a, b) is (s_a^2 s_b^2 + s_ab^2) / n; s_ab = 0 off the
    diagonal and s_a^2 on it.
    """
    s2 = np.asarray(sigma) ** 2
    variance = np.outer(s2, s2) * (1 + np.eye(s2.size)) / n
    return Z_MAX * np.sqrt(variance)


# ------------------------------------------------------------------------- lecture 000
def test_e01_dropping_the_half_of_the_squared_error_moves_the_optimum():
    """E1 (000 at 13:00) and E6 (003): loss = 1/2 ||x - x_hat||^2 + KL, not ||.||^2 + KL.

    p(z) = N(0, 1), p(x|z) = N(z, 1), q = N(m, s2). E_q (x - z)^2 = (x - m)^2 + s2 exactly,
    and the loss separates into a part in m and a part in s2, minimised on fine grids. The
    reference is the exact posterior, computed by quadrature of p(z) p(x|z) over z.
    """
    x = 1.3
    z = np.linspace(-12, 12, 200_001)
    unnormalised = np.exp(normal_log_pdf(z, 0, 1) + normal_log_pdf(x, z, 1))
    evidence = np.trapezoid(unnormalised, z)
    post_mean = np.trapezoid(z * unnormalised, z) / evidence
    post_var = np.trapezoid((z - post_mean) ** 2 * unnormalised, z) / evidence

    m = np.linspace(-2, 4, 600_001)
    s2 = np.linspace(1e-3, 3, 300_001)
    kl_m, kl_s2 = 0.5 * m**2, 0.5 * (s2 - 1 - np.log(s2))
    for weight, expected_mean, expected_var in [(0.5, x / 2, 0.5), (1.0, 2 * x / 3, 1 / 3)]:
        best_m = m[np.argmin(weight * (x - m) ** 2 + kl_m)]
        best_s2 = s2[np.argmin(weight * s2 + kl_s2)]
        assert best_m == pytest.approx(expected_mean, abs=1e-4)
        assert best_s2 == pytest.approx(expected_var, abs=1e-4)
        matches_posterior = abs(best_m - post_mean) < 1e-4 and abs(best_s2 - post_var) < 1e-4
        assert matches_posterior == (weight == 0.5), weight


# ------------------------------------------------------------------------- lecture 001
def test_e02_reparameterized_samples_have_covariance_diag_sigma_squared():
    """E2 (001), E9 (003), E13 (004): mu + sigma * eps has covariance diag(sigma^2).

    Not diag(sigma) (001's Sigma), and not an isotropic sigma^2 I (004's eq. 13).
    """
    mu, sigma = [0.5, -1.0, 2.0], np.array([0.5, 1.0, 2.0])
    z = diagonal_samples(mu, sigma, N_MC, seed=0)
    empirical = np.cov(z, rowvar=False)
    tolerance = covariance_tolerance(sigma, N_MC)
    assert np.all(np.abs(empirical - np.diag(sigma**2)) < tolerance)
    assert np.any(np.abs(empirical - np.diag(sigma)) > 20 * tolerance)  # 100 standard errors
    isotropic = np.mean(sigma**2) * np.eye(3)
    assert np.any(np.abs(empirical - isotropic) > 20 * tolerance)  # 100 standard errors


def test_e03_gaussian_log_likelihood_is_minus_half_the_squared_error():
    """E3 (001) and E5 (003): log N(x; x_hat, I) = -d/2 log 2 pi - 1/2 ||x - x_hat||^2.

    A log-density must exponentiate to something that integrates to 1 over x. The test
    integrates over a grid in d = 2 dimensions: the correct form gives 1; the lecture's
    +||x - x_hat||^2 grows without bound with the box; -||.||^2 without the 1/2 gives 1/2;
    003's C (1/2 ||.||^2) with C = -log 2 pi gives 2 pi / log 2 pi.
    """
    d, x_hat = 2, np.array([0.3, -0.4])
    axis = np.linspace(-9, 9, 1801)
    X, Y = np.meshgrid(axis, axis, indexing="ij")
    squared = (X - x_hat[0]) ** 2 + (Y - x_hat[1]) ** 2
    const = -d / 2 * LOG_2PI

    def integral(log_density, box=axis):
        return np.trapezoid(np.trapezoid(np.exp(log_density), box, axis=1), box)

    correct = const - 0.5 * squared
    assert integral(correct) == pytest.approx(1.0, abs=1e-9)
    # The package computes the same density.
    points = np.stack([X.ravel(), Y.ravel()], axis=1)[None]
    package = Gaussian().log_prob(points[0], np.broadcast_to(x_hat, points.shape))[0]
    assert np.allclose(package, correct.ravel(), rtol=1e-12, atol=1e-12)
    # 001's "= ||x - x_hat||^2": the integral over a bigger box is astronomically bigger.
    small = np.linspace(-2, 2, 401)
    Xs, Ys = np.meshgrid(small, small, indexing="ij")
    grows_small = integral((Xs - x_hat[0]) ** 2 + (Ys - x_hat[1]) ** 2, small)
    assert integral(squared) > 1e20 * grows_small
    # Dropping only the 1/2, or 003's product C (1/2 ||.||^2), is not normalised either.
    assert integral(const - squared) == pytest.approx(0.5, rel=1e-6)
    assert integral(const * 0.5 * squared) == pytest.approx(2 * np.pi / LOG_2PI, rel=1e-6)


# ------------------------------------------------------------------------- lecture 002
def test_e04_expected_log_likelihood_falls_as_the_error_grows():
    """E4 (002): E[log p(x|z)] is minus a reconstruction error (plus a constant), not the error.

    For the Gaussian likelihood, moving the reconstruction away from x by t lowers the
    log-likelihood by exactly t^2 ||u||^2 / 2.
    """
    rng = np.random.default_rng(0)
    x = rng.random((1, 5))
    direction = rng.standard_normal(5)
    steps = np.linspace(0, 3, 31)
    out = x + steps[:, None, None] * direction  # (31, 1, 5): one "sample" per step
    log_p = Gaussian().log_prob(x, out)[:, 0]
    assert np.all(np.diff(log_p) < 0)
    drop = log_p[0] - log_p
    assert np.allclose(drop, 0.5 * steps**2 * (direction @ direction), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- lecture 003
def test_e06_the_sum_over_the_data_must_run_over_the_summands_index():
    """E6 (003): sum_{n=1}^N [loss(X_i)] read literally is N loss(X_i), not sum_i loss(X_i)."""
    rng = np.random.default_rng(0)
    model = VAE(4, 2, hidden=(5,), likelihood="gaussian", seed=0)
    data = rng.random((3, 4))
    eps = rng.standard_normal((3, 2))
    per_point = np.array([model.loss(data[i : i + 1], eps[i : i + 1]).loss for i in range(3)])
    total = per_point.sum()
    assert total == pytest.approx(3 * model.loss(data, eps).loss, rel=1e-12)  # the batch mean
    for i in range(3):
        assert abs(3 * per_point[i] - total) > 1e-3


def test_e07_sigma_times_eps_has_covariance_sigma_squared():
    """E7 (003): mu + Sigma eps has covariance Sigma^2; mu + Sigma^{1/2} eps has Sigma."""
    variances = np.array([0.25, 1.0, 4.0])  # Sigma = diag(variances)
    eps = np.random.default_rng(1).standard_normal((N_MC, 3))
    lecture = eps * variances
    correct = eps * np.sqrt(variances)
    tolerance_correct = covariance_tolerance(np.sqrt(variances), N_MC)
    assert np.all(np.abs(np.cov(correct, rowvar=False) - np.diag(variances)) < tolerance_correct)
    tolerance_lecture = covariance_tolerance(variances, N_MC)
    lecture_cov = np.cov(lecture, rowvar=False)
    assert np.all(np.abs(lecture_cov - np.diag(variances**2)) < tolerance_lecture)
    assert np.any(
        np.abs(lecture_cov - np.diag(variances)) > 20 * tolerance_lecture
    )  # 100 standard errors


def test_e08_noise_from_the_posterior_gives_the_wrong_distribution():
    """E8 (003): eps ~ N(mu, Sigma), then z = mu + sigma eps, is not N(mu, Sigma); N(0, I) is."""
    mu, sigma = np.array([1.0, -2.0]), np.array([0.5, 2.0])
    rng = np.random.default_rng(2)
    for eps_mean, eps_sd, z_mean, z_var in [
        (0.0, 1.0, mu, sigma**2),  # the correct noise
        (mu, sigma, mu + sigma * mu, sigma**4),  # the lecture's noise
    ]:
        eps = eps_mean + eps_sd * rng.standard_normal((N_MC, 2))
        z = mu + sigma * eps
        mean_error = Z_MAX * np.sqrt(z_var / N_MC)
        assert np.all(np.abs(z.mean(axis=0) - z_mean) < mean_error)
        var_error = Z_MAX * z_var * math.sqrt(2 / (N_MC - 1))
        assert np.all(np.abs(z.var(axis=0, ddof=1) - z_var) < var_error)
    # The lecture's mean mu + sigma mu misses the target mean mu by 100 standard errors.
    assert np.all(np.abs(sigma * mu) > 100 * np.sqrt(sigma**4 / N_MC))


def test_e10_e21_the_elbo_and_the_evidence_peak_at_different_decoders():
    """E10 (003) and E21 (004): over the decoder, max ELBO != max log p(x) != min KL.

    p(z) = N(0, 1), p_theta(x|z) = N(theta z, 1), so p_theta(x) = N(0, 1 + theta^2) and the
    posterior is N(theta x / (1 + theta^2), 1 / (1 + theta^2)); q = N(m, s2) is fixed. The
    ELBO's closed form is checked against Monte Carlo at one theta; log p(x) = ELBO + KL
    (2.5) is checked with the KL between the two Gaussians computed on its own.
    """
    x, m, s2 = 2.0, 0.5, 0.5
    theta = np.linspace(0.0, 4.0, 400_001)
    elbo = -0.5 * LOG_2PI - 0.5 * (x * x - 2 * theta * x * m + theta**2 * (m * m + s2))
    elbo -= 0.5 * (m * m + s2 - 1 - math.log(s2))  # - KL(q || N(0, 1))
    log_px = normal_log_pdf(x, 0.0, 1 + theta**2)
    post_mean, post_var = theta * x / (1 + theta**2), 1 / (1 + theta**2)
    kl_post = 0.5 * (s2 / post_var + (m - post_mean) ** 2 / post_var - 1 + np.log(post_var / s2))
    assert np.allclose(log_px, elbo + kl_post, rtol=0, atol=1e-12)

    z = m + math.sqrt(s2) * np.random.default_rng(3).standard_normal(N_MC)
    t = 1.5
    samples = normal_log_pdf(x, t * z, 1.0) + normal_log_pdf(z, 0, 1) - normal_log_pdf(z, m, s2)
    mean, error = mc_mean_and_error(samples)
    assert abs(mean - elbo[np.argmin(np.abs(theta - t))]) < Z_MAX * error

    best_elbo, best_evidence = theta[np.argmax(elbo)], theta[np.argmax(log_px)]
    best_kl = theta[np.argmin(kl_post)]
    assert best_elbo == pytest.approx(m * x / (m * m + s2), abs=1e-4)  # 4/3
    assert best_evidence == pytest.approx(math.sqrt(x * x - 1), abs=1e-4)  # sqrt(3)
    assert abs(best_elbo - best_evidence) > 0.3
    assert abs(best_kl - best_elbo) > 0.1


# ------------------------------------------------------------------------- lecture 004
def test_e11_bernoulli_likelihood_uses_the_pixel_index():
    """E11 (004 eq. 4): prod_i p_i^x_i (1 - p_i)^(1 - x_i), not (1 - p_d)^(1 - x_i)."""
    p = np.array([0.9, 0.2, 0.6])
    x = np.array([1, 0, 1])
    correct = np.prod(p**x * (1 - p) ** (1 - x))
    lecture = np.prod(p**x * (1 - p[-1]) ** (1 - x))
    draws = np.random.default_rng(4).random((N_MC, 3)) < p
    frequency = np.mean(np.all(draws == x.astype(bool), axis=1))
    error = math.sqrt(correct * (1 - correct) / N_MC)
    assert abs(frequency - correct) < Z_MAX * error
    assert abs(frequency - lecture) > 100 * error


def test_e12_the_marginal_integrates_over_the_gaussian_latent():
    """E12 (004 eq. 5): p(x) integrates p(x|z) N(z; 0, 1) over R, not a sum over z in {0, 1}.

    d = 2 pixels, k = 1, pixel probabilities sigmoid(w z + c). The reference is Monte Carlo
    over z ~ N(0, 1); the integral by quadrature matches it and sums to 1 over the four x;
    the lecture's sum does neither (its total is N(0; 0, 1) + N(1; 0, 1) = 0.6409).
    """
    w, c = np.array([1.5, -2.0]), np.array([0.2, 0.5])
    xs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])

    def likelihood(z):  # p(x|z) for each of the four x: (4, len(z))
        p = 1 / (1 + np.exp(-(np.outer(z, w) + c)))  # (len(z), 2)
        return np.prod(np.where(xs[:, None, :] == 1, p[None], 1 - p[None]), axis=2)

    grid = np.linspace(-12, 12, 100_001)
    integral = np.trapezoid(likelihood(grid) * np.exp(normal_log_pdf(grid, 0, 1)), grid, axis=1)
    lecture = likelihood(np.array([0.0, 1.0])) @ np.exp(normal_log_pdf(np.array([0, 1.0]), 0, 1))
    z = np.random.default_rng(5).standard_normal(N_MC)
    values = likelihood(z)
    reference = values.mean(axis=1)
    error = values.std(axis=1, ddof=1) / math.sqrt(N_MC)
    assert np.all(np.abs(integral - reference) < Z_MAX * error)
    assert integral.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.any(np.abs(lecture - reference) > 100 * error)
    assert lecture.sum() == pytest.approx(
        math.exp(normal_log_pdf(0, 0, 1)) + math.exp(normal_log_pdf(1, 0, 1)), rel=1e-12
    )


def test_e14_cross_entropy_is_the_log_of_the_probability():
    """E14 (004 eq. 14): sum_j y_j log theta_j = log p(y), the log of the middle term p(y)."""
    theta = np.array([0.2, 0.5, 0.3])
    y = np.array([0.0, 1.0, 0.0])  # one-hot class 1
    cross_entropy_form = float(y @ np.log(theta))
    labels = np.random.default_rng(6).choice(3, size=N_MC, p=theta)
    probability = np.mean(labels == 1)  # Monte Carlo estimate of p(y)
    error = math.sqrt(0.5 * 0.5 / N_MC)
    # log p(y) = cross-entropy form (delta method: the log's error is error / p)...
    assert abs(math.log(probability) - cross_entropy_form) < Z_MAX * error / 0.5
    # ... while the lecture equates it with p(y) itself.
    assert abs(probability - cross_entropy_form) > 100 * error


def test_e15_monte_carlo_average_divides_by_the_number_of_samples():
    """E15 (004 eq. 17): (1/L) sum_{l=1}^L 1[y = y_l] estimates p(y); 1/N (N = data size) not."""
    theta = np.array([0.2, 0.5, 0.3])
    L, N = 100_000, 60_000
    hits = np.sum(np.random.default_rng(7).choice(3, size=L, p=theta) == 2)
    error = math.sqrt(theta[2] * (1 - theta[2]) / L)
    assert abs(hits / L - theta[2]) < Z_MAX * error
    assert abs(hits / N - theta[2]) > 100 * error


def test_e16_the_expectation_integrates_over_z_not_x():
    """E16 (004 eqs. 20, 24): E_q[log p(z)] = int log p(z) q(z|x) dz, a number (eq. 22).

    With an encoder mu(x) = w x, integrating over x instead gives log p(z) / |w|: a function
    of z, not the expectation. Same for eq. (24) with log q in place of log p.
    """
    w, sigma, x0 = 2.0, 0.7, 0.3
    mu = w * x0
    z_grid = np.linspace(-15, 15, 300_001)
    q_of_z = np.exp(normal_log_pdf(z_grid, mu, sigma**2))
    over_z = np.trapezoid(normal_log_pdf(z_grid, 0, 1) * q_of_z, z_grid)
    assert over_z == pytest.approx(-0.5 * LOG_2PI - 0.5 * (mu**2 + sigma**2), abs=1e-9)
    over_z_24 = np.trapezoid(normal_log_pdf(z_grid, mu, sigma**2) * q_of_z, z_grid)
    assert over_z_24 == pytest.approx(-0.5 * LOG_2PI - 0.5 * (1 + math.log(sigma**2)), abs=1e-9)

    x_grid = np.linspace(-15, 15, 300_001)
    for z in [0.0, 1.0, 2.5]:
        q_of_x = np.exp(normal_log_pdf(z, w * x_grid, sigma**2))  # q(z|x) as a function of x
        over_x = np.trapezoid(normal_log_pdf(z, 0, 1) * q_of_x, x_grid)
        assert over_x == pytest.approx(normal_log_pdf(z, 0, 1) / w, rel=1e-9)
        assert abs(over_x - over_z) > 0.1
        over_x_24 = np.trapezoid(normal_log_pdf(z, w * x_grid, sigma**2) * q_of_x, x_grid)
        assert abs(over_x_24 - over_z_24) > 0.1


def kl_example():
    mu, sigma = np.array([0.3, -1.2, 2.0]), np.array([0.5, 1.5, 0.8])
    return mu, sigma, diagonal_samples(mu, sigma, N_MC, seed=8)


def test_e17_expected_log_prior_needs_the_parentheses():
    """E17 (004 eq. 22): -k/2 log 2 pi - 1/2 sum (mu^2 + sigma^2), not ... - 1/2 sum mu^2 + sigma^2.

    Read literally the sigma^2 term stands outside the factor -1/2 (summed here).
    """
    mu, sigma, z = kl_example()
    k = mu.size
    mean, error = mc_mean_and_error(-0.5 * k * LOG_2PI - 0.5 * np.sum(z * z, axis=1))
    correct = -0.5 * k * LOG_2PI - 0.5 * np.sum(mu**2 + sigma**2)
    lecture = -0.5 * k * LOG_2PI - 0.5 * np.sum(mu**2) + np.sum(sigma**2)
    assert abs(mean - correct) < Z_MAX * error
    assert abs(mean - lecture) > 100 * error


def test_e18_expected_log_posterior_has_the_log_2pi_term_and_half():
    """E18 (004 eq. 25): E_q[log q] = -k/2 log 2 pi - 1/2 sum (1 + log sigma^2), not -k/2 sum(...).

    log q(z) is computed by the package (DiagonalGaussian.log_prob); with the corrected eqs.
    (22) and (25), E log p - E log q is the lecture's (correct) eq. (19) and minus the code's KL.
    """
    mu, sigma, z = kl_example()
    k = mu.size
    h = np.concatenate([mu, np.log(sigma**2)])[None, :]
    log_q = DiagonalGaussian(k).log_prob(z[:, None, :], h)[:, 0]
    mean, error = mc_mean_and_error(log_q)
    correct = -0.5 * k * LOG_2PI - 0.5 * np.sum(1 + np.log(sigma**2))
    lecture = -0.5 * k * np.sum(1 + np.log(sigma**2))
    assert abs(mean - correct) < Z_MAX * error
    assert abs(mean - lecture) > 100 * error
    expected_log_prior = -0.5 * k * LOG_2PI - 0.5 * np.sum(mu**2 + sigma**2)
    eq_19_term = 0.5 * np.sum(1 + np.log(sigma**2) - mu**2 - sigma**2)
    assert expected_log_prior - correct == pytest.approx(eq_19_term, rel=1e-12)
    assert DiagonalGaussian(k).kl(h)[0] == pytest.approx(-eq_19_term, rel=1e-12)


def test_e19_the_elbo_estimate_needs_the_log_likelihood_term():
    """E19 (004 eq. 26): ELBO ~ (1/L) sum_l log p(x|z_l) - KL; the lecture keeps only -KL.

    A tiny Bernoulli decoder, logits = z W + c. The reference is the ELBO by form (2.8),
    E_q[log p(x, z) - log q(z|x)], by Monte Carlo with independent draws.
    """
    rng = np.random.default_rng(9)
    k, d = 2, 6
    W, c = rng.normal(size=(k, d)), rng.normal(size=d)
    x = (rng.random(d) < 0.5).astype(float)
    mu, sigma = np.array([0.4, -0.3]), np.array([0.6, 1.1])
    h = np.concatenate([mu, np.log(sigma**2)])[None, :]

    def log_px_given(z):
        logits = z @ W + c
        return np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)

    z_ref = diagonal_samples(mu, sigma, N_MC, seed=10)
    log_q = DiagonalGaussian(k).log_prob(z_ref[:, None, :], h)[:, 0]
    log_prior = -0.5 * (k * LOG_2PI + np.sum(z_ref**2, axis=1))
    reference, ref_error = mc_mean_and_error(log_px_given(z_ref) + log_prior - log_q)

    kl = DiagonalGaussian(k).kl(h)[0]
    recon, recon_error = mc_mean_and_error(log_px_given(diagonal_samples(mu, sigma, N_MC, 11)))
    correct = recon - kl
    lecture = -kl  # "(1/L) sum_l + 1/2 sum_d (1 + log sigma^2 - mu^2 - sigma^2)"
    error = math.hypot(ref_error, recon_error)
    assert abs(correct - reference) < Z_MAX * error
    assert abs(lecture - reference) > 100 * error


def test_e20_the_variance_ratio_is_below_ten_near_phi_zero():
    """E20 (004 Example 1.5): "an order of magnitude" holds only for |phi| > 1.2658."""
    ratio = reparam_toy.exact_variance_score_function(0.0) / 4.0
    assert ratio == 3.75
    sf = reparam_toy.score_function_gradients(0.0, N_MC, np.random.default_rng(12))
    rp = reparam_toy.reparameterization_gradients(0.0, N_MC, np.random.default_rng(13))
    assert 3.0 < sf.var() / rp.var() < 4.5  # measured, not just computed: well below 10
    threshold = math.sqrt(-7 + math.sqrt(74))
    assert reparam_toy.exact_variance_score_function(threshold) / 4 == pytest.approx(10.0)
    assert reparam_toy.exact_variance_score_function(1.2) / 4 < 10
    assert reparam_toy.exact_variance_score_function(1.3) / 4 > 10


def test_e22_conditional_elbo_takes_the_expectation_over_q_given_x_and_c():
    """E22 (004 eq. 47): E over q(z|x, c), the posterior in the KL, not over q(z|x).

    p(z) = N(0, 1), p(x|z, c) = N(z + c, 1): log p(x|c) = log N(x; c, 2), checked by
    quadrature. With q(z|x, c) the true posterior N((x - c)/2, 1/2) the correct conditional
    ELBO equals log p(x|c) exactly (every sample's log-weight is log p(x|c)); the lecture's
    does not, and with another q(z|x) it even exceeds log p(x|c), so it is no lower bound.
    """
    rng = np.random.default_rng(14)

    def log_evidence(x, c):
        z = np.linspace(-15, 15, 300_001)
        integrand = np.exp(normal_log_pdf(x, z + c, 1.0) + normal_log_pdf(z, 0, 1))
        value = math.log(np.trapezoid(integrand, z))
        assert value == pytest.approx(normal_log_pdf(x, c, 2.0), abs=1e-9)
        return value

    def kl_to_prior(m, v):
        return 0.5 * (m * m + v - 1 - math.log(v))

    def expected_log_likelihood(x, c, m, v):  # E_{z ~ N(m, v)} log N(x; z + c, 1), by MC
        z = m + math.sqrt(v) * rng.standard_normal(N_MC)
        return mc_mean_and_error(normal_log_pdf(x, z + c, 1.0))

    x, c = 0.0, 1.0
    evidence = log_evidence(x, c)
    post_m, post_v = (x - c) / 2, 0.5
    value, error = expected_log_likelihood(x, c, post_m, post_v)
    correct = value - kl_to_prior(post_m, post_v)
    assert abs(correct - evidence) < Z_MAX * error + 1e-12
    # The lecture: the expectation under q(z|x), here the posterior for c = 0, N(x/2, 1/2).
    value, error = expected_log_likelihood(x, c, x / 2, 0.5)
    lecture = value - kl_to_prior(post_m, post_v)
    assert abs(lecture - evidence) > 100 * error
    # And it is not a lower bound: x = 0, c = 0, q(z|x) concentrated at 0, q(z|x, c) = N(0, 1).
    evidence = log_evidence(0.0, 0.0)
    value, error = expected_log_likelihood(0.0, 0.0, 0.0, 1e-8)
    lecture = value - kl_to_prior(0.0, 1.0)
    assert lecture == pytest.approx(-0.5 * LOG_2PI, abs=1e-6)
    assert lecture > evidence + 0.3
