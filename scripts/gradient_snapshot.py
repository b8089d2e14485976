"""Save what 48 model configurations compute on fixed seeds, to compare two versions bit for bit.

    python scripts/gradient_snapshot.py before.npz      # on the old version
    python scripts/gradient_snapshot.py after.npz       # on the new one
    python scripts/gradient_snapshot.py --compare before.npz after.npz

Each configuration (4 likelihoods x 2 posteriors x {ELBO with the analytic KL, ELBO with the
sampled KL, IWAE} x {plain, conditional}; M = 3, beta 0.7, hidden (7, 5), float64) contributes
its loss parts, every gradient, generated samples and log p(x) estimates. A refactor that keeps
the arithmetic must leave every array identical (np.array_equal, dtypes included).
"""

from __future__ import annotations

import sys

import numpy as np

from numpyvae import VAE

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_shared_var", "gaussian_pixel_var")
OBJECTIVES = (("elbo", "analytic"), ("elbo", "sampled"), ("iwae", "analytic"))


def snapshot() -> dict[str, np.ndarray]:
    """The arrays of every configuration, by '<index>.<what>'."""
    rng = np.random.default_rng(123)
    grey = rng.random((6, 10))
    binary = (grey > 0.5).astype(float)
    labels = np.array([0, 1, 2, 0, 1, 2])
    configs = [
        dict(likelihood=lik, posterior=post, objective=obj, kl_estimator=kl, n_classes=n)
        for lik in LIKELIHOODS
        for post in ("diagonal", "full")
        for obj, kl in OBJECTIVES
        for n in (None, 3)
    ]
    out = {}
    for i, config in enumerate(configs):
        model = VAE(10, 3, hidden=(7, 5), n_samples=3, seed=i, beta=0.7, **config)
        x = binary if config["likelihood"] == "bernoulli" else grey
        eps = np.random.default_rng(i).standard_normal((3, 6, 3))
        c = labels if config["n_classes"] else None
        parts, grads = model.loss_and_grads(x, eps, c=c)
        out[f"{i}.loss"] = np.array([parts.loss, parts.reconstruction, parts.kl])
        out.update({f"{i}.{name}": g for name, g in grads.items()})
        out[f"{i}.gen"] = model.generate(4, "sample", c=1 if config["n_classes"] else None)
        out[f"{i}.ll"] = model.log_likelihood(x, 20, c=c)
    return out


def compare(first: str, second: str) -> int:
    """Print how many arrays differ between two snapshots; exit code 1 if any."""
    a, b = np.load(first), np.load(second)
    if set(a.files) != set(b.files):
        print(f"different arrays: {sorted(set(a.files) ^ set(b.files))}")
        return 1
    differ = [k for k in a.files if not (a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]))]
    print(f"{len(a.files)} arrays, {len(differ)} differ", *differ[:10])
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    np.savez(sys.argv[1], **snapshot())
    print(f"wrote {sys.argv[1]}")
