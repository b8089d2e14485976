"""OpenBLAS's idle worker threads: spin for about 0.1 ms after a matrix product, then sleep.

After a product, OpenBLAS's worker threads spin on their cores for 2^28 cycles (about 0.1 s)
waiting for the next one, then sleep. A numpyvae step alternates products with element-wise
NumPy work, and spinning workers hold the second core that the element-wise work (Adam on two
threads) could use. Sleeping at once has its own cost: waking a sleeping worker took 65 to
105 us on the 2-core virtual machine of benchmarks/README.md, more than a small product
itself (128 x 400 by 400 x 40: 48 us on one thread; on two, 137 us with the worker asleep and
33 us with it spinning). OPENBLAS_THREAD_TIMEOUT is the log2 of the cycles a worker spins;
numpyvae sets 18 (2^18 cycles, 0.1 ms at 2.6 GHz). The gaps between the products of a
forward or a backward pass are shorter, so the workers stay awake through them, and they
sleep during Adam's update (about 0.8 ms), which then has the second core. Measured there,
epochs of the 784-400-20 example (full MNIST, 2 threads), medians of three rounds: 1.97 s
with 4 (the least OpenBLAS accepts), 1.84 s with 16, 1.75 s with 17, 1.73 s with 18, 1.81 s
with 19, 1.84 s with 20 and 1.76 s with 28 (OpenBLAS's default, with which Adam keeps to one
core); `benchmarks/bench_thread_timeout.py` makes the table.

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


def loaded_openblas_libraries() -> list[ctypes.CDLL]:
    """Every OpenBLAS library this process has loaded that can change its thread timeout
    (Linux, the symbols RELOAD_SYMBOLS exported), NumPy's first; [] elsewhere. SciPy's
    wheels load a second OpenBLAS of their own. Never loads a library."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:  # not Linux
        return []
    found = []
    for path in sorted(paths, key=lambda path: ("numpy" not in path, path)):
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except (OSError, AttributeError):
            continue
        if all(hasattr(lib, symbol) for symbol in RELOAD_SYMBOLS):
            found.append(lib)
    return found


def loaded_openblas() -> ctypes.CDLL | None:
    """NumPy's OpenBLAS if it can change its thread timeout (`loaded_openblas_libraries`),
    else another loaded one that can; None when there is none."""
    libraries = loaded_openblas_libraries()
    return libraries[0] if libraries else None


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
    libraries = loaded_openblas_libraries()
    if not libraries:
        return "unavailable"
    if all(lib.openblas_thread_timeout() == THREAD_TIMEOUT for lib in libraries):
        return "already"
    for lib in libraries:
        lib.openblas_read_env()  # reads OPENBLAS_THREAD_TIMEOUT (and its other variables) again
        lib.blas_thread_shutdown_()  # the workers restart at the next product, with the new time
    reached = all(lib.openblas_thread_timeout() == THREAD_TIMEOUT for lib in libraries)
    return "reloaded" if reached else "unavailable"
