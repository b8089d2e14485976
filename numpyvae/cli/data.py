"""The data of a command: MNIST loaded and binarized as the run's options say."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from numpyvae.datasets import binarize, load_dataset
from numpyvae.datasets.noisy import NOISE_KEY, NOISE_STD, add_noise, noisy_transform
from numpyvae.vae import VAE
from numpyvae.validation import InputError

N_DIGITS = 10  # the classes c of a conditional VAE (--conditional): the digit labels 0..9
# A fixed second word for the generator that binarizes the test set once ("dynamic"), so the
# test set depends on --seed only, and a resumed run evaluates on the same binary images.
TEST_BINARIZE_KEY = 0x7E57


@dataclass
class Data:
    """The prepared data of a run: training and test images (N, d) and their labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None


def resolve_binarize(binarize: str | None, likelihood: str) -> str:
    """The binarization to use: the one asked for, else the likelihood's natural default."""
    if binarize is not None:
        return binarize
    return "dynamic" if likelihood == "bernoulli" else "none"


# The words of numpyvae.datasets' errors (its arguments) and the options that set them.
API_WORDS = (
    (r"\bname='(\w+)'", r"--data \1"),
    (r"\bdata_dir='([^']*)'", r"--data-dir \1"),
    (r"\(from data_dir\)", "(from --data-dir)"),
    (r"\bdata_dir=", "--data-dir"),
    (r"\band download=False\b", "and --download was not given"),
)


def in_command_words(message: str) -> str:
    """A message of numpyvae.datasets in the command line's words (name='mnist' -> --data
    mnist, data_dir -> --data-dir, download=False -> --download not given)."""
    for pattern, words in API_WORDS:
        message = re.sub(pattern, words, message)
    return message


def load_data(config: dict[str, Any], download: bool = False) -> Data:
    """Load and prepare MNIST as `config` says (data, data_dir, limit, binarize, seed, dtype).
    An error of the loader keeps its type and speaks of the command line's options."""
    try:
        dataset = load_dataset(
            config["data"], config["data_dir"], dtype=np.dtype(config["dtype"]), download=download
        )
    except (InputError, OSError) as exc:
        exc.args = (in_command_words(str(exc)),)
        raise
    n = config["limit"]
    x_train, y_train = dataset.x_train[:n], dataset.y_train[:n]
    x_test, y_test = dataset.x_test[:n], dataset.y_test[:n]
    method = config["binarize"]
    transform = None
    if method == "threshold":
        x_train, x_test = binarize(x_train, "threshold"), binarize(x_test, "threshold")
    elif method == "dynamic":
        test_rng = np.random.default_rng([config["seed"], TEST_BINARIZE_KEY])
        x_test = binarize(x_test, "dynamic", test_rng)

        def transform(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return binarize(xb, "dynamic", rng)

    # The Fisher objective needs a smooth data density: grayscale digits plus N(0, 0.1^2)
    # noise, fresh per minibatch, the test set's drawn once from --seed (derivations.md §12.3).
    source, std = dataset.source, config.get("noise")
    if std is None:
        std = NOISE_STD if config.get("objective") == "fisher" and method == "none" else 0.0
    if std > 0:
        x_test = add_noise(x_test, np.random.default_rng([config["seed"], NOISE_KEY]), std)
        transform, source = noisy_transform(std), f"{source} + N(0, {std:g}^2) noise"
    return Data(x_train, y_train, x_test, y_test, source, transform)


def labels_for(model: VAE, y: np.ndarray) -> np.ndarray | None:
    """The labels c to pass with the data: `y` for a conditional model, else None."""
    return None if model.n_classes is None else y


def data_name(source: str) -> str:
    """'mnist' or 'embedded': what "auto" resolved to, so a resumed run loads the same."""
    return "embedded" if source.startswith("embedded") else "mnist"
