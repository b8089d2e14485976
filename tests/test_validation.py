"""Bad input at the public boundary: the error type and the words that teach (tests/README.md)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.objectives.iwae import log_likelihood
from numpyvae.optim import SGD, Adam
from numpyvae.train import Trainer
from numpyvae.validation import RANGE_BLOCK, value_range

D, K = 6, 2


@pytest.fixture
def model():
    return VAE(D, K, (4,), seed=0)


def good_x(n=3):
    return np.random.default_rng(0).random((n, D))


BAD_DATA = [
    ("one-dimensional", lambda: good_x()[0], ValueError, r"shape \(batch, 6\), got shape \(6,\)"),
    ("wrong features", lambda: good_x()[:, :5], ValueError, r"shape \(batch, 6\), got .*\(3, 5\)"),
    ("NaN", lambda: np.where(np.eye(3, D) > 0, np.nan, good_x()), ValueError, "NaN or infinity"),
    ("infinity", lambda: np.full((2, D), np.inf), ValueError, "row 0, column 0"),
    ("pixels 0..255", lambda: 255 * good_x(), ValueError, "divide by 255"),
    ("negative values", lambda: good_x() - 0.5, ValueError, r"\[0, 1\] for the Bernoulli"),
    ("integer dtype", lambda: (255 * good_x()).astype(np.uint8), TypeError, "/ 255"),
    ("empty batch", lambda: np.zeros((0, D)), ValueError, "empty batch"),
    ("a list", lambda: good_x().tolist(), TypeError, "NumPy array of shape"),
    ("strings", lambda: np.array([["a"] * D]), TypeError, "must hold floats"),
]


@pytest.mark.parametrize("case,make,error,words", BAD_DATA, ids=[c[0] for c in BAD_DATA])
@pytest.mark.parametrize("method", ["loss", "loss_and_grads", "encode", "reconstruct", "evaluate"])
def test_bad_data_is_refused_by_every_entry_point(model, case, make, error, words, method):
    with pytest.raises(error, match=words):
        getattr(model, method)(make())


BAD_MODELS = [
    ("latent size 0", dict(latent_dim=0), ValueError, "latent_dim must be a positive integer"),
    ("hidden size 0", dict(hidden=(8, 0)), ValueError, r"hidden\[1\] must be a positive"),
    ("hidden size 2.5", dict(hidden=(2.5,)), TypeError, r"hidden\[0\] must be a positive"),
    ("M = 0", dict(n_samples=0), ValueError, "n_samples must be a positive integer"),
    ("likelihood", dict(likelihood="poisson"), ValueError, "'bernoulli', 'gaussian'.*'poisson'"),
    ("activation", dict(activation="gelu"), ValueError, "'relu'.*got 'gelu'"),
    ("posterior", dict(posterior="flow"), ValueError, "'diagonal', 'full'"),
    ("dtype", dict(dtype=np.int32), TypeError, "float32 or float64, got int32"),
    ("init", dict(init="zeros"), ValueError, "'uniform', 'he', 'glorot'"),
    ("beta", dict(beta=-1.0), ValueError, "beta must be a finite number >= 0, got -1.0"),
    ("objective", dict(objective="cubo"), ValueError, "'elbo', 'iwae'"),
]


@pytest.mark.parametrize("case,kwargs,error,words", BAD_MODELS, ids=[c[0] for c in BAD_MODELS])
def test_bad_model_construction(case, kwargs, error, words):
    arguments = dict(data_dim=D, latent_dim=K) | kwargs
    with pytest.raises(error, match=words):
        VAE(**arguments)


def test_bad_eps(model):
    x = good_x()
    with pytest.raises(ValueError, match=r"eps must have shape \(M, 3, 2\) or \(3, 2\), got"):
        model.loss(x, np.zeros((1, 4, K)))
    with pytest.raises(ValueError, match="eps contains NaN"):
        model.loss(x, np.full((1, 3, K), np.nan))
    with pytest.raises(TypeError, match="eps must be a float NumPy array"):
        model.loss(x, np.zeros((1, 3, K), dtype=int))


def test_bad_inference_arguments(model):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.generate(0)
    with pytest.raises(ValueError, match="method must be one of 'mean', 'sample'; got 'B'"):
        model.encode(good_x(), method="B")
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 2\)"):
        model.decode(np.zeros((3, 5)))


def test_bad_importance_sample_count(model):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        log_likelihood(model, good_x(), n_samples=0)


def test_bad_labels_for_a_conditional_model():
    cvae = VAE(D, K, (4,), n_classes=3, seed=0)
    with pytest.raises(ValueError, match=r"c must lie in \[0, 2\]"):
        cvae.loss(good_x(), c=np.array([0, 1, 3]))
    with pytest.raises(ValueError, match="c \\(labels\\) is required"):
        cvae.loss(good_x())
    with pytest.raises(ValueError, match="not conditional"):
        VAE(D, K, (4,)).loss(good_x(), c=np.array([0, 1, 2]))


def test_bad_training_arguments(model):
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0"):
        Adam(model.params, lr=0.0)
    with pytest.raises(ValueError, match="momentum must be a number in"):
        SGD(model.params, lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Trainer(model, Adam(model.params), batch_size=0)
    trainer = Trainer(model, Adam(model.params))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        trainer.fit(good_x(), 0)
    with pytest.raises(ValueError, match="divide by 255"):
        trainer.fit(255 * good_x(), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, RANGE_BLOCK - 1, RANGE_BLOCK, 3 * RANGE_BLOCK + 5])
def test_value_range_is_the_minimum_and_maximum_and_sees_every_bad_entry(dtype, size):
    x = np.random.default_rng(size).standard_normal(size).astype(dtype)
    assert value_range(x) == (float(x.min()), float(x.max()))
    assert value_range(x.reshape(1, -1)[:, ::-1]) == value_range(x)  # not contiguous
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, size // 2, size - 1}:  # first block, middle, last (partial) block
            y = x.copy()
            y[where] = bad
            assert not np.all(np.isfinite(value_range(y))), (bad, where)
