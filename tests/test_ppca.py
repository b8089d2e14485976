"""numpyvae.ppca: the closed forms of the linear-Gaussian model against independent computations
(dense linear algebra, quadrature, a direct numerical maximisation, numpyvae's own importance
sampling and training), derivations.md §13."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numpyvae import VAE, ppca
from numpyvae.gradcheck import numerical_gradient
from numpyvae.optim import Adam
from numpyvae.validation import InvalidTypeError, InvalidValueError

D, K = 5, 2
SPECTRUM = np.array([4.0, 2.0, 0.5, 0.4, 0.3])  # two directions well above the noise


def synthetic(n: int = 1000, seed: int = 0, spectrum: np.ndarray = SPECTRUM) -> np.ndarray:
    """n points (n, d) with covariance U diag(spectrum) U^T, a random rotation U and mean."""
    rng = np.random.default_rng(seed)
    d = len(spectrum)
    U, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (rng.normal(size=(n, d)) * np.sqrt(spectrum)) @ U.T + rng.normal(size=d)


def random_model(seed: int = 1, d: int = D, k: int = K, s2: float = 0.7) -> ppca.LinearGaussian:
    rng = np.random.default_rng(seed)
    return ppca.LinearGaussian(rng.normal(size=(d, k)), rng.normal(size=d), s2)


def dense_log_marginal(model: ppca.LinearGaussian, x: np.ndarray) -> np.ndarray:
    """log N(x; b, C) with C formed and factorised in full: the reference for the Woodbury form."""
    C = model.covariance()
    r = x - model.b
    quadratic = np.sum(r * np.linalg.solve(C, r.T).T, axis=1)
    return -0.5 * (model.data_dim * math.log(2 * math.pi) + np.linalg.slogdet(C)[1] + quadratic)


def log_normal_diag(z: np.ndarray, mean: np.ndarray, var: float | np.ndarray) -> np.ndarray:
    return -0.5 * np.sum(np.log(2 * np.pi * var) + (z - mean) ** 2 / var, axis=-1)


# ----------------------------------------------------------------------------- closed forms
def test_log_marginal_is_the_dense_gaussian_density():
    model = random_model()
    x = np.random.default_rng(2).normal(size=(7, D)) * 3
    np.testing.assert_allclose(ppca.log_marginal(model, x), dense_log_marginal(model, x), 1e-12)


def test_exact_posterior_satisfies_bayes_rule():
    """log p(z) + log p(x|z) = log p(z|x) + log p(x) at arbitrary z (13.1), (13.2)."""
    model = random_model()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, D))
    z = rng.normal(size=(6, K)) * 2
    means, cov = ppca.exact_posterior(model, x)
    joint = log_normal_diag(z, 0.0, 1.0) + log_normal_diag(x, z @ model.W.T + model.b, model.s2)
    r = z - means
    log_post = -0.5 * (
        K * math.log(2 * math.pi)
        + np.linalg.slogdet(cov)[1]
        + np.sum(r * np.linalg.solve(cov, r.T).T, axis=1)
    )
    np.testing.assert_allclose(joint, log_post + ppca.log_marginal(model, x), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_log_marginal_against_quadrature(k):
    """p(x) = integral of p(x|z) p(z) dz by a Gauss-Hermite tensor grid in k = 1 and 2 dims."""
    model = random_model(seed=4, k=k, s2=0.9)
    x = np.random.default_rng(5).normal(size=(4, D))
    nodes, weights = np.polynomial.hermite_e.hermegauss(150)  # weight exp(-z^2 / 2)
    weights = weights / math.sqrt(2 * math.pi)
    grid = np.stack(np.meshgrid(*[nodes] * k, indexing="ij"), -1).reshape(-1, k)
    grid_w = np.prod(np.stack(np.meshgrid(*[weights] * k, indexing="ij"), -1).reshape(-1, k), 1)
    means = grid @ model.W.T + model.b  # (G, d)
    log_px_z = log_normal_diag(x[:, None, :], means[None], model.s2)  # (N, G)
    peak = log_px_z.max(axis=1, keepdims=True)
    quadrature = peak[:, 0] + np.log(np.exp(log_px_z - peak) @ grid_w)
    np.testing.assert_allclose(ppca.log_marginal(model, x), quadrature, rtol=1e-10)


def test_elbo_plus_gap_is_the_log_marginal_and_the_gap_is_a_kl():
    """log p(x) = ELBO + KL(q || p(z|x)) (2.5) for any diagonal q; the gap is >= 0, and is
    zero at the exact posterior when W^T W is diagonal (derivations.md §13.2)."""
    base = random_model()
    W = base.W.copy()
    W[:, 1] += W[:, 0]  # columns far from orthogonal
    model = ppca.LinearGaussian(W, base.b, base.s2)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, D))
    mu, logvar = rng.normal(size=(8, K)), rng.normal(size=(8, K))
    gap = ppca.elbo_gap(model, x, mu, logvar)
    np.testing.assert_allclose(ppca.elbo(model, x, mu, logvar) + gap, ppca.log_marginal(model, x))
    assert np.all(gap > 0)
    # The best diagonal q: its gap is 1/2 (sum log M_jj - log det M), the same for every x.
    M = model.posterior_precision_scaled()
    means, logvar_best = ppca.best_diagonal_posterior(model, x)
    expected = 0.5 * (np.sum(np.log(np.diag(M))) - np.linalg.slogdet(M)[1])
    np.testing.assert_allclose(ppca.elbo_gap(model, x, means, logvar_best), expected, rtol=1e-10)
    assert expected > 1e-3  # this W's columns are not orthogonal
    for shift in (0.1, -0.1):  # and any other diagonal q does worse
        assert np.all(ppca.elbo_gap(model, x, means + shift, logvar_best) > expected)
        assert np.all(ppca.elbo_gap(model, x, means, logvar_best + shift) > expected)
    # Orthogonal columns: the exact posterior is diagonal and the bound is tight.
    Q, _ = np.linalg.qr(rng.normal(size=(D, K)))
    orthogonal = ppca.LinearGaussian(Q * [2.0, 0.5], model.b, model.s2)
    means, logvar_best = ppca.best_diagonal_posterior(orthogonal, x)
    np.testing.assert_allclose(ppca.elbo_gap(orthogonal, x, means, logvar_best), 0, atol=1e-12)


def test_elbo_is_the_expectation_of_numpyvaes_loss():
    """The closed-form ELBO against numpyvae's own loss of a linear VAE with random weights,
    averaged over eps by a 3-point Gauss-Hermite grid per latent dimension, exact because
    log p(x|z) is quadratic in eps."""
    model = VAE(D, K, hidden=(), likelihood="gaussian_shared_var", seed=3)
    model.params["likelihood.logvar"][...] = -0.4
    x = np.random.default_rng(7).normal(size=(5, D))
    nodes, weights = np.polynomial.hermite_e.hermegauss(3)
    weights = weights / weights.sum()
    eps_grid = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, K)
    w_grid = np.outer(weights, weights).ravel()
    batch = model.prepare(x)
    eps = np.repeat(eps_grid[:, None, :], len(x), axis=1)  # (9, B, k)
    run = model.forward(batch, eps)
    log_px = model.likelihood.log_prob(batch.x, run.out)  # (9, B)
    expected_log_px = w_grid @ log_px
    elbo_numpyvae = expected_log_px - model.posterior.kl(run.h)
    mu, logvar = model.posterior.split(run.h)
    linear = ppca.linear_gaussian_of(model)
    np.testing.assert_allclose(ppca.elbo(linear, x, mu, logvar), elbo_numpyvae, rtol=1e-12)


def set_linear_vae(model: VAE, W, b, s2, encoder_mean, encoder_bias, logvar) -> None:
    """Write a linear VAE's weights: decoder W (d, k), b (d,), s2; encoder mean
    encoder_mean @ (x) + encoder_bias with encoder_mean (k, d), and constant log-variances."""
    d, k = W.shape
    model.decoder.dense[0].params["W"][...] = W.T
    model.decoder.dense[0].params["b"][...] = b
    model.params["likelihood.logvar"][...] = math.log(s2)
    encoder = model.encoder.dense[0].params
    encoder["W"][...] = np.concatenate([encoder_mean.T, np.zeros((d, k))], axis=1)
    encoder["b"][...] = np.concatenate([encoder_bias, logvar])


def test_importance_sampled_log_likelihood_agrees_with_the_exact_one():
    """numpyvae's estimate (9.10) against the closed form: with a proposal near the posterior
    (K = 2000, eight runs) each point's estimate is within 0.02 nats, the data set's mean within
    4 standard errors; and when q is the exact
    (diagonal) posterior every importance weight equals p(x), so it matches to 1e-10."""
    x = synthetic(50, seed=8)
    rng = np.random.default_rng(9)
    model = VAE(D, K, hidden=(), likelihood="gaussian_shared_var", seed=4)
    W, b, s2 = rng.normal(size=(D, K)), rng.normal(size=D), 0.5
    M = W.T @ W + s2 * np.eye(K)
    mean_map = np.linalg.solve(M, W.T)  # p(z|x) has mean M^-1 W^T (x - b)
    # A wider, shifted diagonal proposal: the weights vary, the estimate is noisy and biased low.
    set_linear_vae(model, W, b, s2, mean_map, 0.1 - mean_map @ b, np.log(2 * s2 / np.diag(M)))
    exact = ppca.log_marginal(ppca.linear_gaussian_of(model), x)
    runs = np.stack([model.log_likelihood(x, 2000, rng=np.random.default_rng(s)) for s in range(8)])
    assert np.all(runs.std(axis=0) > 1e-4)  # the weights do vary
    assert np.abs(runs.mean(axis=0) - exact).max() < 0.02  # each point, to 0.02 nats
    per_run = runs.mean(axis=1)  # the data set's mean, eight independent estimates
    assert abs(per_run.mean() - exact.mean()) < 4 * per_run.std(ddof=1) / math.sqrt(8) + 1e-4
    # Orthogonal columns and the exact posterior: zero variance.
    Q, _ = np.linalg.qr(rng.normal(size=(D, K)))
    W = Q * [1.5, 0.8]
    M = W.T @ W + s2 * np.eye(K)
    mean_map = np.linalg.solve(M, W.T)
    set_linear_vae(model, W, b, s2, mean_map, -mean_map @ b, np.log(s2 / np.diag(M)))
    exact = ppca.log_marginal(ppca.linear_gaussian_of(model), x)
    np.testing.assert_allclose(model.log_likelihood(x, 10), exact, rtol=1e-10)


# ----------------------------------------------------------------------------- the fit
def ppca_objective_and_gradient(
    x: np.ndarray, W: np.ndarray, log_s2: float
) -> tuple[float, np.ndarray, float]:
    """The mean log-likelihood of x under PPCA with b = mean(x), and its gradients in W and
    log s2, from the dense C (independent of numpyvae.ppca): with S the sample covariance,
    d/dW = (C^-1 S C^-1 - C^-1) W, d/dlog s2 = s2/2 tr(C^-1 S C^-1 - C^-1)."""
    d = x.shape[1]
    s2 = math.exp(log_s2)
    r = x - x.mean(axis=0)
    S = r.T @ r / len(x)
    C = W @ W.T + s2 * np.eye(d)
    C_inv = np.linalg.inv(C)
    value = -0.5 * (d * math.log(2 * math.pi) + np.linalg.slogdet(C)[1] + np.trace(C_inv @ S))
    G = C_inv @ S @ C_inv - C_inv
    return value, G @ W, 0.5 * s2 * float(np.trace(G))


def test_closed_form_ppca_against_a_direct_numerical_maximisation():
    """Adam on the dense likelihood (its gradient checked by finite differences first) from a
    random start reaches the closed form's likelihood, s2 and W W^T; the closed form's own
    gradient is 0, and it is at least as good as anything the search found."""
    x = synthetic(400, seed=10)
    fit = ppca.fit_ppca(x, K)
    np.testing.assert_allclose(fit.model.b, x.mean(axis=0))
    assert fit.model.s2 == pytest.approx(fit.eigenvalues[K:].mean())
    closed = ppca.log_marginal(fit.model, x).mean()
    value, dW, dlog = ppca_objective_and_gradient(x, fit.model.W, math.log(fit.model.s2))
    assert value == pytest.approx(closed, rel=1e-12)
    assert np.abs(dW).max() < 1e-12 and abs(dlog) < 1e-12

    rng = np.random.default_rng(11)
    params = {"W": rng.normal(size=(D, K)) * 0.1, "log_s2": np.zeros(1)}
    numeric = numerical_gradient(
        lambda: ppca_objective_and_gradient(x, params["W"], params["log_s2"][0])[0], params["W"]
    )
    np.testing.assert_allclose(
        ppca_objective_and_gradient(x, params["W"], 0.0)[1], numeric, rtol=1e-6, atol=1e-9
    )
    optimizer = Adam(params, lr=0.05)
    for step in range(4000):
        if step in (2000, 3000):
            optimizer.lr /= 10
        _, dW, dlog = ppca_objective_and_gradient(x, params["W"], params["log_s2"][0])
        optimizer.step({"W": -dW, "log_s2": -np.array([dlog])})  # ascent
    found, _, _ = ppca_objective_and_gradient(x, params["W"], params["log_s2"][0])
    assert found <= closed + 1e-12
    assert found == pytest.approx(closed, abs=1e-9)
    assert math.exp(params["log_s2"][0]) == pytest.approx(fit.model.s2, rel=1e-5)
    np.testing.assert_allclose(params["W"] @ params["W"].T, fit.model.W @ fit.model.W.T, atol=1e-5)


def test_fixed_noise_collapses_the_directions_below_it():
    """With s2 held between two eigenvalues, the columns of W for the eigenvalues below s2 are
    0 (§13.3), and the likelihood is higher there than with any of them switched on."""
    x = synthetic(500, seed=12, spectrum=np.array([5.0, 3.0, 1.0, 0.2, 0.1]))
    fit = ppca.fit_ppca(x, 3, s2=2.0)
    norms = np.linalg.norm(fit.model.W, axis=0)
    assert norms[0] > 1 and norms[1] > 0.5 and norms[2] == 0.0
    np.testing.assert_allclose(norms[:2] ** 2, fit.eigenvalues[:2] - 2.0)
    best = ppca.log_marginal(fit.model, x).mean()
    for scale in (0.1, 0.5):
        W = fit.model.W.copy()
        W[:, 2] = scale * fit.eigenvectors[:, 2]
        worse = ppca.LinearGaussian(W, fit.model.b, 2.0)
        assert ppca.log_marginal(worse, x).mean() < best
    kl = ppca.optimal_kl_per_dimension(fit.eigenvalues, 2.0, 3)
    np.testing.assert_allclose(
        kl, [0.5 * math.log(fit.eigenvalues[0] / 2), 0.5 * math.log(fit.eigenvalues[1] / 2), 0.0]
    )


def train_linear_vae(
    x: np.ndarray, k: int, steps: int = 4000, seed: int = 0, likelihood="gaussian_shared_var"
) -> VAE:
    """Full-batch Adam with M = 4 samples and a falling learning rate, numpyvae's gradients."""
    model = VAE(x.shape[1], k, hidden=(), likelihood=likelihood, n_samples=4, seed=seed)
    optimizer = Adam(model.params, lr=1e-2)
    batch = model.prepare(x)
    for step in range(steps):
        if step in (steps // 2, 5 * steps // 6):
            optimizer.lr /= 5
        _, grads = model.gradients(batch, model.noise(None, len(batch)))
        optimizer.step(grads)
    return model


def test_trained_linear_vae_reaches_the_ppca_solution():
    """Trained by its own gradients (derivations.md §13.2): the ELBO, computed exactly from the
    weights, is within 1e-3 nats of the PPCA maximum likelihood; log p(x) of the trained model
    is within 1e-4 nats of it; the decoder spans the PPCA subspace (principal angles < 0.01 rad);
    s2 agrees to 1%; and W^T W is diagonal (the ELBO's gap is 0 only there)."""
    x = synthetic(1000, seed=0)
    fit = ppca.fit_ppca(x, K)
    best = ppca.log_marginal(fit.model, x).mean()
    model = train_linear_vae(x, K)
    linear = ppca.linear_gaussian_of(model)
    mu, logvar = model.posterior.split(model.encoder.forward(x))
    elbo = ppca.elbo(linear, x, mu, logvar).mean()
    log_px = ppca.log_marginal(linear, x).mean()
    assert elbo <= log_px <= best + 1e-12
    assert best - elbo < 1e-3
    assert best - log_px < 1e-4
    assert ppca.principal_angles(linear.W, fit.model.W).max() < 0.01
    assert linear.s2 == pytest.approx(fit.model.s2, rel=0.01)
    gram = linear.W.T @ linear.W
    assert abs(gram[0, 1]) < 0.01 * np.sqrt(gram[0, 0] * gram[1, 1])
    np.testing.assert_allclose(
        np.sort(np.diag(gram)), np.sort(fit.eigenvalues[:K] - fit.model.s2), rtol=0.01
    )


# ----------------------------------------------------------------------------- the boundary
def test_bad_input_is_refused_with_one_clear_line():
    x = synthetic(20)
    with pytest.raises(InvalidValueError, match="k must be smaller than the data dimension"):
        ppca.fit_ppca(x, D)
    with pytest.raises(InvalidValueError, match="s2 must be a positive number"):
        ppca.fit_ppca(x, 2, s2=-1.0)
    with pytest.raises(InvalidTypeError, match="x must be a 2-D NumPy array"):
        ppca.log_marginal(random_model(), [1.0, 2.0])
    with pytest.raises(InvalidValueError, match="x must have 5 columns"):
        ppca.log_marginal(random_model(), np.zeros((3, 4)))
    with pytest.raises(InvalidValueError, match="s2 must be a positive number"):
        ppca.LinearGaussian(np.zeros((3, 1)), np.zeros(3), 0.0)
    with pytest.raises(InvalidValueError, match="the network is not linear"):
        ppca.linear_gaussian_of(VAE(D, K, hidden=(4,), likelihood="gaussian"))
    with pytest.raises(InvalidValueError, match="likelihood in 'gaussian', 'gaussian_shared_var'"):
        ppca.linear_gaussian_of(VAE(D, K, hidden=()))
    with pytest.raises(InvalidValueError, match="subspace of dimension <= k"):
        ppca.fit_ppca(np.outer(np.arange(10.0), np.ones(D)), 1)


def test_linear_hidden_layers_compose_into_one_map():
    """hidden=(3,) with activation='identity' is linear too: the composed W and b reproduce
    the decoder's output."""
    model = VAE(D, K, hidden=(3,), activation="identity", likelihood="gaussian", seed=5)
    linear = ppca.linear_gaussian_of(model)
    z = np.random.default_rng(13).normal(size=(4, K))
    np.testing.assert_allclose(model.decode(z), z @ linear.W.T + linear.b, rtol=1e-12)
    assert linear.s2 == 1.0
