"""Build numpyvae/datasets/data/mnist_subset.npz from the full MNIST files.

Usage (from the repository root)::

    python scripts/build_embedded_subset.py --data-dir DIR \
        --out numpyvae/datasets/data/mnist_subset.npz

DIR holds the four MNIST files; their checksums are verified; the output is byte-reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from numpyvae.datasets.embedded import build_embedded_subset, load_embedded_arrays


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, build the subset and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="dir with the 4 MNIST files")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    args = parser.parse_args(argv)
    out = build_embedded_subset(args.data_dir, args.out)
    arrays = load_embedded_arrays(out)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out}: {out.stat().st_size} bytes, sha256 {sha}")
    for split in ("train", "test"):
        counts = np.bincount(arrays[f"y_{split}"], minlength=10)
        print(f"  {split}: x {arrays[f'x_{split}'].shape}, per-class counts {counts.tolist()}")


if __name__ == "__main__":
    main()
