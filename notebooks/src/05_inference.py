# ruff: noqa: E501

# %% [markdown]
# # 5. Inference: generation and embeddings
#
# After training, the two halves of the VAE are used apart (lecture 001):
#
# * **generation** uses the decoder $\theta$: draw $z \sim \mathcal{N}(0, I)$, then take
#   the decoder mean $\hat x_\theta(z)$ (**method A**) or a sample $x \sim p_\theta(x|z)$ (**method B**)
#   ([derivations.md §8.1](derivations.md#8.1-Generation:-methods-A-and-B));
# * **embeddings** use the encoder $\phi$: the posterior mean $z = \mu_\phi(x)$ (**method A**) or a
#   sample $z = \mu_\phi(x) + \sigma_\phi(x)\odot\epsilon$ (**method B**) ([derivations.md §8.2](derivations.md#8.2-Embeddings:-methods-A-and-B)).
#
# Two models: $k = 16$ for pictures and a downstream task, and $k = 2$ to look at the latent plane
# directly. Notebook 4 trained the $k = 16$ one and saved it in `models/` next to the notebook; if
# you ran it here, it is loaded rather than trained again (the same holds for the $k = 2$ model
# the second time you run this notebook). Delete `models/` to train afresh.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import VAE, plots
from numpyvae.checkpoint import CheckpointError, load_model, save_checkpoint
from numpyvae.datasets import load_dataset
from numpyvae.optim import Adam
from numpyvae.train import Trainer

data = load_dataset("auto")
# A fixed budget: at most 10,000 training and 2,000 test digits (the shipped subset's size).
x_train, y_train = data.x_train[:10_000], data.y_train[:10_000]
x_test, y_test = data.x_test[:2_000], data.y_test[:2_000]
d = x_train.shape[1]


def trained(k, epochs, seed=0):
    """The model saved in models/ by an earlier run, or a new one, trained and saved."""
    path = f"models/vae_k{k}.npz"
    try:
        model = load_model(path)
        print(f"k = {k:>2}: loaded {path}, test loss {model.evaluate(x_test).loss:.1f} nats")
        return model
    except (FileNotFoundError, CheckpointError):
        pass  # not saved yet, or saved by another version of numpyvae: train it
    model = VAE(d, k, hidden=(256,), dtype=np.float32, seed=seed)
    trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=128, seed=seed)
    start = time.perf_counter()
    history = trainer.fit(x_train, epochs, x_test=x_test)
    print(
        f"k = {k:>2}: {epochs} epochs in {time.perf_counter() - start:.1f} s, "
        f"test loss {history.test_loss[-1]:.1f} nats"
    )
    os.makedirs("models", exist_ok=True)
    save_checkpoint(path, trainer)
    return model


model = trained(k=16, epochs=10)  # the model of notebook 4
model2 = trained(k=2, epochs=20)  # two dimensions take longer to organise

# %% [markdown]
# ## Generation, methods A and B (derivations.md §8.1)
#
# The same 64 draws $z \sim \mathcal{N}(0, I)$, decoded by both methods. Method A shows the
# Bernoulli means $\mathrm{sigmoid}(\text{logits})$, smooth grey-level images; method B flips each
# pixel's coin, a binary image with speckle wherever the decoder is unsure. Most papers show
# method A. After this short training on 10,000 digits, many draws decode to clear digits, and
# many to blurred shapes between two digits: the regions of $z$ between the classes' regions, which
# no training digit's posterior covers well, decode to averages of their neighbours.

# %% tags=["figure"]
plots.plot_generation(model, n=64)

# %% [markdown]
# ## Reconstructions from embeddings A and B
#
# Decode (method A) the posterior mean, and a posterior sample, of the same test digits. The sample
# moves $z$ within the posterior's spread $\sigma_\phi(x)$: the digit keeps its identity but changes
# its style a little. That spread is what the KL term (notebook 3) keeps from shrinking to zero.

# %% tags=["figure"]
n = 10
rows = np.concatenate(
    [
        x_test[:n],
        model.reconstruct(x_test[:n], method="mean"),
        model.reconstruct(x_test[:n], method="sample"),
        model.reconstruct(x_test[:n], method="sample"),
    ]
)
fig, ax = plt.subplots(figsize=(10, 4.2))
ax.imshow(plots.tile_images(rows, n), cmap=plots.INK, vmin=0, vmax=1)
ax.set_yticks([15, 43, 71, 99], ["input", "z = mu (A)", "z ~ q (B)", "z ~ q (B)"])
ax.set_xticks([])
plt.show()

# %% [markdown]
# ## Embeddings A and B, coloured by label (derivations.md §8.2)
#
# The 16-dimensional embeddings of the test digits, projected on their first two principal
# components (together about a quarter of the variance, as the axis labels say). The encoder was
# never shown a label, yet digits of a class gather in regions: the 1s and the 0s apart, 4, 7 and 9
# together, 3, 5 and 8 together. Method B adds the posterior noise on top of method A: the same
# groups, more mixed. (The PCA of the noisy codes finds its own axes, so its picture may come out
# rotated or mirrored against method A's.)

# %% tags=["figure"]
z_mean = model.encode(x_test, method="mean")
z_sample = model.encode(x_test, method="sample")
plots.plot_embeddings(z_mean, y_test, title="method A: posterior means")

# %% tags=["figure"]
plots.plot_embeddings(z_sample, y_test, title="method B: posterior samples")

# %% [markdown]
# ## The latent plane of a $k = 2$ model
#
# With two latent dimensions there is nothing to project. First the posterior means of the test
# digits. The dashed square marks the grid of `plots.plot_latent_manifold`, placed at
# equal-probability slices of the prior (its outer rows at $\pm 1.96$); the codes are not bound to
# the prior's centre and some spill beyond that square (how many is printed below), so the decoder
# is drawn here over an even grid that spans the codes, in the same axes as the scatter. The digit
# classes occupy regions of the plane, overlapping where digits look alike, and the decoder morphs
# smoothly from one to the next: read a region of the scatter against the same place in the grid.
# Where classes overlap, the grid shows the one that dominates there, so some digits barely appear
# in it: two dimensions are too few to keep ten classes apart (the classification below agrees).

# %% tags=["figure"]
codes2 = model2.encode(x_test)  # (2000, 2)
lim = float(np.ceil(2 * np.quantile(np.abs(codes2), 0.995)) / 2)  # the codes' range, in halves
outside = np.mean(np.any(np.abs(codes2) > 1.96, axis=1))
print(f"{outside:.0%} of the codes lie outside the dashed square; the grid below spans +-{lim}")
assert np.mean(np.all(np.abs(codes2) <= lim, axis=1)) > 0.98
figure = plots.plot_latent_scatter(
    codes2, y_test, n=20, title="k = 2: posterior means of test digits"
)
figure.axes[0].set(xlim=(-lim, lim), ylim=(-lim, lim))
figure  # noqa: B018 (a cell's last value is what it shows)

# %% tags=["figure"]
n = 20
values = np.linspace(-lim, lim, n)
z1, z2 = np.meshgrid(values, values[::-1])  # row 0 of the mosaic is the top: the largest z2
decoded = model2.decode(np.column_stack([z1.ravel(), z2.ravel()]).astype(model2.dtype))
half = (values[1] - values[0]) / 2  # each tile is centred on its z
fig, ax = plt.subplots(figsize=(8, 8))
ax.imshow(
    plots.tile_images(decoded, n, pad=0),
    cmap=plots.INK,
    vmin=0,
    vmax=1,
    extent=(-lim - half, lim + half, -lim - half, lim + half),
)
ax.set(xlabel="z_1", ylabel="z_2", title=f"decoder means on an even {n} x {n} grid over the codes")
plt.show()

# %% [markdown]
# ## Interpolation between two digits
#
# Walk in a straight line from the embedding (method A) of one test digit to that of another, and
# decode every point. Each end is the test digit of its class whose code lies nearest the class's
# mean code, a typical one. Between similar digits (4 to 9, 0 to 6, 3 to 8) every step is a
# plausible digit, the stroke bending by degrees: the KL keeps the latent space filled there.
# Between different digits the middle of the path is a blend of the two, neither one: from 1 to 7 a
# stroke that grows a 7's bar by degrees. A straight line in $z$ can cross a region that no
# training digit's posterior covers, and there the decoder's mean is an average of its neighbours'
# styles, fainter and blurred.

# %% tags=["figure"]
codes = model.encode(x_test)  # (2000, 16)
typical = {}  # digit -> the test digit whose code is nearest the mean code of its class
for digit in range(10):
    members = np.flatnonzero(y_test == digit)
    centre = codes[members].mean(axis=0)
    typical[digit] = members[np.argmin(np.sum((codes[members] - centre) ** 2, axis=1))]
pairs = [(typical[a], typical[b]) for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)]]
t = np.linspace(0, 1, 10)[:, None]
rows = []
for i, j in pairs:
    z_a, z_b = model.encode(x_test[[i, j]])
    rows.append(model.decode((1 - t) * z_a + t * z_b))
fig, ax = plt.subplots(figsize=(10, 4.4))
ax.imshow(plots.tile_images(np.concatenate(rows), 10), cmap=plots.INK, vmin=0, vmax=1)
ax.set_xticks([15 + 29 * i for i in (0, 9)], ["start", "end"])
ax.set_yticks([])
ax.set_title("decoder means along z = (1 - t) mu(x_a) + t mu(x_b)")
plt.show()

# %% [markdown]
# ## A downstream use: nearest-neighbour classification
#
# Embeddings are features (lecture 001). Classify each test digit by the label of its nearest
# training digit, once in raw pixels ($d = 784$) and once in the posterior means ($k = 16$ and
# $k = 2$), in NumPy: squared distances $\lVert a\rVert^2 + \lVert b\rVert^2 - 2a^\top b$, then an
# argmin per row. The labels were never used to train the VAE.


# %%
def nearest_neighbour_accuracy(train_features, test_features):
    train_features = train_features.astype(np.float64)
    test_features = test_features.astype(np.float64)
    distances = (
        np.sum(test_features**2, axis=1)[:, None]
        + np.sum(train_features**2, axis=1)[None, :]
        - 2 * test_features @ train_features.T
    )  # (n_test, n_train)
    predicted = y_train[np.argmin(distances, axis=1)]
    return np.mean(predicted == y_test)


features = {
    "raw pixels (d = 784)": (x_train, x_test),
    "posterior means, k = 16 (A)": (model.encode(x_train), model.encode(x_test)),
    "posterior samples, k = 16 (B)": (
        model.encode(x_train, "sample"),
        model.encode(x_test, "sample"),
    ),
    "posterior means, k = 2 (A)": (model2.encode(x_train), model2.encode(x_test)),
}
accuracy = {}
for name, (train_f, test_f) in features.items():
    accuracy[name] = nearest_neighbour_accuracy(train_f, test_f)
    print(f"{name:>30}: 1-NN test accuracy {accuracy[name]:.3f}")
assert accuracy["posterior means, k = 16 (A)"] > 0.8  # chance is 0.1
assert accuracy["posterior means, k = 16 (A)"] > accuracy["posterior samples, k = 16 (B)"]

# %% [markdown]
# Sixteen numbers per digit, learned without labels, classify nearly as well as all 784 pixels, and
# the nearest-neighbour search is 49 times cheaper per pair. The posterior means (A) beat the samples (B):
# for a deterministic feature, the noise of method B only hurts. Two dimensions keep only part of the
# class structure (well above chance, far below $k = 16$): the scatter above shows the classes that
# overlap in the plane, such as 4 and 9, or 3, 5 and 8.
