"""Train PyTorch's VAE example in numpyvae (float32) and in PyTorch, epoch by epoch, and compare.

The setup of PyTorch's examples/vae/main.py: a 784-400-20 ReLU encoder giving mu and log
sigma^2, a mirrored 20-400-784 decoder, a Bernoulli decoder on the [0, 1] intensities of full
MNIST, Adam at 1e-3, batches of 128. For every seed each contender trains its own model, one
epoch each in turn, with the same number of threads: numpyvae (float32), PyTorch eager with
default Adam (the example as written), PyTorch eager with `Adam(fused=True)`, and JAX with
the whole step `jax.jit`-compiled and optax Adam. The last three are optional (skipped, with
the reason, when not installed). The matrix products alone of a numpyvae epoch (the floor)
are timed in the same rounds. Prints the median epoch times, numpyvae's ratio to each,
numpyvae's efficiency floor / epoch, the test losses (negative ELBO per image on the 10,000
test images) and the peak memory of a numpyvae training run.

    python benchmarks/bench_train.py --epochs 10 --seeds 3 --threads 2

Not part of the tests: absolute times on shared machines are noise, the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import math
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
    parser.add_argument("--no-torch", action="store_true", help="leave out both PyTorch runs")
    parser.add_argument("--no-jax", action="store_true", help="leave out JAX")
    parser.add_argument(
        "--adam-threads",
        type=int,
        default=None,
        help="threads of numpyvae's Adam update (default: the library's, one or two as "
        "measured fastest)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--profile", action="store_true", help="only profile one numpyvae epoch (cProfile)"
    )
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


args = parse_args()
common.limit_threads(args.threads)
common.limit_jax_threads(args.threads)
# numpyvae before NumPy, as a user's script or the command line loads it, so that its
# OpenBLAS setting applies (numpyvae.openblas); it reaches the floor too, the same library.
import numpyvae  # noqa: E402, F401

OPENBLAS_THREAD_TIMEOUT = os.environ.get("OPENBLAS_THREAD_TIMEOUT")

import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from numpyvae import openblas  # noqa: E402
from numpyvae.datasets import load_mnist  # noqa: E402
from numpyvae.optim import Adam, flat_update_candidates  # noqa: E402
from numpyvae.train import Trainer  # noqa: E402
from numpyvae.vae import VAE  # noqa: E402


def numpyvae_setup(seed: int, batch_size: int, adam_threads: int | None = None) -> Trainer:
    model = VAE(784, 20, hidden=(400,), likelihood="bernoulli", seed=seed, dtype=np.float32)
    optimizer = Adam(model.params, lr=1e-3, threads=adam_threads or args.adam_threads)
    return Trainer(model, optimizer, batch_size=batch_size, seed=seed)


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), in MiB.

    Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a subprocess of
    a large benchmark process would report its parent's size.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM line in /proc/self/status")


def memory_probe(data_dir: str, batch_size: int) -> dict:
    """Peak memory of one numpyvae training epoch, in this (fresh) process."""
    data = load_mnist(data_dir, download=False, dtype=np.float32)
    trainer = numpyvae_setup(0, batch_size)
    rss_before = peak_rss_mib()
    tracemalloc.start()
    trainer.fit(data.x_train, 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "data_mib": (data.x_train.nbytes + data.x_test.nbytes) / 2**20,
        "maxrss_after_load_mib": rss_before,
        "maxrss_mib": peak_rss_mib(),
        "tracemalloc_peak_training_mib": peak / 2**20,
    }


def profile_epoch(data_dir: str, batch_size: int) -> None:
    """cProfile of the second numpyvae epoch (the first warms up), top lines by own time.

    The clock is the main thread's CPU time, so that other jobs on a shared machine do not
    count: with --threads 1 that is the whole epoch's work (Adam is then given one thread,
    unless --adam-threads says otherwise; the forms chosen are printed).
    """
    import cProfile
    import pstats

    x_train = load_mnist(data_dir, download=False, dtype=np.float32).x_train
    trainer = numpyvae_setup(0, batch_size, adam_threads=args.threads)
    trainer.fit(x_train, 1)
    profiler = cProfile.Profile(time.thread_time)
    profiler.runcall(trainer.fit, x_train, 1)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(16)
    print(profile_parts(stats.stats))
    likelihood_forms = {
        shape: kernel.chosen for shape, kernel in trainer.model.likelihood.kernels.items()
    }
    print(f"Adam ran {trainer.optimizer.kernel.chosen}; the likelihood {likelihood_forms}")


def profile_parts(stats: dict) -> str:
    """The epoch's CPU seconds in the parts of benchmarks/README.md's profile table."""

    def seconds(file: str, name: str, own: bool = False) -> float:
        return sum(
            own_time if own else total
            for (path, _, function), (_, _, own_time, total, _) in stats.items()
            if path.endswith(file) and function == name
        )

    epoch = seconds("train.py", "_train_epoch")
    parts = {
        "products (Dense.forward and backward, own time)": seconds(
            "layers/dense.py", "forward", own=True
        )
        + seconds("layers/dense.py", "backward", own=True),
        "Adam (Optimizer.step)": seconds("optim.py", "step"),
        "Bernoulli likelihood": seconds("likelihoods/bernoulli.py", "log_prob_and_grad"),
    }
    parts["everything else"] = epoch - sum(parts.values())
    calls = sum(entry[1] for entry in stats.values())
    return f"epoch {epoch:.2f} s CPU, {calls} profiled calls: " + ", ".join(
        f"{name} {value:.2f} s" for name, value in parts.items()
    )


def run_memory_probe_subprocess() -> dict:
    command = [sys.executable, __file__, "--memory-probe", "--threads", str(args.threads)]
    command += ["--data-dir", args.data_dir, "--batch-size", str(args.batch_size)]
    if args.adam_threads is not None:
        command += ["--adam-threads", str(args.adam_threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def adam_update_twelve_passes(p, g, m, v, tmp, t, lr, beta1, beta2, eps) -> None:
    """numpyvae's Adam kernel as it was before issue 25 kept the moments pre-scaled (commit
    9b53889: twelve passes; m and v the formula's moments), kept here to time today's
    against. Arrays of one shape (n,), like numpyvae.optim.adam_update."""
    m *= beta1
    np.multiply(g, 1.0 - beta1, out=tmp)
    m += tmp
    v *= beta2
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - beta2
    v += tmp
    root = math.sqrt(1.0 - beta2**t)
    np.sqrt(v, out=tmp)
    tmp += eps * root
    np.divide(m, tmp, out=tmp)
    tmp *= lr * root / (1.0 - beta1**t)
    p -= tmp


def adam_step_times(model, steps: int = 469) -> dict[str, float]:
    """Median seconds of one Adam step on the model's 652k parameters, alternating, right
    after a training epoch (so that OpenBLAS's threads are in the state training leaves
    them), on copies of the parameters: the update as it was before issue 25 (its twelve
    passes over whole arrays, on one thread, the default then, and on --threads threads,
    `--adam-threads` then), and the library's default now (ten passes, whole arrays or
    blocks, one thread or two, measured)."""
    grads = model.params.zeros_like()  # the layout of the model's gradients
    grads.flat[:] = np.random.default_rng(0).standard_normal(grads.flat.size) * 1e-2
    optimizers = {}
    for n in sorted({1, args.threads}):
        optimizer = Adam(model.params.copy(), lr=1e-3, threads=n)
        forms = flat_update_candidates(
            adam_update_twelve_passes, grads.flat.size, grads.flat.itemsize, n
        )
        whole = f"whole arrays, {n} thread(s)"
        optimizer.kernel.candidates = {whole: forms[whole]}
        optimizers[f"twelve_passes_whole_{n}_threads"] = optimizer
    optimizers["default"] = Adam(model.params.copy(), lr=1e-3)
    times = {name: [] for name in optimizers}
    for _ in range(steps):
        for name, optimizer in optimizers.items():
            start = time.perf_counter()
            optimizer.step(grads)
            times[name].append(time.perf_counter() - start)
    return {f"adam_step_{name}_s": float(np.median(t)) for name, t in times.items()}


def adam_forms(optimizer: Adam) -> str:
    """Which form of the update Adam chose, and the medians it measured for each."""
    kernel = optimizer.kernel
    times = ", ".join(f"{n} {np.median(t) * 1e3:.2f} ms" for n, t in kernel.timings.items())
    return f"runs {kernel.chosen or '(measuring)'}; measured {times}"


class TorchContender:
    """PyTorch's example, trained from a tensor in memory, with default or fused Adam."""

    def __init__(self, seed: int, x_train, fused: bool) -> None:
        import torch

        torch.manual_seed(seed)
        self.model = common.make_torch_vae()
        extra = {"fused": True} if fused else {}
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, **extra)
        self.shuffle = torch.Generator().manual_seed(seed)
        self.x = torch.from_numpy(x_train)

    def train_epoch(self) -> float:
        return common.torch_train_epoch(
            self.model, self.optimizer, self.x, args.batch_size, self.shuffle
        )

    def test_loss(self, x_test) -> float:
        import torch

        return common.torch_test_loss(self.model, torch.from_numpy(x_test))


def contenders() -> dict:
    """The optional contenders that can run here, by name: a factory (seed, x_train) each."""
    out = {}
    reason = "--no-torch" if args.no_torch else common.torch_available()
    if reason is None:
        import torch

        torch.set_num_threads(args.threads)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        out["torch"] = lambda seed, x: TorchContender(seed, x, fused=False)
        out["torch_fused"] = lambda seed, x: TorchContender(seed, x, fused=True)
    else:
        print(f"skipping PyTorch (default and fused Adam): {reason}")
    reason = "--no-jax" if args.no_jax else common.jax_available()
    if reason is None:
        import jax

        print(
            f"jax {jax.__version__} on {jax.devices()[0].platform}, XLA_FLAGS="
            f"{os.environ.get('XLA_FLAGS', '')!r}"
        )
        out["jax"] = lambda seed, x: common.JaxVAE(seed, x, args.batch_size)
    else:
        print(f"skipping JAX: {reason}")
    return out


def main() -> None:
    if args.memory_probe:
        print(json.dumps(memory_probe(args.data_dir, args.batch_size)))
        return
    if args.profile:
        profile_epoch(args.data_dir, args.batch_size)
        return
    print(f"threads: {args.threads}; " + "; ".join(common.blas_report(args.threads)))
    print(
        f"OPENBLAS_THREAD_TIMEOUT={OPENBLAS_THREAD_TIMEOUT} (numpyvae's default: "
        f"{openblas.THREAD_TIMEOUT}); the loaded OpenBLAS reports {openblas.thread_timeout()}"
    )
    data = load_mnist(args.data_dir, download=False, dtype=np.float32)
    x_train, x_test = data.x_train, data.x_test
    rows = common.batch_sizes(x_train.shape[0], args.batch_size)
    others = contenders()
    names = ["numpyvae", *others]
    times = {name: [] for name in [*names, "floor"]}
    test = {name: [] for name in names}
    adam_probe = []
    for seed in range(args.seeds):
        trainer = numpyvae_setup(seed, args.batch_size)
        model = trainer.model
        runs = {name: make(seed, x_train) for name, make in others.items()}
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            trainer.fit(x_train, 1)
            times["numpyvae"].append(time.perf_counter() - start)
            line = f"seed {seed} epoch {epoch:2d}: numpyvae {times['numpyvae'][-1]:6.2f} s"
            for name, run in runs.items():
                start = time.perf_counter()
                run.train_epoch()
                times[name].append(time.perf_counter() - start)
                line += f"  {name} {times[name][-1]:6.2f} s"
            times["floor"].append(
                common.matmul_floor_epoch(
                    model.encoder.sizes, model.decoder.sizes, rows, np.float32
                )
            )
            line += f"  floor {times['floor'][-1]:6.2f} s"
            print(line + f"  (train loss numpyvae {trainer.history.loss[-1]:.2f})", flush=True)
        adam_probe.append(adam_step_times(model))
        print(
            "Adam step alone: "
            + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in adam_probe[-1].items()),
            flush=True,
        )
        print(f"numpyvae's Adam in training: {adam_forms(trainer.optimizer)}", flush=True)
        test["numpyvae"].append(model.evaluate(x_test).loss)
        for name, run in runs.items():
            test[name].append(run.test_loss(x_test))
        print(
            f"seed {seed} test loss: "
            + ", ".join(f"{name} {values[-1]:.2f}" for name, values in test.items()),
            flush=True,
        )

    results = summarize(times, test)
    results["adam_step_s"] = adam = {
        k: float(np.median([p[k] for p in adam_probe])) for k in adam_probe[0]
    }
    before = adam[f"adam_step_twelve_passes_whole_{args.threads}_threads_s"]
    print(
        f"Adam step: before issue 25 on {args.threads} thread(s) {before * 1e3:.2f} ms, the "
        f"default now {adam['adam_step_default_s'] * 1e3:.2f} ms: "
        f"{before / adam['adam_step_default_s']:.2f} times faster (target >= 2)"
    )
    results["memory"] = run_memory_probe_subprocess()
    memory = results["memory"]
    print(
        "peak memory of a numpyvae training epoch (fresh process): "
        + ", ".join(f"{k} {v:.1f}" for k, v in memory.items())
        + f"; max RSS / float32 data {memory['maxrss_mib'] / memory['data_mib']:.2f} "
        "(target <= 2)"
    )
    print("\n" + markdown_table(times, test, results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "times": times, "test": test, **results}, f, indent=1)


LABELS = {
    "numpyvae": "numpyvae (float32)",
    "torch": "PyTorch eager, default Adam (the example as written)",
    "torch_fused": "PyTorch eager, `Adam(fused=True)`",
    "jax": "JAX, whole step `jax.jit`, optax Adam",
    "floor": "the matrix products of a numpyvae epoch alone (the floor)",
}


def markdown_table(times: dict, test: dict, results: dict) -> str:
    """The run's figures as the Markdown table of benchmarks/README.md."""
    med = results["median_epoch_s"]
    lines = [
        "| contender | median epoch | numpyvae / it | test -ELBO, mean of seeds (each) |",
        "| --- | --- | --- | --- |",
    ]
    for name, seconds in med.items():
        ratio = "" if name == "numpyvae" else f"{med['numpyvae'] / seconds:.2f}"
        if name in test:
            each = ", ".join(f"{v:.2f}" for v in test[name])
            loss = f"{np.mean(test[name]):.2f} ({each})"
        else:
            loss = ""
        lines.append(f"| {LABELS[name]} | {seconds:.2f} s | {ratio} | {loss} |")
    memory = results["memory"]
    lines.append("")
    lines.append(
        f"Efficiency floor / numpyvae {results['efficiency']:.2f}; peak resident set of a "
        f"numpyvae training run {memory['maxrss_mib']:.0f} MiB for {memory['data_mib']:.0f} MiB "
        f"of float32 data ({memory['maxrss_mib'] / memory['data_mib']:.2f}x)."
    )
    return "\n".join(lines)


def summarize(times: dict, test: dict) -> dict:
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
        f"ratios {paired_eff:.3f}; target >= 0.6)"
    )
    out["test_loss"] = {k: float(np.mean(v)) for k, v in test.items()}
    out["ratio"] = {}
    for name in med:
        if name in ("numpyvae", "floor"):
            continue
        out["ratio"][name] = med["numpyvae"] / med[name]
        paired = np.median(np.array(times["numpyvae"]) / np.array(times[name]))
        print(
            f"ratio numpyvae / {name}: {out['ratio'][name]:.3f} (median of paired ratios "
            f"{paired:.3f})"
        )
    if "torch" in out["ratio"]:
        print(f"  target: numpyvae / torch <= 0.7 (issue 25): {out['ratio']['torch'] <= 0.7}")
    strong = [name for name in ("torch_fused", "jax") if name in med]
    if strong:
        best = min(strong, key=med.get)
        out["ratio_best_strong"] = med["numpyvae"] / med[best]
        print(
            f"  target: numpyvae / the faster of {' and '.join(strong)} ({best}) <= 1.0: "
            f"{out['ratio_best_strong']:.3f}"
        )
    for name, values in test.items():
        line = f"test loss {name}: mean {np.mean(values):.2f} {np.round(values, 2).tolist()}"
        if name != "numpyvae":
            gap = out["test_loss"]["numpyvae"] - out["test_loss"][name]
            line += f"; numpyvae - {name} {gap:+.2f} nats"
        print(line)
    if "torch" in test:
        gap = out["test_loss"]["numpyvae"] - out["test_loss"]["torch"]
        print(f"  target: numpyvae at most 0.5 nats above torch: {gap <= 0.5} ({gap:+.2f})")
    return out


if __name__ == "__main__":
    main()
