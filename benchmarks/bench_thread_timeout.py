"""Epoch time of the PyTorch example in numpyvae against OPENBLAS_THREAD_TIMEOUT (issue 25).

OpenBLAS reads the variable once, when NumPy loads it, so each value runs in a fresh process,
the values in turn, round after round (A, B, C, A, B, C, ...). Each process loads full
MNIST (float32), trains `--warmup-steps` steps so that Adam and the likelihood have chosen
their forms, then times `--epochs` epochs of the 784-400-20 Bernoulli model and the matrix
products of one epoch alone (the floor). Prints, for each value, the median epoch and floor
over the rounds, and the form Adam chose.

    python benchmarks/bench_thread_timeout.py --values 4 16 17 18 19 20 28 --rounds 3

numpyvae's default is numpyvae.openblas.THREAD_TIMEOUT; 28 is OpenBLAS's own default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from statistics import median

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--values", type=int, nargs="+", default=[4, 16, 17, 18, 19, 20, 28])
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--warmup-steps", type=int, default=60)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
parser.add_argument("--json", help="also write the results to this file")
parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
args = parser.parse_args()


def child() -> None:
    """One process, one value: time the epochs and the floor, print them as JSON."""
    common.limit_threads(args.threads)
    import time

    import numpy as np

    from numpyvae import openblas
    from numpyvae.datasets import load_mnist
    from numpyvae.optim import Adam
    from numpyvae.train import Trainer
    from numpyvae.vae import VAE

    x = load_mnist(args.data_dir, download=False, dtype=np.float32).x_train
    model = VAE(784, 20, hidden=(400,), likelihood="bernoulli", seed=0, dtype=np.float32)
    trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=128, seed=0)
    trainer.fit(x[: 128 * args.warmup_steps], 1)
    epochs = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        trainer.fit(x, 1)
        epochs.append(time.perf_counter() - start)
    rows = common.batch_sizes(x.shape[0], 128)
    floor = common.matmul_floor_epoch((784, 400, 40), (20, 400, 784), rows, np.float32)
    result = {
        "epoch_s": median(epochs),
        "floor_s": floor,
        "openblas_reports": openblas.thread_timeout(),
        "adam": trainer.optimizer.kernel.chosen,
    }
    print(json.dumps(result))


def main() -> None:
    results: dict[int, list[dict]] = {value: [] for value in args.values}
    command = [sys.executable, __file__, "--child", "--threads", str(args.threads)]
    command += ["--epochs", str(args.epochs), "--warmup-steps", str(args.warmup_steps)]
    command += ["--data-dir", args.data_dir]
    for round_ in range(args.rounds):
        for value in args.values:
            env = {**os.environ, "OPENBLAS_THREAD_TIMEOUT": str(value)}
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results[value].append(result)
            print(
                f"round {round_ + 1}, OPENBLAS_THREAD_TIMEOUT={value}: epoch "
                f"{result['epoch_s']:.3f} s, floor {result['floor_s']:.3f} s "
                f"(OpenBLAS reports {result['openblas_reports']}; Adam ran {result['adam']})",
                flush=True,
            )
    print("\n| OPENBLAS_THREAD_TIMEOUT | median epoch | median floor | floor / epoch |")
    print("| --- | --- | --- | --- |")
    for value, runs in results.items():
        epoch = median(r["epoch_s"] for r in runs)
        floor = median(r["floor_s"] for r in runs)
        print(f"| {value} | {epoch:.3f} s | {floor:.3f} s | {floor / epoch:.2f} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({str(k): v for k, v in results.items()}, file, indent=1)


if __name__ == "__main__":
    child() if args.child else main()
