"""OpenBLAS's idle worker threads put to sleep at once after each matrix product.

After a product, OpenBLAS's worker threads spin on their cores for 2^28 cycles (about 0.1 s)
waiting for the next one. Between products a numpyvae step runs element-wise NumPy code,
and a spinning worker holds the second core that code could use: measured on the 2-core
Intel Xeon of benchmarks/README.md, Adam on two threads took 2.9-5.2 ms a step with the
workers spinning against 1.4-1.6 ms with them asleep, and whole training steps 11-30 ms
against 8-16 ms (a loaded machine). OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles, the least
OpenBLAS accepts) makes them sleep at once.

OpenBLAS reads the variable once, when NumPy loads it, and has no call that changes it
later (threadpoolctl sets the number of threads, not this), so numpyvae/__init__.py calls
`sleep_idle_threads` before it imports NumPy. The command line (`numpyvae`, `python -m
numpyvae`) and every script that imports numpyvae before NumPy get the setting; a session
that loaded NumPy first (a notebook) keeps OpenBLAS as it is, and there Adam measures that
its second thread does not pay and uses one (numpyvae.optim). A value the user set is kept:
OPENBLAS_THREAD_TIMEOUT=28 restores OpenBLAS's own default.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
THREAD_TIMEOUT = "4"  # log2 of the cycles a worker spins before it sleeps


def sleep_idle_threads() -> bool:
    """Set OPENBLAS_THREAD_TIMEOUT=4 if NumPy is not loaded yet and the user has not set it.

    Returns whether it was set by this call. Must run before NumPy is imported.
    """
    if "numpy" in sys.modules or VARIABLE in os.environ:
        return False
    os.environ[VARIABLE] = THREAD_TIMEOUT
    return True
