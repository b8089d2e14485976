# ruff: noqa: E501
# Assignment 2 and its solutions, from this one source (notebooks/README.md):
# python notebooks/build_notebooks.py writes notebooks/12_layers_and_backprop_exercises.ipynb
# (answers replaced by `raise NotImplementedError`) and
# notebooks/solutions/12_layers_and_backprop_solutions.ipynb (answers kept).

# %% [markdown] tags=["exercise-only"]
# # 12. Layers and backprop: exercises
#
# Assignment 2 of the course (assignment 1 is notebook 6). Nine functions: the backward passes of
# four more activations, the chain rule through a small MLP, the two Gaussian likelihoods of the
# decoder, and the gradient checker's own two tools, the relative error and the centred
# difference. It follows lecture 000 (training a VAE by gradients derived by hand through its
# networks, and its Gaussian decoder with identity covariance; the relative error and the centred
# difference are how such gradients are checked) and lecture 004 (the Gaussian likelihood in
# general), derived in derivations.md §5.1, §5.2, §6.2, §6.3 and §6.4.
#
# As in notebook 6: replace the `raise NotImplementedError(...)` in each cell marked **YOUR ANSWER**,
# run it, then run the check below it. `check("tanh_backward")` judges the function of that name
# defined in this notebook on inputs drawn for it, prints `PASS`, or `FAIL` with the worst entry and,
# when your answer looks like a typical mistake (a sign, a factor, the input where the output
# belongs...), a hint naming it. The grader runs the same checks on sizes this notebook never uses.
# Conventions: the upstream gradient comes first (`dout` $= \partial L/\partial\,\mathrm{out}$),
# then the forward's inputs; each gradient has the shape of its variable. Use NumPy only (the
# library's own backward passes and finite differences score 0 with the grader).

# %% [markdown] tags=["solution-only"]
# # 12. Layers and backprop: SOLUTIONS
#
# The answers to assignment 2; try the exercises in `12_layers_and_backprop_exercises.ipynb` first.

# %% tags=["setup"]
import numpy as np

from numpyvae.exercises import check, report_syntax_errors, summary
from numpyvae.layers import sigmoid  # noqa: F401 (a sigmoid that never overflows)

report_syntax_errors()  # a syntax error in an answer prints a FAIL instead of stopping Run All

# %% [markdown]
# ## Exercise 1: tanh (derivations.md §6.2; lecture 000)
#
# $\mathrm{out} = \tanh(x)$ element-wise, `x` and `dout` `(N, D)`. Return
# $\partial L/\partial x$ `(N, D)`. Hint: $\tanh' = 1 - \tanh^2$; which array is squared?


# %% tags=["answer"]
def tanh_backward(dout, x):
    """dout (N, D), x (N, D) -> dx (N, D)."""
    ### BEGIN SOLUTION
    out = np.tanh(x)
    return dout * (1.0 - out**2)
    ### END SOLUTION


# %%
result = check("tanh_backward")

# %% [markdown]
# ## Exercise 2: the sigmoid (derivations.md §6.2; lecture 000)
#
# $\mathrm{out} = s = 1/(1 + e^{-x})$ element-wise. Return $\partial L/\partial x$ `(N, D)`, using
# $s' = s(1 - s)$. The `sigmoid` imported above never overflows.


# %% tags=["answer"]
def sigmoid_backward(dout, x):
    """dout (N, D), x (N, D) -> dx (N, D)."""
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return dout * s * (1.0 - s)
    ### END SOLUTION


# %%
result = check("sigmoid_backward")

# %% [markdown]
# ## Exercise 3: softplus (derivations.md §6.2, §5.3; lecture 000)
#
# $\mathrm{out} = \log(1 + e^{x})$ element-wise, the function inside the Bernoulli likelihood
# (§5.3). Return $\partial L/\partial x$ `(N, D)`.


# %% tags=["answer"]
def softplus_backward(dout, x):
    """dout (N, D), x (N, D) -> dx (N, D)."""
    ### BEGIN SOLUTION
    return dout * sigmoid(x)  # d/dx log(1 + e^x) = e^x / (1 + e^x)
    ### END SOLUTION


# %%
result = check("softplus_backward")

# %% [markdown]
# ## Exercise 4: the leaky ReLU (derivations.md §6.2; lecture 000)
#
# $\mathrm{out} = x$ where $x > 0$ and $\alpha x$ elsewhere; `alpha` is a 0-d array (a number).
# Return $\partial L/\partial x$ `(N, D)`. The check keeps $x$ away from the kink at 0.


# %% tags=["answer"]
def leaky_relu_backward(dout, x, alpha):
    """dout (N, D), x (N, D), alpha () -> dx (N, D)."""
    ### BEGIN SOLUTION
    return dout * np.where(x > 0, 1.0, alpha)
    ### END SOLUTION


# %%
result = check("leaky_relu_backward")

# %% [markdown]
# ## Exercise 5: the chain rule through an MLP (derivations.md §6.3; lecture 000)
#
# $\mathrm{out} = \tanh(x W_1 + b_1) W_2 + b_2$ with $x$ `(N, D_in)`, $W_1$ `(D_in, H)`, $b_1$ `(H,)`,
# $W_2$ `(H, D_out)`, $b_2$ `(D_out,)`. Given `dout` `(N, D_out)`, return
# $(\partial L/\partial x, \partial L/\partial W_1, \partial L/\partial b_1, \partial L/\partial W_2, \partial L/\partial b_2)$.
# Run the forward, keep what the backward needs ($h = \tanh(a)$, $a = x W_1 + b_1$), then apply the
# dense layer's backward (notebook 6, exercise 1), tanh's (exercise 1 above) and the dense layer's
# again, in reverse order.


# %% tags=["answer"]
def mlp_backward(dout, x, W1, b1, W2, b2):
    """dout (N, D_out), x (N, D_in), W1 (D_in, H), b1 (H,), W2 (H, D_out), b2 (D_out,)
    -> (dx, dW1, db1, dW2, db2)."""
    ### BEGIN SOLUTION
    h = np.tanh(x @ W1 + b1)
    dW2, db2 = h.T @ dout, dout.sum(axis=0)
    da = (dout @ W2.T) * (1.0 - h**2)  # through tanh: its slope at the hidden layer
    dx, dW1, db1 = da @ W1.T, x.T @ da, da.sum(axis=0)
    return dx, dW1, db1, dW2, db2
    ### END SOLUTION


# %%
result = check("mlp_backward")

# %% [markdown]
# ## Exercise 6: the Gaussian likelihood, identity covariance (derivations.md §5.1; lecture 000)
#
# Lecture 000's decoder: $p_\theta(x|z) = \mathcal{N}(x; \hat{x}, I_d)$, so
# $-\log p_\theta(x|z) = \tfrac{d}{2}\log 2\pi + \tfrac12\lVert x - \hat{x}\rVert^2$. With `x` and
# `xhat` `(B, d)`, return the gradient of $-\sum_b \log p_\theta(x_b|z_b)$ with respect to `xhat`,
# `(B, d)`.


# %% tags=["answer"]
def gaussian_backward(x, xhat):
    """x (B, d), xhat (B, d) -> dxhat (B, d) of -sum_b log N(x_b; xhat_b, I)."""
    ### BEGIN SOLUTION
    return xhat - x
    ### END SOLUTION


# %%
result = check("gaussian_backward")

# %% [markdown]
# ## Exercise 7: the Gaussian likelihood with a learned variance (derivations.md §5.2; lecture 004)
#
# Now every pixel has the variance $e^{v}$, with one log-variance $v$ shared by all pixels and all
# rows (a parameter of its own; `v` is a 0-d array):
# $-\log p = \tfrac12\sum_i \big(\log 2\pi + v + (x_i - \hat{x}_i)^2 e^{-v}\big)$. Return the
# gradient of $-\sum_b \log p_\theta(x_b|z_b)$ with respect to `xhat` `(B, d)` and to `v` (a
# number, shape `()`).


# %% tags=["answer"]
def gaussian_learned_backward(x, xhat, v):
    """x (B, d), xhat (B, d), v () -> (dxhat (B, d), dv ())."""
    ### BEGIN SOLUTION
    r = x - xhat
    dxhat = -r * np.exp(-v)
    dv = 0.5 * np.sum(1.0 - r**2 * np.exp(-v))  # v enters every pixel of every row
    return dxhat, dv
    ### END SOLUTION


# %%
result = check("gaussian_learned_backward")

# %% [markdown]
# ## Exercise 8: the relative error (derivations.md §6.4; lecture 000)
#
# The gradient checker compares two arrays by CS231n's element-wise relative error
# $\max_i \lvert a_i - b_i\rvert / \max(\lvert a_i\rvert + \lvert b_i\rvert, 10^{-8})$. Write it:
# `a` and `b` have the same shape; return one number. Some entries of the check's arrays are
# both near $10^{-12}$: the floor $10^{-8}$ is what keeps them from dominating.


# %% tags=["answer"]
def rel_error(a, b):
    """a, b (N, D) -> max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-8), a number."""
    ### BEGIN SOLUTION
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))
    ### END SOLUTION


# %%
result = check("rel_error")

# %% [markdown]
# ## Exercise 9: the centred difference (derivations.md §6.4; lecture 000)
#
# The function below is $f(x) = \sum_p c_p \tanh((Ax)_p)$ with $x$ `(D,)`, $A$ `(P, D)`, $c$ `(P,)`.
# Return its centred differences $\big(f(x + h e_i) - f(x - h e_i)\big)/(2h)$ for
# $i = 1..D$, a `(D,)` array; `h` is a 0-d array near 0.1, large on purpose, so that the one-sided
# difference and the exact gradient both differ from the centred one (derivations.md (6.6)). Do not
# change the input `x` your function is given in place (work on a copy).


# %%
def wavy(x, A, c):
    """f(x) = sum_p c_p tanh((A x)_p): x (D,), A (P, D), c (P,) -> a float."""
    return float(np.sum(c * np.tanh(A @ x)))


# %% tags=["answer"]
def centred_difference(x, A, c, h):
    """x (D,), A (P, D), c (P,), h () -> grad (D,), the centred differences of wavy at x."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (wavy(x + step, A, c) - wavy(x - step, A, c)) / (2 * h)
    return grad
    ### END SOLUTION


# %%
result = check("centred_difference")

# %% [markdown]
# ## Summary

# %% tags=["summary"]
results = summary("12_layers_and_backprop_exercises")

# %% tags=["solution-only"]
assert all(r.passed for r in results.values())

# %% [markdown] tags=["exercise-only"]
# When all nine pass, compare your answers with `numpyvae/layers/activations.py`,
# `numpyvae/layers/mlp.py`, `numpyvae/likelihoods/gaussian.py`,
# `numpyvae/likelihoods/gaussian_learned.py` and `numpyvae/gradcheck.py`. Next: assignment 3,
# notebook 13, assembles the whole VAE's gradient from these parts.
