"""The forms of numpyvae's element-wise kernels, timed against each other in one process.

    python benchmarks/bench_kernels.py --threads 2 --rounds 300

For the 652k float32 parameters of PyTorch's VAE example, every form of Adam's flat update
that `Adam` measures and chooses from at run time (whole arrays or cache-sized blocks, one
thread or two: numpyvae.optim.flat_update_candidates); for 128 x 784 logits, the Bernoulli
kernel on one thread and with the rows split over two; and the small calls of a step in the
posterior and the objective (sample, the analytic-KL ELBO, sample_backward; B = 128, k = 20).
The forms take turns, round after round, and each is timed by the wall clock and by the
calling thread's CPU clock; the medians are printed, with the load average before and after.
By default a product of the example's first layer (128 x 784 times 784 x 400) runs before
every timed call, as in training, so that the caches hold what they hold there.
"""

from __future__ import annotations

import argparse
import os

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
parser.add_argument("--rounds", type=int, default=300)
parser.add_argument("--no-product", action="store_true", help="no matrix product between calls")
args = parser.parse_args()
common.limit_threads(args.threads)
# numpyvae before NumPy, as the command line loads it, so that its OpenBLAS setting applies.
import numpyvae  # noqa: E402, F401

print(f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT')}")

import time  # noqa: E402

import numpy as np  # noqa: E402

from numpyvae.likelihoods.bernoulli import bernoulli_fast, bernoulli_threads  # noqa: E402
from numpyvae.objectives.elbo import elbo_analytic_kl  # noqa: E402
from numpyvae.optim import adam_update, flat_update_candidates  # noqa: E402
from numpyvae.posteriors import DiagonalGaussian  # noqa: E402

N_PARAMS = 652_824  # 784-400-20 encoder (mu and log sigma^2) and 20-400-784 decoder
RNG = np.random.default_rng(0)


def adam_forms() -> dict:
    """Each form of the flat Adam update, on its own copy of one state."""
    p = RNG.standard_normal(N_PARAMS).astype(np.float32)
    g = (RNG.standard_normal(N_PARAMS) * 1e-2).astype(np.float32)
    forms = {}
    for name, run in flat_update_candidates(adam_update, N_PARAMS, 4, None).items():
        arrays = [p.copy(), g, np.zeros_like(p), np.zeros_like(p), np.empty_like(p)]
        step = [0]

        def call(run=run, arrays=arrays, step=step) -> None:
            step[0] += 1
            run(arrays, (step[0], 1e-3, 0.9, 0.999, 1e-8))

        forms[f"Adam, {name}"] = call
    return forms


def bernoulli_forms() -> dict:
    x = (RNG.random((128, 784)) < 0.3).astype(np.float32)
    logits = (RNG.standard_normal((1, 128, 784)) * 5).astype(np.float32)
    return {
        "Bernoulli, 1 thread": lambda: bernoulli_fast(x, logits),
        "Bernoulli, rows over 2 threads": lambda: bernoulli_threads(x, logits, 2),
    }


def small_calls() -> dict:
    h = RNG.standard_normal((128, 40)).astype(np.float32)
    eps = RNG.standard_normal((1, 128, 20)).astype(np.float32)
    log_px = RNG.standard_normal((1, 128)).astype(np.float32)
    posterior = DiagonalGaussian(20)

    def step() -> None:
        z = posterior.sample(h, eps)
        elbo_analytic_kl(log_px, z, eps, h, posterior, 1.0)
        posterior.sample_backward(eps)

    return {"posterior and objective (sample, ELBO, sample_backward)": step}


def main() -> None:
    print("load average before:", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    forms = {**adam_forms(), **bernoulli_forms(), **small_calls()}
    a = RNG.standard_normal((128, 784)).astype(np.float32)
    W = RNG.standard_normal((784, 400)).astype(np.float32)
    wall = {name: [] for name in forms}
    cpu = {name: [] for name in forms}
    for _ in range(args.rounds):
        for name, call in forms.items():
            if not args.no_product:
                a @ W
            start, start_cpu = time.perf_counter(), time.thread_time()
            call()
            cpu[name].append(time.thread_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    print("load average after: ", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"\nmedians of {args.rounds} rounds, {args.threads} BLAS thread(s)\n")
    print("| form | wall | calling thread's CPU |")
    print("| --- | --- | --- |")
    for name in forms:
        print(
            f"| {name} | {np.median(wall[name]) * 1e3:.3f} ms "
            f"| {np.median(cpu[name]) * 1e3:.3f} ms |"
        )


if __name__ == "__main__":
    main()
