# ruff: noqa: E501
# Assignment 3 and its solutions, from this one source (notebooks/README.md):
# python notebooks/build_notebooks.py writes notebooks/13_vae_exercises.ipynb
# (answers replaced by `raise NotImplementedError`) and
# notebooks/solutions/13_vae_solutions.ipynb (answers kept).

# %% [markdown] tags=["exercise-only"]
# # 13. The VAE: exercises
#
# Assignment 3 of the course. Four functions that take the parts of assignments 1 and 2 to the
# whole model: the gradient of estimator A's sampled KL, the whole VAE's backward assembled from
# its parts, one step of Adam, and the importance-weighted bound with the gradient of its log-weights.
# It follows lecture 000 (training a VAE: the encoder's gradient, the update rule) and lecture 004
# (the AEVB estimators, the change of variables, importance weighting), derived in derivations.md
# §6.3, §7.2, §9.1 and §9.3. Do notebooks 6 and 12 first.
#
# As before: replace each `raise NotImplementedError(...)` in a cell marked **YOUR ANSWER**, run
# it, then the check below it (`PASS`, or `FAIL` with the worst entry and a hint when your answer
# looks like a typical mistake). The grader runs the same checks on sizes this notebook never
# uses. Use NumPy only.

# %% [markdown] tags=["solution-only"]
# # 13. The VAE: SOLUTIONS
#
# The answers to assignment 3; try the exercises in `13_vae_exercises.ipynb` first.

# %% tags=["setup"]
import numpy as np  # noqa: F401 (for your answers)

from numpyvae.exercises import check, report_syntax_errors, summary
from numpyvae.layers import sigmoid  # noqa: F401 (a sigmoid that never overflows)

report_syntax_errors()  # a syntax error in an answer prints a FAIL instead of stopping Run All

# %% [markdown]
# ## Exercise 1: estimator A's sampled KL (derivations.md §7.2; lecture 004)
#
# Estimator A estimates the KL by sampling: with $z_{bj} = \mu_b + \sigma_b \odot \epsilon_{bj}$ and
# $\sigma = \exp(\tfrac12 \log\sigma^2)$, its KL part for a batch is
# $\sum_b \frac1M \sum_{j=1}^M \big[\log q_\phi(z_{bj}|x_b) - \log p(z_{bj})\big]$, with
# $q_\phi(z|x) = \mathcal{N}(\mu, \mathrm{diag}(\sigma^2))$ and $p(z) = \mathcal{N}(0, I)$. Given
# `mu`, `logvar` `(B, k)` and `eps` `(M, B, k)`, return its gradient with respect to `mu` and
# `logvar`, both `(B, k)`. Hint: at a reparameterized sample, the change of variables gives
# $\log q_\phi(z|x) = \log p(\epsilon) - \sum_i \log\sigma_i$ (derivations.md (7.3)): which of its
# terms depend on $\mu$?


# %% tags=["answer"]
def sampled_kl_backward(mu, logvar, eps):
    """mu (B, k), logvar (B, k), eps (M, B, k) -> (dmu, dlogvar), both (B, k)."""
    ### BEGIN SOLUTION
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps
    # -log p(z) = |z|^2 / 2 + const acts through z; log q only through -sum log sigma
    dmu = z.mean(axis=0)
    dlogvar = (z * eps).mean(axis=0) * sigma / 2 - 0.5
    return dmu, dlogvar
    ### END SOLUTION


# %%
result = check("sampled_kl_backward")

# %% [markdown]
# ## Exercise 2: the whole model's backward (derivations.md §6.3; lecture 000)
#
# A VAE with a linear encoder and a linear Bernoulli decoder: for `x` `(B, d)` (binary pixels),
# $h = x W_e + b_e$ `(B, 2k)` is split into $[\mu \mid \log\sigma^2]$ (first $k$ columns, then the
# next $k$), $z_{j} = \mu + \sigma \odot \epsilon_j$ for the $M$ samples of `eps` `(M, B, k)`, and the
# logits are $z_j W_d + b_d$ `(M, B, d)`. The loss is numpyvae's negative ELBO (estimator B):
#
# $$\mathcal{L} = \frac{1}{MB}\sum_{j,b} -\log p_\theta(x_b|z_{bj}) + \frac1B\sum_b \mathrm{KL}\big(q_\phi(z|x_b)\,\Vert\,\mathcal{N}(0, I)\big).$$
#
# Return $(\partial\mathcal{L}/\partial W_e, \partial\mathcal{L}/\partial b_e, \partial\mathcal{L}/\partial W_d, \partial\mathcal{L}/\partial b_d)$
# with the shapes of $W_e$ `(d, 2k)`, $b_e$ `(2k,)`, $W_d$ `(k, d)`, $b_d$ `(d,)`. Assemble it from
# your parts: the Bernoulli gradient (notebook 6, exercise 5) with its weight $1/(MB)$, the dense
# backward of the decoder, the reparameterization's backward, the KL's gradient with its weight
# $1/B$ joining at $(\mu, \log\sigma^2)$, and the encoder's dense backward.


# %% tags=["answer"]
def vae_backward(x, eps, We, be, Wd, bd):
    """x (B, d), eps (M, B, k), We (d, 2k), be (2k,), Wd (k, d), bd (d,) -> (dWe, dbe, dWd, dbd)."""
    ### BEGIN SOLUTION
    M, B, k = eps.shape
    h = x @ We + be
    mu, logvar = h[:, :k], h[:, k:]
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps  # (M, B, k)
    dlogits = (sigmoid(z @ Wd + bd) - x) / (M * B)  # (M, B, d)
    dWd = np.einsum("jbk,jbd->kd", z, dlogits)  # the decoder sees all M B rows
    dbd = dlogits.sum(axis=(0, 1))
    dz = dlogits @ Wd.T
    dmu = dz.sum(axis=0) + mu / B  # the KL joins once per data point: weight 1/B
    dlogvar = (dz * eps).sum(axis=0) * sigma / 2 + np.expm1(logvar) / (2 * B)
    dh = np.concatenate([dmu, dlogvar], axis=1)
    return x.T @ dh, dh.sum(axis=0), dWd, dbd
    ### END SOLUTION


# %%
result = check("vae_backward")

# %% [markdown]
# ## Exercise 3: one Adam step (derivations.md §9.3; lecture 000)
#
# Given a parameter array `param`, its gradient `grad`, the moments `m` and `v` of the previous
# step (all the same shape) and the numbers `t` (this step's number, 1 for the first), `lr`,
# `beta1`, `beta2`, `eps` (0-d arrays), return the new `(param, m, v)` of derivations.md (9.7):
#
# $$m_t = \beta_1 m + (1 - \beta_1) g, \quad v_t = \beta_2 v + (1 - \beta_2) g^2, \quad
# \theta_t = \theta - \frac{\alpha}{1 - \beta_1^t}\cdot\frac{m_t}{\sqrt{v_t}/\sqrt{1 - \beta_2^t} + \varepsilon}.$$
#
# The check draws the hyperparameters too, with `eps` near $10^{-3}$, so where it sits matters.


# %% tags=["answer"]
def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    """param, grad, m, v (P, Q); t, lr, beta1, beta2, eps () -> (new_param, new_m, new_v)."""
    ### BEGIN SOLUTION
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    step = lr / (1 - beta1**t) * m / (np.sqrt(v) / np.sqrt(1 - beta2**t) + eps)
    return param - step, m, v
    ### END SOLUTION


# %%
result = check("adam_step")

# %% [markdown]
# ## Exercise 4: the importance-weighted bound (derivations.md §9.1; lecture 004)
#
# Given the log importance weights $\ell_{bj} = \log w_{bj}$ `(B, K)` of $K$ samples per data point,
# return the bound $J_K(x_b) = \log\frac1K\sum_j e^{\ell_{bj}}$ `(B,)` and the gradient of
# $\sum_b J_K(x_b)$ with respect to `logw`, `(B, K)`: the normalised importance weights
# (derivations.md (9.4)). The check's log-weights are near $-800$, as for MNIST digits, where
# $e^{\ell}$ underflows to 0: use the form (9.3).


# %% tags=["answer"]
def iwae_bound(logw):
    """logw (B, K) -> (bound (B,), dlogw (B, K))."""
    ### BEGIN SOLUTION
    peak = logw.max(axis=1, keepdims=True)
    weights = np.exp(logw - peak)  # every exponent <= 0, the largest term is 1
    total = weights.sum(axis=1, keepdims=True)
    bound = (peak + np.log(total))[:, 0] - np.log(logw.shape[1])
    return bound, weights / total
    ### END SOLUTION


# %%
result = check("iwae_bound")

# %% [markdown]
# ## Summary

# %% tags=["summary"]
results = summary("13_vae_exercises")

# %% tags=["solution-only"]
assert all(r.passed for r in results.values())

# %% [markdown] tags=["exercise-only"]
# When all four pass, you have written a VAE's whole training step by hand. Compare with
# `numpyvae/objectives/elbo.py`, `numpyvae/vae.py`, `numpyvae/optim.py` and
# `numpyvae/objectives/iwae.py`; notebook 7 trains with the bound. Next: assignment 4, notebook 14.
