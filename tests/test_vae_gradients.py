"""The whole model: the hand-written gradient of the negative ELBO against finite differences."""

import copy

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_model, numerical_gradient

D, K, B = 8, 3, 4


def batch(likelihood, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((B, D))
    return x if likelihood == "bernoulli" else 2 * x - 1


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("hidden", [(6,), (7, 5)])
@pytest.mark.parametrize("n_samples", [1, 3])
def test_whole_model_gradient_matches_finite_differences(likelihood, hidden, n_samples):
    model = VAE(D, K, hidden, likelihood=likelihood, n_samples=n_samples, seed=len(hidden))
    x = batch(likelihood)
    eps = np.random.default_rng(n_samples).standard_normal((n_samples, B, K))
    report = check_model(model, x, eps, tolerance=1e-6)
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == set(model.params)


@pytest.mark.parametrize("activation", ["tanh", "softplus", "leaky_relu", "sigmoid"])
def test_whole_model_gradient_for_other_activations(activation):
    model = VAE(D, 2, (5, 4), activation=activation, n_samples=2, seed=7, init="glorot")
    report = check_model(model, batch("bernoulli", seed=3), seed=11)
    assert report.passed, str(report)


def test_decoder_receives_no_kl_gradient():
    model = VAE(D, K, (6,), seed=1)
    x = batch("bernoulli")
    eps = np.random.default_rng(0).standard_normal((1, B, K))
    # The KL does not depend on theta: its finite-difference gradient is exactly zero ...
    for name in [n for n in model.params if n.startswith("decoder.")]:
        kl_grad = numerical_gradient(lambda: model.loss(x, eps).kl, model.params[name])
        assert not kl_grad.any(), name
    # ... and removing the analytic KL gradient leaves the decoder's gradient bit for bit.
    _, grads = model.loss_and_grads(x, eps)
    with_kl = {n: g.copy() for n, g in grads.items()}
    model.posterior.kl_grad = lambda h: np.zeros_like(h)
    _, without_kl = model.loss_and_grads(x, eps)
    for name in model.params:
        same = np.array_equal(with_kl[name], without_kl[name])
        assert same == name.startswith("decoder."), name


def test_backward_uses_forward_eps():
    model = VAE(D, K, (6,), n_samples=2, seed=3)
    x = batch("bernoulli")
    drawn = copy.deepcopy(model.rng).standard_normal((2, B, K))
    parts, grads = model.loss_and_grads(x)  # eps drawn inside, from the model's generator
    grads = {n: g.copy() for n, g in grads.items()}
    parts_again, grads_again = model.loss_and_grads(x, drawn)
    assert parts == parts_again
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_again[name])
    assert check_model(model, x, drawn).passed
    # A gradient computed with another eps is measurably different: the test can fail.
    _, other = model.loss_and_grads(x, drawn + 0.5)
    assert not np.allclose(other["encoder.0.W"], grads["encoder.0.W"])


def test_loss_is_reconstruction_plus_kl_averaged_over_batch_and_samples():
    model = VAE(D, K, (6,), likelihood="gaussian", n_samples=3, seed=2)
    x = batch("gaussian")
    eps = np.random.default_rng(1).standard_normal((3, B, K))
    parts = model.loss(x, eps)
    per_point = [model.loss(x[i : i + 1], eps[:, i : i + 1]).loss for i in range(B)]
    assert parts.loss == pytest.approx(np.mean(per_point), rel=1e-12)
    per_sample = [model.loss(x, eps[j : j + 1]).reconstruction for j in range(3)]
    assert parts.reconstruction == pytest.approx(np.mean(per_sample), rel=1e-12)
    assert parts.loss == pytest.approx(parts.reconstruction + parts.kl, rel=1e-15)


def test_inference_shapes_and_methods():
    model = VAE(D, K, (6,), seed=0)
    x = batch("bernoulli")
    mu = model.encode(x)
    assert mu.shape == (B, K)
    eps = np.ones((B, K))
    h = model.encoder.forward(x)
    sigma = np.exp(0.5 * model.posterior.split(h)[1])
    np.testing.assert_allclose(model.encode(x, "sample", eps=eps), mu + sigma, rtol=1e-12)
    means = model.generate(5)
    assert means.shape == (5, D) and np.all((means > 0) & (means < 1))
    samples = model.generate(5, method="sample")
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert model.reconstruct(x).shape == (B, D)
    with pytest.raises(ValueError, match="'mean', 'sample'"):
        model.generate(2, method="A")
