# ruff: noqa: E501

# %% [markdown]
# # 8. The conditional VAE: draw the digit you ask for
#
# A conditional VAE gives both networks the label $c$ (one-hot): the encoder models
# $q_\phi(z|x, c)$ and the decoder $p_\theta(x|z, c)$. The ELBO keeps its form, conditioned on $c$
# everywhere ([derivations.md §9.2](derivations.md#9.2-The-conditional-ELBO-(CVAE))):
#
# $$\log p_\theta(x|c) \ge \mathbb{E}_{q_\phi(z|x,c)}[\log p_\theta(x|z,c)] - \mathrm{KL}(q_\phi(z|x,c)\,\|\,\mathcal{N}(0, I)).$$
#
# Because the decoder is told *which* digit to draw, $z$ no longer has to encode it: $z$ is left
# to describe the **style** (slant, thickness, width). In numpyvae this is `VAE(..., n_classes=10)`;
# every method that takes images then takes their labels `c` as well.

# %%
import time

import numpy as np

from numpyvae import VAE, plots
from numpyvae.datasets import load_dataset
from numpyvae.gradcheck import check_gradient
from numpyvae.optim import Adam

# %% [markdown]
# ## The labels are inputs: the gradient check
#
# The encoder reads $[x, c]$ and the decoder $[z, c]$. Backpropagation into the decoder's input
# gives $\partial L/\partial [z, c]$; only the $z$ part continues into the reparameterization.
# `check_model` knows nothing of labels, so we check with `check_gradient` and a closure that passes
# them:

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
# ## Train on MNIST, with and without the labels
#
# A 2-dimensional latent space, so we can look at it. The loop is written out: one Adam step per
# minibatch of images **and their labels**. The same loop without the labels trains a plain VAE of
# the same size, for comparison.

# %%
data = load_dataset("auto", dtype=np.float32)
x, y = data.x_train[:10_000], data.y_train[:10_000]
print(data.source, x.shape)


def fit(model, labels=None, epochs=4, batch_size=100):
    optimizer = Adam(model.params, lr=2e-3)
    shuffle = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = shuffle.permutation(len(x))
        for first in range(0, len(x), batch_size):
            rows = order[first : first + batch_size]
            _, grads = model.loss_and_grads(x[rows], c=None if labels is None else labels[rows])
            optimizer.step(grads)
    test = model.evaluate(data.x_test, c=None if labels is None else data.y_test)
    print(
        f"{'conditional' if labels is not None else 'plain'}: test loss {test.loss:.1f} = "
        f"reconstruction {test.reconstruction:.1f} + KL {test.kl:.2f} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return model


cvae = fit(VAE(784, 2, (256,), n_classes=10, dtype=np.float32, seed=0), labels=y)
plain = fit(VAE(784, 2, (256,), dtype=np.float32, seed=0))

# %% [markdown]
# ## Ask for a digit
#
# `generate(n, c=label)` draws $z \sim \mathcal{N}(0, I)$ and decodes it with the label. Below, each
# **row** is one digit $c = 0, \dots, 9$ and each **column** one $z$, shared by the whole column: the
# label picks the digit, $z$ the handwriting. Read down a column: the same slant and width in every
# digit. Where a style suits a digit badly (the widest columns), the drawing blurs, and a 1 may
# come out as a loop.

# %% tags=["figure"]
z = cvae.rng.standard_normal((10, 2), dtype=cvae.dtype)  # one style per column
labels = np.repeat(np.arange(10), 10)  # one digit per row
images = cvae.decode(np.tile(z, (10, 1)), "mean", c=labels)
plots.plot_samples(images, title="Row: the label c. Column: the same z.", n_cols=10)

# %% [markdown]
# ## Do the drawn digits have the requested class?
#
# A judge that knows nothing of the VAE: the nearest class mean (centroid) of the training images,
# which labels real test digits correctly about 80% of the time. Chance is 10%.

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
# ## The latent space no longer sorts the digits
#
# In the plain VAE, as in notebook 5, the digit classes occupy regions of the latent plane,
# overlapping where digits look alike: $z$ must carry the class, since the decoder learns it from
# nowhere else. In the conditional VAE the decoder receives the class, and the KL term, which
# charges for every bit that $z$ carries, pushes $z$ to forget it: most classes share one round
# cloud. What remains in $z$ is style, and style is not independent of the class: the 1s, the
# narrowest digits, still gather at one edge of the cloud, and the 0s, the widest, at the other.
# A number for the pictures: how often the class of a test digit is that of its nearest training
# digit in $z$ (chance is 10%).

# %%
n = 2000
z_cvae = cvae.encode(data.x_test[:n], "mean", c=data.y_test[:n])
z_plain = plain.encode(data.x_test[:n], "mean")


def nearest_neighbour_accuracy(z_train, z_test):
    distances = ((z_test[:, None, :] - z_train[None]) ** 2).sum(axis=-1)
    return np.mean(y[np.argmin(distances, axis=1)] == data.y_test[:n])


accuracy = {
    "plain VAE": nearest_neighbour_accuracy(plain.encode(x[:n], "mean"), z_plain),
    "conditional VAE": nearest_neighbour_accuracy(cvae.encode(x[:n], "mean", c=y[:n]), z_cvae),
}
for name, value in accuracy.items():
    print(f"{name:>16}: the class from z by 1-NN, {value:.0%} of test digits")
assert accuracy["plain VAE"] > accuracy["conditional VAE"] + 0.1

# %% tags=["figure"]
plots.plot_embeddings(
    z_plain, data.y_test[:n], title="Plain VAE posterior means: classes in regions"
)

# %% tags=["figure"]
plots.plot_embeddings(z_cvae, data.y_test[:n], title="CVAE posterior means: classes overlap")

# %% [markdown]
# ## Things to try
#
# * Give the model a larger latent space (`latent_dim=10`) and check that generation by label still
#   works.
# * Swap the label of a test image before `reconstruct(x, c=...)`: the same style, another digit
#   ("analogies").
