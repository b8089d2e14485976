# ruff: noqa: E501

# %% [markdown]
# # 2. Layers and backpropagation
#
# numpyvae writes every gradient by hand. This notebook takes one dense layer apart (forward and
# backward, [derivations.md §6.1](derivations.md#6.1-The-dense-layer)), looks at the activations (§6.2), and then at the tool that keeps
# hand-written gradients honest: **gradient checking by finite differences** (§6.4), including three
# ways it can mislead you, shown rather than told.
#
# The convention of every layer: `forward(x)` caches what it needs; `backward(dout)` receives
# $\partial L/\partial\,\mathrm{out}$ and returns $\partial L/\partial x$, and *overwrites* the
# gradients of its parameters.

# %%
import matplotlib.pyplot as plt
import numpy as np

from numpyvae.gradcheck import check_layer, numerical_vjp
from numpyvae.layers import MLP, Dense, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh

rng = np.random.default_rng(0)

# %% [markdown]
# ## The dense layer (derivations.md §6.1)
#
# $\mathrm{out} = xW + b$ with $x \in \mathbb{R}^{N \times D_{in}}$, $W \in \mathbb{R}^{D_{in} \times D_{out}}$,
# $b \in \mathbb{R}^{D_{out}}$. For any scalar loss $L$ and $\delta = \partial L/\partial\,\mathrm{out}$:
#
# $$\frac{\partial L}{\partial x} = \delta W^\top, \qquad \frac{\partial L}{\partial W} = x^\top \delta, \qquad
#   \frac{\partial L}{\partial b} = \sum_{n=1}^N \delta_{n,:}.$$
#
# Each gradient has the shape of its variable; that alone almost fixes the formulas.

# %%
layer = Dense(3, 2, rng=rng)  # W (3, 2), b (2,)
W, b = layer.params["W"], layer.params["b"]
x = rng.normal(size=(4, 3))  # a batch of N = 4 inputs
out = layer.forward(x)
assert np.allclose(out, x @ W + b)

dout = rng.normal(size=out.shape)  # dL/d(out), handed down from above
dx = layer.backward(dout)
dW, db = layer.grads["W"], layer.grads["b"]
assert np.allclose(dx, dout @ W.T)
assert np.allclose(dW, x.T @ dout)
assert np.allclose(db, dout.sum(axis=0))
print(f"x {x.shape} -> dx {dx.shape};  W {W.shape} -> dW {dW.shape};  b {b.shape} -> db {db.shape}")

# %% [markdown]
# Is $x^\top\delta$ right? Take $L = \sum \delta \odot \mathrm{out}$, so that $\partial L/\partial\,\mathrm{out} = \delta$,
# nudge one weight by $\pm h$ and watch $L$ move. The centred difference
# $(L(W_{01} + h) - L(W_{01} - h))/2h$ should equal the backward's $\partial L/\partial W_{01}$:


# %%
def loss():
    return np.sum(dout * layer.forward(x))


h = 1e-6
saved = W[0, 1]
W[0, 1] = saved + h
loss_plus = loss()
W[0, 1] = saved - h
loss_minus = loss()
W[0, 1] = saved  # restore exactly
print(f"finite difference  {(loss_plus - loss_minus) / (2 * h):.10f}")
print(f"backward           {dW[0, 1]:.10f}")

# %% [markdown]
# ## Activations (derivations.md §6.2)
#
# An activation acts element-wise, so its backward multiplies `dout` by its derivative. With
# `dout = 1` the backward *is* the derivative; the dots are numerical slopes of the forward curve.

# %% tags=["figure"]
grid = np.linspace(-4, 4, 801).reshape(-1, 1)
activations = [ReLU(), LeakyReLU(0.1), Tanh(), Sigmoid(), Softplus()]
fig, axes = plt.subplots(1, len(activations), figsize=(16, 3), sharex=True)
for ax, act in zip(axes, activations, strict=True):
    y = act.forward(grid)
    derivative = act.backward(np.ones_like(grid))
    slope = np.gradient(y[:, 0], grid[:, 0])
    ax.plot(grid, y, label="forward")
    ax.plot(grid, derivative, label="backward, dout = 1")
    ax.plot(grid[::40], slope[::40], "k.", ms=4, label="numerical slope")
    ax.set_title(repr(act))
    ax.set_xlabel("x")
axes[0].set_ylabel("f(x) and its derivative f'(x)")
axes[0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Gradient checking (derivations.md §6.4)
#
# `gradcheck.check_layer(layer, x)` does the nudge above for *every* entry of $x$ and of every
# parameter, with $L = \sum \delta \odot \mathrm{layer}(x)$ for a random $\delta$, and reports the
# largest relative error per array. In float64 a correct backward gives errors around
# $10^{-10}$; the tolerance is $10^{-6}$.

# %%
x = rng.normal(size=(5, 4))
layers = {
    "Dense(4, 3)": Dense(4, 3, rng=rng),
    "Tanh": Tanh(),
    "Sigmoid": Sigmoid(),
    "Softplus": Softplus(),
    "MLP 4 -> 8 -> 3 (tanh)": MLP([4, 8, 3], activation="tanh", rng=rng),
}
for name, layer in layers.items():
    report = check_layer(layer, x)
    print(f"{name:>24}: {str(report).splitlines()[0]}")
    assert report.passed
print()
print(check_layer(layers["Dense(4, 3)"], x))  # the full report: one line per array

# %% [markdown]
# ## Pitfall 1: float32
#
# The same check on the same layer in float32 fails, although the backward is the same code.
# Nudging by $h = 10^{-6}$ changes $L$ by about $10^{-6}$, while float32 rounds $L$ to about
# $10^{-7}$ of its size: the difference is mostly rounding noise. Check gradients in float64;
# train in float32 if you like.

# %%
x64 = rng.normal(size=(5, 4))
report64 = check_layer(Dense(4, 3, rng=np.random.default_rng(1)), x64)
report32 = check_layer(
    Dense(4, 3, rng=np.random.default_rng(1), dtype=np.float32), x64.astype(np.float32)
)
print("float64:", report64, sep="\n")
print("\nfloat32:", report32, sep="\n")
assert report64.passed and not report32.passed

# %% [markdown]
# ## Pitfall 2: the step size $h$
#
# The centred difference has two errors ([derivations.md §6.4](derivations.md#6.4-Checking-gradients-by-finite-differences)): **truncation**, from the curvature
# of $L$, which shrinks like $h^2$; and **rounding**, about $\varepsilon_{\text{machine}} |L| / h$,
# which grows as $h$ shrinks. Their sum is a V on a log-log plot. In float64
# ($\varepsilon \approx 2\cdot10^{-16}$) the bottom is near $h \approx 10^{-5}$, and the whole
# decade around it, $10^{-6}$ (numpyvae's default step) included, stays far below the tolerance;
# in float32 ($\varepsilon \approx 10^{-7}$) the bottom is near $10^{-2}$ and never reaches the
# $10^{-6}$ tolerance.

# %% tags=["figure"]
steps = np.logspace(-13, -0.5, 26)
x = np.random.default_rng(2).normal(size=(3, 4))
errors = {}
for dtype in (np.float64, np.float32):
    mlp = MLP([4, 5, 2], activation="tanh", rng=np.random.default_rng(3), dtype=dtype)
    errors[dtype] = np.array(
        [check_layer(mlp, x.astype(dtype), h=float(h)).max_error for h in steps]
    )

fig, ax = plt.subplots(figsize=(6.5, 4.5))
for dtype, err in errors.items():
    ax.loglog(steps, err, "o-", label=np.dtype(dtype).name)
ax.loglog(steps, 0.3 * steps**2, "k--", lw=1, label="truncation ~ h^2")
ax.loglog(steps, 2e-16 / steps, "k:", lw=1, label="rounding ~ eps_64 / h")
ax.axhline(1e-6, color="grey", lw=0.8)
ax.text(steps[0], 1.5e-6, "tolerance 1e-6", color="grey", fontsize=8)
ax.set(
    xlabel="step h",
    ylabel="largest relative error",
    ylim=(1e-12, 10),
    title="centred differences on a tanh MLP",
)
ax.legend(fontsize=8)
plt.show()

best64 = steps[np.argmin(errors[np.float64])]
print(f"float64: best h = {best64:.1e}, error {errors[np.float64].min():.1e}")
print(
    f"float32: best h = {steps[np.argmin(errors[np.float32])]:.1e}, "
    f"error {errors[np.float32].min():.1e}"
)
error_at_default = errors[np.float64][np.argmin(np.abs(np.log(steps / 1e-6)))]
print(f"float64 at h = 1e-6 (the default): error {error_at_default:.1e}")
assert 1e-6 <= best64 <= 1e-4
assert error_at_default < 1e-2 * 1e-6  # a hundred times below the tolerance
assert errors[np.float64][0] > 100 * errors[np.float64].min()  # rounding arm of the V
assert errors[np.float64][-1] > 100 * errors[np.float64].min()  # truncation arm of the V
assert errors[np.float32].min() > 1e-6  # no step size rescues float32

# %% [markdown]
# ## Pitfall 3: the ReLU kink
#
# $\max(x, 0)$ has no derivative at 0; the backward uses the convention 0. A centred difference at
# $x = 0$ sees $(h - 0)/2h = \tfrac12$, and at $0 < x < h$ it straddles the kink and sees a value
# between $\tfrac12$ and 1. The check then reports an error although the backward is right
# everywhere it is defined.

# %%
relu = ReLU()
x = np.array([[-1.0, 0.0, 1e-7, 0.5]])
dout = np.ones_like(x)
relu.forward(x)
analytic = relu.backward(dout)
numeric = numerical_vjp(lambda: relu.forward(x), x, dout)
for xi, a, n in zip(x[0], analytic[0], numeric[0], strict=True):
    print(f"x = {xi:>6g}: backward {a:.3f}, finite difference {n:.3f}")
report = check_layer(relu, x, dout=dout)
print(report)
assert not report.passed

# %% [markdown]
# Inside a network the kink hides in a pre-activation. Below, the bias of the first hidden unit is
# set so that its pre-activation for the first input is exactly 0: the check of an otherwise
# correct ReLU MLP fails on the weights that feed that unit. Moving the bias away from the kink
# by 0.1 makes it pass. With random float64 inputs a pre-activation within $h$ of 0 is rare, but
# with exact zeros in the data (blank MNIST pixels) and zero-initialised biases it happens; check
# with smooth activations or random inputs, and distrust a single failing entry next to a kink.

# %%
mlp = MLP([3, 4, 2], activation="relu", rng=np.random.default_rng(4))
x = np.random.default_rng(5).normal(size=(2, 3))
W0, b0 = mlp.params["0.W"], mlp.params["0.b"]
b0[0] = -(x[0] @ W0[:, 0])  # hidden unit 0 of input 0 sits exactly on the kink
at_kink = check_layer(mlp, x)
print("at the kink:\n", at_kink, sep="")
b0[0] += 0.1
away = check_layer(mlp, x)
print("\n0.1 away from it:\n", away, sep="")
assert not at_kink.passed and away.passed

# %% [markdown]
# ## What to remember
#
# * A gradient has the shape of its variable; $\partial L/\partial W = x^\top\delta$ sums over the batch.
# * Check in **float64**, with a step near the bottom of the V ($10^{-6}$ to $10^{-5}$ here) and a
#   relative error ([derivations.md §6.4](derivations.md#6.4-Checking-gradients-by-finite-differences)).
# * A failure right at a kink (ReLU at 0) can be the check's fault, not the backward's.
#
# Notebook 6 asks you to write these backward passes yourself and checks them the same way.
