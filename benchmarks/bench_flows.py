"""Normalizing-flow posteriors on MNIST: the diagonal Gaussian against planar (and radial) flows.

Every model has the same networks and budget: the 784-400-20 ReLU encoder and decoder of
bench_train.py (the encoder's last layer widened to the flow's parameters), a Bernoulli
decoder, dynamic binarization of the training images, batches of 100, Adam 1e-3, --epochs
passes, float32. The diagonal posterior is trained twice, with the analytic KL (numpyvae's
default) and with the sampled KL (estimator A, which every flow must use); "planar K" bends
that Gaussian by K planar steps whose parameters the encoder outputs for every image
(derivations.md §14). Reported per model: the test -ELBO (estimator A for the flows, fresh
noise) and -log p(x) by importance sampling with --k draws (derivations.md §9.5), on a fixed
binarization of the test images, and the training time.

    python benchmarks/bench_flows.py --data-dir MNIST_DIR --epochs 5 --k 100 --threads 1 \
        --models diagonal,diagonal-sampled,planar-2,planar-8,radial-8 --json benchmarks/flows.json

Rezende and Mohamed (2015, Table 2) report -log p(x) <= 89.9 for the diagonal posterior and
87.5, 86.5, 85.7, 85.1 for planar flows of length 10, 20, 40, 80 (benchmarks/README.md says
how their budget differs from this one).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=10, help="passes over the training images")
parser.add_argument("--n-train", type=int, default=60000, help="first N training images")
parser.add_argument("--n-test", type=int, default=10000, help="test images")
parser.add_argument("--k", type=int, default=500, help="importance samples per test image")
parser.add_argument(
    "--models",
    default="diagonal,diagonal-sampled,planar-2,planar-5,planar-10,radial-10",
    help="comma-separated: diagonal, diagonal-sampled, planar-K, radial-K",
)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
parser.add_argument("--json", help="also write the results to this file")
args = parser.parse_args()
common.limit_threads(args.threads)

import numpy as np  # noqa: E402

from numpyvae.datasets import binarize, load_mnist  # noqa: E402
from numpyvae.objectives.iwae import log_likelihood  # noqa: E402
from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402

PAPER = {  # Rezende and Mohamed 2015, Table 2: -log p(x) on binarized MNIST
    "diagonal": 89.9,
    "planar-10": 87.5,
    "planar-20": 86.5,
    "planar-40": 85.7,
    "planar-80": 85.1,
}


def options(name: str) -> dict:
    """The VAE options of a model name: diagonal, diagonal-sampled, planar-K or radial-K."""
    if name == "diagonal":
        return {}
    if name == "diagonal-sampled":
        return {"kl_estimator": "sampled"}
    flow, length = name.split("-")
    return {"posterior": flow, "flow_length": int(length), "kl_estimator": "sampled"}


def dynamic(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fresh binarization of every minibatch."""
    return binarize(xb, "dynamic", rng)


def run(name: str, x_train: np.ndarray, x_test: np.ndarray) -> dict:
    """Train one model for the budget; its test -ELBO, -log p(x) and times."""
    model = VAE(784, 20, (400,), dtype="float32", seed=args.seed, **options(name))
    trainer = Trainer(
        model, Adam(model.params, lr=1e-3), batch_size=100, seed=args.seed, transform=dynamic
    )
    start = time.perf_counter()
    trainer.fit(x_train, args.epochs)
    train_seconds = time.perf_counter() - start
    test = model.evaluate(x_test)
    start = time.perf_counter()
    log_px = log_likelihood(model, x_test, args.k, rng=np.random.default_rng(12345))
    result = {
        "model": name,
        "encoder_outputs": model.posterior.n_params,
        "test_neg_elbo": test.loss,
        "test_kl": test.kl,
        "test_neg_log_px": float(-log_px.mean()),
        "test_neg_log_px_sem": float(log_px.std() / np.sqrt(log_px.size)),
        "train_seconds": train_seconds,
        "log_px_seconds": time.perf_counter() - start,
        "paper_neg_log_px": PAPER.get(name),
    }
    print(
        f"{name}: test -ELBO {test.loss:.2f} (KL {test.kl:.2f}), -log p(x) "
        f"{result['test_neg_log_px']:.2f} +- {result['test_neg_log_px_sem']:.2f} "
        f"(K = {args.k}); train {train_seconds:.0f} s, log p(x) {result['log_px_seconds']:.0f} s",
        flush=True,
    )
    return result


def table(results: list[dict]) -> str:
    """The Markdown table of benchmarks/README.md."""
    lines = [
        "| posterior | encoder outputs | test -ELBO | test -log p(x), "
        f"K = {args.k} | train time | paper's -log p(x) (Table 2) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        paper = "" if r["paper_neg_log_px"] is None else f"<= {r['paper_neg_log_px']}"
        lines.append(
            f"| {r['model']} | {r['encoder_outputs']} | {r['test_neg_elbo']:.2f} | "
            f"{r['test_neg_log_px']:.2f} +- {r['test_neg_log_px_sem']:.2f} | "
            f"{r['train_seconds']:.0f} s | {paper} |"
        )
    return "\n".join(lines)


def main() -> None:
    print(f"threads: {args.threads}; " + "; ".join(common.blas_report(args.threads)))
    data = load_mnist(args.data_dir, download=False, dtype=np.float32)
    x_train = data.x_train[: args.n_train]
    x_test = binarize(data.x_test[: args.n_test], "dynamic", np.random.default_rng(2015))
    start = time.perf_counter()
    results = [run(name, x_train, x_test) for name in args.models.split(",")]
    print(f"\nwall time {time.perf_counter() - start:.0f} s\n\n{table(results)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
