"""The Fisher auto-encoder's loss and gradients (derivations.md §12.2, §12.5, §12.7), float64.

Every parameter's gradient (encoder, decoder, learned variance) against centred differences of
the loss, through the reparameterization and the log-variance clamp; the two variants of the
authors' code, each against differences of the function it is the gradient of; the registry
and the configurations the objective refuses.
"""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.config import VAEConfig
from numpyvae.datasets import load_dataset
from numpyvae.datasets.noisy import NOISE_STD, add_noise, load_noisy_mnist, noisy_transform
from numpyvae.gradcheck import check_gradient, check_model
from numpyvae.layers import MLP
from numpyvae.objectives import OBJECTIVES, FisherObjective, FisherParts
from numpyvae.objectives.fisher import fisher_loss, fisher_loss_and_grads
from numpyvae.posteriors.diagonal_gaussian import LOGVAR_LIMIT
from numpyvae.validation import ConfigError, InvalidValueError

# h = 1e-5: the loss is O(1) and its gradients entries down to 1e-3, so the rounding error
# 1e-16 |L| / h stays near 1e-11 while the truncation h^2 |L'''| stays near 1e-10.
STEP = 1e-5
TOLERANCE = 1e-6


def networks(activation, seed=0, d=5, k=2, hidden=6):
    rng = np.random.default_rng(seed)
    encoder = MLP([d, hidden, 2 * k], activation=activation, rng=rng)
    decoder = MLP([k, hidden + 1, d], activation=activation, rng=rng)
    return encoder, decoder


def check_standalone(encoder, decoder, x, eps, logvar, **variant):
    """check_gradient of every parameter and of log s^2; returns the report."""
    logvar = np.array([logvar])
    _, grads, dlogvar = fisher_loss_and_grads(encoder, decoder, x, eps, logvar[0], **variant)
    analytic = {k: v.copy() for k, v in grads.items()}
    analytic["logvar"] = np.array([dlogvar])
    inputs = {f"encoder.{k}": v for k, v in encoder.params.items()}
    inputs.update({f"decoder.{k}": v for k, v in decoder.params.items()})
    inputs["logvar"] = logvar
    score = variant.get("score", "partial")

    def loss():
        return fisher_loss(encoder, decoder, x, eps, logvar[0], score=score).loss

    return check_gradient(loss, inputs, analytic, h=STEP, tolerance=TOLERANCE)


@pytest.mark.parametrize("activation", ["tanh", "softplus", "sigmoid", "relu", "leaky_relu"])
def test_every_gradient_matches_finite_differences(activation):
    encoder, decoder = networks(activation)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5))
    eps = rng.standard_normal((2, 3, 2))  # M = 2: the rows j B + i
    report = check_standalone(encoder, decoder, x, eps, 0.3)
    assert report.passed, str(report)


def test_gradient_through_the_log_variance_clamp():
    """A raw log sigma^2 beyond the clamp: its gradient is 0 there, like the loss's slope."""
    encoder, decoder = networks("tanh", seed=2)
    encoder.params["1.b"][2] = LOGVAR_LIMIT + 5.0  # latent 0 of every row beyond +30
    encoder.params["1.b"][3] = -LOGVAR_LIMIT - 5.0  # latent 1 beyond -30
    encoder.params["1.W"][:, 2:] *= 0.01
    rng = np.random.default_rng(3)
    # sigma = e^{+-17.5}: eps ~ 1e-7 keeps sigma eps and eps / sigma of order 1.
    x, eps = rng.standard_normal((3, 5)), 1e-7 * rng.standard_normal((1, 3, 2))
    report = check_standalone(encoder, decoder, x, eps, -0.2)
    assert report.passed, str(report)
    _, grads, _ = fisher_loss_and_grads(encoder, decoder, x, eps)
    np.testing.assert_array_equal(grads["encoder.1.b"][2:], 0.0)


@pytest.mark.parametrize("likelihood", ["gaussian", "gaussian_shared_var"])
def test_model_gradients_by_numpyvae_gradcheck(likelihood):
    model = VAE(6, 2, hidden=(5, 4), likelihood=likelihood, objective="fisher", activation="tanh")
    model.n_samples = 2
    if likelihood == "gaussian_shared_var":
        model.params["likelihood.logvar"][:] = -0.4
    x = np.random.default_rng(0).standard_normal((4, 6))
    report = check_model(model, x, h=STEP, tolerance=TOLERANCE)
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == set(model.params)


def test_parts_add_up_and_map_onto_loss_parts():
    model = VAE(6, 2, hidden=(5,), likelihood="gaussian", objective="fisher")
    x = np.random.default_rng(1).standard_normal((4, 6))
    parts = model.loss(x)
    assert isinstance(parts, FisherParts)
    assert parts.loss == pytest.approx(parts.z_score + parts.x_score + parts.stability, abs=1e-12)
    assert parts.reconstruction == parts.x_score
    assert parts.kl == pytest.approx(parts.z_score + parts.stability, abs=1e-12)
    assert parts.z_score > 0 and parts.stability > 0
    # For s = 1 and f = 0 the x-score is 1/2 ||x||^2 - d: the Laplacian term is -d / s^2.
    model.params["decoder.1.W"][:] = 0.0
    model.params["decoder.1.b"][:] = 0.0
    parts = model.loss(x)
    assert parts.x_score == pytest.approx(0.5 * np.mean(np.sum(x * x, axis=1)) - 6, abs=1e-12)


def test_total_score_variant_is_the_gradient_of_its_own_loss():
    """score="total": grad_x of log q(mu(x) + sigma(x) eps | x) = J_lambda^T (-1/2)."""
    encoder, decoder = networks("tanh", seed=4)
    rng = np.random.default_rng(5)
    x, eps = rng.standard_normal((3, 5)), rng.standard_normal((1, 3, 2))
    report = check_standalone(encoder, decoder, x, eps, 0.1, score="total")
    assert report.passed, str(report)
    # Its stability term is 1/8 ||J_lambda(x)^T 1||^2, whatever eps is.
    other = rng.standard_normal((1, 3, 2))
    a = fisher_loss(encoder, decoder, x, eps, score="total").stability
    b = fisher_loss(encoder, decoder, x, other, score="total").stability
    assert a == pytest.approx(b, rel=1e-14)
    encoder.forward(x)
    k = 2
    ones = np.concatenate([np.zeros((3, k)), np.ones((3, k))], axis=1)
    expected = 0.125 * np.mean(np.sum(encoder.vjp(ones) ** 2, axis=1))
    assert a == pytest.approx(expected, rel=1e-12)


def test_detached_decoder_score_is_the_gradient_with_v_frozen():
    """detach_decoder_score: the gradient of the loss in which v = J_f(z)^T r is a constant
    (frozen at its value), and the decoder gets the x-score's gradient alone."""
    encoder, decoder = networks("softplus", seed=6)
    rng = np.random.default_rng(7)
    x, eps = rng.standard_normal((3, 5)), rng.standard_normal((2, 3, 2))
    logvar = np.array([0.2])
    _, grads, dlogvar = fisher_loss_and_grads(
        encoder, decoder, x, eps, logvar[0], detach_decoder_score=True
    )
    grads = {k: v.copy() for k, v in grads.items()}
    # v at the current parameters, frozen.
    frozen = fisher_loss(encoder, decoder, x, eps, logvar[0])
    n, k = 6, 2
    e = eps.reshape(n, k)
    xr = np.tile(x, (2, 1))
    h = encoder.forward(xr)
    z = h[:, :k] + np.exp(0.5 * h[:, k:]) * e
    r = (xr - decoder.forward(z)) * np.exp(-logvar[0])
    v_frozen = decoder.vjp(r)

    def surrogate():
        h = encoder.forward(xr)
        sigma = np.exp(0.5 * h[:, k:])
        z = h[:, :k] + sigma * e
        r = (xr - decoder.forward(z)) * np.exp(-logvar[0])
        g = z - e / sigma - v_frozen
        u = np.concatenate([e / sigma, 0.5 * (e * e - 1)], axis=1)
        w = encoder.vjp(u)
        return (0.5 * np.sum(g * g) + 0.5 * np.sum(r * r) + 0.5 * np.sum(w * w)) / n - 5 * np.exp(
            -logvar[0]
        )

    assert surrogate() == pytest.approx(frozen.loss, rel=1e-13)
    inputs = {f"encoder.{k}": v for k, v in encoder.params.items()}
    inputs.update({f"decoder.{k}": v for k, v in decoder.params.items()})
    inputs["logvar"] = logvar
    grads["logvar"] = np.array([dlogvar])
    report = check_gradient(surrogate, inputs, grads, h=STEP, tolerance=TOLERANCE)
    assert report.passed, str(report)
    # The decoder's gradient is that of the x-score alone.
    _, full, _ = fisher_loss_and_grads(encoder, decoder, x, eps, logvar[0])
    assert any(np.max(np.abs(full[n] - grads[n])) > 1e-3 for n in full if n.startswith("decoder"))

    def x_score():
        h = encoder.forward(xr)
        z = h[:, :k] + np.exp(0.5 * h[:, k:]) * e
        r = (xr - decoder.forward(z)) * np.exp(-logvar[0])
        return 0.5 * np.sum(r * r) / n

    decoder_only = {f"decoder.{k}": v for k, v in decoder.params.items()}
    report = check_gradient(x_score, decoder_only, grads, h=STEP, tolerance=TOLERANCE)
    assert report.passed, str(report)


def test_registry_and_float32():
    assert OBJECTIVES["fisher"] is FisherObjective
    model = VAE(
        6, 2, hidden=(5,), likelihood="gaussian_shared_var", objective="fisher", dtype="float32"
    )
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    parts, grads = model.loss_and_grads(x)
    assert np.isfinite(parts.loss)
    for name, p in model.params.items():
        assert grads[name].shape == p.shape and grads[name].dtype == np.float32, name


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"likelihood": "bernoulli"}, "likelihood='bernoulli'"),
        ({"likelihood": "gaussian_pixel_var"}, "likelihood='gaussian_pixel_var'"),
        ({"posterior": "full"}, "posterior='full'"),
        ({"n_classes": 10}, "n_classes=10"),
        ({"beta": 0.5}, "beta=0.5"),
    ],
)
def test_configurations_it_cannot_train_are_refused(change, words):
    settings = {"data_dim": 6, "latent_dim": 2, "likelihood": "gaussian", "objective": "fisher"}
    settings.update(change)
    with pytest.raises(ConfigError) as info:
        VAEConfig(**settings)
    message = str(info.value)
    assert words in message and "objective='fisher'" in message and "\n" not in message


def test_binarized_data_is_refused_in_one_line():
    model = VAE(6, 2, hidden=(5,), likelihood="gaussian", objective="fisher")
    x = (np.random.default_rng(0).random((4, 6)) < 0.5).astype(np.float64)
    for call in (model.loss, model.loss_and_grads):
        with pytest.raises(InvalidValueError) as info:
            call(x)
        assert "continuous" in str(info.value) and "\n" not in str(info.value)
    x[0, 0] = 0.5  # one grey value: continuous enough to be a density's sample
    assert np.isfinite(model.loss(x).loss)


def test_noisy_mnist_adds_the_documented_noise():
    data = load_dataset("embedded")
    noisy = load_noisy_mnist("embedded", seed=3)
    assert noisy.x_train.shape == data.x_train.shape and noisy.x_train.dtype == np.float64
    residual = noisy.x_train - data.x_train
    assert residual.std() == pytest.approx(NOISE_STD, rel=1e-3)
    assert abs(residual.mean()) < 1e-3
    np.testing.assert_array_equal(noisy.y_test, data.y_test)
    again = load_noisy_mnist("embedded", seed=3)
    np.testing.assert_array_equal(again.x_test, noisy.x_test)  # the test noise is fixed
    transform = noisy_transform()
    rng = np.random.default_rng(0)
    first, second = transform(data.x_test[:5], rng), transform(data.x_test[:5], rng)
    assert not np.array_equal(first, second)  # fresh noise per minibatch
    assert add_noise(data.x_test[:2].astype(np.float32), rng).dtype == np.float32
