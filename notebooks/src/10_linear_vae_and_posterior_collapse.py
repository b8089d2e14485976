# ruff: noqa: E501

# %% [markdown]
# # 10. The linear VAE is probabilistic PCA: posterior collapse explained
#
# Lecture 004 opens by saying that the VAE is to the autoencoder what probabilistic PCA is to PCA. For one configuration the comparison is exact: a VAE with **no hidden layer** (or linear ones), a **Gaussian decoder** $p_\theta(x|z) = \mathcal{N}(Wz + b, s^2 I)$ and the diagonal posterior $q_\phi(z|x) = \mathcal{N}(\mu, \operatorname{diag}(\sigma^2))$ has PPCA as its generative model, and every quantity is known in closed form (derivations.md §13.1):
#
# $$p_\theta(x) = \mathcal{N}(b,\ WW^\top + s^2 I), \qquad p_\theta(z|x) = \mathcal{N}\big(M^{-1}W^\top(x - b),\ s^2 M^{-1}\big),\ M = W^\top W + s^2 I,$$
#
# and the maximum-likelihood solution is $W = U_k(\Lambda_k - s^2 I)^{1/2}$, $s^2$ = the mean of the discarded eigenvalues of the data covariance. This notebook
#
# 1. trains a linear VAE with numpyvae's own gradients and watches it reach the PPCA solution, with an ELBO equal to $\log p_\theta(x)$ (§13.2);
# 2. holds the noise $s^2$ fixed and raises it past the data's eigenvalues: each direction it passes **collapses** onto the prior, as the closed form predicts (§13.3), and the diagnostics of §13.4 see it;
# 3. measures the same diagnostics (KL per latent dimension, active units, $I(x;z)$) for three MNIST models, beside the counts Burda et al. report.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import VAE, diagnostics, ppca
from numpyvae.datasets import binarize, load_dataset
from numpyvae.optim import Adam
from numpyvae.train import Trainer

# %% [markdown]
# ## A linear VAE reaches the PPCA solution
#
# Synthetic data: $N = 1000$ points in $d = 5$ dimensions whose covariance has eigenvalues $(4, 2, 0.5, 0.4, 0.3)$ along random directions. PPCA with $k = 2$ keeps the first two; its noise is the mean of the other three. The linear VAE is `VAE(5, 2, hidden=(), likelihood="gaussian_shared_var")`: encoder and decoder are single affine layers, and the likelihood learns one variance $s^2 = e^v$ (§5.2). We train it with Adam on the whole data set, $M = 4$ samples of $z$ per point, and after every 100 steps compute its **exact** ELBO and $\log p_\theta(x)$ from the weights (`ppca.elbo`, `ppca.log_marginal`): no Monte Carlo in the measurement.

# %%
rng = np.random.default_rng(0)
d, k, N = 5, 2, 1000
U, _ = np.linalg.qr(rng.normal(size=(d, d)))
x_lin = (rng.normal(size=(N, d)) * np.sqrt([4.0, 2.0, 0.5, 0.4, 0.3])) @ U.T + rng.normal(size=d)

fit = ppca.fit_ppca(x_lin, k)
best = ppca.log_marginal(fit.model, x_lin).mean()
print("eigenvalues of S:", fit.eigenvalues.round(3), " PPCA s^2 =", round(fit.model.s2, 4))
print(f"maximum log-likelihood: {best:.5f} nats per point")

linear = VAE(d, k, hidden=(), likelihood="gaussian_shared_var", n_samples=4, seed=0)
optimizer = Adam(linear.params, lr=1e-2)
batch = linear.prepare(x_lin)
steps, trace = 4000, []
for step in range(steps + 1):
    if step % 100 == 0:
        model = ppca.linear_gaussian_of(linear)  # W, b, s^2 of the decoder
        mu, logvar = linear.posterior.split(linear.encoder.forward(x_lin))
        trace.append(
            (
                step,
                ppca.elbo(model, x_lin, mu, logvar).mean(),
                ppca.log_marginal(model, x_lin).mean(),
                ppca.principal_angles(model.W, fit.model.W).max(),
            )
        )
    if step in (steps // 2, 5 * steps // 6):
        optimizer.lr /= 5
    optimizer.step(linear.gradients(batch, linear.noise(None, N))[1])
trace = np.array(trace)
step_at, elbo_at, log_px_at, angle_at = trace.T
print(
    f"after {steps} steps: ELBO {elbo_at[-1]:.5f}, log p(x) {log_px_at[-1]:.5f}, s^2 {model.s2:.4f}"
)
print(f"largest principal angle to the PPCA subspace: {angle_at[-1]:.2e} rad")
print(
    "W^T W =\n",
    (model.W.T @ model.W).round(4),
    "\nLambda_k - s^2 =",
    (fit.eigenvalues[:k] - fit.model.s2).round(4),
)
assert best - elbo_at[-1] < 1e-3 and best - log_px_at[-1] < 1e-4 and angle_at[-1] < 0.01

# %% [markdown]
# Below, the distance of the ELBO and of $\log p_\theta(x)$ from the maximum likelihood (log scale), and the largest principal angle between the decoder's columns and the PPCA subspace. The likelihood converges first; the ELBO follows it down to the same value, because at the optimum the columns of $W$ are orthogonal, the exact posterior is diagonal, and the ELBO's gap $\tfrac12(\sum_j \log M_{jj} - \log\det M)$ is zero (§13.2). The remaining distance, below $10^{-3}$ nats, is the noise of the stochastic gradient at the final learning rate.

# %% tags=["figure"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.semilogy(step_at, best - elbo_at, label="max log-lik - ELBO")
ax1.semilogy(step_at, best - log_px_at, label="max log-lik - log p(x)")
ax1.set(xlabel="Adam step", ylabel="nats per point", title="The ELBO reaches the PPCA likelihood")
ax1.legend()
ax2.semilogy(step_at, angle_at)
ax2.set(xlabel="Adam step", ylabel="radians", title="Largest principal angle to the PPCA subspace")
plt.show()

# %% [markdown]
# ## Collapse: raise the noise past an eigenvalue
#
# Now hold $s^2$ fixed. The stationarity condition of PPCA then allows column $j$ of $W$ only the length $\sqrt{\lambda_j - s^2}$, so every direction whose eigenvalue is below the noise gets a zero column: the decoder ignores $z_j$, and the best posterior for it is the prior, for every $x$ (§13.3). At the optimum each kept dimension carries
#
# $$\overline{\mathrm{KL}}_j = \tfrac12 \log(\lambda_j / s^2), \qquad A_j = \operatorname{Cov}_x(\mathbb{E}_q[z_j|x]) = (\lambda_j - s^2)/\lambda_j,$$
#
# and both fall to 0 as $s^2$ reaches $\lambda_j$. The lectures' Gaussian with identity covariance (§5.1) is $s^2 = 1$, and data scaled by $1/s$ under it is data under noise $s^2$: so `likelihood="gaussian"` on `x / s` trains the linear VAE at noise $s^2$. Data with eigenvalues $(5, 2.5, 1.2, 0.3, 0.2)$, $k = 3$, and six noise levels between the eigenvalues:

# %%
spectrum = np.array([5.0, 2.5, 1.2, 0.3, 0.2])
x_col = (rng.normal(size=(N, d)) * np.sqrt(spectrum)) @ U.T
eigenvalues = ppca.fit_ppca(x_col, 3).eigenvalues
noise_levels = np.array([0.6, 1.6, 2.0, 3.2, 4.0, 7.0])


def train_at_noise(s2, steps=1200):
    """A linear VAE with the identity-covariance Gaussian on x / s: noise s^2 on x."""
    model = VAE(d, 3, hidden=(), likelihood="gaussian", n_samples=4, seed=1)
    optimizer = Adam(model.params, lr=1e-2)
    data = model.prepare(x_col / np.sqrt(s2))
    for step in range(steps):
        if step in (steps // 2, 5 * steps // 6):
            optimizer.lr /= 5
        optimizer.step(model.gradients(data, model.noise(None, N))[1])
    return diagnostics.diagnose(model, x_col / np.sqrt(s2))


start = time.perf_counter()
results = [train_at_noise(s2) for s2 in noise_levels]
print(f"{len(noise_levels)} linear VAEs trained in {time.perf_counter() - start:.1f} s")
theory_kl = np.array([ppca.optimal_kl_per_dimension(eigenvalues, s2, 3) for s2 in noise_levels])
trained_kl = np.array([np.sort(r.kl_per_dimension)[::-1] for r in results])
theory_units = (eigenvalues[:3, None] > noise_levels / 0.99).sum(axis=0)
trained_units = np.array([r.active_units for r in results])
print("noise s^2:        ", noise_levels)
print("active, trained:  ", trained_units)
print("active, predicted:", theory_units)
print("largest KL error: ", np.abs(trained_kl - theory_kl).max().round(4), "nats")
assert np.abs(trained_kl - theory_kl).max() < 0.03  # nats
assert np.array_equal(trained_units, theory_units)

# %% [markdown]
# The trained VAEs (dots) against the closed form (lines). Each dotted vertical line is an eigenvalue $\lambda_j$; as $s^2$ passes it, one more KL curve reaches 0 and one active unit disappears. On the right, the estimate of $I(x;z)$ under the aggregate posterior (§13.4) follows the total KL: for this model on Gaussian data the aggregate posterior is exactly $\mathcal{N}(0, I)$ at the optimum, so the whole KL term is information about $x$ (the small difference is the estimator's noise and $N$ being finite).

# %% tags=["figure"]
grid = np.geomspace(0.5, 8, 200)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for j, color in enumerate(["C0", "C1", "C2"]):
    ax1.plot(
        grid,
        0.5 * np.log(np.maximum(eigenvalues[j] / grid, 1)),
        color=color,
        label=f"dimension {j + 1}, closed form",
    )
    ax1.plot(noise_levels, trained_kl[:, j], "o", color=color)
for ax in (ax1, ax2):
    for lam in eigenvalues[:3]:
        ax.axvline(lam, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xticks([0.5, 1, 2, 4, 8], ["0.5", "1", "2", "4", "8"])
    ax.minorticks_off()
    ax.set_xlabel("noise variance s^2 (dotted: eigenvalues of S)")
ax1.set(ylabel="KL of the dimension (nats)", title="KL per dimension: trained (dots) and (13.11)")
ax1.legend(fontsize=8)
ax2.plot(noise_levels, [r.mutual_information for r in results], "s", label="I(x; z) estimate")
ax2.plot(noise_levels, theory_kl.sum(axis=1), "-", label="total KL, closed form")
ax2.plot(
    grid, (eigenvalues[:3, None] > grid / 0.99).sum(axis=0), "-", label="active units, closed form"
)
ax2.plot(noise_levels, trained_units, "o", label="active units, trained")
ax2.set(ylabel="nats, or units", title="Information and active units")
ax2.legend(fontsize=8)
plt.show()
mi = np.array([r.mutual_information for r in results])
assert np.abs(mi - theory_kl.sum(axis=1)).max() < 0.1

# %% [markdown]
# **Why MNIST with the lectures' Gaussian collapses.** The same count applies to any data: with the identity covariance, $s^2 = 1$, a linear VAE uses only the directions along which the data vary by more than 1. MNIST intensities lie in $[0, 1]$; the eigenvalues of their covariance (the embedded 10,000 training images) sum to about 53, and only a dozen exceed 1:

# %%
data = load_dataset("embedded", dtype=np.float32)  # the shipped subset, the same on every machine
_, S = ppca.sample_moments(data.x_train.astype(np.float64))
mnist_eigenvalues = np.linalg.eigvalsh(S)[::-1]
kept = int(np.sum(mnist_eigenvalues > 1 / 0.99))
print(
    "largest eigenvalues:",
    mnist_eigenvalues[:14].round(2),
    " total",
    mnist_eigenvalues.sum().round(1),
)
print(
    f"a linear VAE with s^2 = 1 keeps {kept} active units, whatever k is, with a total KL of "
    f"{ppca.optimal_kl_per_dimension(mnist_eigenvalues, 1.0, 784).sum():.2f} nats"
)
assert 8 <= kept <= 16

# %% [markdown]
# ## Diagnostics of three MNIST models
#
# Burda, Grosse and Salakhutdinov (2016, *Importance Weighted Autoencoders*, Table 1) count the **active units** of models with 50 latent dimensions trained on MNIST: a unit is active when $\operatorname{Cov}_x(\mathbb{E}_q[z_u|x]) > 10^{-2}$. For one stochastic layer they report 19 to 20 active units for the VAE (trained with $k$ = 1, 5 or 50 samples) and 19, 22 and 25 for the IWAE with $k$ = 1, 5 and 50: the VAE leaves more than half of its code unused, and the importance-weighted bound uses more of it. Their models trained for 3,280 passes over 60,000 images.
#
# Here three models with 50 latent dimensions and one hidden layer of 200 ReLUs train for 4 epochs on the embedded 10,000 images (dynamically binarized): the default VAE (ELBO), a $\beta$-VAE with $\beta = 4$ (§9.4), and the IWAE with $K = 5$ (§9.1). Given test data, the trainer records the diagnostics of §13.4 after each epoch in its history, on a fixed binarization of 2,000 test images.

# %%
x_train = data.x_train
x_test = binarize(data.x_test[:2000], "dynamic", np.random.default_rng(1))
EPOCHS = 4
LABELS = {
    "VAE": {},
    "beta-VAE (beta = 4)": {"beta": 4.0},
    "IWAE (K = 5)": {"objective": "iwae", "n_samples": 5},
}
models, histories = {}, {}
for name, options in LABELS.items():
    model = VAE(784, 50, (200,), dtype=np.float32, seed=0, **options)
    trainer = Trainer(
        model,
        Adam(model.params, lr=1e-3),
        batch_size=100,
        transform=lambda xb, rng: binarize(xb, "dynamic", rng),
    )
    start = time.perf_counter()
    trainer.fit(x_train, EPOCHS, x_test=x_test)
    models[name], histories[name] = model, trainer.history
    print(f"{name}: {time.perf_counter() - start:.0f} s")

summaries = {name: diagnostics.diagnose(model, x_test) for name, model in models.items()}
print(f"{'model':22s} {'active (>0.01)':>14s} {'A > 0.1':>8s} {'I(x;z)':>7s} {'sum KL_j':>9s}")
for name, r in summaries.items():
    above = np.sum(r.activity > 0.1)
    mi, kl_sum = r.mutual_information, r.kl_per_dimension.sum()
    print(f"{name:22s} {r.active_units:>14d} {above:>8d} {mi:>7.2f} {kl_sum:>9.2f}")
print(f"(I(x; z) is at most log N = {np.log(len(x_test)):.2f} nats with N = {len(x_test)} points)")

# %% [markdown]
# Two things the numbers must satisfy whatever the training (§13.4): the KL per dimension adds up to the KL term of the ELBO, and $I(x;z)$ lies below both the mean KL and $\log N$:

# %%
for name, model in models.items():
    r = summaries[name]
    mean_kl = model.posterior.kl(diagnostics.encoder_outputs(model, x_test)).mean()
    assert abs(r.kl_per_dimension.sum() - mean_kl) < 1e-3 * mean_kl
    assert r.mutual_information <= min(mean_kl, np.log(len(x_test))) + 1e-6

# %% [markdown]
# The KL of every dimension and its activity, each sorted from the largest, for the three models; the dashed line is Burda et al.'s threshold $10^{-2}$.

# %% tags=["figure"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, r in summaries.items():
    ax1.semilogy(np.sort(r.kl_per_dimension)[::-1], ".-", label=name)
    ax2.semilogy(np.sort(r.activity)[::-1], ".-", label=name)
ax1.set(
    xlabel="latent dimension, by KL",
    ylabel="KL of the dimension (nats)",
    title="KL per dimension (2000 test images)",
)
ax2.axhline(0.01, color="k", linestyle="--", linewidth=1)
ax2.set(
    xlabel="latent dimension, by activity",
    ylabel="Cov_x E_q[z_j | x]",
    title="Activity of each unit",
)
ax1.legend(fontsize=8)
plt.show()

# %% [markdown]
# What the figure shows after 4 epochs: **none of the 150 units is below the threshold yet**, so each model counts 50 active units, far from Burda et al.'s 19 to 25. Collapse is slow. In the linear model the likelihood's gradient (13.5) is linear in $W$, so the pull on a column shrinks with the column: a dying unit's gradient dies with it; the counts in the paper come after hundreds of times more training. What is visible already is where the models are heading. The $\beta$-VAE, which pays four times the price per nat of KL, holds less in every dimension (at each rank its KL is less than half the VAE's), its weakest units are within a factor 5 of the threshold, and its $I(x;z)$ is less than half the VAE's. The VAE and the IWAE spread their KL over all 50 dimensions. The history the trainer recorded shows the information climbing epoch by epoch: the VAE and the IWAE approach the ceiling $\log N$, where the estimate from 2,000 points can no longer resolve them (§13.4), while the $\beta$-VAE stays far below it.

# %% tags=["figure"]
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, history in histories.items():
    ax.plot(range(1, EPOCHS + 1), history.mutual_information, "o-", label=name)
ax.axhline(np.log(len(x_test)), color="k", linestyle="--", linewidth=1, label="log N")
ax.set(xlabel="epoch", ylabel="nats", title="I(x; z) under q, from the trainer's history")
ax.set_xticks(range(1, EPOCHS + 1))
ax.legend(fontsize=8)
plt.show()
# The claims of the text above, on the embedded subset loaded above:
vae, beta_vae = summaries["VAE"], summaries["beta-VAE (beta = 4)"]
assert all(r.active_units == 50 for r in summaries.values())  # no unit has collapsed yet
assert beta_vae.mutual_information < 0.5 * vae.mutual_information
assert np.all(2 * np.sort(beta_vae.kl_per_dimension) < np.sort(vae.kl_per_dimension))
assert beta_vae.activity.min() < 5 * diagnostics.ACTIVITY_THRESHOLD
final = {name: h.mutual_information[-1] for name, h in histories.items()}
assert (
    final["beta-VAE (beta = 4)"]
    < 0.6 * np.log(len(x_test))
    < min(final["VAE"], final["IWAE (K = 5)"])
)

# %% [markdown]
# ## Things to try
#
# * Train longer (`numpyvae train --latent-dim 50 --epochs 50`, then `numpyvae evaluate`, which prints the same diagnostics; `history.json` holds them per epoch) and watch how many epochs it takes before units fall below Burda et al.'s threshold.
# * In the collapse experiment, learn the noise (`likelihood="gaussian_shared_var"`): by (13.6) $s^2$ settles at the mean of the discarded eigenvalues, below every kept one, and nothing collapses.
# * Give the linear VAE a hidden layer with `activation="identity"`: `ppca.linear_gaussian_of` composes the layers, and the model still reaches the PPCA solution.
