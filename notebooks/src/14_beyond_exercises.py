# ruff: noqa: E501
# Assignment 4 and its solutions, from this one source (notebooks/README.md):
# python notebooks/build_notebooks.py writes notebooks/14_beyond_exercises.ipynb
# (answers replaced by `raise NotImplementedError`) and
# notebooks/solutions/14_beyond_solutions.ipynb (answers kept).

# %% [markdown] tags=["exercise-only"]
# # 14. Beyond the basic VAE: exercises
#
# Assignment 4 of the course. Four functions beyond the diagonal VAE: the full-covariance
# posterior's reparameterization through its Cholesky factor with the log-determinant of
# $\log q$, the conditional decoder's label concatenation, and the two passes the Fisher
# auto-encoder is built from, a tangent (Jacobian-vector product) pass and the dual backward through
# a dense layer and tanh. Lecture 004 covers the first two (its footnote on full covariances through a
# Cholesky factor, and the conditional ELBO) and names the Fisher auto-encoder without deriving it;
# derivations.md §4.4, §7.1, §9.2 and §12.4 derive all four. Do notebooks 6, 12 and 13 first.
#
# As before: replace each `raise NotImplementedError(...)` in a cell marked **YOUR ANSWER**, run
# it, then the check below it. The grader runs the same checks on sizes this notebook never uses.
# Use NumPy only.

# %% [markdown] tags=["solution-only"]
# # 14. Beyond the basic VAE: SOLUTIONS
#
# The answers to assignment 4; try the exercises in `14_beyond_exercises.ipynb` first.

# %% tags=["setup"]
import numpy as np  # noqa: F401 (for your answers)

from numpyvae.exercises import check, report_syntax_errors, summary

report_syntax_errors()  # a syntax error in an answer prints a FAIL instead of stopping Run All

# %% [markdown]
# ## Exercise 1: the full-covariance reparameterization (derivations.md §4.4, §7.1; lecture 004)
#
# For each data point $b$ the encoder outputs $\mu_b$ `(k,)` and a `(k, k)` array $a_b$ whose lower
# triangle makes the Cholesky factor: $L_{ac} = a_{ac}$ below the diagonal, $L_{ii} = e^{a_{ii}}$ on
# it, and the entries of $a$ above the diagonal are unused. The samples are
# $z_{bj} = \mu_b + L_b \epsilon_{bj}$. Given `dz` $= \partial L/\partial z$ and `eps` `(M, B, k)`,
# `mu` `(B, k)`, `a` `(B, k, k)` and a number `g`, return the gradient of
#
# $$\sum_{j,b} \langle \bar{z}_{bj}, z_{bj}\rangle + g \sum_b \log\det L_b$$
#
# with respect to `mu` `(B, k)` and `a` `(B, k, k)`. In estimator A's loss, $\log q_\phi(z|x) = \log p(\epsilon) - \log\det L$
# (derivations.md (7.2)) enters with the weight $1/B$, so there $g = -1/B$; (4.7) gives the rest. Hint: $\log\det L = \sum_i \log L_{ii}$.


# %% tags=["answer"]
def fullcov_backward(dz, mu, a, eps, g):
    """dz (M, B, k), mu (B, k), a (B, k, k), eps (M, B, k), g () -> (dmu (B, k), da (B, k, k))."""
    ### BEGIN SOLUTION
    k = a.shape[-1]
    diagonal = np.exp(np.diagonal(a, axis1=1, axis2=2))  # L_ii, (B, k)
    dL = np.tril(np.einsum("jba,jbc->bac", dz, eps))  # sum_j dz_j eps_j^T, lower triangle only
    da = np.tril(dL, -1)
    # dL_ii / da_ii = L_ii, and log det L = sum_i a_ii adds g to each diagonal entry
    da += (np.diagonal(dL, axis1=1, axis2=2) * diagonal + g)[:, :, None] * np.eye(k)
    return dz.sum(axis=0), da
    ### END SOLUTION


# %%
result = check("fullcov_backward")

# %% [markdown]
# ## Exercise 2: the conditional decoder (derivations.md §9.2; lecture 004)
#
# The conditional VAE concatenates the one-hot label $c$ `(N, n)` to the decoder's input:
# $\mathrm{out} = [z \mid c] W + b$ with $z$ `(N, k)`, $W$ `(k + n, D)`, $b$ `(D,)`. Given `dout`
# `(N, D)`, return $(\partial L/\partial z, \partial L/\partial W, \partial L/\partial b)$. The label
# is data (its own gradient is discarded), but the weights that multiply it are learned.


# %% tags=["answer"]
def conditional_decoder_backward(dout, z, c, W, b):
    """dout (N, D), z (N, k), c (N, n), W (k + n, D), b (D,) -> (dz, dW, db)."""
    ### BEGIN SOLUTION
    k = z.shape[1]
    dz = dout @ W[:k].T  # only the rows of W that z multiplies
    dW = np.concatenate([z, c], axis=1).T @ dout
    return dz, dW, dout.sum(axis=0)
    ### END SOLUTION


# %%
result = check("conditional_decoder_backward")

# %% [markdown]
# ## Exercise 3: a tangent pass (derivations.md §12.4; lecture 004)
#
# The Fisher auto-encoder needs the Jacobian of the network times a vector, computed forward: for
# $\mathrm{out} = \tanh(xW + b)$ with $x$ `(N, D_in)`, $W$ `(D_in, D_out)`, $b$ `(D_out,)` and an
# input direction $u$ `(N, D_in)`, return the tangent
# $\frac{d}{dt}\tanh((x + t u)W + b)\big|_{t=0}$ `(N, D_out)`, derivations.md (12.5).


# %% tags=["answer"]
def tanh_jvp(u, x, W, b):
    """u (N, D_in), x (N, D_in), W (D_in, D_out), b (D_out,) -> tangent (N, D_out)."""
    ### BEGIN SOLUTION
    out = np.tanh(x @ W + b)
    return (1.0 - out**2) * (u @ W)  # the bias does not move with t
    ### END SOLUTION


# %%
result = check("tanh_jvp")

# %% [markdown]
# ## Exercise 4: the dual backward (derivations.md §12.4; lecture 004)
#
# With $\mathrm{out} = \tanh(a)$, $a = xW + b$, and the tangent $t = \tanh'(a) \odot (uW)$ of
# exercise 3, the Fisher auto-encoder's loss reaches both: given $H = \partial L/\partial\,\mathrm{out}$
# and $T = \partial L/\partial t$ `(N, D_out)`, return the gradient of
# $\sum H \odot \mathrm{out} + \sum T \odot t$ with respect to $x$, $u$, $W$ and $b$, in that order,
# with their shapes. Derivations.md (12.6) gives the pass; $\tanh'' = -2\tanh\,(1 - \tanh^2)$.


# %% tags=["answer"]
def dual_backward(H, T, x, u, W, b):
    """H, T (N, D_out), x, u (N, D_in), W (D_in, D_out), b (D_out,) -> (dx, du, dW, db)."""
    ### BEGIN SOLUTION
    out = np.tanh(x @ W + b)
    first = 1.0 - out**2
    second = -2.0 * out * first
    A = H * first + T * second * (u @ W)  # the tangent depends on a through tanh'
    A_dot = T * first
    dW = x.T @ A + u.T @ A_dot  # W is in the primal and in the tangent
    return A @ W.T, A_dot @ W.T, dW, A.sum(axis=0)
    ### END SOLUTION


# %%
result = check("dual_backward")

# %% [markdown]
# ## Summary

# %% tags=["summary"]
results = summary("14_beyond_exercises")

# %% tags=["solution-only"]
assert all(r.passed for r in results.values())

# %% [markdown] tags=["exercise-only"]
# When all four pass, compare with `numpyvae/posteriors/full_covariance.py`, the conditional
# model in `numpyvae/vae.py`, and `numpyvae/layers/activations.py` with `numpyvae/layers/dense.py`
# (their `jvp` and `dual_backward`); notebooks 8 and 9 use them.
