"""Choose, by measuring on this machine now, the fastest of interchangeable ways to run a kernel.

Whether cache-sized blocks or a second core pay depends on the machine (its caches, its
memory bandwidth, whether OpenBLAS's worker threads spin on the other core, what else runs
there), so numpyvae measures instead of assuming: the candidates take turns for a few
rounds, timed by the wall clock, and then the one with the lowest median runs alone until
it is time to measure again. The candidates must compute the same bits (the optimizers'
block and thread variants do, and tests/test_kernels.py checks it), so the choice changes
how long a step takes and never what it computes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from statistics import median
from typing import Any


class Fastest:
    """Call the fastest of `candidates` (name -> function of the same arguments).

    Measuring is a knock-out: `rounds` rounds call every candidate left once each, in turn,
    timing each call; the slower half (by the median of all its times so far) drops out, and
    the rest play `rounds` more rounds, until one is left (six candidates: 24 + 12 + 8
    calls; two: 2 * rounds). A shared machine's noise can mislead a few rounds; the knock-out
    gives the close finalists more. The winner then runs for `keep` calls, and the
    measuring starts again (the load of a shared machine changes). `chosen` names the
    candidate in use (None while measuring); `timings` holds the times in seconds, by name.
    """

    def __init__(
        self, candidates: Mapping[str, Callable[..., Any]], rounds: int = 4, keep: int = 2000
    ) -> None:
        self.candidates = dict(candidates)
        self.rounds = rounds
        self.keep = keep
        self.chosen: str | None = None
        self.timings: dict[str, list[float]] = {}
        self._field: list[str] = []  # the candidates still in the knock-out
        self._queue: list[str] = []  # the calls left in this stage, in turn
        self._left = 0

    def __call__(self, *args) -> Any:
        """Run one candidate on `args` and return what it returns."""
        if len(self.candidates) == 1:
            return next(iter(self.candidates.values()))(*args)
        if self.chosen is not None:
            self._left -= 1
            name = self.chosen
            if self._left <= 0:
                self.chosen = None
            return self.candidates[name](*args)
        if not self._queue:  # a new stage, or a new knock-out
            if not self._field:
                self._field = list(self.candidates)
                self.timings = {name: [] for name in self._field}
            self._queue = self._field * self.rounds
        name = self._queue.pop(0)
        start = time.perf_counter()
        result = self.candidates[name](*args)
        self.timings[name].append(time.perf_counter() - start)
        if not self._queue:
            ranked = sorted(self._field, key=lambda n: median(self.timings[n]))
            self._field = ranked[: (len(ranked) + 1) // 2]
            if len(self._field) == 1:
                self.chosen, self._field, self._left = ranked[0], [], self.keep
        return result
