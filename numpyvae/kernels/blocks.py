"""An element-wise kernel run block by block, the blocks shared by one or more threads.

A kernel of several formula lines over arrays of 652k entries (Adam: ten lines) streams
every array through memory once per line. Run on one block at a time, small enough that
the block of each array stays in the core's L2 cache, it reads each array from memory once
and the other lines hit the cache. The blocks go to the threads as the threads come free;
NumPy releases the GIL inside its loops, so two threads run two blocks at once on two cores.

Element-wise means that each entry's result depends on that entry alone: every block size
and thread count then gives the same bits as one call over the whole arrays (tested).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_POOLS: dict[int, ThreadPoolExecutor] = {}  # helper threads, by their number
if hasattr(os, "register_at_fork"):
    # A forked child has none of its parent's threads: its pools start afresh, or work
    # handed to a pool whose threads are gone would wait for ever.
    os.register_at_fork(after_in_child=_POOLS.clear)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def helpers(n: int) -> ThreadPoolExecutor:
    """A pool of n helper threads, made once and kept for the life of the process."""
    if n not in _POOLS:
        _POOLS[n] = ThreadPoolExecutor(n, thread_name_prefix="numpyvae")
    return _POOLS[n]


def run_in_blocks(
    kernel: Callable[..., None],
    arrays: Sequence[np.ndarray],
    scalars: Sequence[float],
    *,
    block: int,
    threads: int = 1,
) -> None:
    """kernel(*[a[lo:hi] for a in arrays], *scalars) for every block [lo, hi) of `block`
    rows of `arrays` (all n long along their first axis: 1-D buffers, or a batch's rows),
    on `threads` threads.

    The calling thread works too; the others are helpers. With block >= n this is one call
    over the whole arrays; with block = ceil(n / 2) on two threads, one half each.
    """
    starts = range(0, len(arrays[0]), block)
    if threads == 1 or len(starts) == 1:
        for lo in starts:
            kernel(*[a[lo : lo + block] for a in arrays], *scalars)
        return
    next_index = itertools.count().__next__  # one atomic counter, shared by the threads

    def work() -> None:
        while (i := next_index()) < len(starts):
            lo = starts[i]
            kernel(*[a[lo : lo + block] for a in arrays], *scalars)

    futures = [helpers(threads - 1).submit(work) for _ in range(threads - 1)]
    work()
    for future in futures:
        future.result()
