# ruff: noqa: E501

# %% [markdown]
# # 9. The Fisher auto-encoder
#
# Lecture 004 lists "1.3 Fisher Autoencoders" and stops at the heading. The Fisher auto-encoder (Elkhalil et al., AISTATS 2021) keeps the VAE's encoder $q_\phi(z|x)$ and decoder $p_\theta(x|z)$ but trains them on a different divergence between the data-side joint $p_d(x)\,q_\phi(z|x)$ and the model $p(z)\,p_\theta(x|z)$: the **Fisher divergence**, which compares *scores* (gradients of log densities) instead of log densities. After an integration by parts in $x$ the unknown data score drops out and what remains ([derivations.md §12.1](derivations.md#12.1-The-objective-and-the-integration-by-parts)-12.2) is, per image and noise draw,
#
# $$\ell = \underbrace{\tfrac12\lVert z - \varepsilon/\sigma - J_f(z)^\top r\rVert^2}_{\text{z-score}} + \underbrace{\tfrac12\lVert r\rVert^2 - d/s^2}_{\text{x-score}} + \underbrace{\tfrac12\lVert J_E(x)^\top u\rVert^2}_{\text{stability}}, \qquad r = \frac{x - f(z)}{s^2},\ u = \Big(\frac{\varepsilon}{\sigma}, \frac{\varepsilon^2 - 1}{2}\Big).$$
#
# It holds Jacobians of both networks, so its gradient needs second derivatives: a forward-mode tangent pass and a reverse pass through primal and tangent together (§12.4-12.5). This notebook checks that gradient, shows what the objective does on a linear-Gaussian toy where everything is known, then trains it on noisy grayscale MNIST beside an ELBO-trained VAE with the same networks.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import VAE
from numpyvae.datasets import load_dataset
from numpyvae.datasets.noisy import NOISE_STD, load_noisy_mnist, noisy_transform
from numpyvae.gradcheck import check_model
from numpyvae.objectives.fisher import fisher_optimal_variances, linear_gaussian_fisher
from numpyvae.optim import Adam
from numpyvae.plots import tile_images
from numpyvae.train import Trainer

# %% [markdown]
# ## The loss and its gradient, checked
#
# `objective="fisher"` selects it, for the Gaussian decoder with unit or one learned variance. Its loss is not in nats and can be negative; it comes as three terms (the `reconstruction` column of the history is the x-score, `kl` the other two). Every gradient, encoder, decoder and the variance, against finite differences in float64:

# %%
rng = np.random.default_rng(0)
x_toy = rng.standard_normal((5, 8))
small = VAE(8, 3, (6,), likelihood="gaussian_shared_var", activation="tanh", objective="fisher")
print(small.loss(x_toy))
report = check_model(small, x_toy, h=1e-5)
print(report)
assert report.passed

# %% [markdown]
# ## The linear-Gaussian toy: which posterior variance does it choose?
#
# Take a linear decoder $f(z) = Wz$ with $s^2 = 1$ and a linear encoder mean $\mu = Ax$ with $A = P^{-1}W^\top$, $P = I + W^\top W$, both held fixed, and let each objective choose the posterior variances $D_j$. The ELBO picks $1/P_{jj}$. The Fisher loss has a closed form here ([derivations.md §12.6](derivations.md#12.6-The-linear-Gaussian-closed-form)), minimised by $D_j^2 = (1 + (AA^\top)_{jj}) / ((P^2)_{jj} + (W^\top W)_{jj})$. The columns of $W$ are not orthogonal, so neither objective can reach the exact posterior, whose covariance $P^{-1}$ is not diagonal; they disagree on the best diagonal compromise.

# %%
W = 2 * np.array([[1, 0.9], [1, 1.1], [0.5, 0.4], [0.2, 0.3]])
P = np.eye(2) + W.T @ W
A = np.linalg.solve(P, W.T)
fisher_D = fisher_optimal_variances(W, A, 1.0)
elbo_D = 1 / np.diag(P)
print("Fisher-optimal variances:", fisher_D.round(7))
print("ELBO-optimal variances:  ", elbo_D.round(7))
print("exact posterior's marginal variances diag(P^-1):", np.diag(np.linalg.inv(P)).round(4))
m, C = np.zeros(4), np.eye(4)  # D's terms do not involve the data


def fisher_of(d1):
    return linear_gaussian_fisher(
        W, np.zeros(4), 1.0, A, np.zeros(2), np.array([d1, fisher_D[1]]), m, C
    )


def neg_elbo_of(d1):  # the terms of -ELBO that hold D_1 (derivations.md §12.6)
    return 0.5 * (P[0, 0] * d1 - np.log(d1))


grid = np.linspace(0.04, 0.2, 400)
fisher_curve = np.array([fisher_of(d) for d in grid])
elbo_curve = np.array([neg_elbo_of(d) for d in grid])
assert abs(grid[fisher_curve.argmin()] - fisher_D[0]) < 1e-3
assert abs(grid[elbo_curve.argmin()] - elbo_D[0]) < 1e-3
# 30% above each optimum: the Fisher loss rises more than ten times as much as the ELBO's.
assert fisher_of(1.3 * fisher_D[0]) - fisher_of(fisher_D[0]) > 10 * (
    neg_elbo_of(1.3 * elbo_D[0]) - neg_elbo_of(elbo_D[0])
)

# %% tags=["figure"]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(grid, fisher_curve - fisher_curve.min(), label="Fisher loss J")
ax.plot(grid, elbo_curve - elbo_curve.min(), label="negative ELBO")
ax.axvline(fisher_D[0], color="C0", ls=":")
ax.axvline(elbo_D[0], color="C1", ls=":")
ax.set_xlabel("posterior variance D_1 of latent 1")
ax.set_ylabel("loss above its minimum")
ax.set_ylim(0, 0.6)
ax.set_title("Each objective's choice of the posterior variance")
ax.legend()
plt.show()

# %% [markdown]
# The Fisher loss (blue) bottoms out at $D_1 = 0.0739$, a quarter below the ELBO's $0.0984$ (orange): the Fisher auto-encoder's posterior is **narrower**. Its curve is also far more sharply curved: a posterior variance 30% off its optimum costs the Fisher loss more than ten times what it costs the ELBO. Why narrower: the z-score alone, $\frac12\lVert P D^{1/2} - D^{-1/2}\rVert_F^2$, is smallest at $D_j = 1/\sqrt{(P^2)_{jj}}$, and $(P^2)_{jj} = P_{jj}^2 + \sum_{i \ne j} P_{ij}^2$ exceeds $P_{jj}^2$ whenever the exact posterior is correlated (here strongly: $P_{12} = 9.04$ beside $P_{11} = 10.16$). The Fisher divergence charges a diagonal $q$ for the correlation it cannot represent by shrinking it; the stability term moves the optimum only from $0.0735$ to $0.0739$.
#
# ## The linear-Gaussian toy: recovering the decoder
#
# Now train everything, from a random start, on 2000 points drawn from a linear-Gaussian model with $d = 4$, $k = 2$, decoder singular values 2 and 1 and noise variance $s^2 = 0.3$ (the columns of the true $W$ are orthogonal, so the exact posterior is diagonal and both objectives have the truth as their optimum). The data are whitened to the model's exact mean and covariance, so only the optimisation stands between the start and the truth. Both objectives get the same Adam schedule and 8 samples of $z$ per point.

# %%
d, k, s2_true = 4, 2, 0.3
Q = np.linalg.qr(np.random.default_rng(1).standard_normal((d, d)))[0]
W_true = Q[:, :k] * np.array([2.0, 1.0])
b_true = np.array([0.5, -1.0, 0.0, 1.0])
C_true = W_true @ W_true.T + s2_true * np.eye(d)
raw = np.random.default_rng(2).standard_normal((2000, d))
raw = (raw - raw.mean(axis=0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(raw.T, bias=True)).T)
X = raw @ np.linalg.cholesky(C_true).T + b_true


def fit_linear(objective, steps_per_epoch=4, epochs=300):
    model = VAE(
        d, k, (), likelihood="gaussian_shared_var", objective=objective, n_samples=8, seed=5
    )
    optimizer = Adam(model.params, lr=0.02)
    order = np.random.default_rng(3)
    trace = []
    for epoch in range(epochs):
        if epoch == 250:
            optimizer.lr = 0.002
        for batch in np.array_split(order.permutation(len(X)), steps_per_epoch):
            optimizer.step(model.loss_and_grads(X[batch])[1])
        singular = np.linalg.svd(model.params["decoder.0.W"], compute_uv=False)
        trace.append([*singular, np.exp(model.params["likelihood.logvar"][0])])
    return model, np.array(trace)


start = time.time()
fisher_lin, fisher_trace = fit_linear("fisher")
elbo_lin, elbo_trace = fit_linear("elbo")
print(f"both trained in {time.time() - start:.1f} s")
for name, trace in [("Fisher", fisher_trace), ("ELBO", elbo_trace)]:
    print(
        f"{name:6s}: singular values {trace[-1, :2].round(3)}, s^2 = {trace[-1, 2]:.4f}",
        "  (truth 2, 1, 0.3)",
    )
np.testing.assert_allclose(fisher_trace[-1], [2.0, 1.0, s2_true], rtol=0.03)
np.testing.assert_allclose(elbo_trace[-1], [2.0, 1.0, s2_true], rtol=0.03)

# %% tags=["figure"]
fig, axes = plt.subplots(1, 3, figsize=(10, 3))
for column, (ax, truth, label) in enumerate(
    zip(
        axes,
        [2.0, 1.0, s2_true],
        ["singular value 1", "singular value 2", "noise variance s^2"],
        strict=True,
    )
):
    ax.plot(fisher_trace[:, column], label="Fisher")
    ax.plot(elbo_trace[:, column], label="ELBO")
    ax.axhline(truth, color="k", ls=":", label="truth")
    ax.set_title(label)
    ax.set_xlabel("epoch (4 Adam steps each)")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Both objectives find the truth to within 3%. The second singular value and the noise variance settle within about 60 epochs for both; the first singular value is the slow one for the Fisher run: the ELBO has it at 2 by epoch 80, the Fisher AE reaches 1.97 only after about 150 epochs and creeps on from there. Its loss is nearly flat near the truth, as the closed form (12.8) of [derivations.md §12.6](derivations.md#12.6-The-linear-Gaussian-closed-form) shows at the trained parameters:

# %%
params = fisher_lin.params
J_trained = linear_gaussian_fisher(
    params["decoder.0.W"].T,
    params["decoder.0.b"],
    np.exp(params["likelihood.logvar"][0]),
    params["encoder.0.W"][:, :k].T,
    params["encoder.0.b"][:k],
    np.exp(params["encoder.0.b"][k:]),
    b_true,
    C_true,
)
P_true = np.eye(k) + W_true.T @ W_true / s2_true
A_true = np.linalg.solve(P_true, W_true.T) / s2_true
J_truth = linear_gaussian_fisher(
    W_true, b_true, s2_true, A_true, -A_true @ b_true, 1 / np.diag(P_true), b_true, C_true
)
print(
    f"J at the trained parameters {J_trained:.6f}, at the truth {J_truth:.6f}:",
    f"{J_trained - J_truth:.1e} apart",
)
assert 0 < J_trained - J_truth < 2e-3
assert (
    np.max(np.abs(params["encoder.0.W"][:, k:])) < 1e-2
)  # the learned variances hardly depend on x

# %% [markdown]
# The trained model sits about $10^{-3}$ above the minimum of a loss that is $-3.83$ there, with its top singular value 1% short: the gradient left to follow is tiny, which is why that direction converges last.
#
# ## Noisy grayscale MNIST: Fisher against the ELBO
#
# The Fisher objective is a score matching in $x$, so it needs continuous data with a density that is smooth everywhere ([derivations.md §12.3](derivations.md#12.3-Continuous-data:-noisy-grayscale-MNIST)): grayscale digits with Gaussian noise of standard deviation $0.1$ added, fresh noise at every minibatch; a fixed noisy copy of the test set. Binarized digits are refused. Two models with the same 784-128-8 tanh networks and one learned decoder variance, one trained on each objective with the same Adam settings for 30 epochs on 5000 images; every third epoch $\log p(x)$ of 200 test images is estimated by importance sampling with $K = 100$ (`model.log_likelihood`, [derivations.md §9.5](derivations.md#9.5-Estimating-log-p(x)-by-importance-sampling)). These are continuous densities, so $\log p(x)$ can be positive.

# %%
clean = load_dataset("embedded", dtype=np.float32)
noisy = load_noisy_mnist("embedded", dtype=np.float32)
assert NOISE_STD == 0.1
x_train, x_test = clean.x_train[:5000], noisy.x_test[:200]
EPOCHS, EVERY = 30, 3


def train_mnist(objective):
    model = VAE(
        784,
        8,
        (128,),
        likelihood="gaussian_shared_var",
        activation="tanh",
        objective=objective,
        dtype=np.float32,
        seed=0,
    )
    trainer = Trainer(
        model, Adam(model.params, lr=3e-3), batch_size=100, seed=0, transform=noisy_transform()
    )
    curve = []

    def score(trainer):
        if len(trainer.history.loss) % EVERY == 0:
            curve.append(
                float(model.log_likelihood(x_test, 100, rng=np.random.default_rng(4)).mean())
            )

    start = time.time()
    trainer.fit(x_train, EPOCHS, on_epoch_end=score)
    print(
        f"{objective}: {time.time() - start:.1f} s for {EPOCHS} epochs,",
        f"s^2 = {np.exp(model.params['likelihood.logvar'][0]):.4f}",
    )
    return model, np.array(curve)


fisher_mnist, fisher_lp = train_mnist("fisher")
elbo_mnist, elbo_lp = train_mnist("elbo")
epochs = np.arange(EVERY, EPOCHS + 1, EVERY)
print("epoch      ", epochs)
print("Fisher log p", fisher_lp.round(1))
print("ELBO   log p", elbo_lp.round(1))

# %% tags=["figure"]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(epochs, fisher_lp, "o-", label="Fisher AE")
ax.plot(epochs, elbo_lp, "o-", label="VAE (ELBO)")
ax.set_xlabel("epoch")
ax.set_ylabel("log p(x), nats per test image")
ax.set_title("Importance-sampled log-likelihood during training")
ax.legend()
plt.show()

# %% [markdown]
# The Fisher auto-encoder climbs much faster at first: after 12 epochs it is more than a hundred nats ahead. Then it levels off near 110 nats, while the ELBO-trained VAE keeps climbing and passes it in the last epochs. Maximising a bound on $\log p(x)$ wins on $\log p(x)$ given the time, as the independent re-implementation (Wenliang, arXiv 2210.13390) found at a larger scale; the Fisher objective never looks at $\log p(x)$ at all. What this short run cannot say is where either ends: both curves still rise at epoch 30, the ELBO's faster.

# %%
assert fisher_lp[3] > elbo_lp[3] + 100  # epoch 12: the Fisher AE far ahead
assert elbo_lp[-1] > fisher_lp[-1]  # epoch 30: the ELBO ahead
assert (
    fisher_lp[-1] - fisher_lp[-4] < elbo_lp[-1] - elbo_lp[-4]
)  # the Fisher curve flatter at the end

# %% tags=["figure"]
z = np.random.default_rng(5).standard_normal((48, 8)).astype(np.float32)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
for ax, (name, model) in zip(
    axes, [("Fisher AE", fisher_mnist), ("VAE (ELBO)", elbo_mnist)], strict=True
):
    ax.imshow(tile_images(model.decode(z), 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{name}: decoder means")
    ax.axis("off")
plt.show()

# %% [markdown]
# Generated digits (method A: the decoder's mean at $z \sim \mathcal{N}(0, I)$, [derivations.md §8.1](derivations.md#8.1-Generation:-methods-A-and-B)), the same 48 draws of $z$ for both. The VAE's samples are varied digits, many of them readable. The Fisher AE's are nearly all one blurry 8-like average, although the log-likelihoods above are close. The encoders say why: the spread of the codes each model actually uses (the variance over test images of the posterior mean plus the mean posterior variance: the aggregate posterior's variance, per latent dimension), against the prior's 1:

# %%
spread = {}
for name, model in [("Fisher AE", fisher_mnist), ("VAE (ELBO)", elbo_mnist)]:
    mu = model.encode(x_test)
    sigma2 = np.exp(model.posterior.split(model.encoder.forward(x_test))[1])
    spread[name] = mu.var(axis=0) + sigma2.mean(axis=0)
    print(
        f"{name:10s}: aggregate variance per dimension {spread[name].round(2)},",
        f"mean posterior variance {sigma2.mean():.3f}",
    )
assert spread["Fisher AE"].min() > 3
assert 0.5 < spread["VAE (ELBO)"].min() and spread["VAE (ELBO)"].max() < 2

# %% [markdown]
# The ELBO's KL term holds the VAE's codes to the prior: their aggregate variance is close to 1 in every dimension, so a draw from $\mathcal{N}(0, I)$ lands where real codes are. The Fisher objective has no such term: the prior enters only through $\nabla_z \log p(z) = -z$ inside the z-score, which asks $q(z|x)$ to match the model's own posterior, not the codes to fill the prior. Its codes spread with a variance between 5 and 13 per dimension, so prior draws fall in the middle of that cloud, where the decoder has learned an average digit. Its posterior variances (0.09 on average) are not narrower than the VAE's (0.01) here, unlike on the toy; measured against the spread of the codes they are about as narrow.

# %% tags=["figure"]
shown = x_test[:12]
rows = [shown, fisher_mnist.reconstruct(shown), elbo_mnist.reconstruct(shown)]
fig, ax = plt.subplots(figsize=(10, 3))
ax.imshow(tile_images(np.concatenate(rows), 12), cmap="gray_r", vmin=0, vmax=1)
ax.set_title("noisy test digits; Fisher AE reconstructions; VAE (ELBO) reconstructions")
ax.axis("off")
plt.show()

# %% [markdown]
# Reconstructions (the decoder mean at the posterior mean): top row the noisy test digits, middle the Fisher AE, bottom the VAE. Both remove the noise and both blur; they agree closely and fail on the same digits (the two 4s come back closer to 9s, the 2 as an 8-like shape). Measured against the clean digits, their squared errors are within a few percent of each other:

# %%
errors = {}
for name, model in [("Fisher AE", fisher_mnist), ("VAE (ELBO)", elbo_mnist)]:
    errors[name] = np.mean((model.reconstruct(x_test) - clean.x_test[:200]) ** 2)
    print(f"{name:10s}: mean squared error against the clean digits {errors[name]:.4f}")
assert abs(errors["Fisher AE"] - errors["VAE (ELBO)"]) < 0.1 * errors["VAE (ELBO)"]

# %% [markdown]
# ## What to take away
#
# - The Fisher objective trains the same networks from score functions alone; its gradient needs a Jacobian-vector product and a reverse pass through it in each network, and costs about 2.2 ELBO steps (measured, and counted in products, in [derivations.md §12.7](derivations.md#12.7-Where-the-authors'-code-and-the-project's-brief-differ)).
# - On the linear-Gaussian model it has the truth as a stationary point and recovers it; with a constrained posterior it picks a **narrower** $q(z|x)$ than the ELBO.
# - On noisy digits it learns fast at first, then stalls below the ELBO-trained VAE in $\log p(x)$; its reconstructions are as good, but its codes do not fill the prior, so sampling from $\mathcal{N}(0, I)$ gives average digits. A real but modest model, not a better likelihood.
