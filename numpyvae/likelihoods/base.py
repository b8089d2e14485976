"""What every decoder likelihood p_theta(x|z) provides: the checklist for a new one.

A likelihood scores data x (B, d) against the decoder's output out (M, B, d'), one slice per
sample z_j. A new likelihood (say Poisson) subclasses `Likelihood` and provides:

1. `name`, the key it is registered under in numpyvae.likelihoods.LIKELIHOODS;
2. `log_prob_and_grad(x, out)`: log p(x|z) (M, B), summed over the d data dimensions, and its
   gradient d log p / d out (M, B, d'), derived in a section of derivations.md that the
   docstring names, and checked against finite differences in tests/test_likelihoods.py;
3. `mean(out)`, E[x|z] (generation method A), and `sample(out, rng)`, a draw x ~ p(x|z)
   (method B) (derivations.md §8.1);
4. where needed: `check_targets` (the data it accepts), `n_outputs(d)` (a decoder width other
   than d), and parameters of its own in `params` with `backward_params` (their gradient).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from numpyvae.validation import check_dtype


class Likelihood(ABC):
    """A decoder likelihood p_theta(x|z). Shapes: x (B, d); out (M, B, d')."""

    name: ClassVar[str]

    def __init__(self, *, dtype: np.dtype | type = np.float64) -> None:
        self.dtype = check_dtype("dtype", dtype)
        # A likelihood's own parameters (live arrays the optimizer updates), by name; the VAE
        # lists them as "likelihood.<name>". Most likelihoods have none.
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def n_outputs(self, data_dim: int) -> int:
        """How many numbers the decoder outputs per z: d unless the likelihood needs more."""
        return data_dim

    @abstractmethod
    def log_prob_and_grad(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(x|z) (M, B) and d log p / d out (M, B, d') from x (B, d), out (M, B, d')."""

    def log_prob(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """log p(x|z): (B, d), (M, B, d') -> (M, B)."""
        return self.log_prob_and_grad(x, out)[0]

    def backward_params(self, dlog_p: float | np.ndarray) -> dict[str, np.ndarray]:
        """The gradient of the likelihood's own parameters from dloss / d log p(x|z) (a float
        or (M, B)) at the last `log_prob_and_grad`; overwrites and returns `grads`."""
        return self.grads

    @abstractmethod
    def mean(self, out: np.ndarray) -> np.ndarray:
        """E[x|z] (..., d) from out (..., d'): generation method A (derivations.md §8.1)."""

    @abstractmethod
    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A draw x ~ p(x|z) (..., d) in out's dtype: generation method B (derivations.md §8.1)."""

    def check_targets(self, name: str, x: np.ndarray) -> None:
        """Raise ValueError, naming `name`, for data this likelihood cannot score; any finite
        real x by default."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
