# ruff: noqa: E501

# %% [markdown]
# # 4. Training a VAE on MNIST
#
# The lectures' training loop (lecture 000; lecture 004, AEVB): encode $x$ into
# $h = [\mu_\phi(x) \mid \log\sigma_\phi^2(x)]$, draw $\epsilon \sim \mathcal{N}(0, I)$, set
# $z = \mu + \sigma\odot\epsilon$, decode $z$, and score the two terms of the ELBO. numpyvae minimises
# the **negative** ELBO ([derivations.md §2.4](derivations.md#2.4-The-loss-numpyvae-minimises)):
#
# $$\text{loss} = \frac1B\sum_{i=1}^B\Big[-\frac1M\sum_{j=1}^M \log p_\theta(x_i|z_{ij}) + \mathrm{KL}\big(q_\phi(z|x_i)\,\|\,\mathcal{N}(0,I)\big)\Big],$$
#
# summed over the $d$ pixels and the $k$ latent dimensions, averaged over the $M$ samples and the
# batch, so gradient *descent* on it is the lectures' gradient *ascent* on the ELBO.
# This notebook does one forward pass and one training step by hand, checks them against the
# library, then trains, and compares a Bernoulli decoder with a Gaussian one.

# %% tags=["figure"]
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import VAE, plots
from numpyvae.checkpoint import save_checkpoint
from numpyvae.datasets import load_dataset
from numpyvae.gradcheck import check_model
from numpyvae.layers import sigmoid, softplus
from numpyvae.optim import SGD, Adam
from numpyvae.train import Trainer

data = load_dataset("auto")  # full MNIST if found on this machine, else the shipped subset
# A fixed budget on either: the first 10,000 training and 2,000 test digits (the shipped subset's
# size), so that the training below takes the same time and its numbers hold on both.
x_train, x_test = data.x_train[:10_000], data.x_test[:2_000]
d = x_train.shape[1]
print(f"{data.source}: x_train {x_train.shape}, x_test {x_test.shape}, pixels in [0, 1]")
plots.plot_samples(x_train[:36], title="training digits")

# %% [markdown]
# ## One forward pass, step by step
#
# A small model in float64, a batch of $B = 4$ digits and $M = 1$ sample each. The pixel intensities
# in $[0, 1]$ are the Bernoulli targets. Every line below is one arrow of the lecture's diagram:

# %%
k = 16
model = VAE(d, k, hidden=(256,), likelihood="bernoulli", seed=0)  # float64
x = x_test[:4]  # (B, d)
B, M = x.shape[0], 1

h = model.encoder.forward(x)  # (B, 2k): the encoder phi
mu, logvar = h[:, :k], h[:, k:]  # mu_phi(x), log sigma_phi^2(x)
sigma = np.exp(0.5 * logvar)
eps = np.random.default_rng(1).standard_normal((M, B, k))
z = mu + sigma * eps  # (M, B, k): reparameterization (§3.4)
logits = model.decoder.forward(z.reshape(M * B, k)).reshape(M, B, d)  # the decoder theta
x_hat = sigmoid(logits)  # E[x|z], the decoder mean

log_px = np.sum(x * logits - softplus(logits), axis=-1)  # (M, B), Bernoulli (§5.3)
kl = 0.5 * np.sum(mu**2 + sigma**2 - logvar - 1, axis=1)  # (B,), closed form (§4.1)
reconstruction = -log_px.mean()
kl_mean = kl.mean()
print(
    f"reconstruction {reconstruction:.4f} + KL {kl_mean:.4f} = loss {reconstruction + kl_mean:.4f}"
)

parts = model.loss(x, eps)
print(f"the library:   {parts}")
assert np.isclose(parts.reconstruction, reconstruction, rtol=1e-12)
assert np.isclose(parts.kl, kl_mean, rtol=1e-12)
assert np.isclose(parts.loss, reconstruction + kl_mean, rtol=1e-12)

# %% [markdown]
# Untrained, the decoder's mean is grey noise, and the reconstruction term is about
# $d \log 2 \approx 543$ nats: every pixel is a coin flip.

# %% tags=["figure"]
plots.plot_reconstructions(x, x_hat[0], n=4, title="untrained: inputs (top) and x_hat (bottom)")

# %% [markdown]
# ## One training step by hand (derivations.md §6.3)
#
# Backward through the same graph, from the loss to every parameter:
#
# 1. $\partial\,\text{loss}/\partial\,\text{logits} = -(x - \hat x)/(MB)$ (§5.3, with the averages' $1/(MB)$);
# 2. the decoder's backward gives $\partial\,\text{loss}/\partial\theta$ and $\partial\,\text{loss}/\partial z$;
# 3. the reparameterization's backward (§3.4) takes $\partial/\partial z$ to $(\mu, \log\sigma^2)$;
# 4. the KL's gradient $[\mu \mid \tfrac12(\sigma^2 - 1)]/B$ (§4.3) joins **there**, never in the decoder;
# 5. the encoder's backward gives $\partial\,\text{loss}/\partial\phi$.
#
# Then one SGD step $\theta \leftarrow \theta - \alpha\,\partial\,\text{loss}/\partial\theta$ (and the
# same for $\phi$): the lectures' ascent step on the ELBO, written as descent on its negative.

# %%
# forward again, so that every layer caches this batch
h = model.encoder.forward(x)
logits = model.decoder.forward((mu + sigma * eps).reshape(M * B, k)).reshape(M, B, d)

dlogits = -(x - sigmoid(logits)) / (M * B)  # 1.
dz = model.decoder.backward(dlogits.reshape(M * B, d)).reshape(M, B, k)  # 2.
dmu = dz.sum(axis=0)  # 3.
dlogvar = (dz * eps).sum(axis=0) * sigma / 2
dmu += mu / B  # 4.
dlogvar += 0.5 * (sigma**2 - 1) / B
model.encoder.backward(np.concatenate([dmu, dlogvar], axis=1))  # 5.
by_hand = {f"encoder.{n}": g.copy() for n, g in model.encoder.grads.items()}
by_hand |= {f"decoder.{n}": g.copy() for n, g in model.decoder.grads.items()}

parts, grads = model.loss_and_grads(x, eps)
for name in by_hand:
    diff = np.max(np.abs(by_hand[name] - grads[name]))
    print(f"{name:>12} {str(grads[name].shape):>11}: max |by hand - library| = {diff:.1e}")
    np.testing.assert_allclose(by_hand[name], grads[name], rtol=1e-10, atol=1e-14)

lr = 0.01
before = {n: p.copy() for n, p in model.params.items()}
SGD(model.params, lr=lr, momentum=0.0).step(grads)
for name, p in model.params.items():
    # atol: the weights are about 0.03, so rounding leaves about 1e-18 absolute, which an entry
    # near zero (1e-8, say) would read as a relative error far above 1e-12
    np.testing.assert_allclose(p, before[name] - lr * by_hand[name], rtol=1e-12, atol=1e-15)
after = model.loss(x, eps)
print(f"loss on this batch and eps: {parts.loss:.4f} before the step, {after.loss:.4f} after")
assert after.loss < parts.loss

# %% [markdown]
# The library agrees with the hand computation, and both agree with finite differences: on a tiny
# VAE (20 pixels, $k = 2$, 8 hidden units, $M = 3$) `check_model` nudges every parameter
# ([derivations.md §6.4](derivations.md#6.4-Checking-gradients-by-finite-differences)).

# %%
tiny = VAE(20, 2, hidden=(8,), activation="tanh", n_samples=3, seed=0)
report = check_model(tiny, x_test[:5, 300:320])
print(report)
assert report.passed

# %% [markdown]
# ## Training
#
# A float32 model (16 latent dimensions, one hidden layer of 256 units each way, ReLU),
# Adam with learning rate $10^{-3}$ ([derivations.md §9.3](derivations.md#9.3-The-optimizers)), batches of 128, $M = 1$ sample per digit.
# The test curve is the loss on held-out digits, evaluated after every epoch.
#
# The targets are the grey levels themselves: a pixel of intensity 0.3 is a "Bernoulli outcome" of
# 0.3. That loss cannot reach 0 (even a perfect decoder pays the entropy of every grey pixel), so
# its numbers are **not comparable** with those of the command line (`python -m numpyvae train`)
# or of the papers, which binarize the digits to 0/1 (about 108 nats there, against about 124 here
# after fewer epochs).

# %% tags=["figure"]
epochs = 10  # 100,000 digits seen


def train(likelihood, seed=0):
    model = VAE(d, 16, hidden=(256,), likelihood=likelihood, dtype=np.float32, seed=seed)
    trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=128, seed=seed)
    start = time.perf_counter()
    history = trainer.fit(x_train, epochs, x_test=x_test)
    print(
        f"{likelihood}: {epochs} epochs in {time.perf_counter() - start:.1f} s, "
        f"test loss {history.test_loss[0]:.1f} -> {history.test_loss[-1]:.1f} nats"
    )
    return trainer, history


trainer, history = train("bernoulli")
bernoulli = trainer.model
os.makedirs("models", exist_ok=True)
save_checkpoint("models/vae_k16.npz", trainer)  # notebook 5 loads it from there
assert history.test_loss[-1] < history.test_loss[0] - 20
plots.plot_losses(history)

# %% [markdown]
# The reconstruction term falls fast, while the KL **rises** over the ten epochs (on the training
# digits at every one), more slowly towards the end: the encoder puts more and more information about $x$ into $z$ (a posterior equal
# to the prior would carry none), and pays for every nat of it in KL as long as it buys more than a
# nat of reconstruction: the compromise between the two terms of the ELBO (notebook 3).
#
# The two curves are not measured alike. The train point averages the minibatch losses over the
# epoch, while the model was still improving; the test point evaluates the model at the end of the
# epoch. So the train curve lags behind the model (on the shipped subset the test curve even sits
# *below* it, which looks the wrong way round). Evaluated at the end as well, the training digits
# score better than that average, and at least as well as the test digits:

# %%
train_end = bernoulli.evaluate(x_train[: len(x_test)]).loss
print(
    f"last epoch: train {history.loss[-1]:.1f} (average over the epoch), "
    f"train {train_end:.1f} and test {history.test_loss[-1]:.1f} (both at its end)"
)
assert train_end < history.loss[-1] and train_end < history.test_loss[-1]
assert history.test_kl[-1] > history.test_kl[len(history) // 2] > history.test_kl[0]
assert np.all(np.diff(history.kl) > 0)  # on the training digits, at every epoch

# %% tags=["figure"]
plots.plot_reconstructions(
    x_test[:10],
    bernoulli.reconstruct(x_test[:10]),
    title="Bernoulli decoder: test digits (top), reconstructions (bottom)",
)

# %% [markdown]
# ## Bernoulli against Gaussian decoder
#
# Lecture 000 uses a Gaussian decoder with identity covariance, $p_\theta(x|z) = \mathcal{N}(x;\hat x_\theta(z), I)$,
# so $-\log p_\theta(x|z) = \tfrac d2\log 2\pi + \tfrac12\lVert x - \hat x\rVert^2$, the squared error
# ([derivations.md §5.1](derivations.md#5.1-Gaussian-with-identity-covariance)). On pixels in $[0, 1]$ the unit variance is enormous: a pixel wrong by 0.5
# costs only $0.125$ nats, while the Bernoulli decoder (§5.3) charges $\log 2 \approx 0.69$ nats for a
# pixel it is unsure of and much more for a confident mistake. With the Gaussian decoder the KL
# term wins the compromise: the posterior stays close to the prior (a small KL), and reconstructions
# are blurred towards an average digit. The two losses are not comparable numbers (a density and a
# probability); the pictures and the KL are.

# %% tags=["figure"]
gaussian_trainer, gaussian_history = train("gaussian")
gaussian = gaussian_trainer.model
print(
    f"KL per digit at the end: Bernoulli {history.test_kl[-1]:.1f} nats, "
    f"Gaussian {gaussian_history.test_kl[-1]:.1f} nats"
)
assert gaussian_history.test_kl[-1] < history.test_kl[-1]

n = 10
rows = np.concatenate(
    [
        x_test[:n],
        bernoulli.reconstruct(x_test[:n]),
        np.clip(gaussian.reconstruct(x_test[:n]), 0, 1),
    ]
)
fig, ax = plt.subplots(figsize=(10, 3.4))
ax.imshow(plots.tile_images(rows, n), cmap=plots.INK, vmin=0, vmax=1)
ax.set_yticks([15, 43, 71], ["input", "Bernoulli", "Gaussian, I"])
ax.set_xticks([])
ax.set_title("reconstructions of test digits (decoder means at the posterior means)")
plt.show()

# %% [markdown]
# **What to take away.** The whole gradient of the VAE is five short steps, each a formula of
# derivations.md, and the library computes exactly these numbers. The choice of likelihood is part
# of the model, not a detail: it sets the exchange rate between reconstruction and KL. Notebook 5 uses
# the trained model: generation, embeddings, the latent space.
