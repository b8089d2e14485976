# ruff: noqa: E501
# The exercise notebook and its solutions, from this one source (notebooks/README.md):
# python notebooks/build_notebooks.py writes notebooks/06_gradient_check_exercises.ipynb
# (answers replaced by `raise NotImplementedError`) and
# notebooks/solutions/06_gradient_check_solutions.ipynb (answers kept).

# %% [markdown] tags=["exercise-only"]
# # 6. Gradient-check exercises
#
# Write five backward passes yourself. Each exercise gives the forward formula and the signature;
# replace the `raise NotImplementedError(...)` in the cell marked **YOUR ANSWER** with your code,
# run the cell, then run the check below it. A check compares what your function returns with
# centred finite differences of the forward pass (derivations.md §6.4) and prints
#
# * `PASS`, or
# * `FAIL` with the worst entry: which array, which index, your value and the numerical one; when
#   your answer looks like a typical mistake of that exercise (a factor 1/2 or 2, a sign, a 1/M, a
#   transpose, a term left out...), a hint naming it; or a sentence saying what went wrong (not
#   implemented yet, an exception, a wrong shape, a syntax error).
#
# Neither a check nor a syntax error stops the notebook, so you can "Run All" and see where you
# stand. Conventions: the upstream gradient comes first (`dout` = $\partial L/\partial\,\mathrm{out}$),
# then the forward's inputs; return one gradient per input, each with the shape of that input.
# Notebook 2 shows the dense layer and the pitfalls of gradient checking; do it first.
#
# Write the gradients by hand: calling the library's own backward passes, or finite differences,
# passes the checks here but scores 0 with the grader, which also uses inputs you never see.

# %% [markdown] tags=["solution-only"]
# # 6. Gradient-check exercises: SOLUTIONS
#
# These are the answers; try the exercises in `06_gradient_check_exercises.ipynb` first.

# %% tags=["setup"]
import numpy as np  # noqa: F401 (for your answers)

from numpyvae.exercises import (
    check_bernoulli_backward,
    check_dense_backward,
    check_kl_backward,
    check_relu_backward,
    check_reparam_backward,
    report_syntax_errors,
)
from numpyvae.layers import sigmoid  # noqa: F401 (a sigmoid that never overflows)

report_syntax_errors()  # a syntax error in an answer prints a FAIL instead of stopping Run All

# %% [markdown] tags=["exercise-only"]
# ### What a failing check looks like
#
# This dense backward divides `dW` by the batch size, as if the loss were a mean over the
# batch (it is a sum here). The check prints FAIL, names the array and the entry that are wrong,
# and recognises the constant factor:


# %% tags=["exercise-only"]
def wrong_dense_backward(dout, x, W, b):
    return dout @ W.T, x.T @ dout / len(x), dout.sum(axis=0)


result = check_dense_backward(wrong_dense_backward)

# %% [markdown]
# ## Exercise 1: the dense layer (derivations.md §6.1; lecture 000)
#
# $\mathrm{out} = xW + b$ with $x$ `(N, D_in)`, $W$ `(D_in, D_out)`, $b$ `(D_out,)`.
# Given `dout` $= \partial L/\partial\,\mathrm{out}$ `(N, D_out)`, return
# $(\partial L/\partial x, \partial L/\partial W, \partial L/\partial b)$.
# Hint: each gradient has the shape of its variable; $b$ is added to every row.


# %% tags=["answer"]
def dense_backward(dout, x, W, b):
    """dout (N, D_out), x (N, D_in), W (D_in, D_out), b (D_out,) -> (dx, dW, db)."""
    ### BEGIN SOLUTION
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0)  # b reaches every row of out
    return dx, dW, db
    ### END SOLUTION


# %%
result = check_dense_backward()

# %% [markdown]
# ## Exercise 2: ReLU (derivations.md §6.2; lecture 000)
#
# $\mathrm{out} = \max(x, 0)$ element-wise. Return $\partial L/\partial x$ given `dout`.
# Use derivative 0 at $x = 0$ (the check keeps away from the kink; notebook 2 shows why).


# %% tags=["answer"]
def relu_backward(dout, x):
    """dout (N, D), x (N, D) -> dx (N, D)."""
    ### BEGIN SOLUTION
    return dout * (x > 0)
    ### END SOLUTION


# %%
result = check_relu_backward()

# %% [markdown]
# ## Exercise 3: the reparameterization (derivations.md §3.4; lecture 000)
#
# $z_j = \mu + \sigma \odot \epsilon_j$ with $\sigma = \exp(\tfrac12\log\sigma^2)$, for $M$ samples
# $j = 1..M$: `mu`, `logvar` are `(B, k)`, `eps` and `dz` $= \partial L/\partial z$ are `(M, B, k)`.
# Return $(\partial L/\partial\mu, \partial L/\partial\log\sigma^2)$, both `(B, k)`.
# Hints: $\mu$ is used by all $M$ samples; $d\sigma/d\log\sigma^2 = \sigma/2$. The $1/M$ of the
# loss's average over samples is already inside `dz`: do not apply it again.


# %% tags=["answer"]
def reparam_backward(dz, mu, logvar, eps):
    """dz (M, B, k), mu (B, k), logvar (B, k), eps (M, B, k) -> (dmu, dlogvar)."""
    ### BEGIN SOLUTION
    sigma = np.exp(0.5 * logvar)
    dmu = dz.sum(axis=0)  # every sample z_j depends on mu
    dlogvar = (dz * eps).sum(axis=0) * sigma / 2  # dz/dsigma = eps, dsigma/dlogvar = sigma/2
    return dmu, dlogvar
    ### END SOLUTION


# %%
result = check_reparam_backward()

# %% [markdown]
# ## Exercise 4: the KL to $\mathcal{N}(0, I)$ (derivations.md §4.1, §4.3; lecture 003)
#
# $\mathrm{KL}_b = \tfrac12\sum_{i=1}^k(\mu_{bi}^2 + \sigma_{bi}^2 - \log\sigma_{bi}^2 - 1)$ for each row $b$.
# Return the gradient of $\sum_b \mathrm{KL}_b$ with respect to `mu` and `logvar`, both `(B, k)`.
# Hint: write $\sigma^2 = \exp(\log\sigma^2)$ and differentiate in $\log\sigma^2$.


# %% tags=["answer"]
def kl_backward(mu, logvar):
    """mu (B, k), logvar (B, k) -> (dmu, dlogvar) of sum_b KL(q(z|x_b) || N(0, I))."""
    ### BEGIN SOLUTION
    dmu = mu.copy()
    dlogvar = 0.5 * np.expm1(logvar)  # (sigma^2 - 1) / 2, accurate near sigma^2 = 1
    return dmu, dlogvar
    ### END SOLUTION


# %%
result = check_kl_backward()

# %% [markdown]
# ## Exercise 5: the Bernoulli reconstruction loss (derivations.md §5.3; lecture 004)
#
# The decoder outputs logits $l$ `(B, d)`; $p_\theta(x|z) = \prod_i s_i^{x_i}(1-s_i)^{1-x_i}$ with
# $s = \mathrm{sigmoid}(l)$, so $-\log p_\theta(x|z) = \sum_i [\mathrm{softplus}(l_i) - x_i l_i]$.
# Return the gradient of $-\sum_b \log p_\theta(x_b|z_b)$ with respect to the logits, `(B, d)`.


# %% tags=["answer"]
def bernoulli_backward(x, logits):
    """x (B, d) in [0, 1], logits (B, d) -> dlogits (B, d) of -sum log p(x|z)."""
    ### BEGIN SOLUTION
    return sigmoid(logits) - x  # softplus'(l) = sigmoid(l)
    ### END SOLUTION


# %%
result = check_bernoulli_backward()

# %% [markdown]
# ## Summary

# %% tags=["summary"]
results = {
    "dense": check_dense_backward(verbose=False),
    "relu": check_relu_backward(verbose=False),
    "reparam": check_reparam_backward(verbose=False),
    "kl": check_kl_backward(verbose=False),
    "bernoulli": check_bernoulli_backward(verbose=False),
}
for name, result in results.items():
    print(f"{name:>10}: {'PASS' if result.passed else 'FAIL'}")
print(f"{sum(r.passed for r in results.values())} of {len(results)} exercises pass")

# %% tags=["solution-only"]
assert all(r.passed for r in results.values())

# %% [markdown] tags=["exercise-only"]
# When all five pass you have written, by hand, every gradient the VAE needs apart from the
# chain through the MLPs (derivations.md §6.3): compare with `numpyvae/layers/dense.py`,
# `numpyvae/posteriors/diagonal_gaussian.py` and `numpyvae/likelihoods/bernoulli.py`.
# This is assignment 1 of four: next, notebook 12 (layers and backprop), then 13 (the VAE) and
# 14 (beyond the basic VAE).
