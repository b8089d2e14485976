"""The 2-D experiment of Rezende and Mohamed (2015, Figure 3): planar flows fitted to U1-U4.

For each of the four energies of the paper's Table 1 (numpyvae.energies) and each flow
length K, a diagonal Gaussian bent by K planar steps is fitted by minimising KL(q || p) with
Adam (--steps steps of --samples draws, the energy's weight annealed from 0.01 to 1 over the
first third); KL(q || p) in nats is then estimated with 20,000 draws and log Z by
quadrature. Writes the targets beside the fitted densities and the KL against K (--plot), and
the numbers (--json).

    python benchmarks/flows_2d.py --lengths 2,8,32 --steps 5000 --plot benchmarks/flows_2d.png \
        --json benchmarks/flows_2d.json
"""

from __future__ import annotations

import argparse
import json
import time

import common  # before NumPy: it sets the thread variables and the import path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--lengths", default="2,8,32", help="comma-separated flow lengths K")
parser.add_argument("--steps", type=int, default=5000, help="Adam steps per fit")
parser.add_argument("--samples", type=int, default=100, help="draws of eps per step")
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--flow", choices=("planar", "radial"), default="planar")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--plot", help="write the figure to this PNG")
parser.add_argument("--json", help="write the KL of every fit to this file")
args = parser.parse_args()
common.limit_threads(args.threads)

import numpy as np  # noqa: E402

from numpyvae.energies import ENERGIES, energy, fit_flow, grid  # noqa: E402


def main() -> None:
    lengths = [int(k) for k in args.lengths.split(",")]
    fits, results = {}, []
    start = time.perf_counter()
    for name in ENERGIES:
        for k in lengths:
            begun = time.perf_counter()
            fit = fit_flow(
                name, k, flow=args.flow, steps=args.steps, n_samples=args.samples,
                lr=args.lr, seed=args.seed,
            )  # fmt: skip
            fits[name, k] = fit
            results.append({"energy": name, "K": k, "kl": fit.kl})
            print(
                f"{name} K = {k}: KL(q || p) = {fit.kl:.3f} nats "
                f"({time.perf_counter() - begun:.0f} s)",
                flush=True,
            )
    print(f"wall time {time.perf_counter() - start:.0f} s")
    print("| energy | " + " | ".join(f"K = {k}" for k in lengths) + " |")
    print("| --- |" + " --- |" * len(lengths))
    for name in ENERGIES:
        kls = [r["kl"] for r in results if r["energy"] == name]
        print(f"| {name} | " + " | ".join(f"{kl:.3f}" for kl in kls) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    if args.plot:
        plot(fits, lengths, results, args.plot)


def plot(fits: dict, lengths: list[int], results: list[dict], path: str) -> None:
    """Rows U1-U4: the target exp(-U), the fitted q for each K; last column: KL against K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis, points = grid(4.0, 241)
    extent = (axis[0], axis[-1], axis[0], axis[-1])
    columns = len(lengths) + 2
    fig, axes = plt.subplots(4, columns, figsize=(2.2 * columns, 8.8))
    for row, name in enumerate(ENERGIES):
        target = np.exp(-energy(name, points)[0])
        axes[row, 0].imshow(target, origin="lower", extent=extent, cmap="viridis")
        axes[row, 0].set_ylabel(name)
        for col, k in enumerate(lengths, start=1):
            fit = fits[name, k]
            axes[row, col].imshow(fit.density(points), origin="lower", extent=extent)
            axes[row, col].set_title(f"K = {k}: KL {fit.kl:.2f}", fontsize=9)
        kls = [r["kl"] for r in results if r["energy"] == name]
        axes[row, -1].plot(lengths, kls, "o-")
        axes[row, -1].set_xscale("log", base=2)
        axes[row, -1].set_ylim(bottom=0)
        axes[row, -1].set_xlabel("K", fontsize=8)
        axes[row, -1].set_ylabel("KL(q || p), nats", fontsize=8)
        for ax in axes[row, :-1]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("target exp(-U)", fontsize=9)
    axes[0, -1].set_title("KL against K", fontsize=9)
    fig.suptitle(f"{args.flow} flows fitted by minimising KL(q || p), {args.steps} Adam steps")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
