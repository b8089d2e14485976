"""OpenBLAS's idle worker threads: spin for about 0.1 ms after a matrix product, then sleep.

After a product, OpenBLAS's worker threads spin on their cores for 2^28 cycles (about 0.1 s)
waiting for the next one, then sleep. A numpyvae step alternates products with element-wise
NumPy work, and spinning workers hold the second core that the element-wise work (Adam on two
threads) could use. Sleeping at once has its own cost: waking a sleeping worker took 60 to
100 us on the 2-core virtual machines of benchmarks/README.md, more than a small product
itself (128 x 400 by 400 x 40: 35 us on one thread, 95-135 us on two with the worker asleep).
OPENBLAS_THREAD_TIMEOUT is the log2 of the cycles a worker spins; numpyvae sets 18 (2^18
cycles, 0.1 ms at 2.6 GHz). The gaps between the products of a forward or a backward pass are
shorter, so the workers stay awake through them, and they sleep during Adam's update (about
1 ms). Measured there, epochs of the 784-400-20 example (full MNIST, 2 threads), medians of
three runs: 2.09 s with 4 (the least OpenBLAS accepts), 2.01 s with 16, 1.94 s with 18,
1.95 s with 19, 2.08 s with 20; benchmarks/README.md has the run.

OpenBLAS reads the variable when NumPy loads it. So `sleep_idle_threads`, which
numpyvae/__init__.py calls before it imports NumPy, sets the variable if NumPy is not loaded
yet; if it is (a script or notebook that imported NumPy first), it asks the OpenBLAS that
NumPy loaded to read its variables again and restarts its workers, which then spin for the new
time (Linux, an OpenBLAS that exports `openblas_read_env`, as NumPy's wheels do; elsewhere the
setting stays OpenBLAS's own). Restarting the workers is safe while no other thread is inside
a BLAS call, as at import. A value the user set is kept: OPENBLAS_THREAD_TIMEOUT=28 restores
OpenBLAS's own default.
"""

from __future__ import annotations

import ctypes
import os
import sys

VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
THREAD_TIMEOUT = 18  # log2 of the cycles a worker spins before it sleeps (module docstring)
# What an OpenBLAS must export for the setting to reach it after it was loaded.
RELOAD_SYMBOLS = ("openblas_read_env", "blas_thread_shutdown_", "openblas_thread_timeout")


def loaded_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library this process has loaded, if it can change its thread timeout
    (Linux, the symbols RELOAD_SYMBOLS exported); None otherwise. Never loads a library."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:  # not Linux
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except (OSError, AttributeError):
            continue
        if all(hasattr(lib, symbol) for symbol in RELOAD_SYMBOLS):
            return lib
    return None


def thread_timeout() -> int | None:
    """The thread timeout of the loaded OpenBLAS (0: its default, 2^28 cycles); None when
    no OpenBLAS that reports it is loaded."""
    lib = loaded_openblas() if "numpy" in sys.modules else None
    return None if lib is None else int(lib.openblas_thread_timeout())


def worker_count() -> int | None:
    """How many threads the loaded OpenBLAS runs a product on; None when it cannot be asked.
    (NumPy's wheels prefix OpenBLAS's names with scipy_ and suffix them with 64_.)"""
    lib = loaded_openblas() if "numpy" in sys.modules else None
    for name in ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_"):
        if lib is not None and hasattr(lib, name):
            return int(getattr(lib, name)())
    return None


def sleep_idle_threads() -> str:
    """Give OpenBLAS's workers a spin of 2^THREAD_TIMEOUT cycles, unless the user set one.

    Returns what was done: "user" (OPENBLAS_THREAD_TIMEOUT set by the user, kept),
    "environment" (set before NumPy loads), "reloaded" (NumPy's OpenBLAS was already loaded
    and was told), "already" (it had this value) or "unavailable" (loaded, and not reachable).
    """
    if VARIABLE in os.environ:
        return "user"
    os.environ[VARIABLE] = str(THREAD_TIMEOUT)
    if "numpy" not in sys.modules:
        return "environment"
    lib = loaded_openblas()
    if lib is None:
        return "unavailable"
    if lib.openblas_thread_timeout() == THREAD_TIMEOUT:
        return "already"
    lib.openblas_read_env()  # reads OPENBLAS_THREAD_TIMEOUT (and its other variables) again
    lib.blas_thread_shutdown_()  # the workers restart at the next product, with the new time
    return "reloaded" if lib.openblas_thread_timeout() == THREAD_TIMEOUT else "unavailable"
