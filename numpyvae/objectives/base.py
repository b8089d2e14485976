"""What every training objective gives the model: its loss and the gradient of every parameter.

An objective is chosen by name (`VAEConfig.objective`, the registry in
numpyvae.objectives). The checklist for a new one:

1. A subclass of `Objective` with a `name`, a one-line `summary` (the command line's help
   shows it), how reports call its loss and terms (`loss_name`, `term_names`, `units`), and
   the two methods below. `loss` evaluates it on a
   prepared batch (`VAE.prepare`) with noise eps (M, B, k); `loss_and_grads` also returns
   grads[name] shaped like model.params[name] for every parameter. These may be the model's
   own gradient buffer, which the next call overwrites (the trainer's hot path reads it in
   place); `VAE.loss_and_grads` hands the user a copy.
2. `check_config(config)`: the options it cannot work with, refused with a `ConfigError` that
   names the fields, the values and what is accepted (the model calls it before building).
3. Its formulas in a section of derivations.md, named in the docstrings, and a test that compares
   its gradient with finite differences of its loss through the whole model (tests/).
4. One entry in `numpyvae.objectives.OBJECTIVES`; the command line's `--objective` and the
   checkpoint's record follow from it.

Objectives that only need log p(x|z), z, eps and the encoder output h (the ELBOs, the IWAE
bound) subclass `PathwiseObjective` and write one function, `estimate`; the model carries its
partial derivatives back through the decoder, the reparameterization and the encoder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from numpyvae.constants import LOG_2PI

if TYPE_CHECKING:  # the model imports the objectives, not the other way round
    from numpyvae.config import VAEConfig
    from numpyvae.posteriors.base import Posterior
    from numpyvae.vae import VAE, Batch


@dataclass(frozen=True)
class LossParts:
    """The loss of a batch and its two terms, each averaged over the batch (nats).

    For the ELBO, loss = reconstruction + beta * kl (beta = 1 unless a KL weight is set,
    derivations.md §9.4). For the importance-weighted bound, `reconstruction` is the mean of
    -log p(x|z) over the K samples and `kl` is the rest, loss - reconstruction.
    """

    loss: float
    reconstruction: float
    kl: float


@dataclass(frozen=True)
class ObjectiveGrad:
    """A loss and its partial derivatives at the joints of the model.

    dlog_px: dloss / d log p(x | z_ij), a float (the same for all ij) or an array (M, B).
    dz: dloss / dz_ij along the paths that skip the decoder, (M, B, k), or None.
    dh: dloss / dh along the paths that skip z, (B, P).
    """

    parts: LossParts
    dlog_px: float | np.ndarray
    dz: np.ndarray | None
    dh: np.ndarray


def log_prior(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) = -k/2 log 2pi - 1/2 ||z||^2: z (..., k) -> (...) (derivations.md §7.1)."""
    k = z.shape[-1]
    return -0.5 * (k * LOG_2PI + np.sum(z * z, axis=-1))


def log_posterior(posterior: Posterior, h: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """log q(z | x) at z = g(h, eps), as log N(eps; 0, I) - log|det dz/deps| (derivations.md §7.1).

    h (B, P), eps (M, B, k) -> (M, B). No solve is needed: the eps that made z is known.
    """
    return log_prior(eps) - posterior.log_det_at(h, eps)


class Objective(ABC):
    """A training objective: the loss of a prepared batch and its gradients (see module doc)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # what it is, in a few words, with its derivations.md section
    # How reports name the loss and its two LossParts terms, and in what units they are.
    loss_name: ClassVar[str] = "loss"
    term_names: ClassVar[tuple[str, str]] = ("reconstruction", "rest")
    units: ClassVar[str] = "nats per image"
    uses_kl_weight: ClassVar[bool] = True  # whether beta (and a KL warm-up) means anything

    @classmethod
    def from_config(cls, config: VAEConfig) -> Objective:
        """The objective for a checked configuration; override to read its options."""
        return cls()

    @classmethod
    def check_config(cls, config: VAEConfig) -> None:
        """Raise `ConfigError` for options this objective cannot work with; none by default."""
        return None

    @abstractmethod
    def loss(self, model: VAE, batch: Batch, eps: np.ndarray, beta: float) -> LossParts:
        """The loss of `batch` (B rows) with noise eps (M, B, k) and KL weight beta."""

    @abstractmethod
    def loss_and_grads(
        self, model: VAE, batch: Batch, eps: np.ndarray
    ) -> tuple[LossParts, dict[str, np.ndarray]]:
        """The loss (with the model's beta) and grads[name] shaped like model.params[name]."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# An estimate of a pathwise objective: (log_px (M, B), z (M, B, k), eps (M, B, k), h (B, P),
# posterior, beta) -> the loss and its partial derivatives (ObjectiveGrad).
Estimate = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, "Posterior", float], ObjectiveGrad
]


class PathwiseObjective(Objective):
    """An objective computed from one forward pass of the model (see ObjectiveGrad).

    Its `estimate` function (the one thing a subclass chooses) sees log p(x|z) (M, B), z and
    eps (M, B, k) and the encoder output h (B, P); the model's `backward` carries the partial
    derivatives it returns through the networks (derivations.md §6.3).
    """

    def __init__(self, estimate: Estimate) -> None:
        self.estimate = estimate

    def evaluate(
        self, model: VAE, batch: Batch, eps: np.ndarray, beta: float
    ) -> tuple[ObjectiveGrad, np.ndarray]:
        """The estimate at one forward pass, and d log p(x|z) / d out (M, B, d')."""
        run = model.forward(batch, eps)
        log_px, dlog_px = model.likelihood.log_prob_and_grad(batch.x, run.out)
        return self.estimate(log_px, run.z, eps, run.h, model.posterior, beta), dlog_px

    def loss(self, model: VAE, batch: Batch, eps: np.ndarray, beta: float) -> LossParts:
        """The loss of `batch` with noise eps (M, B, k) and KL weight beta."""
        return self.evaluate(model, batch, eps, beta)[0].parts

    def loss_and_grads(
        self, model: VAE, batch: Batch, eps: np.ndarray
    ) -> tuple[LossParts, dict[str, np.ndarray]]:
        """One forward pass, the estimate, and the model's backward of its partials."""
        objective, dlog_px = self.evaluate(model, batch, eps, model.beta)
        return objective.parts, model.backward(batch, objective, dlog_px)
