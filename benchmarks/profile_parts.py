"""Where the wall-clock time of a numpyvae training step goes, part by part (issue 25).

Trains PyTorch's VAE example (784-400-20, Bernoulli, Adam 1e-3, batch 128, float32) on full
MNIST and times, with `time.perf_counter` around each, the parts of every step: the encoder's
and the decoder's forward and backward passes (their matrix products and the element-wise
work between them), the posterior's sampling and its backward, the likelihood, Adam's step,
and the rest of the trainer's loop (gathering the batch, drawing eps, the objective, the loss
bookkeeping). Wall clock, so that work on OpenBLAS's and Adam's second thread counts. Prints
milliseconds per step, medians over `--epochs` epochs, after one warm-up epoch.

`--tree PATH` profiles the numpyvae of another checkout (for "before" figures, a `git
archive` of an older commit): the parts are wrapped by their method names, which have not
changed since issue 7.

    python benchmarks/profile_parts.py --threads 2 --epochs 3
    git archive e11bc8d | tar -x -C /tmp/before
    python benchmarks/profile_parts.py --threads 2 --epochs 3 --tree /tmp/before
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from statistics import median

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
parser.add_argument("--tree", help="a checkout whose numpyvae to profile (default: this one)")
args = parser.parse_args()
common.limit_threads(args.threads)
if args.tree:
    sys.path.insert(0, args.tree)
import numpyvae  # noqa: E402  (before NumPy, as the command line loads it)

PROFILED = numpyvae.__file__

import numpy as np  # noqa: E402

from numpyvae.datasets import load_mnist  # noqa: E402
from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402

seconds: dict[str, float] = collections.defaultdict(float)


def timed(owner: object, method: str, part: str) -> None:
    """Wrap owner.method so that its wall-clock time adds to seconds[part]."""
    inner = getattr(owner, method)

    def wrapper(*call_args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*call_args, **kwargs)
        finally:
            seconds[part] += time.perf_counter() - start

    setattr(owner, method, wrapper)


def main() -> None:
    print(f"numpyvae from {PROFILED}")
    x = load_mnist(args.data_dir, download=False, dtype=np.float32).x_train
    model = VAE(784, 20, hidden=(400,), likelihood="bernoulli", seed=0, dtype=np.float32)
    trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=128, seed=0)
    parts = {
        "encoder forward": (model.encoder, "forward"),
        "encoder backward": (model.encoder, "backward"),
        "decoder forward": (model.decoder, "forward"),
        "decoder backward": (model.decoder, "backward"),
        "posterior sample and its backward": (model.posterior, "sample"),
        "likelihood (log p and its gradient)": (model.likelihood, "log_prob_and_grad"),
        "Adam's step": (trainer.optimizer, "step"),
    }
    for part, (owner, method) in parts.items():
        timed(owner, method, part)
    timed(model.posterior, "sample_backward", "posterior sample and its backward")
    steps = -(-x.shape[0] // 128)
    trainer.fit(x, 1)  # warm-up: the run-time choices are made here
    per_step = collections.defaultdict(list)
    for _ in range(args.epochs):
        seconds.clear()
        start = time.perf_counter()
        trainer.fit(x, 1)
        epoch = time.perf_counter() - start
        for part in parts:
            per_step[part].append(seconds[part] / steps)
        per_step["the rest (batch, eps, objective, loop)"].append(
            (epoch - sum(seconds.values())) / steps
        )
        per_step["the step"].append(epoch / steps)
    print(f"{args.threads} thread(s), {steps} steps an epoch, medians of {args.epochs} epochs")
    print("| part | ms a step |\n| --- | --- |")
    for part, values in per_step.items():
        print(f"| {part} | {median(values) * 1e3:.3f} |")
    kernel = getattr(trainer.optimizer, "kernel", None)
    if kernel is not None:
        print(f"Adam ran: {kernel.chosen}")


if __name__ == "__main__":
    main()
