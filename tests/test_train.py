"""The training loop: it learns, it is reproducible, it keeps the model's dtype."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.datasets import two_moons
from numpyvae.optim import SGD, Adam
from numpyvae.train import DivergenceError, Trainer


def blobs(n=600, d=12, seed=0):
    """Binary images made of two prototypes with a few flipped pixels: easy to learn."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((2, d)) < 0.5
    x = prototypes[rng.integers(0, 2, n)]
    flips = rng.random((n, d)) < 0.05
    return (x ^ flips).astype(np.float64)


def train(seed=0, epochs=8, dtype=np.float64):
    model = VAE(12, 2, (16,), seed=seed, dtype=dtype)
    trainer = Trainer(model, Adam(model.params, lr=1e-2), batch_size=32, seed=seed)
    x = blobs().astype(dtype)
    history = trainer.fit(x[:500], epochs, x_test=x[500:])
    return model, history


def test_training_lowers_loss():
    _, history = train()
    # Before training the loss is about d log 2 = 8.3 nats; two prototypes with 5% noise are
    # worth about 1 + 12 * H(0.05) = 3.4 nats. Ask for a drop of at least 3 nats.
    assert history.loss[0] - history.loss[-1] > 3.0
    assert history.test_loss[-1] < history.test_loss[0] - 3.0
    assert len(history) == 8 and len(history.test_kl) == 8


def test_same_seed_gives_bitwise_identical_weights():
    a, history_a = train(seed=3, epochs=3)
    b, history_b = train(seed=3, epochs=3)
    c, _ = train(seed=4, epochs=3)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert history_a == history_b
    assert not np.array_equal(a.params["decoder.1.W"], c.params["decoder.1.W"])


def test_float32_model_keeps_float32():
    model, history = train(epochs=2, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in model.params.values())
    x = blobs()[:8].astype(np.float32)
    _, grads = model.loss_and_grads(x)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.generate(3).dtype == np.float32 and model.encode(x).dtype == np.float32
    assert np.isfinite(history.loss[-1])


def test_gaussian_vae_learns_two_moons():
    x, _ = two_moons(800, noise=0.05, rng=np.random.default_rng(0))
    x = 4.0 * x  # spread the moons well beyond the decoder's fixed unit noise
    model = VAE(2, 1, (32, 32), likelihood="gaussian", activation="tanh", seed=1)
    trainer = Trainer(model, Adam(model.params, lr=5e-3), batch_size=64, seed=1)
    history = trainer.fit(x, 30)
    # A decoder that ignored z could do no better than N(x; mean of x, I):
    ignoring_z = np.log(2 * np.pi) + 0.5 * x.var(axis=0).sum()
    assert history.loss[-1] < ignoring_z - 2.0
    assert history.kl[-1] > 0.5  # the latent carries information


def test_divergence_names_the_epoch_and_step():
    # SGD at a learning rate a thousand times too large blows the Gaussian decoder up.
    model = VAE(12, 2, (16,), likelihood="gaussian", seed=0)
    trainer = Trainer(model, SGD(model.params, lr=1.0, momentum=0.9), batch_size=50, seed=0)
    with (
        np.errstate(all="ignore"),
        pytest.raises(
            DivergenceError, match=r"epoch 1, step \d+; lower the learning rate \(now 1\)"
        ),
    ):
        trainer.fit(blobs(), 20)
    # the diverged epoch is not recorded, and not counted as finished either
    assert trainer.epoch == 0 and len(trainer.history) == 0
