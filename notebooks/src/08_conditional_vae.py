# ruff: noqa: E501

# %% [markdown]
# # 08 · The conditional VAE: draw the digit you ask for
#
# A conditional VAE gives both networks the label $c$ (one-hot): the encoder models $q_\phi(z|x, c)$ and the decoder $p_\theta(x|z, c)$. The ELBO keeps its form, conditioned on $c$ everywhere (derivations.md §9.2):
#
# $$\log p_\theta(x|c) \ge \mathbb{E}_{q_\phi(z|x,c)}[\log p_\theta(x|z,c)] - \mathrm{KL}(q_\phi(z|x,c)\,\|\,\mathcal{N}(0, I)).$$
#
# Because the decoder is told *which* digit to draw, $z$ no longer has to encode it: $z$ is left to describe the **style** (slant, thickness, size). In numpyvae this is `VAE(..., n_classes=10)`; every method that takes images then takes their labels `c` as well.

# %%
import time

import numpy as np

from numpyvae import VAE
from numpyvae.datasets import load_dataset
from numpyvae.gradcheck import check_gradient
from numpyvae.optim import Adam
from numpyvae.plots import plot_embeddings, plot_samples

# %% [markdown]
# ## 1. The labels are inputs: the gradient check
#
# The encoder reads $[x, c]$ and the decoder $[z, c]$. Backpropagation into the decoder's input gives $\partial L/\partial [z, c]$; only the $z$ part continues into the reparameterization. `check_model` knows nothing of labels, so we check with `check_gradient` and a closure that passes them:

# %%
rng = np.random.default_rng(0)
x_toy, c_toy = (rng.random((6, 8)) < 0.5).astype(float), rng.integers(0, 3, 6)
toy = VAE(8, 2, (7,), n_classes=3, seed=1)
eps = rng.standard_normal((1, 6, 2))
_, grads = toy.loss_and_grads(x_toy, eps, c=c_toy)
report = check_gradient(
    lambda: toy.loss(x_toy, eps, c=c_toy).loss, toy.params, {n: g.copy() for n, g in grads.items()}
)
print(report)
assert report.passed

# %% [markdown]
# ## 2. Train on MNIST
#
# A 2-dimensional latent space, so we can look at it. The loop is written out: one Adam step per minibatch of images **and their labels**.

# %%
data = load_dataset("auto", dtype=np.float32)
x, y = data.x_train[:10_000], data.y_train[:10_000]
print(data.source, x.shape)

cvae = VAE(784, 2, (256,), n_classes=10, dtype=np.float32, seed=0)
optimizer = Adam(cvae.params, lr=2e-3)
shuffle = np.random.default_rng(0)
start = time.time()
for epoch in range(1, 5):
    order = shuffle.permutation(len(x))
    for first in range(0, len(x), 100):
        rows = order[first : first + 100]
        parts, grads = cvae.loss_and_grads(x[rows], c=y[rows])
        optimizer.step(grads)
    test = cvae.evaluate(data.x_test, c=data.y_test)
    print(
        f"epoch {epoch}: test loss {test.loss:.1f} = reconstruction {test.reconstruction:.1f} "
        f"+ KL {test.kl:.2f}   ({time.time() - start:.0f} s)"
    )

# %% [markdown]
# ## 3. Ask for a digit
#
# `generate(n, c=label)` draws $z \sim \mathcal{N}(0, I)$ and decodes it with the label. Below, each **row** is one digit $c = 0, \dots, 9$ and each **column** one $z$, shared by the whole column: the label picks the digit, $z$ the handwriting.

# %%
z = cvae.rng.standard_normal((10, 2), dtype=cvae.dtype)  # one style per column
labels = np.repeat(np.arange(10), 10)  # one digit per row
images = cvae.decode(np.tile(z, (10, 1)), "mean", c=labels)
plot_samples(images, title="Row: the label c. Column: the same z.", n_cols=10)

# %% [markdown]
# ## 4. Do the drawn digits have the requested class?
#
# A judge that knows nothing of the VAE: the nearest class mean (centroid) of the training images, which labels real test digits correctly about 80% of the time. Chance is 10%.

# %%
centroids = np.stack([x[y == k].mean(axis=0) for k in range(10)])


def nearest_centroid(images):
    return np.argmin(((images[:, None, :] - centroids[None]) ** 2).sum(axis=-1), axis=1)


print(f"judge on real test digits: {np.mean(nearest_centroid(data.x_test) == data.y_test):.0%}")
asked = np.repeat(np.arange(10), 50)
drawn = cvae.generate(len(asked), c=asked)
agreement = np.mean(nearest_centroid(drawn) == asked)
print(f"judge agrees with the requested label: {agreement:.0%}")
assert agreement > 0.5

# %% [markdown]
# ## 5. The latent space no longer sorts the digits
#
# In a plain VAE the embeddings of different digits form separate clusters: $z$ must carry the class. Here the decoder receives the class, so the KL term pushes $z$ to forget it, and the classes overlap. (What remains in $z$ is style, as the columns above showed.)

# %%
z_test = cvae.encode(data.x_test[:2000], "mean", c=data.y_test[:2000])
plot_embeddings(z_test, data.y_test[:2000], title="CVAE posterior means: classes overlap")

# %% [markdown]
# ## Things to try
#
# * Give the model a larger latent space (`latent_dim=10`) and check that generation by label still works.
# * Swap the label of a test image before `reconstruct(x, c=...)`: the same style, another digit ("analogies").
# * Train the same architecture without labels and compare the two embedding plots.
