"""The Fisher auto-encoder on the linear-Gaussian model, where everything has a closed form
(derivations.md §12.6, §12.7).

Linear networks make the loss a polynomial of degree 2 in x and in eps, so its expectation is
exact on a data set with the right first two moments and a 3-point Gauss-Hermite grid in eps:
the implementation's expected loss and gradient are computed, not estimated.
"""

import itertools

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.objectives.fisher import (
    FisherObjective,
    fisher_optimal_variances,
    gaussian_joint_fisher_divergence,
    linear_gaussian_fisher,
)
from numpyvae.optim import Adam


def linear_model(W, b, s2, A, c, D, objective="fisher"):
    """A VAE with no hidden layer: decoder f(z) = W z + b, encoder mu = A x + c, variances D."""
    d, k = W.shape
    model = VAE(d, k, hidden=(), likelihood="gaussian_shared_var", objective=objective)
    model.params["encoder.0.W"][:] = np.concatenate([A.T, np.zeros((d, k))], axis=1)
    model.params["encoder.0.b"][:] = np.concatenate([c, np.log(D)])
    model.params["decoder.0.W"][:] = W.T
    model.params["decoder.0.b"][:] = b
    model.params["likelihood.logvar"][:] = np.log(s2)
    return model


def exact_moment_data(m, C):
    """2d points m +- sqrt(d) L_i (L L^T = C): mean m and covariance (1/n) C exactly."""
    d = len(m)
    spread = np.sqrt(d) * np.linalg.cholesky(C).T
    return np.concatenate([m + spread, m - spread])


def expected(model, X, objective=None, nodes=3):
    """E over eps ~ N(0, I) of the loss and of every gradient, by a Gauss-Hermite grid; with
    the model's own objective, or `objective` (a variant) applied to the model."""
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / weights.sum()
    k = model.latent_dim
    loss, grads = 0.0, {name: np.zeros_like(p) for name, p in model.params.items()}
    for index in itertools.product(range(nodes), repeat=k):
        eps = np.broadcast_to(points[list(index)], (1, X.shape[0], k)).copy()
        weight = np.prod(weights[list(index)])
        if objective is None:
            parts, g = model.loss_and_grads(X, eps)
        else:
            parts, g = objective.loss_and_grads(model, model.prepare(X), eps)
        loss += weight * parts.loss
        for name in grads:
            grads[name] += weight * g[name]
    return loss, grads


def random_setting(seed, d=4, k=2):
    rng = np.random.default_rng(seed)
    W, A = rng.standard_normal((d, k)), rng.standard_normal((k, d))
    b, c = rng.standard_normal(d), rng.standard_normal(k)
    D, s2 = rng.uniform(0.2, 2.0, k), rng.uniform(0.3, 2.0)
    X = rng.standard_normal((30, d)) @ rng.standard_normal((d, d)) + rng.standard_normal(d)
    return W, b, s2, A, c, D, X


def truth(d=4, k=2, s2=0.5, seed=0):
    """W* with orthogonal columns, so that the exact posterior is diagonal, and its posterior."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    W = Q[:, :k] * np.array([2.0, 1.0])
    b = rng.standard_normal(d)
    P = np.eye(k) + W.T @ W / s2
    A = np.linalg.solve(P, W.T) / s2
    return W, b, s2, A, -A @ b, 1.0 / np.diag(P), b, W @ W.T + s2 * np.eye(d)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_plus_data_constant_is_the_exact_fisher_divergence(seed):
    W, b, s2, A, c, D, X = random_setting(seed)
    m, C = X.mean(axis=0), np.cov(X.T, bias=True)
    J = linear_gaussian_fisher(W, b, s2, A, c, D, m, C)
    exact = gaussian_joint_fisher_divergence(W, b, s2, A, c, D, m, C)
    assert exact > 10.0
    assert J + 0.5 * np.trace(np.linalg.inv(C)) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_implemented_loss_averaged_over_eps_is_the_closed_form(seed):
    W, b, s2, A, c, D, X = random_setting(seed)
    loss, _ = expected(linear_model(W, b, s2, A, c, D), X)
    J = linear_gaussian_fisher(W, b, s2, A, c, D, X.mean(axis=0), np.cov(X.T, bias=True))
    assert loss == pytest.approx(J, rel=1e-12)


def test_truth_is_stationary_and_perturbing_it_raises_J():
    W, b, s2, A, c, D, m, C = truth()
    X = exact_moment_data(m, C)
    model = linear_model(W, b, s2, A, c, D)
    loss, grads = expected(model, X)
    assert loss == pytest.approx(-0.5 * np.trace(np.linalg.inv(C)), rel=1e-12)  # D_F = 0
    worst = max(float(np.max(np.abs(g))) for g in grads.values())
    assert worst < 1e-12, worst
    rng = np.random.default_rng(1)
    J0 = linear_gaussian_fisher(W, b, s2, A, c, D, m, C)
    for _ in range(20):
        step = [0.05 * rng.standard_normal(np.shape(a)) for a in (W, b, s2, A, c, D)]
        moved = [a + s for a, s in zip((W, b, s2, A, c, D), step, strict=True)]
        assert linear_gaussian_fisher(*moved, m, C) > J0


def test_negative_control_total_score_leaves_the_truth_non_stationary():
    """The total derivative of log q in x drops the stability term 1/2 tr(A^T D^-1 A); at the
    truth the expected gradient is then minus that term's gradient (derivations.md §12.7)."""
    W, b, s2, A, c, D, m, C = truth()
    X = exact_moment_data(m, C)
    model = linear_model(W, b, s2, A, c, D)
    _, grads = expected(model, X, FisherObjective(score="total"))
    k = 2
    np.testing.assert_allclose(grads["encoder.0.W"][:, :k], -(A / D[:, None]).T, atol=1e-12)
    np.testing.assert_allclose(
        grads["encoder.0.b"][k:], 0.5 * np.sum(A * A, axis=1) / D, atol=1e-12
    )
    assert np.max(np.abs(grads["encoder.0.W"][:, :k])) > 0.1


def detached_variances(W, A, s2):
    """Where the expected lambda-gradient vanishes when v is detached (derivations.md §12.7):
    (1 + 1/D)(P_jj D - 1) + D (W^T W)_jj / s2^2 - (A A^T)_jj / D = 0 (twice the
    gradient in log D), by bisection."""
    P = np.eye(W.shape[1]) + W.T @ W / s2
    out = []
    for j in range(W.shape[1]):

        def slope(var, j=j):
            return (
                (1 + 1 / var) * (P[j, j] * var - 1)
                + var * (W[:, j] @ W[:, j]) / s2**2
                - (A[j] @ A[j]) / var
            )

        lo, hi = 1e-6, 1e3
        for _ in range(200):
            mid = np.sqrt(lo * hi)
            lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
        out.append(np.sqrt(lo * hi))
    return np.array(out)


def test_variances_it_chooses_differ_from_the_elbo():
    """The project brief's check 5: W, A fixed; the Fisher-optimal and the ELBO-optimal
    variances."""
    W = 2 * np.array([[1, 0.9], [1, 1.1], [0.5, 0.4], [0.2, 0.3]])
    P = np.eye(2) + W.T @ W
    A = np.linalg.solve(P, W.T)
    fisher = fisher_optimal_variances(W, A, 1.0)
    elbo = 1.0 / np.diag(P)
    np.testing.assert_allclose(fisher, [0.0738614, 0.0741898], atol=5e-8)
    np.testing.assert_allclose(elbo, [0.0984252, 0.0992064], atol=5e-8)
    # The implementation agrees: its expected log-variance gradient is 0 at its own optimum
    # and not at the ELBO's, and the ELBO's is 0 at 1/P_jj and not at the Fisher optimum.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4))
    b, c = np.zeros(4), np.zeros(2)
    for D, objective, zero in [
        (fisher, "fisher", True),
        (elbo, "fisher", False),
        (elbo, "elbo", True),
        (fisher, "elbo", False),
    ]:
        model = linear_model(W, b, 1.0, A, c, D, objective=objective)
        _, grads = expected(model, X)
        slope = np.max(np.abs(grads["encoder.0.b"][2:]))
        assert (slope < 1e-12) if zero else (slope > 1e-2), (objective, D, slope)
    # Detaching the decoder's score moves the point where the variances stop: a third answer.
    detached = detached_variances(W, A, 1.0)
    model = linear_model(W, b, 1.0, A, c, detached)
    _, grads = expected(model, X, FisherObjective(detach_decoder_score=True))
    assert np.max(np.abs(grads["encoder.0.b"][2:])) < 1e-12
    assert np.min(np.abs(detached - fisher)) > 1e-3 and np.min(np.abs(detached - elbo)) > 1e-3
    # ... and away from it the slope is the formula of §12.7.
    D = np.array([0.2, 0.05])
    model = linear_model(W, b, 1.0, A, c, D)
    _, grads = expected(model, X, FisherObjective(detach_decoder_score=True))
    bracket = (1 + 1 / D) * (np.diag(P) * D - 1) + D * np.sum(W * W, axis=0)
    bracket -= np.sum(A * A, axis=1) / D
    np.testing.assert_allclose(grads["encoder.0.b"][2:], 0.5 * bracket, rtol=1e-12)


def test_training_recovers_the_singular_values_and_the_noise_variance():
    """The project brief's check 7: data from a linear-Gaussian model (d = 4, k = 2), whitened to
    the model's exact mean and covariance; Adam on the Fisher loss from a random start."""
    W, b, s2, *_, m, C = truth(s2=0.3, seed=3)
    rng = np.random.default_rng(4)
    raw = rng.standard_normal((2000, 4))
    raw = (raw - raw.mean(axis=0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(raw.T, bias=True)).T)
    X = raw @ np.linalg.cholesky(C).T + m
    model = VAE(4, 2, hidden=(), likelihood="gaussian_shared_var", objective="fisher", seed=5)
    # eps / sigma is noisy where sigma is small (the top direction has D = 0.07): 8 samples of
    # z per point, 1200 Adam steps. The top singular value approaches 2 slowly (J is flat along
    # it: at 1.98 the model's J is within 1e-3 of its minimum), so "a few percent" is 3%.
    model.n_samples = 8
    optimizer = Adam(model.params, lr=0.02)
    for epoch in range(300):
        if epoch == 250:
            optimizer.lr = 0.002
        for batch in np.array_split(rng.permutation(len(X)), 4):
            _, grads = model.loss_and_grads(X[batch])
            optimizer.step(grads)
    learned = np.linalg.svd(model.params["decoder.0.W"], compute_uv=False)
    np.testing.assert_allclose(learned, [2.0, 1.0], rtol=0.03)
    assert np.exp(model.params["likelihood.logvar"][0]) == pytest.approx(s2, rel=0.03)


def test_detached_decoder_score_keeps_the_truth_stationary():
    """At the truth q(z|x) is the exact posterior, so g = 0 for every x and eps: the z-block
    sends no gradient anywhere, detached or not (derivations.md §12.7)."""
    W, b, s2, A, c, D, m, C = truth()
    X = exact_moment_data(m, C)
    model = linear_model(W, b, s2, A, c, D)
    assert model.loss(X).z_score < 1e-25
    _, grads = expected(model, X, FisherObjective(detach_decoder_score=True))
    assert max(float(np.max(np.abs(g))) for g in grads.values()) < 1e-12
