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


def torch_available() -> str | None:
    """None if PyTorch imports, else the reason it cannot be benchmarked."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return f"PyTorch not installed ({exc}); pip install torch"
    return None


def jax_available() -> str | None:
    """None if JAX and optax import, else the reason they cannot be benchmarked."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError as exc:
        return f"JAX not installed ({exc}); pip install jax jaxlib optax"
    return None


def limit_jax_threads(n: int) -> None:
    """Ask XLA's CPU backend for one thread when n == 1 (it uses every core otherwise);
    call before JAX is imported."""
    if n == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()


class JaxVAE:
    """PyTorch's example in JAX: the same model, loss and Adam, the whole training step
    (forward, loss, gradient, optax Adam update) compiled with `jax.jit`.

    The data stays on the device; each step gathers its rows there from the shuffled index.
    The weights start as `nn.Linear` does, U(-1/sqrt(n_in), 1/sqrt(n_in)).
    """

    def __init__(self, seed: int, x_train, batch_size: int) -> None:
        import jax
        import jax.numpy as jnp
        import numpy as np
        import optax

        rng = np.random.default_rng(seed)
        sizes = {"fc1": (784, 400), "fc21": (400, 20), "fc22": (400, 20)}
        sizes.update({"fc3": (20, 400), "fc4": (400, 784)})
        self.params = {}
        for name, (n_in, n_out) in sizes.items():
            bound = 1.0 / np.sqrt(n_in)
            self.params[name] = (
                jnp.asarray(rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)),
                jnp.asarray(rng.uniform(-bound, bound, n_out).astype(np.float32)),
            )
        self.optimizer = optax.adam(1e-3)
        self.opt_state = self.optimizer.init(self.params)
        self.key = jax.random.PRNGKey(seed)
        self.x = jnp.asarray(x_train)
        self.batch_size = batch_size
        self.order_rng = np.random.default_rng(seed)

        def forward(params, x, key):
            def dense(name, a):
                W, b = params[name]
                return a @ W + b

            h1 = jax.nn.relu(dense("fc1", x))
            mu, logvar = dense("fc21", h1), dense("fc22", h1)
            z = mu + jax.random.normal(key, mu.shape) * jnp.exp(0.5 * logvar)
            recon = jax.nn.sigmoid(dense("fc4", jax.nn.relu(dense("fc3", z))))
            return recon, mu, logvar

        def loss_fn(params, x, key):
            recon, mu, logvar = forward(params, x, key)
            # binary cross-entropy on probabilities, with PyTorch's clamp of the logs at -100
            log_r = jnp.maximum(jnp.log(recon), -100.0)
            log_1mr = jnp.maximum(jnp.log1p(-recon), -100.0)
            bce = -jnp.sum(x * log_r + (1.0 - x) * log_1mr)
            kld = -0.5 * jnp.sum(1.0 + logvar - mu**2 - jnp.exp(logvar))
            return bce + kld

        def step(params, opt_state, key, x, index):
            key, sub = jax.random.split(key)
            loss, grads = jax.value_and_grad(loss_fn)(params, x[index], sub)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, key, loss

        self._step = jax.jit(step)
        self._loss = jax.jit(loss_fn)
        # Compile for every batch shape of an epoch now, so epochs time running, not compiling.
        n = self.x.shape[0]
        for rows in sorted({batch_size, n % batch_size} - {0}):
            out = self._step(self.params, self.opt_state, self.key, self.x, jnp.arange(rows))
            jax.block_until_ready(out)

    def train_epoch(self) -> float:
        """One epoch over the shuffled training set; returns the mean loss per image."""
        import jax
        import jax.numpy as jnp

        n = self.x.shape[0]
        order = jnp.asarray(self.order_rng.permutation(n).astype("int32"))
        losses = []
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            self.params, self.opt_state, self.key, loss = self._step(
                self.params, self.opt_state, self.key, self.x, index
            )
            losses.append(loss)
        jax.block_until_ready(self.params)
        total = float(sum(float(v) for v in losses))
        return total / n

    def test_loss(self, x_test, batch_size: int = 1000) -> float:
        """Negative ELBO per test image, one z sample per image, as the example's test()."""
        import jax
        import jax.numpy as jnp

        key = jax.random.PRNGKey(12345)
        total = 0.0
        for start in range(0, x_test.shape[0], batch_size):
            key, sub = jax.random.split(key)
            total += float(
                self._loss(self.params, jnp.asarray(x_test[start : start + batch_size]), sub)
            )
        return total / x_test.shape[0]
