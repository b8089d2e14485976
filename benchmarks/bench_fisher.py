"""The cost of a Fisher auto-encoder step against an ELBO step (derivations.md §12.5).

The same 784-400-20 networks (ReLU, or --activation), the Gaussian likelihood with one shared
variance, batches of 128 noisy grayscale digits, one sample of z: the time of
`model.loss_and_grads` (forward and every gradient, no optimizer) for each objective, the
median over --repeats rounds in which the two alternate, and the time of the large matrix
products each step makes (12 for Fisher, 5 for the ELBO, each B x 784 x 400), timed alone in
the same rounds. Prints the medians and the ratios.

    python benchmarks/bench_fisher.py --threads 1 --repeats 30

Not part of the tests: absolute times on shared machines are noise, the ratios are the result.
"""

from __future__ import annotations

import argparse
import os
import time

import common  # before NumPy: it sets the thread variables and the import path

DEFAULT_THREADS = os.cpu_count() or 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    return parser.parse_args(argv)


def product_floor(n_products: int, batch: int, d: int, hidden: int, dtype, rng) -> float:
    """Seconds for n_products products of the big shape, (B x d) @ (d x hidden) and kin."""
    a = rng.standard_normal((batch, d)).astype(dtype)
    w = rng.standard_normal((d, hidden)).astype(dtype)
    start = time.perf_counter()
    for _ in range(n_products):
        a @ w
    return time.perf_counter() - start


def main(argv=None) -> None:
    args = parse_args(argv)
    common.limit_threads(args.threads)
    import numpy as np

    from numpyvae import VAE
    from numpyvae.datasets.noisy import load_noisy_mnist

    print("\n".join(common.blas_report(args.threads)))
    data = load_noisy_mnist("embedded", dtype=args.dtype)
    x = data.x_train[: args.batch_size]
    models = {
        name: VAE(
            784,
            args.latent,
            hidden=(args.hidden,),
            likelihood="gaussian_shared_var",
            activation=args.activation,
            objective=name,
            dtype=args.dtype,
            seed=0,
        )
        for name in ("elbo", "fisher")
    }
    rng = np.random.default_rng(0)
    eps = rng.standard_normal((1, len(x), args.latent)).astype(args.dtype)
    times = {name: [] for name in models} | {"floor 5": [], "floor 12": []}
    for model in models.values():  # warm-up: first-call allocations
        model.loss_and_grads(x, eps)
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.loss_and_grads(x, eps)
            times[name].append(time.perf_counter() - start)
        for n in (5, 12):
            floor = product_floor(n, len(x), 784, args.hidden, args.dtype, rng)
            times[f"floor {n}"].append(floor)
    median = {name: float(np.median(t)) * 1e3 for name, t in times.items()}
    print(
        f"784-{args.hidden}-{args.latent} {args.activation}, batch {len(x)}, {args.dtype}, "
        f"{args.threads} thread(s), median of {args.repeats}:"
    )
    for name, ms in median.items():
        print(f"  {name:9s} {ms:8.2f} ms per step")
    print(f"  Fisher / ELBO step time: {median['fisher'] / median['elbo']:.2f}")
    print(f"  12 / 5 product floors:   {median['floor 12'] / median['floor 5']:.2f}")
    print(
        f"  products' share of the step: ELBO {median['floor 5'] / median['elbo']:.2f}, "
        f"Fisher {median['floor 12'] / median['fisher']:.2f}"
    )


if __name__ == "__main__":
    main()
