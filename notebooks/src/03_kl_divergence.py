# ruff: noqa: E501

# %% [markdown]
# # 3. The KL term
#
# The ELBO's second term pulls every approximate posterior $q_\phi(z|x) = \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)$
# towards the prior $p(z) = \mathcal{N}(0, I)$. For these two Gaussians it has a closed form
# (lecture 000; lecture 004, Theorem 1.1; [derivations.md §4.1](derivations.md#4.1-The-per-dimension-form)):
#
# $$\mathrm{KL}\big(q_\phi(z|x)\,\|\,p(z)\big) = \frac12 \sum_{i=1}^k \big(\mu_i^2 + \sigma_i^2 - \log\sigma_i^2 - 1\big),$$
#
# which the slides (003) write as $\tfrac12(\mathrm{tr}\,\Sigma + \mu^\top\mu - k - \log\det\Sigma)$ (§4.2).
# This notebook checks it against Monte Carlo, checks its gradient (§4.3), and draws what it does to
# $q$ in one and two dimensions.

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from numpyvae.gradcheck import check_gradient
from numpyvae.posteriors import DiagonalGaussian

rng = np.random.default_rng(0)

# %% [markdown]
# ## Closed form against Monte Carlo
#
# $\mathrm{KL}(q\|p) = \mathbb{E}_{z\sim q}[\log q(z) - \log p(z)]$, so drawing $z = \mu + \sigma\odot\epsilon$
# and averaging $\log q(z) - \log p(z)$ (both from `DiagonalGaussian.log_prob`; the prior is the
# same object with $h = 0$) must agree with the closed form up to Monte Carlo error. The encoder
# output is $h = [\mu \mid \log\sigma^2]$.

# %%
k = 2
q = DiagonalGaussian(k)
prior = np.zeros((1, 2 * k))  # mu = 0, log sigma^2 = 0: N(0, I)
cases = {
    "near the prior": [0.1, -0.2, 0.1, -0.1],
    "shifted": [2.0, -1.0, 0.0, 0.0],
    "narrow": [0.0, 0.5, -3.0, -2.0],
    "wide": [1.0, 0.5, 1.0, 1.5],
}
S = 200_000
samples = {}
print(f"{'q':>15} {'closed form':>12} {'Monte Carlo':>12} {'std. error':>11}")
for name, row in cases.items():
    h = np.array([row])
    z = q.sample(h, q.draw_eps(rng, S, 1, np.float64))  # (S, 1, k)
    log_ratio = (q.log_prob(z, h) - q.log_prob(z, prior))[:, 0]  # log q(z) - log p(z)
    samples[name] = log_ratio
    closed = q.kl(h)[0]
    mc, se = log_ratio.mean(), log_ratio.std() / np.sqrt(S)
    print(f"{name:>15} {closed:12.5f} {mc:12.5f} {se:11.5f}")
    assert abs(mc - closed) < 4 * se

    # The slides' trace / log-det form (derivations.md §4.2) is the same number.
    mu, logvar = q.split(h)
    Sigma = np.diag(np.exp(logvar[0]))
    trace_form = 0.5 * (np.trace(Sigma) + mu[0] @ mu[0] - k - np.log(np.linalg.det(Sigma)))
    assert np.isclose(trace_form, closed)

# %% tags=["figure"]
fig, ax = plt.subplots(figsize=(6.5, 3.5))
n = np.arange(1, S + 1)
shown = np.unique(np.geomspace(1, S, 500).astype(int)) - 1  # 500 points, even on the log axis
for (name, log_ratio), color in zip(samples.items(), ["C0", "C1", "C2", "C3"], strict=True):
    running = np.cumsum(log_ratio) / n
    ax.semilogx(n[shown], running[shown], color=color, lw=1, label=name)
    ax.axhline(q.kl(np.array([cases[name]]))[0], color=color, ls="--", lw=0.8)
ax.set(
    xlabel="Monte Carlo samples",
    ylabel="running estimate of KL (nats)",
    title="Monte Carlo (solid) converges to the closed form (dashed)",
)
ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1, 0.1))  # between the curves
plt.show()

# %% [markdown]
# The closed form costs nothing and has no noise, which is why the VAE uses it (estimator B of
# [derivations.md §7.2](derivations.md#7.2-Estimator-A-and-estimator-B)); only the reconstruction term needs samples.
#
# ## Its gradient (derivations.md §4.3)
#
# Per dimension, $\partial\,\mathrm{KL}/\partial\mu_i = \mu_i$ and
# $\partial\,\mathrm{KL}/\partial\log\sigma_i^2 = \tfrac12(\sigma_i^2 - 1)$. `DiagonalGaussian.kl_grad`
# returns both as one array shaped like $h$; finite differences agree:

# %%
h = rng.normal(size=(5, 2 * k))
report = check_gradient(lambda: q.kl(h).sum(), {"h": h}, {"h": q.kl_grad(h)})
print(report)
assert report.passed
mu, logvar = q.split(h)
assert np.allclose(q.kl_grad(h), np.concatenate([mu, 0.5 * (np.exp(logvar) - 1)], axis=1))

# %% [markdown]
# ## What the KL does in one dimension
#
# Over $(\mu, \log\sigma^2)$ the KL is a bowl with its minimum, 0, at the prior $(0, 0)$. The arrows
# are $-\nabla\,\mathrm{KL}$, the direction gradient descent moves $q$: means are pulled to 0 in
# proportion to their distance; variances are pushed to 1, gently from below
# ($-\tfrac12\log\sigma^2$ grows slowly) and steeply from above ($\tfrac12\sigma^2$ grows fast).

# %% tags=["figure"]
q1 = DiagonalGaussian(1)
mus, logvars = np.meshgrid(np.linspace(-3, 3, 121), np.linspace(-5, 3.5, 171))
grid = np.stack([mus.ravel(), logvars.ravel()], axis=1)  # rows of h = [mu | log sigma^2]
kl = q1.kl(grid).reshape(mus.shape)

fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
ax = axes[0]
contours = ax.contour(mus, logvars, kl, levels=[0.1, 0.25, 0.5, 1, 2, 4, 8], cmap="viridis")
# each label where its level crosses a point inside the frame (mu, log sigma^2), none at an edge
ax.clabel(
    contours,
    fontsize=8,
    manual=[
        (0.2, -0.62),
        (0.4, -0.95),
        (0.6, -1.3),
        (0.8, -2.2),
        (1, -2.95),
        (2.5, 1.25),
        (1.5, 2.73),
    ],
)
coarse = grid[(np.abs(grid[:, 0] * 2 % 1) < 1e-9) & (np.abs(grid[:, 1] % 1) < 1e-9)]
g = q1.kl_grad(coarse)
ax.quiver(coarse[:, 0], coarse[:, 1], -g[:, 0], -g[:, 1], angles="xy", color="grey", width=0.003)
ax.plot(0, 0, "r*", ms=12, label="the prior N(0, 1)")
ax.set(xlabel="mu", ylabel="log sigma^2", title="KL(q || N(0,1)) and -grad KL")
ax.legend(loc="lower left")

ax = axes[1]
z = np.linspace(-5, 5, 501).reshape(-1, 1, 1)  # (points, B = 1, k = 1)
for m, lv in [(0.0, 0.0), (1.5, 0.0), (0.0, -2.0), (0.0, 1.5), (-2.0, -1.0)]:
    h = np.array([[m, lv]])
    density = np.exp(q1.log_prob(z, h))[:, 0]
    style = dict(color="k", lw=2.5, ls="--") if (m, lv) == (0.0, 0.0) else {}
    ax.plot(z[:, 0, 0], density, label=f"mu={m:g}, log s2={lv:g}: KL={q1.kl(h)[0]:.2f}", **style)
ax.set(xlabel="z", ylabel="q(z|x)", title="densities of q against the prior (dashed)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## What the KL does in two dimensions
#
# Alone, the KL would drag every $q(z|x)$ onto the prior. Below, gradient descent on the KL only
# (`h -= lr * kl_grad(h)`) moves a narrow, shifted posterior: the ellipses are the 1- and 2-$\sigma$
# contours of $q$ at a few steps, the dashed black circles those of $\mathcal{N}(0, I)$, drawn on
# top: by step 60 the ellipses have become these circles and lie under them. In a VAE the
# reconstruction term pulls the other way, keeping $q$ narrow and distinct for different $x$; the
# trained posterior is the compromise (notebook 4).

# %% tags=["figure"]
h = np.array([[2.5, -1.5, -3.0, 0.8]])  # mu = (2.5, -1.5), log sigma^2 = (-3, 0.8)
lr, steps = 0.2, 60
path = [h.copy()]
for _ in range(steps):
    h = h - lr * q.kl_grad(h)
    path.append(h.copy())
path = np.concatenate(path)  # (steps + 1, 2k)
kls = q.kl(path)


def draw_q(ax, row, **style):
    mu, logvar = row[:k], row[k:]
    sigma = np.exp(0.5 * logvar)
    for n_std in (1, 2):
        ax.add_patch(Ellipse(mu, 2 * n_std * sigma[0], 2 * n_std * sigma[1], fill=False, **style))


fig, axes = plt.subplots(1, 2, figsize=(13, 5))
ax = axes[0]
shown = [0, 2, 5, 10, 20, 60]
for i, color in zip(shown, plt.cm.plasma(np.linspace(0, 0.85, len(shown))), strict=True):
    draw_q(ax, path[i], color=color, lw=2.5 if i == shown[-1] else 1.5)
    ax.plot(*path[i, :k], "o", color=color, label=f"step {i}: KL = {kls[i]:.2f}")
draw_q(ax, np.zeros(2 * k), color="k", ls="--", lw=1.5, zorder=5)  # the prior, on top
ax.plot([], [], "k--", lw=1.5, label="N(0, I): its 1- and 2-sigma circles")
ax.plot(path[:, 0], path[:, 1], "-", color="grey", lw=0.8)
ax.set(
    xlim=(-4, 5),
    ylim=(-5, 4),
    aspect="equal",
    xlabel="z_1",
    ylabel="z_2",
    title="q(z|x) under gradient descent on the KL alone",
)
ax.legend(fontsize=8, loc="upper left")

ax = axes[1]
ax.semilogy(kls)
ax.set(xlabel="step", ylabel="KL (nats)", title="the KL falls monotonically")
plt.show()
assert np.all(np.diff(kls) < 0) and kls[-1] < 0.01 * kls[0]

# %% [markdown]
# **What to take away.** The KL is exact, cheap and smooth, with gradient $[\mu \mid \tfrac12(\sigma^2-1)]$.
# It joins the backward pass at $(\mu, \log\sigma^2)$, adds nothing to the decoder's gradient
# ([derivations.md §6.3](derivations.md#6.3-The-whole-chain)), and acts like a spring towards $\mathcal{N}(0, I)$: it is what makes
# $z \sim \mathcal{N}(0, I)$ decode to something sensible (notebook 5).
