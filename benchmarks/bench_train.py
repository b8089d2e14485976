"""Train PyTorch's VAE example in numpyvae (float32) and in PyTorch, epoch by epoch, and compare.

The setup of PyTorch's examples/vae/main.py: a 784-400-20 ReLU encoder giving mu and log
sigma^2, a mirrored 20-400-784 decoder, a Bernoulli decoder on the [0, 1] intensities of full
MNIST, Adam at 1e-3, batches of 128. For every seed both frameworks train their own model,
one epoch each in turn, with the same number of threads; the matrix products alone of a
numpyvae epoch (the floor) are timed in the same rounds. Prints the median epoch times, the
ratio numpyvae / PyTorch, numpyvae's efficiency floor / epoch, the test losses (negative ELBO
per image on the 10,000 test images) and the peak memory of a numpyvae training run.

    python benchmarks/bench_train.py --epochs 10 --seeds 3 --threads 2

Not part of the tests: absolute times on shared machines are noise, the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import common  # before NumPy: it sets the thread variables and the import path

DEFAULT_THREADS = os.cpu_count() or 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..n-1, one model each")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--data-dir", default=str(common.DEFAULT_DATA_DIR))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--no-torch", action="store_true", help="numpyvae and the floor only")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--profile", action="store_true", help="only profile one numpyvae epoch (cProfile)"
    )
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


args = parse_args()
common.limit_threads(args.threads)

import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from numpyvae.datasets import load_mnist  # noqa: E402
from numpyvae.optim import Adam  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402


def numpyvae_setup(seed: int, batch_size: int) -> Trainer:
    model = VAE(784, 20, hidden=(400,), likelihood="bernoulli", seed=seed, dtype=np.float32)
    return Trainer(model, Adam(model.params, lr=1e-3), batch_size=batch_size, seed=seed)


def memory_probe(data_dir: str, batch_size: int) -> dict:
    """Peak memory of one numpyvae training epoch, in this (fresh) process."""
    import resource

    data = load_mnist(data_dir, download=False, dtype=np.float32)
    trainer = numpyvae_setup(0, batch_size)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    trainer.fit(data.x_train, 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "data_mib": (data.x_train.nbytes + data.x_test.nbytes) / 2**20,
        "maxrss_after_load_mib": rss_before / 1024,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tracemalloc_peak_training_mib": peak / 2**20,
    }


def profile_epoch(data_dir: str, batch_size: int) -> None:
    """cProfile of the second numpyvae epoch (the first warms up), top lines by own time."""
    import cProfile
    import pstats

    x_train = load_mnist(data_dir, download=False, dtype=np.float32).x_train
    trainer = numpyvae_setup(0, batch_size)
    trainer.fit(x_train, 1)
    profiler = cProfile.Profile()
    profiler.runcall(trainer.fit, x_train, 1)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def run_memory_probe_subprocess() -> dict:
    command = [sys.executable, __file__, "--memory-probe", "--threads", str(args.threads)]
    command += ["--data-dir", args.data_dir, "--batch-size", str(args.batch_size)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if args.memory_probe:
        print(json.dumps(memory_probe(args.data_dir, args.batch_size)))
        return
    if args.profile:
        profile_epoch(args.data_dir, args.batch_size)
        return
    print(f"threads: {args.threads}; " + "; ".join(common.blas_report(args.threads)))
    data = load_mnist(args.data_dir, download=False, dtype=np.float32)
    x_train, x_test = data.x_train, data.x_test
    rows = common.batch_sizes(x_train.shape[0], args.batch_size)
    use_torch = not args.no_torch
    if use_torch:
        import torch

        torch.set_num_threads(args.threads)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        tx_train, tx_test = torch.from_numpy(x_train), torch.from_numpy(x_test)

    times = {"numpyvae": [], "torch": [], "floor": []}
    test = {"numpyvae": [], "torch": []}
    for seed in range(args.seeds):
        trainer = numpyvae_setup(seed, args.batch_size)
        model = trainer.model
        if use_torch:
            torch.manual_seed(seed)
            tmodel = common.make_torch_vae()
            toptim = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
            shuffle = torch.Generator().manual_seed(seed)
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            trainer.fit(x_train, 1)
            times["numpyvae"].append(time.perf_counter() - start)
            line = f"seed {seed} epoch {epoch:2d}: numpyvae {times['numpyvae'][-1]:6.2f} s"
            if use_torch:
                start = time.perf_counter()
                common.torch_train_epoch(tmodel, toptim, tx_train, args.batch_size, shuffle)
                times["torch"].append(time.perf_counter() - start)
                line += f"  torch {times['torch'][-1]:6.2f} s"
            times["floor"].append(
                common.matmul_floor_epoch(
                    model.encoder.sizes, model.decoder.sizes, rows, np.float32
                )
            )
            line += f"  floor {times['floor'][-1]:6.2f} s"
            print(line + f"  (train loss numpyvae {trainer.history.loss[-1]:.2f})", flush=True)
        test["numpyvae"].append(model.evaluate(x_test).loss)
        if use_torch:
            test["torch"].append(common.torch_test_loss(tmodel, tx_test))
        print(f"seed {seed} test loss: numpyvae {test['numpyvae'][-1]:.2f}", end="")
        print(f"  torch {test['torch'][-1]:.2f}" if use_torch else "", flush=True)

    results = summarize(times, test, use_torch)
    results["memory"] = run_memory_probe_subprocess()
    print(
        "peak memory of a numpyvae training epoch (fresh process): "
        + ", ".join(f"{k} {v:.1f}" for k, v in results["memory"].items())
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "times": times, "test": test, **results}, f, indent=1)


def summarize(times: dict, test: dict, use_torch: bool) -> dict:
    med = {k: float(np.median(v)) for k, v in times.items() if v}
    out = {"median_epoch_s": med}
    print(
        f"\nmedian epoch over {len(times['numpyvae'])} epochs: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in med.items())
    )
    out["efficiency"] = med["floor"] / med["numpyvae"]
    paired_eff = np.median(np.array(times["floor"]) / np.array(times["numpyvae"]))
    print(
        f"efficiency floor / numpyvae: {out['efficiency']:.3f} (median of paired "
        f"ratios {paired_eff:.3f}; target >= 0.85)"
    )
    out["test_loss_numpyvae"] = float(np.mean(test["numpyvae"]))
    if use_torch:
        out["ratio"] = med["numpyvae"] / med["torch"]
        paired = np.median(np.array(times["numpyvae"]) / np.array(times["torch"]))
        print(
            f"ratio numpyvae / torch: {out['ratio']:.3f} (median of paired ratios "
            f"{paired:.3f}; target <= 0.75)"
        )
        out["test_loss_torch"] = float(np.mean(test["torch"]))
        gap = out["test_loss_numpyvae"] - out["test_loss_torch"]
        print(
            f"test loss, mean over {len(test['torch'])} seeds: numpyvae "
            f"{out['test_loss_numpyvae']:.2f} {np.round(test['numpyvae'], 2).tolist()}, torch "
            f"{out['test_loss_torch']:.2f} {np.round(test['torch'], 2).tolist()}, gap "
            f"{gap:+.2f} nats (target <= +0.5)"
        )
    else:
        print(f"test loss numpyvae: {out['test_loss_numpyvae']:.2f}")
    return out


if __name__ == "__main__":
    main()
