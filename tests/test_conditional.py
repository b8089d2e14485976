"""The conditional VAE: q(z|x, c) and p(x|z, c) with one-hot labels c (derivations.md §9.2)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_gradient


def batch(n=6, d=8, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, d)) < 0.5).astype(float), rng.integers(0, n_classes, n)


def check_conditional(model, x, c, eps):
    _, grads = model.loss_and_grads(x, eps, c=c)
    return check_gradient(
        lambda: model.loss(x, eps, c=c).loss, model.params, {n: g.copy() for n, g in grads.items()}
    )


@pytest.mark.parametrize(
    "options",
    [
        dict(hidden=(7,), activation="tanh", seed=0),
        dict(hidden=(6, 5), activation="relu", seed=3, n_samples=2, posterior="full"),
        dict(hidden=(5,), activation="tanh", seed=4, objective="iwae", n_samples=3),
        dict(hidden=(5,), seed=5, kl_estimator="sampled", likelihood="gaussian_shared_var"),
    ],
)
def test_gradient_through_the_whole_model(options):
    model = VAE(8, 2, n_classes=3, **options)
    x, c = batch()
    eps = np.random.default_rng(1).standard_normal((model.n_samples, 6, 2))
    report = check_conditional(model, x, c, eps)
    assert report.passed, str(report)


def test_labels_enter_encoder_and_decoder():
    model = VAE(8, 2, (5,), n_classes=3, seed=0)
    assert model.encoder.sizes[0] == 8 + 3 and model.decoder.sizes[0] == 2 + 3
    x, c = batch()
    z = model.encode(x, c=c)
    assert not np.allclose(z, model.encode(x, c=(c + 1) % 3))
    assert not np.allclose(model.decode(z, c=0), model.decode(z, c=1))
    np.testing.assert_array_equal(model.decode(z, c=2), model.decode(z, c=np.full(6, 2)))
    assert model.reconstruct(x, c=c).shape == (6, 8)
    assert np.isfinite(model.evaluate(x, c=c).loss)
    assert model.log_likelihood(x, 10, c=c).shape == (6,)


def test_labels_are_checked():
    x, c = batch()
    conditional, plain = VAE(8, 2, (5,), n_classes=3), VAE(8, 2, (5,))
    with pytest.raises(ValueError, match="required"):
        conditional.loss(x)
    with pytest.raises(ValueError, match="not conditional"):
        plain.loss(x, c=c)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        conditional.loss(x, c=c + 3)
    with pytest.raises(ValueError, match="shape"):
        conditional.loss(x, c=c[:3])
    with pytest.raises(TypeError, match="integer"):
        conditional.loss(x, c=c.astype(float))


def test_generation_draws_the_requested_digit():
    """After 3 epochs on the embedded MNIST subset, digits drawn with label c look like c.

    Judge: a nearest-centroid classifier fitted on the training images (about 80% accurate
    on the real test images). Chance is 10%; we require more than 50%.
    """
    from numpyvae.datasets import load_embedded_mnist
    from numpyvae.optim import Adam
    from numpyvae.train import Trainer

    data = load_embedded_mnist(np.float32)
    x, y = data.x_train, data.y_train
    model = VAE(784, 2, (128,), n_classes=10, dtype=np.float32, seed=0)
    trainer = Trainer(model, Adam(model.params, lr=2e-3), batch_size=100, seed=0)
    history = trainer.fit(x, 3, y_train=y, x_test=data.x_test, y_test=data.y_test)
    assert history.test_loss[-1] < history.test_loss[0]
    centroids = np.stack([x[y == k].mean(axis=0) for k in range(10)])

    def classify(images):
        return np.argmin(((images[:, None, :] - centroids[None]) ** 2).sum(axis=-1), axis=1)

    labels = np.repeat(np.arange(10), 30)
    accuracy = np.mean(classify(model.generate(300, c=labels)) == labels)
    assert accuracy > 0.5, accuracy
