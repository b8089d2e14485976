"""What fusing the element-wise lines would buy: numpyvae's Adam and Bernoulli kernels against
the same formulas fused by numexpr and by numba (issue 25: is parity with JAX within plain
NumPy's reach?).

A NumPy call is one formula line over a whole array; a fused kernel runs every line of the
formula on one entry (numba) or one cache-sized block (numexpr) before the next, on its own
threads, without Python's GIL. numpyvae uses neither (benchmarks/README.md weighs why); each
is optional here (`pip install numexpr numba`), skipped when absent.

1. The kernels alone, in turns in one process: Adam's update of the example's 652,824
   float32 parameters (numpyvae's forms; numexpr on 1 and 2 threads; a numba loop, serial
   and `prange` over the cores), and the Bernoulli likelihood on 128 x 784 logits.
2. Whole epochs of the 784-400-20 example on full MNIST, in turns: numpyvae as it is, and
   numpyvae with its Adam kernel swapped for the numba `prange` loop (nothing else
   changes), with the matrix-product floor. numba's OpenMP threads wait passively
   (OMP_WAIT_POLICY=passive, unless set): spinning, they hold the core OpenBLAS needs.

    python benchmarks/bench_fused.py --threads 2 --epochs 3
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import time
from statistics import median

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--rounds", type=int, default=300, help="calls of each kernel")
parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
args = parser.parse_args()
common.limit_threads(args.threads)
# numba's OpenMP threads otherwise spin after a parallel loop and take the core that
# OpenBLAS's worker needs for the next product: 2.47 s an epoch against 1.65 s passive.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import numpy as np  # noqa: E402

import numpyvae  # noqa: E402, F401  (before NumPy: its OpenBLAS setting)
from numpyvae.datasets import load_mnist  # noqa: E402
from numpyvae.kernels.fastest import Fastest  # noqa: E402
from numpyvae.likelihoods.bernoulli import bernoulli_fast  # noqa: E402
from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402

HAVE_NUMEXPR = importlib.util.find_spec("numexpr") is not None
HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def adam_constants(scalars: tuple) -> tuple[np.float32, ...]:
    """b1, b2, the step's factor and eps' of numpyvae's pre-scaled `adam_update`
    (derivations.md §9.3), as float32 numbers."""
    t, lr, beta1, beta2, eps = scalars
    s = math.sqrt((1.0 - beta2**t) / (1.0 - beta2))
    factor = lr * (1.0 - beta1) * s / (1.0 - beta1**t)
    return tuple(np.float32(c) for c in (beta1, beta2, factor, eps * s))


def adam_numexpr(arrays: list, scalars: tuple) -> None:
    """`adam_update` as three numexpr expressions: one pass over its arrays each."""
    import numexpr as ne

    p, g, m, v, _ = arrays
    b1, b2, factor, e = adam_constants(scalars)
    names = {"p": p, "g": g, "m": m, "v": v, "b1": b1, "b2": b2, "factor": factor, "e": e}
    ne.evaluate("b1 * m + g", local_dict=names, out=m)
    ne.evaluate("b2 * v + g * g", local_dict=names, out=v)
    ne.evaluate("p - factor * m / (sqrt(v) + e)", local_dict=names, out=p)


def bernoulli_numexpr(x: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`bernoulli_fast`'s formulas (derivations.md §5.3) as two numexpr expressions."""
    import numexpr as ne

    names = {"x": x[np.newaxis], "l": logits, "h": np.float32(0.5), "ln2": np.float32(math.log(2))}
    terms = ne.evaluate(
        "(x - h) * l - abs(l) * h + log1p(abs(tanh(l * h))) - ln2", local_dict=names
    )
    grad = ne.evaluate("x - h - h * tanh(l * h)", local_dict=names)
    return np.add.reduce(terms, axis=-1), grad


def numba_kernels() -> dict:
    """Adam's update as one loop over the entries (serial, and `prange` over the cores) and
    the Bernoulli likelihood as one loop, compiled by numba."""
    import numba

    def adam_loop(p, g, m, v, b1, b2, factor, e):
        for i in numba.prange(p.size):
            gi = g[i]
            mi = b1 * m[i] + gi
            vi = b2 * v[i] + gi * gi
            m[i] = mi
            v[i] = vi
            p[i] -= factor * mi / (np.sqrt(vi) + e)

    serial = numba.njit(fastmath=True)(adam_loop)
    parallel = numba.njit(fastmath=True, parallel=True)(adam_loop)

    @numba.njit(fastmath=True)
    def bernoulli_loop(x, logits, log_p, grad):
        half, log2 = np.float32(0.5), np.float32(math.log(2.0))
        for j in range(logits.shape[0]):
            for b in range(logits.shape[1]):
                total = np.float32(0.0)
                for i in range(logits.shape[2]):
                    li, xc = logits[j, b, i], x[b, i] - half
                    t = np.tanh(li * half)
                    total += xc * li - abs(li) * half + np.log1p(abs(t)) - log2
                    grad[j, b, i] = xc - half * t
                log_p[j, b] = total

    def adam(kernel):
        return lambda arrays, scalars: kernel(*arrays[:4], *adam_constants(scalars))

    def bernoulli(x, logits):
        log_p = np.empty(logits.shape[:2], dtype=logits.dtype)
        grad = np.empty_like(logits)
        bernoulli_loop(x, logits, log_p, grad)
        return log_p, grad

    return {"serial": adam(serial), "prange": adam(parallel), "bernoulli": bernoulli}


def with_numexpr_threads(n: int, function):
    """`function`, run with numexpr on n threads."""

    def run(*call_args):
        import numexpr as ne

        ne.set_num_threads(n)
        return function(*call_args)

    return run


def kernels(numba_forms: dict) -> None:
    rng = np.random.default_rng(0)
    n = 652_824
    p, g, m, v, tmp = (rng.standard_normal(n, dtype=np.float32) for _ in range(5))
    np.abs(v, out=v)
    fresh = p.copy()
    model = VAE(784, 20, hidden=(400,), seed=0, dtype=np.float32)
    adam = {f"numpyvae, {name}": f for name, f in Adam(model.params).kernel.candidates.items()}
    if HAVE_NUMEXPR:
        for threads in sorted({1, args.threads}):
            adam[f"numexpr, {threads} thread(s)"] = with_numexpr_threads(threads, adam_numexpr)
    if numba_forms:
        adam["numba loop, 1 thread"] = numba_forms["serial"]
        adam[f"numba loop, prange over {args.threads} threads"] = numba_forms["prange"]
    x = (rng.random((128, 784), dtype=np.float32) < 0.13).astype(np.float32)
    logits = rng.standard_normal((1, 128, 784), dtype=np.float32) * 3.0 - 2.0
    bernoulli = {"numpyvae, bernoulli_fast (1 thread)": bernoulli_fast}
    if HAVE_NUMEXPR:
        for threads in sorted({1, args.threads}):
            bernoulli[f"numexpr, {threads} thread(s)"] = with_numexpr_threads(
                threads, bernoulli_numexpr
            )
    if numba_forms:
        bernoulli["numba loop, 1 thread"] = numba_forms["bernoulli"]
    forms = {("Adam", name): f for name, f in adam.items()}
    forms.update({("Bernoulli", name): f for name, f in bernoulli.items()})
    scalars = (10, 1e-3, 0.9, 0.999, 1e-8)
    for (kind, _), function in forms.items():  # compile, warm up
        function(x, logits) if kind == "Bernoulli" else function([p, g, m, v, tmp], scalars)
    times = {key: [] for key in forms}
    for _ in range(args.rounds):
        for (kind, name), function in forms.items():
            call_args = (x, logits) if kind == "Bernoulli" else ([p, g, m, v, tmp], scalars)
            start = time.perf_counter()
            function(*call_args)
            times[kind, name].append(time.perf_counter() - start)
            p[:] = fresh  # keep the parameters where they started
    print("| kernel | form | median |\n| --- | --- | --- |")
    for (kind, name), values in times.items():
        print(f"| {kind} | {name} | {median(values) * 1e3:.3f} ms |")


def epochs(numba_forms: dict) -> None:
    if not numba_forms:
        print("(no numba: the epochs with a fused Adam are left out)")
        return
    x = load_mnist(args.data_dir, download=False, dtype=np.float32).x_train
    trainers = {}
    for name in ("numpyvae as it is", "numpyvae with Adam as a numba prange loop"):
        model = VAE(784, 20, hidden=(400,), likelihood="bernoulli", seed=0, dtype=np.float32)
        trainers[name] = Trainer(model, Adam(model.params), batch_size=128, seed=0)
    fused = trainers["numpyvae with Adam as a numba prange loop"]
    fused.optimizer.kernel = Fastest({"numba prange": numba_forms["prange"]})
    rows = common.batch_sizes(x.shape[0], 128)
    times = {name: [] for name in [*trainers, "floor"]}
    for trainer in trainers.values():  # the run-time choices, before the timed epochs
        trainer.fit(x[: 128 * 60], 1)
    for _ in range(args.epochs):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            trainer.fit(x, 1)
            times[name].append(time.perf_counter() - start)
        times["floor"].append(
            common.matmul_floor_epoch((784, 400, 40), (20, 400, 784), rows, np.float32)
        )
    floor = median(times["floor"])
    print("\n| contender | median epoch | floor / epoch | train loss, last epoch |")
    print("| --- | --- | --- | --- |")
    for name, trainer in trainers.items():
        epoch = median(times[name])
        loss = trainer.history.loss[-1]
        print(f"| {name} | {epoch:.3f} s | {floor / epoch:.2f} | {loss:.2f} |")
    print(f"| the matrix products alone (the floor) | {floor:.3f} s | | |")


if __name__ == "__main__":
    found = [name for name, have in (("numexpr", HAVE_NUMEXPR), ("numba", HAVE_NUMBA)) if have]
    print(f"numpy {np.__version__}; {args.threads} threads; found: {', '.join(found) or 'none'}")
    forms = numba_kernels() if HAVE_NUMBA else {}
    kernels(forms)
    epochs(forms)
