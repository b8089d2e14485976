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

--max-minutes stops training at the end of the first pass past that budget; --out keeps a
checkpoint after every pass and the curve (test -ELBO after every pass), so that a later run
with --resume continues where it stopped, bit for bit (to rounding from a checkpoint of
format 2, such as the one in benchmarks/iwae_run/, whose Adam moments are converted on
reading), and --plot draws the curve against passes with the final log p(x) beside the paper's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

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
parser.add_argument("--max-minutes", type=float, default=None, help="training time budget")
parser.add_argument("--out", help="folder for the checkpoint and the curve (curve.json)")
parser.add_argument("--resume", action="store_true", help="continue the run in --out")
parser.add_argument("--plot", help="write the curve against passes to this PNG")
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


def dynamic(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fresh binarization of every minibatch (the paper's dynamic binarization)."""
    return binarize(xb, "dynamic", rng)


def new_trainer(dtype: np.dtype) -> Trainer:
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
    return Trainer(model, optimizer, batch_size=args.batch_size, seed=args.seed, transform=dynamic)


def passes_before(stage: int) -> int:
    """Passes of the whole schedule before `stage` (3^0 + ... + 3^(stage - 1))."""
    return sum(3**i for i in range(stage))


def main() -> None:
    from numpyvae.checkpoint import read_checkpoint, save_checkpoint

    print(f"threads: {args.threads}; " + "; ".join(common.blas_report(args.threads)))
    dtype = np.dtype(args.dtype)
    data = load_mnist(args.data_dir, download=False, dtype=dtype)
    x_train = data.x_train[: args.n_train]
    x_test = binarize(data.x_test[: args.n_test], "dynamic", np.random.default_rng(2016))
    out = Path(args.out) if args.out else None
    curve: dict[str, list] = {"passes": [], "test_neg_elbo": [], "train_neg_elbo": [], "lr": []}
    if args.resume:
        trainer = read_checkpoint(out / "checkpoint.npz", transform=dynamic).trainer
        curve = json.loads((out / "curve.json").read_text())
        print(f"resumed after {trainer.epoch} passes from {out}")
    else:
        trainer = new_trainer(dtype)
    model, optimizer = trainer.model, trainer.optimizer
    budget = None if args.max_minutes is None else 60.0 * args.max_minutes
    start = time.perf_counter()
    test = None
    for stage, passes, lr in schedule(args.max_stage, args.max_epochs):
        done = trainer.epoch - passes_before(stage)  # passes of this stage already run
        optimizer.lr = lr
        for _ in range(max(0, passes - done)):
            if budget is not None and time.perf_counter() - start > budget:
                break
            trainer.fit(x_train, 1)
            test = model.evaluate(x_test)
            for key, value in zip(
                curve, (trainer.epoch, test.loss, trainer.history.loss[-1], lr), strict=True
            ):
                curve[key].append(value)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                save_checkpoint(out / "checkpoint.npz", trainer)
                (out / "curve.json").write_text(json.dumps(curve))
            print(
                f"stage {stage} (lr {lr:.2e}): pass {trainer.epoch}, train -ELBO "
                f"{trainer.history.loss[-1]:.2f}, test -ELBO {test.loss:.2f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    train_seconds = time.perf_counter() - start
    if test is None:
        test = model.evaluate(x_test)
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
        "curve": curve,
    }
    print(
        f"test log p(x) (K = {args.k}, {len(estimates)} test images) after {trainer.epoch} "
        f"passes: {result['test_log_px']:.2f} +- {result['test_log_px_sem']:.2f} nats "
        f"(paper, 3280 passes: {PAPER_LOG_PX}); test -ELBO {test.loss:.2f}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), **result}, f, indent=1)
    if args.plot:
        plot(result, args.plot)


def plot(result: dict, path: str) -> None:
    """Test -ELBO against passes (log scale), the final log p(x) and the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(curve["passes"], curve["test_neg_elbo"], "o-", ms=3, label="test -ELBO (numpyvae)")
    ax.plot(curve["passes"], curve["train_neg_elbo"], "-", alpha=0.6, label="train -ELBO")
    ax.errorbar(
        [result["passes"]],
        [-result["test_log_px"]],
        yerr=[result["test_log_px_sem"]],
        fmt="s",
        color="C3",
        label=f"test -log p(x), K = {result['k']} ({result['n_test']} images)",
    )
    ax.plot([3280], [-PAPER_LOG_PX], "*", ms=12, color="k", label="paper: -log p(x) at 3,280")
    ax.set_xscale("log")
    ax.set_xlabel("passes over the 60,000 training images")
    ax.set_ylabel("nats per test image")
    ax.set_title("IWAE paper's one-layer VAE (784-200-200-50), numpyvae float32")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
