"""What the benchmark scripts share: thread limits set before NumPy loads, the BLAS report,
the PyTorch example's model, and the matrix-product floor of a numpyvae epoch.

Import this module before NumPy (the scripts call `limit_threads` first thing) so that the
thread counts reach OpenBLAS, OpenMP and MKL when they start.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data" / "mnist"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SLOW_OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def limit_threads(n: int) -> None:
    """Ask every thread pool (OpenBLAS, OpenMP, MKL) for n threads; call before importing NumPy."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)


def blas_report(n_threads: int) -> list[str]:
    """Lines saying which BLAS kernels run with how many threads (threadpoolctl if installed)."""
    lines = []
    for name in SLOW_OPENBLAS_VARIABLES:
        if name in os.environ:
            lines.append(f"warning: {name}={os.environ[name]} is set; it may slow OpenBLAS")
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        import numpy as np

        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(
            f"numpy BLAS: {config.get('name')} {config.get('version')} (threadpoolctl not "
            f"installed; threads set through {', '.join(THREAD_VARIABLES)} = {n_threads})"
        )
        return lines
    threadpool_limits(n_threads)
    for pool in threadpool_info():
        lines.append(
            f"{pool['user_api']}: {pool['internal_api']} {pool.get('version') or ''} "
            f"kernel={pool.get('architecture', '-')} threads={pool['num_threads']} "
            f"({Path(pool['filepath']).name})"
        )
    return lines


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """The row counts of one epoch's minibatches: full batches, then the remainder."""
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


def matmul_floor_epoch(encoder_sizes, decoder_sizes, rows: list[int], dtype) -> float:
    """Seconds for the matrix products alone of one training epoch of a numpyvae VAE.

    Per step of B rows: every Dense layer's forward x W, its dW = x^T dout, and its
    dx = dout W^T except for the encoder's first layer (numpyvae skips the gradient of the
    data). Same shapes, transposed views and dtype as numpyvae; nothing else is timed.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    B_max = max(rows)
    layers = []
    for sizes, first_needs_dx in ((encoder_sizes, False), (decoder_sizes, True)):
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(
                (
                    rng.standard_normal((B_max, n_in)).astype(dtype),  # the layer's input
                    rng.standard_normal((n_in, n_out)).astype(dtype),  # W
                    rng.standard_normal((B_max, n_out)).astype(dtype),  # dout
                    first_needs_dx or i > 0,
                )
            )
    start = time.perf_counter()
    for B in rows:
        for x, W, _, _ in layers:
            x[:B] @ W
        for x, W, dout, needs_dx in reversed(layers):
            x[:B].T @ dout[:B]
            if needs_dx:
                dout[:B] @ W.T
    return time.perf_counter() - start


def make_torch_vae():
    """The model of PyTorch's examples/vae/main.py: 784-400-(20, 20), 20-400-784, sigmoid."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class TorchVAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, x):
            h1 = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar

    return TorchVAE()


def torch_loss(recon, x, mu, logvar):
    """The example's loss: binary cross-entropy plus KL, summed over the batch."""
    import torch
    from torch.nn import functional as F

    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def torch_train_epoch(model, optimizer, x, batch_size: int, generator) -> float:
    """One epoch as in the example's train(), on a tensor in memory (no DataLoader)."""
    import torch

    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        xb = x[order[start : start + batch_size]]
        optimizer.zero_grad()
        recon, mu, logvar = model(xb)
        loss = torch_loss(recon, xb, mu, logvar)
        loss.backward()
        total += loss.item()
        optimizer.step()
    return total / x.shape[0]


def torch_test_loss(model, x, batch_size: int = 1000) -> float:
    """The example's test(): negative ELBO per image, one z sample per image."""
    import torch

    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            recon, mu, logvar = model(xb)
            total += torch_loss(recon, xb, mu, logvar).item()
    return total / x.shape[0]
