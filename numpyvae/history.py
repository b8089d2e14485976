"""The record of a training run: per-epoch averages of the loss and its two terms, and the
latent diagnostics of the test set (derivations.md §13.4) when the run has test data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpyvae.diagnostics import Diagnostics

HISTORY_KEYS = ("loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl")
# Optional series: absent from runs trained before numpyvae recorded them (or without test
# data), so checkpoints and history.json files without them still load.
DIAGNOSTIC_KEYS = ("active_units", "mutual_information", "kl_per_dimension")
UNITS = "nats per image"


@dataclass
class History:
    """Per-epoch averages of the negative ELBO and its terms (nats per data point).

    The train figures average the minibatch losses of the epoch (weighted by batch size);
    the test figures evaluate the model at the end of the epoch. With test data, the
    diagnostics of the test set (or its first `numpyvae.train.DIAGNOSTIC_POINTS` points) too:
    active units, I(x; z) in nats, and the KL of each latent dimension (one row of k per epoch).
    An epoch without them (a run resumed from an older version) holds NaN.
    """

    loss: list[float] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_reconstruction: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)
    active_units: list[float] = field(default_factory=list)
    mutual_information: list[float] = field(default_factory=list)
    kl_per_dimension: list[list[float]] = field(default_factory=list)

    def record_diagnostics(self, result: Diagnostics) -> None:
        """Append the diagnostics of the epoch just recorded in `loss`; epochs before it that
        have none get NaN, so that row e of every series is epoch e + 1."""
        k = len(result.kl_per_dimension)
        while len(self.active_units) < len(self.loss) - 1:
            self.active_units.append(math.nan)
            self.mutual_information.append(math.nan)
            self.kl_per_dimension.append([math.nan] * k)
        self.active_units.append(float(result.active_units))
        self.mutual_information.append(float(result.mutual_information))
        self.kl_per_dimension.append([float(v) for v in result.kl_per_dimension])

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Each series as a float64 array (for checkpoints and plots); the diagnostics only if
        recorded, kl_per_dimension as (epochs, k)."""
        arrays = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in HISTORY_KEYS}
        if self.active_units:
            arrays.update(
                {k: np.asarray(getattr(self, k), dtype=np.float64) for k in DIAGNOSTIC_KEYS}
            )
        return arrays

    def as_json(self) -> dict[str, Any]:
        """The series as JSON-ready lists, NaN written as null (history.json)."""

        def clean(value: Any) -> Any:
            if isinstance(value, list):
                return [clean(v) for v in value]
            return None if math.isnan(value) else value

        return {k: clean(v.tolist()) for k, v in self.as_arrays().items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> History:
        """The history of `as_arrays`' output; the diagnostic series are optional."""
        series: dict[str, Any] = {k: [float(v) for v in arrays[k]] for k in HISTORY_KEYS}
        for k in DIAGNOSTIC_KEYS:
            if k in arrays:
                series[k] = np.asarray(arrays[k], dtype=np.float64).tolist()
        return cls(**series)

    def __len__(self) -> int:
        return len(self.loss)
