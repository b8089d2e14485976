"""The record of a training run: per-epoch averages of the loss and its two terms."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HISTORY_KEYS = ("loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl")
UNITS = "nats per image"


@dataclass
class History:
    """Per-epoch averages of the negative ELBO and its terms (nats per data point).

    The train figures average the minibatch losses of the epoch (weighted by batch size);
    the test figures evaluate the model at the end of the epoch.
    """

    loss: list[float] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_reconstruction: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Each series as a float64 array (for checkpoints and plots)."""
        return {k: np.asarray(getattr(self, k), dtype=np.float64) for k in HISTORY_KEYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> History:
        return cls(**{k: [float(v) for v in arrays[k]] for k in HISTORY_KEYS})

    def __len__(self) -> int:
        return len(self.loss)
