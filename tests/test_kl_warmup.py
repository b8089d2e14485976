"""The KL weight beta and the linear KL warm-up of the Trainer (derivations.md §9.4)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_model
from numpyvae.optim import SGD
from numpyvae.train import Trainer, linear_warmup


def binary_batch(n=5, d=8, seed=0):
    return (np.random.default_rng(seed).random((n, d)) < 0.5).astype(np.float64)


@pytest.mark.parametrize("beta", [0.0, 0.3, 4.0])
@pytest.mark.parametrize(
    "options",
    [
        dict(hidden=(7,), activation="tanh", seed=0),
        # Two tanh layers: at beta = 0 the first layer's gradient is small (about 1e-4), and
        # with ReLU or softplus the rounding noise of the differences nears 1e-6 of it.
        dict(hidden=(6, 5), activation="tanh", seed=3, n_samples=2, kl_estimator="sampled"),
        dict(hidden=(5,), activation="tanh", seed=4, posterior="full"),
    ],
)
def test_gradient_with_a_kl_weight(beta, options):
    model = VAE(8, 3, beta=beta, **options)
    report = check_model(model, binary_batch())
    assert report.passed, str(report)


def test_loss_is_reconstruction_plus_beta_times_kl():
    x = binary_batch()
    eps = np.random.default_rng(1).standard_normal((1, 5, 3))
    plain, weighted = VAE(8, 3, (7,)), VAE(8, 3, (7,), beta=0.25)
    a, b = plain.loss(x, eps), weighted.loss(x, eps)
    assert (b.reconstruction, b.kl) == (a.reconstruction, a.kl)
    assert b.loss == pytest.approx(a.reconstruction + 0.25 * a.kl, rel=1e-14)


def test_evaluate_reports_the_unweighted_bound():
    x = binary_batch(20)
    model = VAE(8, 3, (7,), beta=0.1)
    model.rng = np.random.default_rng(5)
    weighted = model.evaluate(x)
    model.beta, model.rng = 1.0, np.random.default_rng(5)
    assert model.evaluate(x) == weighted


def test_beta_is_validated():
    with pytest.raises(ValueError, match="beta"):
        VAE(4, 2, beta=-1.0)
    with pytest.raises(TypeError, match="beta"):
        VAE(4, 2, beta="1")


def test_linear_warmup_values():
    assert [linear_warmup(t, 4) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert [linear_warmup(t, 2, final=0.5) for t in range(3)] == [0.0, 0.25, 0.5]
    assert linear_warmup(0, 0) == 1.0


def test_trainer_sets_beta_before_every_step():
    """Steps 0..7 of 4 per epoch with a 5-step warm-up: beta = 0, .2, .4, .6, .8, 1, 1, 1."""
    x = binary_batch(16)
    model = VAE(8, 3, (7,))
    seen = []
    step = model.gradients

    def spy(*args):
        seen.append(model.beta)
        return step(*args)

    model.gradients = spy
    trainer = Trainer(model, SGD(model.params, lr=0.01), batch_size=4, kl_warmup_steps=5)
    trainer.fit(x, epochs=2)
    np.testing.assert_allclose(seen, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0], rtol=1e-15)
    assert model.beta == 1.0


def test_warmup_ramps_to_the_models_own_beta_and_validates():
    model = VAE(8, 3, (7,), beta=0.5)
    trainer = Trainer(model, SGD(model.params, lr=0.01), batch_size=4, kl_warmup_steps=2)
    trainer.fit(binary_batch(4), epochs=1)
    assert model.beta == 0.0  # one step done at t = 0
    trainer.fit(binary_batch(4), epochs=2)
    assert model.beta == 0.5
    with pytest.raises(ValueError, match="kl_warmup_steps"):
        Trainer(model, SGD(model.params), kl_warmup_steps=-1)
