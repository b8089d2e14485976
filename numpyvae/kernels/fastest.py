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

    The first `rounds` rounds call every candidate once each, in turn, and time it; then
    the one with the lowest median time runs for `keep` calls; then the rounds start again
    (the load of a shared machine changes). `chosen` names the candidate in use (None while
    measuring) and `timings` holds the last rounds' times in seconds, by name.
    """

    def __init__(
        self, candidates: Mapping[str, Callable[..., Any]], rounds: int = 4, keep: int = 2000
    ) -> None:
        self.candidates = dict(candidates)
        self.rounds = rounds
        self.keep = keep
        self.chosen: str | None = None
        self.timings: dict[str, list[float]] = {}
        self._queue: list[str] = []
        self._left = 0

    def __call__(self, *args) -> Any:
        """Run one candidate on `args` and return what it returns."""
        if len(self.candidates) == 1:
            return next(iter(self.candidates.values()))(*args)
        if self.chosen is None and not self._queue:
            self.timings = {name: [] for name in self.candidates}
            self._queue = list(self.candidates) * self.rounds
        if self._queue:
            name = self._queue.pop(0)
            start = time.perf_counter()
            result = self.candidates[name](*args)
            self.timings[name].append(time.perf_counter() - start)
            if not self._queue:
                self.chosen = min(self.timings, key=lambda n: median(self.timings[n]))
                self._left = self.keep
            return result
        self._left -= 1
        name = self.chosen
        if self._left <= 0:
            self.chosen = None
        return self.candidates[name](*args)
