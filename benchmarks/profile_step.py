"""What one training step of PyTorch's VAE example costs in calls, in numpyvae (float32).

    python benchmarks/profile_step.py --threads 1 --steps 50

Counts, per step of the 784-400-20 Bernoulli model at batch 128 (random [0, 1] data, so no
download is needed): the Python frames entered and the C functions called from Python
(`sys.setprofile` events), with the functions that make the most of them; and the main
thread's CPU time per step. Array operators (`a += b`) call NumPy without a profile event,
so the frame count is a floor of the NumPy calls; instruction counts under valgrind cover
everything:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
        python benchmarks/profile_step.py --threads 1 --steps 40 --no-count
    callgrind_annotate /tmp/cg.out | head -40

(run it with --steps 40 and --steps 80; the difference divided by 40 is one step.)
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--steps", type=int, default=50)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--no-count", action="store_true", help="only run the steps (valgrind)")
args = parser.parse_args()
common.limit_threads(args.threads)
# numpyvae before NumPy, as the command line loads it, so that its OpenBLAS setting applies.
import numpyvae  # noqa: E402, F401

print(f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT')}")

import time  # noqa: E402

import numpy as np  # noqa: E402

from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402

# The optimizer's update (its blocks trade calls for cache: counted apart).
OPTIMIZER_FILES = ("optim.py", "kernels/blocks.py", "kernels/fastest.py")


def make_trainer() -> tuple[Trainer, np.ndarray]:
    model = VAE(784, 20, hidden=(400,), likelihood="bernoulli", seed=0, dtype=np.float32)
    trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=args.batch_size, seed=0)
    x = np.random.default_rng(0).random((args.batch_size * args.steps, 784), dtype=np.float32)
    return trainer, x


def count_events(trainer: Trainer, x: np.ndarray) -> None:
    """Profile events of `args.steps` steps (one epoch of x), per step, by function."""
    frames: collections.Counter = collections.Counter()
    c_calls: collections.Counter = collections.Counter()
    in_optimizer = collections.Counter()

    def hook(frame, event, arg):
        if event not in ("call", "c_call"):
            return
        where = frame.f_code.co_filename.split("numpyvae/")[-1]
        if where in OPTIMIZER_FILES:
            in_optimizer[event] += 1
        if event == "call":
            frames[f"{where}:{frame.f_code.co_name}"] += 1
        else:
            c_calls[getattr(arg, "__qualname__", repr(arg))] += 1

    sys.setprofile(hook)
    trainer.fit(x, 1)
    sys.setprofile(None)
    n = args.steps
    print(
        f"per step: {sum(frames.values()) / n:.1f} Python frames, "
        f"{sum(c_calls.values()) / n:.1f} C calls; of which in the optimizer's step "
        f"({', '.join(OPTIMIZER_FILES)}): {in_optimizer['call'] / n:.1f} frames, "
        f"{in_optimizer['c_call'] / n:.1f} C calls"
    )
    for title, counter in (("Python frames", frames), ("C calls", c_calls)):
        print(f"  {title}, per step:")
        for name, count in counter.most_common(25):
            print(f"    {count / n:6.1f}  {name}")


def main() -> None:
    trainer, x = make_trainer()
    # Warm up for 60 steps: Adam measures its forms in the first 44 (numpyvae.kernels.fastest).
    trainer.fit(np.concatenate([x] * -(-60 // args.steps))[: args.batch_size * 60], 1)
    if args.no_count:
        trainer.fit(x, 1)
        return
    count_events(trainer, x)
    times = []
    for _ in range(5):
        start = time.thread_time()
        trainer.fit(x, 1)
        times.append((time.thread_time() - start) / args.steps)
    print(
        f"main thread CPU time per step: median {np.median(times) * 1e3:.3f} ms "
        f"(5 epochs of {args.steps} steps: {', '.join(f'{t * 1e3:.3f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
