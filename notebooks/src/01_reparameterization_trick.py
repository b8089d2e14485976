# ruff: noqa: E501

# %% [markdown]
# # 1. The reparameterization trick
#
# A VAE needs the gradient of an expectation whose distribution depends on the parameters:
# $\nabla_\phi \mathbb{E}_{q_\phi(z|x)}[f(z)]$. The lectures give two unbiased estimators of it
# (lecture notes 004, §1.1; [derivations.md §3](derivations.md#3.-The-reparameterization-trick)):
#
# * the **score-function** (log-derivative) estimator
#   $\mathbb{E}_{q_\phi}[f(z)\,\nabla_\phi \log q_\phi(z)]$ ([derivations.md §3.2](derivations.md#3.2-The-score-function-estimator)), and
# * the **reparameterization** estimator: write $z = g_\phi(\epsilon)$ with $\epsilon \sim p(\epsilon)$
#   free of $\phi$, then $\nabla_\phi \mathbb{E}_{p(\epsilon)}[f(g_\phi(\epsilon))]
#   = \mathbb{E}_{p(\epsilon)}[\nabla_\phi f(g_\phi(\epsilon))]$ ([derivations.md §3.1](derivations.md#3.1-The-theorem-and-the-Leibniz-rule), Leibniz rule).
#
# Both are right on average. This notebook measures how far apart they are in **variance**, first on
# the lecture's toy problem, then for the Gaussian $z = \mu + \sigma \odot \epsilon$ that every VAE uses.

# %%
import matplotlib.pyplot as plt
import numpy as np

from numpyvae import reparam_toy
from numpyvae.gradcheck import check_gradient
from numpyvae.posteriors import DiagonalGaussian

rng = np.random.default_rng(0)

# %% [markdown]
# ## The toy problem (derivations.md §3.3)
#
# Minimise $\mathbb{E}_{x \sim \mathcal{N}(\phi, 1)}[x^2] = \phi^2 + 1$. The true gradient is $2\phi$.
# With $x = \phi + \epsilon$, $\epsilon \sim \mathcal{N}(0, 1)$, one sample gives
#
# | estimator | single-sample estimate | its variance ([derivations.md §3.3](derivations.md#3.3-The-toy-problem:-both-estimators-and-their-exact-variances)) |
# | --- | --- | --- |
# | score function | $x^2 (x - \phi)$ | $\phi^4 + 14\phi^2 + 15$ |
# | reparameterization | $2x = 2(\phi + \epsilon)$ | $4$ |
#
# and the average of $N$ independent estimates has $1/N$ of that variance. First a look at single
# estimates at $\phi = 1$ (true gradient 2). Both have **mean** 2, but only the reparameterization
# histogram is centred there, a bell of variance 4. The score-function estimates $x^2(x - \phi)$
# pile up in a spike at 0 (they are 0 at $x = 0$, where they are also flat in $x$, and at $x = \phi$)
# and reach their mean of 2 only through long tails on both sides, the right one heavier.

# %% tags=["figure"]
phi = 1.0
sf = reparam_toy.score_function_gradients(phi, 100_000, rng)
rp = reparam_toy.reparameterization_gradients(phi, 100_000, rng)

fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(-15, 20, 141)
ax.hist(sf, bins=bins, density=True, alpha=0.6, label=f"score function, var {sf.var():.1f}")
ax.hist(rp, bins=bins, density=True, alpha=0.6, label=f"reparameterization, var {rp.var():.2f}")
ax.axvline(reparam_toy.exact_gradient(phi), color="k", ls="--", label="true gradient 2 phi")
ax.set(xlabel="single-sample estimate of d/dphi E[x^2]", ylabel="density", yscale="log")
ax.legend()
plt.show()

print(f"means: score function {sf.mean():.3f}, reparameterization {rp.mean():.3f} (true 2)")
print(
    f"exact variances: {reparam_toy.exact_variance_score_function(phi):.0f} and "
    f"{reparam_toy.exact_variance_reparameterization(phi):.0f}"
)

# %% [markdown]
# ## Variance against the number of samples $N$
#
# For $N = 10, 100, \dots, 100\,000$ we repeat the $N$-sample average $R$ times and take the sample
# variance of the $R$ averages (`reparam_toy.estimator_variances`). The exact curves are
# $\mathrm{Var}/N$ from [derivations.md §3.3](derivations.md#3.3-The-toy-problem:-both-estimators-and-their-exact-variances): straight lines of slope $-1$ on a log-log plot, a
# constant factor $(\phi^4 + 14\phi^2 + 15)/4$ apart.
#
# **Tolerance.** A sample variance over $R$ repeats has its own standard error: for averages with
# variance $V = \mathrm{Var}\,g/N$ and fourth central moment
# $\mu_4(\bar g) = \mu_4(g)/N^3 + 3(N-1)\,\mathrm{Var}(g)^2/N^3$,
# $\mathrm{Var}(s^2) = \mu_4(\bar g)/R - V^2 (R-3)/(R(R-1))$ (`reparam_toy.variance_of_sample_variance`).
# We assert that every measured variance lies within **4 standard errors** of the exact one
# (about ±20 % relative for $R = 1000$).

# %% tags=["figure"]
sample_sizes = [10, 100, 1_000, 10_000, 100_000]
R = 1_000
measured = reparam_toy.estimator_variances(phi, sample_sizes, R, rng)
N = measured.sample_sizes.astype(float)

curves = {
    "score function": (
        measured.score_function,
        reparam_toy.exact_variance_score_function(phi),
        reparam_toy.exact_fourth_central_moment_score_function(phi),
    ),
    "reparameterization": (
        measured.reparameterization,
        reparam_toy.exact_variance_reparameterization(phi),
        reparam_toy.exact_fourth_central_moment_reparameterization(phi),
    ),
}
fig, ax = plt.subplots(figsize=(6.5, 4.5))
for (name, (var_measured, var_one, mu4_one)), color in zip(
    curves.items(), ["C0", "C1"], strict=True
):
    exact = var_one / N  # variance of the N-sample average
    mu4_mean = mu4_one / N**3 + 3 * (N - 1) * var_one**2 / N**3
    stderr = np.sqrt(reparam_toy.variance_of_sample_variance(exact, mu4_mean, R))
    ax.loglog(N, exact, "-", color=color, label=f"{name}: exact Var/N")
    ax.errorbar(
        N,
        var_measured,
        yerr=4 * stderr,
        fmt="o",
        color=color,
        capsize=3,
        label=f"{name}: measured (R = {R}), bars = 4 s.e.",
    )
    z_scores = (var_measured - exact) / stderr
    print(
        f"{name:>18}: measured/exact =",
        np.round(var_measured / exact, 3),
        " z =",
        np.round(z_scores, 2),
    )
    assert np.all(np.abs(z_scores) < 4), f"{name}: measured variance off by > 4 s.e."
ax.set(
    xlabel="number of samples N",
    ylabel="variance of the gradient estimate",
    title=f"E over N(phi, 1) of x^2, phi = {phi}",
)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The reparameterization estimator is about $30/4 \approx 7.5$ times less variable at $\phi = 1$,
# and the gap grows like $\phi^4$ away from the optimum (next cell): the score-function estimator
# multiplies $f$ by a random sign-changing weight $x - \phi$; the reparameterization estimator uses the
# derivative of $f$, which it can only do because $f$ is differentiable.

# %% tags=["figure"]
phis = np.linspace(-3, 3, 121)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(phis, reparam_toy.exact_variance_score_function(phis), label="score function")
ax.semilogy(phis, reparam_toy.exact_variance_reparameterization(phis), label="reparameterization")
ax.set(xlabel="phi", ylabel="variance of one estimate", title="derivations.md §3.3")
ax.legend()
plt.show()

# %% [markdown]
# ## The Gaussian case: $z = \mu + \sigma \odot \epsilon$ (derivations.md §3.4)
#
# The encoder outputs $h = [\mu \mid \log\sigma^2] \in \mathbb{R}^{2k}$ and
# `DiagonalGaussian.sample` draws $z_j = \mu + \sigma \odot \epsilon_j$, $\sigma = \exp(\tfrac12 \log \sigma^2)$,
# for $M$ noise vectors $\epsilon_j \sim \mathcal{N}(0, I)$. Its backward takes $\partial L/\partial z$
# and returns
#
# $$\frac{\partial L}{\partial \mu} = \sum_{j=1}^M \frac{\partial L}{\partial z_j}, \qquad
#   \frac{\partial L}{\partial \log\sigma^2} = \sum_{j=1}^M \frac{\partial L}{\partial z_j} \odot \epsilon_j \odot \frac{\sigma}{2}.$$
#
# With $\epsilon$ held fixed, $z$ is an ordinary differentiable function of $h$, so finite differences
# can check this backward:

# %%
k, B, M = 3, 4, 5
q = DiagonalGaussian(k)
h = rng.normal(size=(B, 2 * k))  # [mu | log sigma^2] for B data points
eps = q.draw_eps(rng, M, B, np.float64)  # (M, B, k), fixed during the check
dz = rng.normal(size=(M, B, k))  # some upstream gradient dL/dz

z = q.sample(h, eps)
dh = q.sample_backward(dz)
report = check_gradient(lambda: np.sum(dz * q.sample(h, eps)), {"h": h}, {"h": dh})
print(report)
assert report.passed

# %% [markdown]
# Now the gradient of an expectation. Take $f(z) = \lVert z \rVert^2$: then
# $\mathbb{E}_q[f] = \sum_i (\mu_i^2 + \sigma_i^2)$, whose exact gradient is
# $\partial/\partial\mu = 2\mu$ and $\partial/\partial \log\sigma^2 = \sigma^2$.
# The reparameterization estimate averages $\nabla_h f(\mu + \sigma\odot\epsilon_j)$ over $M$ samples:
# `sample_backward` with $\partial L/\partial z_j = 2 z_j / M$. The score-function estimate of the same
# gradient uses $\nabla_\mu \log q = (z-\mu)/\sigma^2$ and
# $\nabla_{\log\sigma^2} \log q = \tfrac12((z-\mu)^2/\sigma^2 - 1)$ (from `log_prob`, [derivations.md §7.1](derivations.md#7.1-log-q(z|x)-from-the-density-of-the-noise)).
# Both converge to the exact gradient; the reparameterization estimate does so with far less noise.

# %% tags=["figure"]
k = 2
q = DiagonalGaussian(k)
h = np.array([[1.0, -0.5, np.log(0.5), np.log(2.0)]])  # mu = (1, -0.5), sigma^2 = (0.5, 2)
mu, logvar = q.split(h)
exact = np.concatenate([2 * mu, np.exp(logvar)], axis=1)[0]


def reparameterization_estimate(M):
    eps = q.draw_eps(rng, M, 1, np.float64)
    z = q.sample(h, eps)
    return q.sample_backward(2 * z / M)[0]  # d/dh of (1/M) sum_j ||z_j||^2


def score_function_estimate(M):
    eps = q.draw_eps(rng, M, 1, np.float64)
    z = q.sample(h, eps)[:, 0]  # (M, k)
    f = np.sum(z**2, axis=1, keepdims=True)
    sigma2 = np.exp(logvar)
    score = np.concatenate([(z - mu) / sigma2, 0.5 * ((z - mu) ** 2 / sigma2 - 1)], axis=1)
    return np.mean(f * score, axis=0)


Ms = [1, 10, 100, 1000]
repeats = 300
spread = {"score function": [], "reparameterization": []}  # the colours of the figures above
for M in Ms:
    rp = np.array([reparameterization_estimate(M) for _ in range(repeats)])
    sf = np.array([score_function_estimate(M) for _ in range(repeats)])
    spread["reparameterization"].append(rp.var(axis=0).sum())
    spread["score function"].append(sf.var(axis=0).sum())
    print(
        f"M = {M:>4}: reparameterization mean {np.round(rp.mean(axis=0), 2)}, "
        f"score function mean {np.round(sf.mean(axis=0), 2)}, exact {np.round(exact, 2)}"
    )
# Both are unbiased: at M = 1000 their means over the repeats sit on the exact gradient.
assert np.allclose(rp.mean(axis=0), exact, atol=0.02)
assert np.allclose(sf.mean(axis=0), exact, atol=0.2)

fig, ax = plt.subplots(figsize=(6, 4))
for (name, values), color in zip(spread.items(), ["C0", "C1"], strict=True):
    ax.loglog(Ms, values, "o-", color=color, label=name)
ax.set(
    xlabel="M samples",
    ylabel="total variance of the gradient estimate",
    title="gradient of E ||z||^2 with respect to h = [mu | log sigma^2]",
)
ax.legend()
plt.show()
assert all(
    r < s for r, s in zip(spread["reparameterization"], spread["score function"], strict=True)
)

# %% [markdown]
# **What to take away.** Both estimators are unbiased. The score-function estimator needs only
# $\log q$ and works for any $f$, but its variance is large, and in a VAE $f = \log p_\theta(x|z)$
# has thousands of terms. The reparameterization estimator moves the randomness into a
# parameter-free $\epsilon$ and lets backpropagation run through $z$ ([derivations.md §3.4](derivations.md#3.4-The-Gaussian-reparameterization-and-its-backward), §6.3);
# with it, $M = 1$ sample per data point is enough to train (notebook 4).
