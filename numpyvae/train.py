"""The training loop: shuffled minibatches, one optimizer step each, a history per epoch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from numpyvae.diagnostics import diagnose
from numpyvae.history import History
from numpyvae.optim import Optimizer
from numpyvae.vae import VAE, Batch, LossParts
from numpyvae.validation import (
    InvalidTypeError,
    InvalidValueError,
    check_non_negative_int,
    check_positive_int,
)


def linear_warmup(step: int, warmup_steps: int, final: float = 1.0) -> float:
    """The KL weight at optimizer step `step` (0 for the first): final * min(1, step / n).

    beta rises linearly from 0 at step 0 to `final` at step n = `warmup_steps` and stays
    there (derivations.md §9.4); n = 0 means no warm-up (always `final`).
    """
    if warmup_steps <= 0 or step >= warmup_steps:
        return final
    return final * (step / warmup_steps)


# The latent diagnostics recorded after each epoch use the first this-many test points: enough
# for a stable count of active units, cheap next to the test loss (one encoder pass and an
# N x N table for I(x; z), which log N = 7.6 nats bounds; derivations.md §13.4). A flow's
# sampled means and its I(x; z) on the first 256 of them cost 0.1 to 0.4 s (k = 20, K = 2 to 8).
DIAGNOSTIC_POINTS = 2000

# A minibatch loss this many times larger (in size) than the first one means the training has
# diverged: on MNIST the first loss is about 550 nats, so the bound is about 55,000 nats, far
# beyond any loss of a training that learns, far below the 1e16 that Adam at lr 100 reaches.
EXPLOSION_FACTOR = 100.0


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite, or exploded far above where it started."""


class Trainer:
    """Trains a VAE with an optimizer over shuffled minibatches, reproducibly from `seed`.

    `seed` drives the shuffling (and `transform`'s randomness); the model's own generator
    draws eps. `transform(x_batch, rng)`, if given, maps each minibatch before the step, for
    example dynamic binarization.

    KL warm-up (derivations.md §9.4): with `kl_warmup_steps` = n > 0 the model's KL weight
    `model.beta` is set before every step to beta * min(1, t / n), t the optimizer's step count
    (so a restored optimizer resumes the schedule), beta the model's weight when the Trainer
    was made (1 for the ELBO). Convert epochs with n = epochs * ceil(N / batch_size).
    """

    def __init__(
        self,
        model: VAE,
        optimizer: Optimizer,
        *,
        batch_size: int = 128,
        seed: int = 0,
        transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        kl_warmup_steps: int = 0,
    ) -> None:
        if not isinstance(model, VAE):
            raise InvalidTypeError(f"model must be a numpyvae VAE, got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise InvalidTypeError(
                "optimizer must be a numpyvae optimizer (SGD, Adam), got "
                f"{type(optimizer).__name__}"
            )
        if any(optimizer.params.get(name) is not p for name, p in model.params.items()):
            raise InvalidValueError(
                "optimizer must update this model's parameters: build it with "
                "Adam(model.params) (or SGD(model.params)) of the same model"
            )
        if transform is not None and not callable(transform):
            raise InvalidTypeError(
                f"transform must be a function (x_batch, rng) -> x_batch or None, got {transform!r}"
            )
        self.model = model
        self.optimizer = optimizer
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = check_non_negative_int("seed", seed)
        self.rng = np.random.default_rng(self.seed)
        self.transform = transform
        if isinstance(kl_warmup_steps, bool) or not isinstance(kl_warmup_steps, (int, np.integer)):
            raise InvalidTypeError(
                f"kl_warmup_steps must be an integer >= 0, got {kl_warmup_steps!r}"
            )
        if kl_warmup_steps < 0:
            raise InvalidValueError(
                f"kl_warmup_steps must be >= 0 (0: no warm-up), got {kl_warmup_steps}"
            )
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.final_beta = model.beta
        self.epoch = 0
        self.history = History()
        self._first_loss: float | None = None  # what a divergence is measured against

    def fit(
        self,
        x_train: np.ndarray,
        epochs: int,
        *,
        y_train: np.ndarray | None = None,
        x_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        progress: bool = False,
        on_epoch_end: Callable[[Trainer], None] | None = None,
        diagnostics: bool = True,
    ) -> History:
        """Train for `epochs` more epochs on x_train (N, d); return the whole history.

        x_test (N_test, d), if given, is evaluated after every epoch, and the latent diagnostics
        of its first DIAGNOSTIC_POINTS points are recorded (numpyvae.diagnostics; `diagnostics`
        False skips them). For a conditional model
        the labels y_train (N,) and y_test (N_test,) are required. `on_epoch_end(trainer)`
        runs after each epoch (checkpoints use it), once the epoch's parameters are known to
        be finite. Raises DivergenceError, naming the epoch and step, if the loss stops being
        finite or grows EXPLOSION_FACTOR times larger than the first minibatch loss of the run;
        NumPy's overflow warnings are silenced meanwhile, since this check reports them. After
        it, `epoch` and the history count the finished epochs; the weights are those of the
        failing step.
        """
        model = self.model
        train = model.prepare(x_train, y_train, name="x_train")
        if x_test is not None:
            model.prepare(x_test, y_test, name="x_test")  # fail now, not after an epoch
        epochs = check_positive_int("epochs", epochs)
        for _ in range(epochs):
            self.epoch += 1
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    parts = self._train_epoch(train, progress)
            except DivergenceError:
                self.epoch -= 1  # `epoch` counts finished epochs, as the history does
                raise
            bad = [name for name, p in model.params.items() if not np.all(np.isfinite(p))]
            if bad:
                self.epoch -= 1
                raise DivergenceError(
                    f"training diverged: after epoch {self.epoch + 1} the parameters "
                    f"{', '.join(bad[:3])} hold NaN or infinity; lower the learning rate "
                    f"(now {self.optimizer.lr:g}) or check the data"
                )
            self.history.loss.append(parts.loss)
            self.history.reconstruction.append(parts.reconstruction)
            self.history.kl.append(parts.kl)
            if x_test is not None:
                test = model.evaluate(x_test, c=y_test, name="x_test")
                self.history.test_loss.append(test.loss)
                self.history.test_reconstruction.append(test.reconstruction)
                self.history.test_kl.append(test.kl)
                if diagnostics:
                    subset = slice(0, DIAGNOSTIC_POINTS)
                    labels = None if y_test is None else y_test[subset]
                    self.history.record_diagnostics(diagnose(model, x_test[subset], labels))
            if on_epoch_end is not None:
                on_epoch_end(self)
        return self.history

    def _train_epoch(self, data: Batch, progress: bool) -> LossParts:
        model, n = self.model, len(data)
        order = self.rng.permutation(n)
        starts = range(0, n, self.batch_size)
        bar = _progress_bar(len(starts), f"epoch {self.epoch}") if progress else None
        totals = np.zeros(3)
        for step, start in enumerate(starts, 1):
            batch = data.rows(order[start : start + self.batch_size])
            if self.transform is not None:
                batch = Batch(self.transform(batch.x, self.rng), batch.onehot)
            eps = model.noise(None, len(batch))
            if self.kl_warmup_steps:
                model.beta = linear_warmup(
                    self.optimizer.steps, self.kl_warmup_steps, self.final_beta
                )
            parts, grads = model.gradients(batch, eps)
            self._check_divergence(parts.loss, step)
            self.optimizer.step(grads)
            totals += len(batch) * np.array([parts.loss, parts.reconstruction, parts.kl])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{totals[0] / min(start + self.batch_size, n):.2f}")
        if bar is not None:
            bar.close()
        return LossParts(*(totals / n).tolist())

    def _check_divergence(self, loss: float, step: int) -> None:
        """Raise DivergenceError if `loss` is not finite or has exploded (EXPLOSION_FACTOR)."""
        if self._first_loss is None:
            self._first_loss = self.history.loss[0] if self.history.loss else loss
        first = self._first_loss
        exploded = abs(loss) > EXPLOSION_FACTOR * max(abs(first), 1.0)
        if np.isfinite(loss) and not exploded:
            return
        raise DivergenceError(
            f"training diverged (the loss started at {first:.4g}): it became {loss:.4g} at "
            f"epoch {self.epoch}, step {step}; lower the learning rate (now "
            f"{self.optimizer.lr:g}) or check the data"
        )


def _progress_bar(total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False)
