"""The one-stochastic-layer VAE of the IWAE paper (Burda et al. 2016, Table 1), in numpyvae.

Model: 784-200-200-50 tanh encoder (mu and log sigma^2 of 50 latents), mirrored 50-200-200-784
tanh decoder, Bernoulli likelihood, dynamic binarization of the training images (a fresh
x' ~ Bernoulli(x) for every minibatch), batches of 20, Adam (beta1 0.9, beta2 0.999,
eps 1e-4). Schedule: stage i = 0..7 runs 3^i passes at learning rate 0.001 * 10^(-i/7)
(3,280 passes in all); --max-stage and --max-epochs cut it short. The test figure is
log p(x) estimated by importance sampling with K = 5000 (numpyvae.iwae.log_likelihood) on a
fixed binarization of the test images (the first --n-test of them). The paper's VAE reaches
-86.76 nats with the whole schedule.

    python benchmarks/iwae_table.py --max-epochs 4 --n-test 1000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--max-stage", type=int, default=7, help="last stage i to run (0..7)")
parser.add_argument("--max-epochs", type=int, default=None, help="stop after this many passes")
parser.add_argument("--n-train", type=int, default=60000, help="first N training images")
parser.add_argument("--n-test", type=int, default=10000, help="test images for log p(x)")
parser.add_argument("--k", type=int, default=5000, help="importance samples per test image")
parser.add_argument("--batch-size", type=int, default=20)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
parser.add_argument("--json", help="also write the results to this file")
args = parser.parse_args()
common.limit_threads(args.threads)

import numpy as np  # noqa: E402

from numpyvae.datasets import binarize, load_mnist  # noqa: E402
from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402

PAPER_LOG_PX = -86.76  # Burda et al., Table 1, VAE with k = 1, one stochastic layer


def schedule(max_stage: int, max_epochs: int | None) -> list[tuple[int, int, float]]:
    """(stage, passes, learning rate) for the stages to run, cut at max_epochs passes."""
    stages, left = [], max_epochs if max_epochs is not None else float("inf")
    for i in range(max_stage + 1):
        passes = int(min(3**i, left))
        if passes <= 0:
            break
        stages.append((i, passes, 1e-3 * 10 ** (-i / 7)))
        left -= passes
    return stages


def log_px(model: VAE, x: np.ndarray, k: int) -> np.ndarray:
    """log p(x) (N,) by importance sampling with k draws (numpyvae.iwae.log_likelihood)."""
    from numpyvae.objectives.iwae import log_likelihood

    return log_likelihood(model, x, k, rng=np.random.default_rng(12345))


def main() -> None:
    print(f"threads: {args.threads}; " + "; ".join(common.blas_report(args.threads)))
    dtype = np.dtype(args.dtype)
    data = load_mnist(args.data_dir, download=False, dtype=dtype)
    x_test = binarize(data.x_test[: args.n_test], "dynamic", np.random.default_rng(2016))
    model = VAE(
        784,
        50,
        hidden=(200, 200),
        activation="tanh",
        likelihood="bernoulli",
        seed=args.seed,
        dtype=dtype,
        init="glorot",
    )
    optimizer = Adam(model.params, lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    trainer = Trainer(
        model,
        optimizer,
        batch_size=args.batch_size,
        seed=args.seed,
        transform=lambda xb, rng: binarize(xb, "dynamic", rng),
    )
    start = time.perf_counter()
    for stage, passes, lr in schedule(args.max_stage, args.max_epochs):
        optimizer.lr = lr
        trainer.fit(data.x_train[: args.n_train], passes)
        test = model.evaluate(x_test)
        print(
            f"stage {stage}: {passes} passes at lr {lr:.2e}; after {trainer.epoch} passes "
            f"train -ELBO {trainer.history.loss[-1]:.2f}, test -ELBO {test.loss:.2f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    estimates = log_px(model, x_test, args.k)
    result = {
        "passes": trainer.epoch,
        "test_neg_elbo": test.loss,
        "test_log_px": float(np.mean(estimates)),
        "test_log_px_sem": float(np.std(estimates) / np.sqrt(len(estimates))),
        "n_test": len(estimates),
        "k": args.k,
        "train_seconds": train_seconds,
        "log_px_seconds": time.perf_counter() - start,
        "paper_log_px": PAPER_LOG_PX,
    }
    print(
        f"test log p(x) (K = {args.k}, {len(estimates)} test images) after {trainer.epoch} "
        f"passes: {result['test_log_px']:.2f} +- {result['test_log_px_sem']:.2f} nats "
        f"(paper, 3280 passes: {PAPER_LOG_PX}); test -ELBO {test.loss:.2f}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), **result}, f, indent=1)


if __name__ == "__main__":
    main()
