# ruff: noqa: E501

# %% [markdown]
# # 7. The importance-weighted bound
#
# The ELBO is one number per image, $\mathbb{E}_q[\log p(x|z) + \log p(z) - \log q(z|x)]$, and it
# can sit far below $\log p(x)$. Burda et al. (2016) average the **importance weights**
# $w_k = p(x|z_k)\,p(z_k)/q(z_k|x)$ of $K$ draws $z_k \sim q(z|x)$ *inside* the logarithm
# ([derivations.md §9.1](derivations.md#9.1-The-importance-weighted-bound)):
#
# $$\mathcal{L}_K(x) = \mathbb{E}\Big[\log \frac{1}{K}\sum_{k=1}^K w_k\Big], \qquad \mathcal{L}_1 = \text{ELBO} \le \mathcal{L}_K \le \mathcal{L}_{K+1} \le \log p(x).$$
#
# Its gradient is a **weighted** sum of the per-sample gradients, with the normalised weights
# $\tilde w_k = w_k / \sum_j w_j$ (a softmax of the $\log w_k$):
#
# $$\nabla \log \frac{1}{K}\sum_k w_k = \sum_k \tilde w_k\, \nabla \log w_k .$$
#
# In numpyvae the bound is the objective `VAE(..., objective="iwae", n_samples=K)`, and
# `numpyvae.objectives` holds its functions ([derivations.md §9.1](derivations.md#9.1-The-importance-weighted-bound) for the bound and its gradient,
# §9.5 for estimating $\log p(x)$).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import VAE, plots
from numpyvae.datasets import binarize, load_dataset
from numpyvae.gradcheck import check_model
from numpyvae.objectives import log_likelihood, log_sum_exp
from numpyvae.optim import Adam
from numpyvae.train import Trainer

# %% [markdown]
# ## $\mathcal{L}_1$ is the ELBO with a sampled KL (estimator A)
#
# With one sample, $\log\frac11 w_1 = \log p(x|z_1) + \log p(z_1) - \log q(z_1|x)$: the single-sample
# ELBO in which the KL is *sampled* (AEVB's estimator A, [derivations.md §7.2](derivations.md#7.2-Estimator-A-and-estimator-B)). numpyvae computes
# $\log q(z|x)$ by the change of variables, $\log q(z|x) = \log \mathcal{N}(\varepsilon; 0, I) - \sum_i \log\sigma_i$
# (§7.1). With the same $\varepsilon$ the two objectives agree to rounding:

# %%
rng = np.random.default_rng(0)
x_toy = (rng.random((6, 8)) < 0.5).astype(float)
eps = rng.standard_normal((1, 6, 3))
iwae_1 = VAE(8, 3, (9,), objective="iwae", n_samples=1, seed=1)
elbo_a = VAE(8, 3, (9,), kl_estimator="sampled", seed=1)
bound, elbo = iwae_1.loss(x_toy, eps).loss, elbo_a.loss(x_toy, eps).loss
print("IWAE, K = 1:       ", bound)
print("ELBO, estimator A: ", elbo)
assert abs(bound - elbo) < 1e-12

# %% [markdown]
# ## The gradient through the normalised weights, checked
#
# Each sample's path (the decoder, $\log p(z_k)$ through $z_k = \mu + \sigma\varepsilon_k$, and
# $\log q$ directly through $\log\sigma$) gets the weight $-\tilde w_k / B$ in the loss
# $-\frac1B\sum_i \mathcal{L}_K(x_i)$. Finite differences confirm it, in float64:

# %%
iwae_5 = VAE(8, 3, (9,), objective="iwae", n_samples=5, seed=1)
report = check_model(iwae_5, x_toy)
print(report)
assert report.passed

# %% [markdown]
# ## A VAE and an IWAE trained with the same budget
#
# MNIST (the full set if it is on this machine, otherwise the 10,000-image subset shipped with
# numpyvae), dynamically binarized each minibatch. Same architecture, same epochs; the IWAE uses
# $K = 5$ samples per image and so costs about five times as much per step.

# %%
data = load_dataset("auto", dtype=np.float32)
print(data.source, data.x_train.shape)
x_train = data.x_train[:10_000]
x_test = binarize(
    data.x_test[:200], "dynamic", np.random.default_rng(1)
)  # one fixed binary test set
EPOCHS = 3


def train(**options):
    model = VAE(784, 10, (200,), dtype=np.float32, seed=0, **options)
    trainer = Trainer(
        model,
        Adam(model.params, lr=1e-3),
        batch_size=100,
        transform=lambda xb, rng: binarize(xb, "dynamic", rng),
    )
    start = time.perf_counter()
    trainer.fit(x_train, EPOCHS)
    print(f"{model.objective} (K = {model.n_samples}): {time.perf_counter() - start:.0f} s")
    return model


vae = train()
iwae = train(objective="iwae", n_samples=5)

# %% [markdown]
# ## $\mathcal{L}_K$ grows with $K$
#
# For the trained VAE, the average over test images of $\mathcal{L}_K$ for increasing $K$. Each step
# up is a tighter lower bound on $\log p(x)$; the gap between $K = 1$ and large $K$ is how much the
# ELBO under-reports the model.

# %% tags=["figure"]
Ks = [1, 5, 50, 500]
bounds = [
    log_likelihood(vae, x_test, K, chunk_size=100, rng=np.random.default_rng(2)).mean() for K in Ks
]
for K, b in zip(Ks, bounds, strict=True):
    print(f"K = {K:4d}:  L_K = {b:8.2f} nats")
assert all(np.diff(bounds) > 0)

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.semilogx(Ks, bounds, "o-")
ax.set(
    xlabel="K (samples per image)",
    ylabel="mean L_K (nats per image)",
    title="The bound tightens as K grows",
)
plt.show()

# %% [markdown]
# ## Weight degeneracy: a few samples carry the estimate
#
# The normalised weights $\tilde w_k$ of one test image with $K = 500$. Were $q(z|x)$ the true
# posterior, every weight would be $1/K$; in practice they spread over orders of magnitude, and a
# small fraction of the samples carry the estimate. The *effective sample size*
# $1/\sum_k \tilde w_k^2$ says how many equally weighted samples they are worth.
# `model.log_weights` gives the $\log w_k$ of a batch for given noise.

# %% tags=["figure"]
K = 500
eps = vae.posterior.draw_eps(np.random.default_rng(3), K, 1, vae.dtype)
log_w = vae.log_weights(vae.prepare(x_test[:1]), eps)[:, 0].astype(np.float64)  # (K,)
w = np.exp(log_w - log_sum_exp(log_w))
ess = 1 / np.sum(w**2)
print(f"largest weight {w.max():.3f}; effective sample size {ess:.1f} of {K}")
assert ess < K / 4

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.semilogy(np.sort(w)[::-1], ".")
ax.set(
    xlabel="sample, by weight",
    ylabel="normalised weight",
    title="Sorted importance weights, one image",
)
plt.show()

# %% [markdown]
# ## $\log p(x)$ of the two models
#
# $\log p(x)$ estimated by importance sampling with $K = 1000$ draws per test image, in chunks so
# that memory stays bounded (`chunk_size` draws at a time; the chunks' log-sum-exps combine
# exactly). The figure of merit in the literature uses $K = 5000$ on all 10,000 test images:
# `model.log_likelihood(x, 5000)` does it, at the cost of 5000 decoder passes per image (about 0.1 s
# per image for a 784-400-20 network on two cores, so a quarter of an hour for 10,000 images). The
# ELBO is shown for comparison: its distance below $\log p(x)$ is the KL from $q(z|x)$ to the true
# posterior ([derivations.md §2.2](derivations.md#2.2-The-log-evidence-is-the-ELBO-plus-a-KL-divergence)), which the IWAE objective does not force to be small.

# %%
scores = {}
for name, model in [("VAE", vae), ("IWAE (K = 5)", iwae)]:
    ll = model.log_likelihood(x_test, 1000, chunk_size=100, rng=np.random.default_rng(4))
    elbo_model = VAE(784, 10, (200,), dtype=np.float32)  # the same weights, scored by the ELBO
    for n, p in model.params.items():
        elbo_model.params[n][...] = p
    elbo = -np.mean([elbo_model.evaluate(x_test).loss for _ in range(5)])
    scores[name] = (elbo, ll.mean())
    print(f"{name:12s} ELBO {elbo:8.2f}   log p(x) ~ {ll.mean():8.2f}  nats per image")
assert scores["IWAE (K = 5)"][1] > scores["VAE"][1]  # the IWAE's model of the data is better
assert scores["IWAE (K = 5)"][1] - scores["IWAE (K = 5)"][0] > scores["VAE"][1] - scores["VAE"][0]

# %% [markdown]
# ## What the two models draw
#
# Digits generated by both models (method A: decoder means of $z \sim \mathcal{N}(0, I)$). After
# three epochs on 10,000 digits, some tiles are clean digits and many are blends of two, drawn
# with blurred strokes; several sit on a grey haze. On binarized data a decoder mean is a probability
# of ink: where $z$ falls between the regions that the training digits' posteriors cover, the
# decoder hedges. The IWAE's better $\log p(x)$ is hard to see by eye at this stage; it is a
# statement about how much probability the model gives to real digits, not about its typical draw.

# %% tags=["figure"]
fig, axes = plt.subplots(1, 2, figsize=(11, 5.6))
for ax, (name, model) in zip(axes, [("VAE", vae), ("IWAE (K = 5)", iwae)], strict=True):
    ax.imshow(plots.tile_images(model.generate(36), 6), cmap=plots.INK, vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=f"{name}: decoder means of z ~ N(0, I)")
plt.show()

# %% [markdown]
# ## Things to try
#
# * Train longer: the gap between VAE and IWAE on $\log p(x)$ usually widens with training.
# * Replace the diagonal posterior by `posterior="full"` ([derivations.md §4.4](derivations.md#4.4-The-full-covariance-posterior-with-a-Cholesky-factor)): a richer $q$ is a
#   better proposal, so $\mathcal{L}_K$ needs fewer samples.
# * Watch `VAE(..., objective="iwae", n_samples=50)`: the encoder's gradient gets *noisier* as $K$
#   grows (Rainforth et al., 2018), even as the bound tightens.
