# ruff: noqa: E501

# %% [markdown]
# # 11. Normalizing flows: a posterior beyond the Gaussian
#
# Every posterior so far was Gaussian: $z = \mu + \sigma \odot \varepsilon$ (or $\mu + L\varepsilon$).
# Lecture 004 names the other way to build a distribution, transforming a simple random variable
# directly, and lecture 002 ends by promising "more expressive posterior approximations".
# Rezende and Mohamed (2015) join the two: push the Gaussian sample through $K$ invertible maps,
#
# $$z_0 = \mu + \sigma \odot \varepsilon, \qquad z_k = f_k(z_{k-1}), \qquad
# \log q(z_K|x) = \log \mathcal{N}(\varepsilon; 0, I) - \sum_i \log \sigma_i - \sum_{k=1}^K \log\Big|\det \frac{\partial f_k}{\partial z_{k-1}}\Big|,$$
#
# the change of variables of derivations.md §7.1 applied once per step (§14.1). The encoder outputs
# each step's parameters for every image. A **planar** step bends space across a hyperplane,
# $f(z) = z + \hat u \tanh(w^\top z + b)$ with $\log|\det| = \log(1 + (1 - \tanh^2 s)\, w^\top \hat u)$
# (§14.2); a **radial** step pulls space towards or away from a centre (§14.3). The KL of such a
# $q$ has no closed form, so the ELBO takes it by sampling (estimator A, §7.2), or the model trains
# on the importance-weighted bound (notebook 7).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import VAE
from numpyvae.datasets import binarize, load_dataset
from numpyvae.energies import ENERGIES, energy, fit_flow, grid
from numpyvae.gradcheck import check_model
from numpyvae.optim import Adam
from numpyvae.posteriors import PlanarFlow
from numpyvae.train import Trainer

# %% [markdown]
# ## The change of variables made visible
#
# A standard Gaussian in 2-D, bent by three planar steps chosen by hand. The encoder's output for
# one image is $h = [\mu \mid \log\sigma^2 \mid u_1 \mid w_1 \mid b_1 \mid \dots]$; here we write it
# ourselves. Each panel shows 2,000 samples $z_k$ over the density $q(z_k)$, computed at every
# point of a grid by inverting the steps and applying the formula above
# (`PlanarFlow.log_prob`), and the integral of that density over $[-8, 8]^2$ by the trapezoidal
# rule. Where a step squeezes space ($|\det| < 1$) the density rises; where it stretches, it
# falls.

# %% tags=["figure"]
steps = np.array(
    [
        [2.0, 0.0, 1.5, 0.0, 0.0],  # u, w, b: push along z1, across the line z1 = 0
        [0.0, 2.0, 0.0, 1.5, 0.5],  # push along z2, across z2 = -1/3
        [1.5, 1.5, 1.0, -1.0, 0.0],  # a diagonal fold
    ]
)


def density_on(flow, h, limit, n):
    """q(z) on an n x n grid over [-limit, limit]^2, through the flow's inverse."""
    axis, points = grid(limit, n)
    log_q = flow.log_prob(points.reshape(-1, 1, 2), h).reshape(points.shape[:2])
    return axis, np.exp(log_q)


eps = np.random.default_rng(0).standard_normal((2000, 1, 2))
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
for K, ax in enumerate(axes):
    flow = PlanarFlow(2, flow_length=K)
    h = np.concatenate([[0.0, 0.0, 0.0, 0.0], steps[:K].ravel()])[np.newaxis]
    wide, density = density_on(flow, h, 8.0, 321)
    mass = np.trapezoid(np.trapezoid(density, wide, axis=1), wide)
    z = flow.sample(h, eps)[:, 0]
    ax.imshow(density_on(flow, h, 4.5, 161)[1], origin="lower", extent=(-4.5, 4.5, -4.5, 4.5))
    ax.plot(z[:, 0], z[:, 1], ".", ms=1, color="w", alpha=0.4)
    ax.set(xlim=(-4.5, 4.5), ylim=(-4.5, 4.5), xticks=[], yticks=[])
    ax.set_title(f"K = {K}: integral of q {mass:.5f}", fontsize=10)
    assert abs(mass - 1) < 1e-4  # a density: it integrates to one
plt.show()

# %% [markdown]
# The samples (white) fall where the density (colour), computed independently through the
# inverse, is high, and the mass on the grid stays 1 at every $K$. (tests/test_flows.py checks both
# more tightly, and each log-determinant against a finite-difference Jacobian.)
#
# ## Every gradient, checked
#
# The backward through a step has three paths into $s = w^\top z + b$, $\hat u$ and $w$ (the
# output, the determinant's $\tanh'(s)$, and $w^\top \hat u$), then the invertibility
# reparameterisation $\hat u = u + (m(w^\top u) - w^\top u)\, w / \|w\|^2$, $m(a) = -1 + \log(1 + e^a)$,
# which keeps $w^\top \hat u > -1$ (derivations.md (14.7), (14.8)). Here the encoder's bias is set so
# that every raw $(u, w)$ violates the condition, $w^\top u < -1$: the reparameterisation is doing
# its job, and finite differences still agree with the hand-written gradient of every parameter.

# %%
x_toy = (np.random.default_rng(1).random((5, 8)) < 0.5).astype(float)
model = VAE(8, 3, (7,), posterior="planar", flow_length=2, kl_estimator="sampled", n_samples=2)
bias = model.params["encoder.1.b"]  # the encoder's last layer: [mu | log var | u1 w1 b1 | u2 ...]
for k in range(2):
    start = 6 + 7 * k
    bias[start : start + 3], bias[start + 3 : start + 6] = -2.0, 1.0  # raw u, w
report = check_model(model, x_toy)
print(report)
assert report.passed

# %% [markdown]
# ## The paper's 2-D energies
#
# Rezende and Mohamed test flows on four unnormalised densities $p(z) \propto e^{-U(z)}$ (their
# Table 1): a ring cut in two, a sine wave, and a sine wave split in two ways. As printed, the
# last three do not decay along $z_1$ (the wave runs on forever), so $e^{-U}$ has no finite
# integral; numpyvae multiplies them by the soft window $e^{-(z_1/4)^8/2}$, which keeps the square
# $[-4, 4]^2$ the paper plots and removes the rest. A flow is fitted to
# each by minimising $\mathrm{KL}(q \| p) = \mathbb{E}_q[\log q(z) + U(z)] + \log Z$: an ELBO whose
# "reconstruction" is $-U$, with the same backward as the VAE (derivations.md §14.5). $\log Z$ is
# computed by quadrature so that the KL is in nats; the fits here are short (500 Adam steps);
# `benchmarks/flows_2d.py` runs the long version.

# %%
LENGTHS = (2, 8)
start = time.perf_counter()
fits = {(name, K): fit_flow(name, K, steps=500, seed=0) for name in ENERGIES for K in LENGTHS}
print(f"{len(fits)} fits in {time.perf_counter() - start:.0f} s")
for name in ENERGIES:
    print(name, "  ".join(f"K = {K}: KL {fits[name, K].kl:.3f} nats" for K in LENGTHS))

# %% tags=["figure"]
axis, points = grid(4.0, 121)
fig, axes = plt.subplots(len(LENGTHS) + 1, 4, figsize=(11, 8.6))
for col, name in enumerate(ENERGIES):
    axes[0, col].imshow(np.exp(-energy(name, points)[0]), origin="lower", extent=(-4, 4, -4, 4))
    axes[0, col].set_title(f"{name}: target")
    for row, K in enumerate(LENGTHS, start=1):
        fit = fits[name, K]
        axes[row, col].imshow(fit.density(points), origin="lower", extent=(-4, 4, -4, 4))
        axes[row, col].set_title(f"K = {K}: KL {fit.kl:.2f}")
for ax in axes.ravel():
    ax.set(xticks=[], yticks=[])
plt.show()

# %% [markdown]
# After 500 steps neither length matches its target: both put more mass on one half of $U_1$'s
# ring than on the other, and follow the wave of $U_2$ over about one and a half periods, not
# across the whole square. Still, eight steps come closer than two: the KL falls with $K$ for every
# energy. The long run (`benchmarks/flows_2d.py`: $K = 32$, 4,000 steps) traces both halves of
# the ring and the whole wave.

# %%
for name in ENERGIES:
    assert fits[name, 8].kl < fits[name, 2].kl, name

# %% [markdown]
# ## MNIST: the diagonal posterior against flows, same networks and budget
#
# MNIST (the full set if it is on this machine, otherwise the 10,000-image subset shipped with
# numpyvae), dynamically binarized; 784-200-10 networks, 3 epochs on 10,000 images. All three
# models use the sampled KL (estimator A), so they differ only in $q(z|x)$: the diagonal Gaussian,
# and that Gaussian bent by 4 planar or 4 radial steps whose parameters the encoder outputs for
# each image (its last layer grows from 20 outputs to 20 + 4·21 or 20 + 4·12).

# %%
data = load_dataset("auto", dtype=np.float32)
print(data.source, data.x_train.shape)
x_train = data.x_train[:10_000]
x_test = binarize(data.x_test[:200], "dynamic", np.random.default_rng(1))


def train(**options):
    model = VAE(784, 10, (200,), dtype=np.float32, seed=0, kl_estimator="sampled", **options)
    trainer = Trainer(
        model,
        Adam(model.params, lr=1e-3),
        batch_size=100,
        transform=lambda xb, rng: binarize(xb, "dynamic", rng),
    )
    start = time.perf_counter()
    trainer.fit(x_train, 3)
    print(f"{model.posterior}: {time.perf_counter() - start:.0f} s")
    return model


models = {
    "diagonal": train(),
    "planar, K = 4": train(posterior="planar", flow_length=4),
    "radial, K = 4": train(posterior="radial", flow_length=4),
}

# %% [markdown]
# For each model: the test ELBO (averaged over 5 draws of the noise) and $\log p(x)$ estimated by
# importance sampling with 500 draws per image (derivations.md §9.5). Their difference is
# $\mathrm{KL}(q(z|x) \| p(z|x))$, how far the posterior family is from the true posterior
# (§2.2), averaged over the test images; a more expressive $q$ should shrink it.

# %% tags=["figure"]
scores = {}
for name, model in models.items():
    elbo = -np.mean([model.evaluate(x_test).loss for _ in range(5)])
    log_px = model.log_likelihood(x_test, 500, chunk_size=100, rng=np.random.default_rng(4)).mean()
    scores[name] = (elbo, log_px)
    print(f"{name:14s} ELBO {elbo:8.2f}   log p(x) ~ {log_px:8.2f}   gap {log_px - elbo:5.2f} nats")

fig, ax = plt.subplots(figsize=(6, 3.6))
names = list(scores)
ax.bar(np.arange(3) - 0.2, [-scores[n][0] for n in names], 0.4, label="-ELBO")
ax.bar(np.arange(3) + 0.2, [-scores[n][1] for n in names], 0.4, label="-log p(x), K = 500")
low = min(-s[1] for s in scores.values()) - 5
ax.set(xticks=np.arange(3), xticklabels=names, ylim=(low, None), ylabel="nats per test image")
ax.set_title("Same networks, same budget: the posterior family alone differs")
ax.legend()
plt.show()

# %% [markdown]
# With the same three epochs the planar flow reaches a better ELBO than the diagonal Gaussian, and
# the gap between its ELBO and $\log p(x)$ is smaller: part of the ELBO's shortfall was the
# Gaussian's inability to match the true posterior. Four radial steps help too, less: they bend
# space around a point, not across a hyperplane. The gain depends on the setting:
# `benchmarks/bench_flows.py` runs the same comparison on all 60,000 training images with
# 784-400-20 networks, and there the five posteriors end within 0.6 nats of each other after 5
# epochs, the planar flow slightly behind after 40 (benchmarks/README.md sets those tables beside
# the paper's Table 2, whose gains come after some 800 passes over the data).

# %%
diagonal, planar, radial = scores.values()
assert planar[0] > radial[0] > diagonal[0]  # a better ELBO
assert planar[1] - planar[0] < diagonal[1] - diagonal[0]  # a tighter one

# %% [markdown]
# ## Things to try
#
# * Longer flows: `flow_length=16`. Each planar step adds $2k + 1$ encoder outputs and a few
#   $O(Mk)$ operations; the networks' cost does not change.
# * `objective="iwae"` with a flow: the importance weights now also reweigh each sample's
#   log-determinant (derivations.md §14.1, §9.1).
# * Fit the 2-D energies with `flow="radial"`: radial steps bend around points, not across lines,
#   and need many more steps for the wave of $U_2$.
# * Set the encoder's bias so that $w^\top u$ is very negative and look at $\hat u$: the
#   reparameterisation moves only $u$'s component along $w$.
