"""Epoch time of numpyvae (float32) against batch size and against hidden width, with the floor.

For each setting: the time of training epochs of the PyTorch example's VAE (784-h-20,
Bernoulli, Adam 1e-3) on full MNIST, and the matrix products alone of the same epoch (the
floor). Plots both to benchmarks/scaling_batch.png and benchmarks/scaling_width.png.

    python benchmarks/bench_scaling.py --threads 2 --n-train 20000

--n-train trains on the first N images (epoch time scales linearly with N): it keeps the
sweep short on shared machines. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
parser.add_argument("--n-train", type=int, default=60000)
parser.add_argument("--repeats", type=int, default=2, help="epochs per setting; the min is kept")
parser.add_argument("--batch-sizes", default="16,32,64,128,256,512,1024")
parser.add_argument("--widths", default="100,200,400,800,1600")
parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent))
args = parser.parse_args()
common.limit_threads(args.threads)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from numpyvae.datasets import load_mnist  # noqa: E402
from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402


def measure(x: np.ndarray, batch_size: int, width: int) -> tuple[float, float]:
    """(epoch seconds, floor seconds), each the min over `repeats` epochs."""
    model = VAE(784, 20, hidden=(width,), seed=0, dtype=np.float32)
    trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=batch_size)
    rows = common.batch_sizes(x.shape[0], batch_size)
    epoch, floor = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        trainer.fit(x, 1)
        epoch.append(time.perf_counter() - start)
        floor.append(
            common.matmul_floor_epoch(model.encoder.sizes, model.decoder.sizes, rows, np.float32)
        )
    return min(epoch), min(floor)


def sweep(x, name, values, make):
    rows = []
    for v in values:
        epoch, floor = measure(x, *make(v))
        rows.append((v, epoch, floor))
        print(
            f"{name} {v:5d}: epoch {epoch:6.2f} s  floor {floor:6.2f} s  "
            f"efficiency {floor / epoch:.2f}",
            flush=True,
        )
    return np.array(rows)


def plot(rows, xlabel, title, path):
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax.loglog(rows[:, 0], rows[:, 1], "o-", label="numpyvae epoch")
    ax.loglog(rows[:, 0], rows[:, 2], "s--", label="matmul floor")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds per epoch")
    ax.legend()
    ax2.semilogx(rows[:, 0], rows[:, 2] / rows[:, 1], "o-")
    ax2.set_ylim(0, 1)
    ax2.set_xlabel(xlabel)
    ax2.set_ylabel("efficiency = floor / epoch")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main() -> None:
    print(f"threads: {args.threads}; " + "; ".join(common.blas_report(args.threads)))
    x = load_mnist(args.data_dir, download=False, dtype=np.float32).x_train[: args.n_train]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    widths = [int(w) for w in args.widths.split(",")]
    out = Path(args.out_dir)
    rows = sweep(x, "batch", batches, lambda b: (b, 400))
    plot(
        rows,
        "batch size",
        f"784-400-20 VAE, {x.shape[0]} images, {args.threads} threads",
        out / "scaling_batch.png",
    )
    rows = sweep(x, "width", widths, lambda w: (128, w))
    plot(
        rows,
        "hidden width",
        f"784-h-20 VAE, batch 128, {x.shape[0]} images, {args.threads} threads",
        out / "scaling_width.png",
    )


if __name__ == "__main__":
    main()
