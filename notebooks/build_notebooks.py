"""Build the course notebooks 01-06 (and the solutions of 06) from this one file.

    python notebooks/build_notebooks.py           # write the .ipynb files, outputs cleared
    python notebooks/build_notebooks.py --check   # exit 1 if a committed notebook differs

Notebooks are stored without outputs and with null execution counts, so a diff shows the
change in the lesson, not in a plot's bytes. Cell ids are fixed ("cell-00", ...) for the same
reason. Notebooks 07 and 08 are written by hand and are not built here.

The exercise notebook (06) and its solutions are built from the same list of exercises: the
exercise gets a `raise NotImplementedError` in each marked cell, the solutions notebook (in
notebooks/solutions/, apart, so that a student does not read it by accident) gets the answer.
Answer cells carry the tag "solution" (or "exercise"), the import cell the tag "setup", so
tests/test_exercises.py can run the answers without a kernel.
"""

# The markdown cells hold long LaTeX lines that read better unwrapped.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------- cell helpers


def md(text: str) -> dict:
    return {"cell_type": "markdown", "source": textwrap.dedent(text).strip()}


def code(text: str, tags: tuple[str, ...] = ()) -> dict:
    return {"cell_type": "code", "source": textwrap.dedent(text).strip(), "tags": list(tags)}


def make_notebook(cells: list[dict]) -> nbformat.NotebookNode:
    """A v4.5 notebook with fixed cell ids, no outputs and null execution counts."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            node = nbformat.v4.new_markdown_cell(cell["source"])
        else:
            node = nbformat.v4.new_code_cell(cell["source"])
            if cell["tags"]:
                node.metadata["tags"] = cell["tags"]
        node.id = f"cell-{i:02d}"
        nb.cells.append(node)
    nbformat.validate(nb)
    return nb


# ============================================================================ 01 reparameterization

NB01 = [
    md(r"""
    # 1. The reparameterization trick

    A VAE needs the gradient of an expectation whose distribution depends on the parameters:
    $\nabla_\phi \mathbb{E}_{q_\phi(z|x)}[f(z)]$. The lectures give two unbiased estimators of it
    (lecture notes 004, §1.1; derivations.md §3):

    * the **score-function** (log-derivative) estimator
      $\mathbb{E}_{q_\phi}[f(z)\,\nabla_\phi \log q_\phi(z)]$ (derivations.md §3.2), and
    * the **reparameterization** estimator: write $z = g_\phi(\epsilon)$ with $\epsilon \sim p(\epsilon)$
      free of $\phi$, then $\nabla_\phi \mathbb{E}_{p(\epsilon)}[f(g_\phi(\epsilon))]
      = \mathbb{E}_{p(\epsilon)}[\nabla_\phi f(g_\phi(\epsilon))]$ (derivations.md §3.1, Leibniz rule).

    Both are right on average. This notebook measures how far apart they are in **variance**, first on
    the lecture's toy problem, then for the Gaussian $z = \mu + \sigma \odot \epsilon$ that every VAE uses.
    """),
    code("""
    import matplotlib.pyplot as plt
    import numpy as np

    from numpyvae import reparam_toy
    from numpyvae.gradcheck import check_gradient
    from numpyvae.posteriors import DiagonalGaussian

    rng = np.random.default_rng(0)
    """),
    md(r"""
    ## The toy problem (derivations.md §3.3)

    Minimise $\mathbb{E}_{x \sim \mathcal{N}(\phi, 1)}[x^2] = \phi^2 + 1$. The true gradient is $2\phi$.
    With $x = \phi + \epsilon$, $\epsilon \sim \mathcal{N}(0, 1)$, one sample gives

    | estimator | single-sample estimate | its variance (derivations.md §3.3) |
    | --- | --- | --- |
    | score function | $x^2 (x - \phi)$ | $\phi^4 + 14\phi^2 + 15$ |
    | reparameterization | $2x = 2(\phi + \epsilon)$ | $4$ |

    and the average of $N$ independent estimates has $1/N$ of that variance. First a look at single
    estimates at $\phi = 1$ (true gradient 2): both histograms are centred on 2, one is far wider.
    """),
    code("""
    phi = 1.0
    sf = reparam_toy.score_function_gradients(phi, 100_000, rng)
    rp = reparam_toy.reparameterization_gradients(phi, 100_000, rng)

    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(-15, 20, 141)
    ax.hist(sf, bins=bins, density=True, alpha=0.6, label=f"score function, var {sf.var():.1f}")
    ax.hist(rp, bins=bins, density=True, alpha=0.6, label=f"reparameterization, var {rp.var():.2f}")
    ax.axvline(reparam_toy.exact_gradient(phi), color="k", ls="--", label="true gradient 2 phi")
    ax.set(xlabel="single-sample estimate of d/dphi E[x^2]", ylabel="density", yscale="log")
    ax.legend()
    plt.show()

    print(f"means: score function {sf.mean():.3f}, reparameterization {rp.mean():.3f} (true 2)")
    print(
        f"exact variances: {reparam_toy.exact_variance_score_function(phi):.0f} and "
        f"{reparam_toy.exact_variance_reparameterization(phi):.0f}"
    )
    """),
    md(r"""
    ## Variance against the number of samples $N$

    For $N = 10, 100, \dots, 100\,000$ we repeat the $N$-sample average $R$ times and take the sample
    variance of the $R$ averages (`reparam_toy.estimator_variances`). The exact curves are
    $\mathrm{Var}/N$ from derivations.md §3.3: straight lines of slope $-1$ on a log-log plot, a
    constant factor $(\phi^4 + 14\phi^2 + 15)/4$ apart.

    **Tolerance.** A sample variance over $R$ repeats has its own standard error: for averages with
    variance $V = \mathrm{Var}\,g/N$ and fourth central moment
    $\mu_4(\bar g) = \mu_4(g)/N^3 + 3(N-1)\,\mathrm{Var}(g)^2/N^3$,
    $\mathrm{Var}(s^2) = \mu_4(\bar g)/R - V^2 (R-3)/(R(R-1))$ (`reparam_toy.variance_of_sample_variance`).
    We assert that every measured variance lies within **4 standard errors** of the exact one
    (about ±20 % relative for $R = 1000$).
    """),
    code("""
    sample_sizes = [10, 100, 1_000, 10_000, 100_000]
    R = 1_000
    measured = reparam_toy.estimator_variances(phi, sample_sizes, R, rng)
    N = measured.sample_sizes.astype(float)

    curves = {
        "score function": (
            measured.score_function,
            reparam_toy.exact_variance_score_function(phi),
            reparam_toy.exact_fourth_central_moment_score_function(phi),
        ),
        "reparameterization": (
            measured.reparameterization,
            reparam_toy.exact_variance_reparameterization(phi),
            reparam_toy.exact_fourth_central_moment_reparameterization(phi),
        ),
    }
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (name, (var_measured, var_one, mu4_one)), color in zip(
        curves.items(), ["C0", "C1"], strict=True
    ):
        exact = var_one / N  # variance of the N-sample average
        mu4_mean = mu4_one / N**3 + 3 * (N - 1) * var_one**2 / N**3
        stderr = np.sqrt(reparam_toy.variance_of_sample_variance(exact, mu4_mean, R))
        ax.loglog(N, exact, "-", color=color, label=f"{name}: exact Var/N")
        ax.errorbar(
            N,
            var_measured,
            yerr=4 * stderr,
            fmt="o",
            color=color,
            capsize=3,
            label=f"{name}: measured (R = {R}), bars = 4 s.e.",
        )
        z_scores = (var_measured - exact) / stderr
        print(
            f"{name:>18}: measured/exact =",
            np.round(var_measured / exact, 3),
            " z =",
            np.round(z_scores, 2),
        )
        assert np.all(np.abs(z_scores) < 4), f"{name}: measured variance off by > 4 s.e."
    ax.set(
        xlabel="number of samples N",
        ylabel="variance of the gradient estimate",
        title=f"E over N(phi, 1) of x^2, phi = {phi}",
    )
    ax.legend(fontsize=8)
    plt.show()
    """),
    md(r"""
    The reparameterization estimator is about $30/4 \approx 7.5$ times less variable at $\phi = 1$,
    and the gap grows like $\phi^4$ away from the optimum (next cell): the score-function estimator
    multiplies $f$ by a random sign-changing weight $x - \phi$; the reparameterization estimator uses the
    derivative of $f$, which it can only do because $f$ is differentiable.
    """),
    code("""
    phis = np.linspace(-3, 3, 121)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(phis, reparam_toy.exact_variance_score_function(phis), label="score function")
    ax.semilogy(phis, reparam_toy.exact_variance_reparameterization(phis), label="reparameterization")
    ax.set(xlabel="phi", ylabel="variance of one estimate", title="derivations.md §3.3")
    ax.legend()
    plt.show()
    """),
    md(r"""
    ## The Gaussian case: $z = \mu + \sigma \odot \epsilon$ (derivations.md §3.4)

    The encoder outputs $h = [\mu \mid \log\sigma^2] \in \mathbb{R}^{2k}$ and
    `DiagonalGaussian.sample` draws $z_j = \mu + \sigma \odot \epsilon_j$, $\sigma = \exp(\tfrac12 \log \sigma^2)$,
    for $M$ noise vectors $\epsilon_j \sim \mathcal{N}(0, I)$. Its backward takes $\partial L/\partial z$
    and returns

    $$\frac{\partial L}{\partial \mu} = \sum_{j=1}^M \frac{\partial L}{\partial z_j}, \qquad
      \frac{\partial L}{\partial \log\sigma^2} = \sum_{j=1}^M \frac{\partial L}{\partial z_j} \odot \epsilon_j \odot \frac{\sigma}{2}.$$

    With $\epsilon$ held fixed, $z$ is an ordinary differentiable function of $h$, so finite differences
    can check this backward:
    """),
    code("""
    k, B, M = 3, 4, 5
    q = DiagonalGaussian(k)
    h = rng.normal(size=(B, 2 * k))  # [mu | log sigma^2] for B data points
    eps = q.draw_eps(rng, M, B, np.float64)  # (M, B, k), fixed during the check
    dz = rng.normal(size=(M, B, k))  # some upstream gradient dL/dz

    z = q.sample(h, eps)
    dh = q.sample_backward(dz)
    report = check_gradient(lambda: np.sum(dz * q.sample(h, eps)), {"h": h}, {"h": dh})
    print(report)
    assert report.passed
    """),
    md(r"""
    Now the gradient of an expectation. Take $f(z) = \lVert z \rVert^2$: then
    $\mathbb{E}_q[f] = \sum_i (\mu_i^2 + \sigma_i^2)$, whose exact gradient is
    $\partial/\partial\mu = 2\mu$ and $\partial/\partial \log\sigma^2 = \sigma^2$.
    The reparameterization estimate averages $\nabla_h f(\mu + \sigma\odot\epsilon_j)$ over $M$ samples:
    `sample_backward` with $\partial L/\partial z_j = 2 z_j / M$. The score-function estimate of the same
    gradient uses $\nabla_\mu \log q = (z-\mu)/\sigma^2$ and
    $\nabla_{\log\sigma^2} \log q = \tfrac12((z-\mu)^2/\sigma^2 - 1)$ (from `log_prob`, derivations.md §7.1).
    Both converge to the exact gradient; the reparameterization estimate does so with far less noise.
    """),
    code("""
    k = 2
    q = DiagonalGaussian(k)
    h = np.array([[1.0, -0.5, np.log(0.5), np.log(2.0)]])  # mu = (1, -0.5), sigma^2 = (0.5, 2)
    mu, logvar = q.split(h)
    exact = np.concatenate([2 * mu, np.exp(logvar)], axis=1)[0]


    def reparameterization_estimate(M):
        eps = q.draw_eps(rng, M, 1, np.float64)
        z = q.sample(h, eps)
        return q.sample_backward(2 * z / M)[0]  # d/dh of (1/M) sum_j ||z_j||^2


    def score_function_estimate(M):
        eps = q.draw_eps(rng, M, 1, np.float64)
        z = q.sample(h, eps)[:, 0]  # (M, k)
        f = np.sum(z**2, axis=1, keepdims=True)
        sigma2 = np.exp(logvar)
        score = np.concatenate([(z - mu) / sigma2, 0.5 * ((z - mu) ** 2 / sigma2 - 1)], axis=1)
        return np.mean(f * score, axis=0)


    Ms = [1, 10, 100, 1000]
    repeats = 300
    spread = {"reparameterization": [], "score function": []}
    for M in Ms:
        rp = np.array([reparameterization_estimate(M) for _ in range(repeats)])
        sf = np.array([score_function_estimate(M) for _ in range(repeats)])
        spread["reparameterization"].append(rp.var(axis=0).sum())
        spread["score function"].append(sf.var(axis=0).sum())
        print(
            f"M = {M:>4}: reparameterization mean {np.round(rp.mean(axis=0), 2)}, "
            f"score function mean {np.round(sf.mean(axis=0), 2)}, exact {np.round(exact, 2)}"
        )
    # Both are unbiased: at M = 1000 their means over the repeats sit on the exact gradient.
    assert np.allclose(rp.mean(axis=0), exact, atol=0.02)
    assert np.allclose(sf.mean(axis=0), exact, atol=0.2)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in spread.items():
        ax.loglog(Ms, values, "o-", label=name)
    ax.set(
        xlabel="M samples",
        ylabel="total variance of the gradient estimate",
        title="gradient of E ||z||^2 with respect to h = [mu | log sigma^2]",
    )
    ax.legend()
    plt.show()
    assert all(
        r < s for r, s in zip(spread["reparameterization"], spread["score function"], strict=True)
    )
    """),
    md(r"""
    **What to take away.** Both estimators are unbiased. The score-function estimator needs only
    $\log q$ and works for any $f$, but its variance is large, and in a VAE $f = \log p_\theta(x|z)$
    has thousands of terms. The reparameterization estimator moves the randomness into a
    parameter-free $\epsilon$ and lets backpropagation run through $z$ (derivations.md §3.4, §6.3);
    with it, $M = 1$ sample per data point is enough to train (notebook 4).
    """),
]

# ============================================================================ 02 layers

NB02 = [
    md(r"""
    # 2. Layers and backpropagation

    numpyvae writes every gradient by hand. This notebook takes one dense layer apart (forward and
    backward, derivations.md §6.1), looks at the activations (§6.2), and then at the tool that keeps
    hand-written gradients honest: **gradient checking by finite differences** (§6.4), including three
    ways it can mislead you, shown rather than told.

    The convention of every layer: `forward(x)` caches what it needs; `backward(dout)` receives
    $\partial L/\partial\,\mathrm{out}$ and returns $\partial L/\partial x$, and *overwrites* the
    gradients of its parameters.
    """),
    code("""
    import matplotlib.pyplot as plt
    import numpy as np

    from numpyvae.gradcheck import check_layer, numerical_vjp
    from numpyvae.layers import MLP, Dense, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh

    rng = np.random.default_rng(0)
    """),
    md(r"""
    ## The dense layer (derivations.md §6.1)

    $\mathrm{out} = xW + b$ with $x \in \mathbb{R}^{N \times D_{in}}$, $W \in \mathbb{R}^{D_{in} \times D_{out}}$,
    $b \in \mathbb{R}^{D_{out}}$. For any scalar loss $L$ and $\delta = \partial L/\partial\,\mathrm{out}$:

    $$\frac{\partial L}{\partial x} = \delta W^\top, \qquad \frac{\partial L}{\partial W} = x^\top \delta, \qquad
      \frac{\partial L}{\partial b} = \sum_{n=1}^N \delta_{n,:}.$$

    Each gradient has the shape of its variable; that alone almost fixes the formulas.
    """),
    code("""
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
    """),
    md(r"""
    Is $x^\top\delta$ right? Take $L = \sum \delta \odot \mathrm{out}$, so that $\partial L/\partial\,\mathrm{out} = \delta$,
    nudge one weight by $\pm h$ and watch $L$ move. The centred difference
    $(L(W_{01} + h) - L(W_{01} - h))/2h$ should equal the backward's $\partial L/\partial W_{01}$:
    """),
    code("""
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
    """),
    md(r"""
    ## Activations (derivations.md §6.2)

    An activation acts element-wise, so its backward multiplies `dout` by its derivative. With
    `dout = 1` the backward *is* the derivative; the dots are numerical slopes of the forward curve.
    """),
    code("""
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
    axes[0].legend(fontsize=8)
    plt.show()
    """),
    md(r"""
    ## Gradient checking (derivations.md §6.4)

    `gradcheck.check_layer(layer, x)` does the nudge above for *every* entry of $x$ and of every
    parameter, with $L = \sum \delta \odot \mathrm{layer}(x)$ for a random $\delta$, and reports the
    largest relative error per array. In float64 a correct backward gives errors around
    $10^{-10}$; the tolerance is $10^{-6}$.
    """),
    code("""
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
    """),
    md(r"""
    ## Pitfall 1: float32

    The same check on the same layer in float32 fails, although the backward is the same code.
    Nudging by $h = 10^{-6}$ changes $L$ by about $10^{-6}$, while float32 rounds $L$ to about
    $10^{-7}$ of its size: the difference is mostly rounding noise. Check gradients in float64;
    train in float32 if you like.
    """),
    code("""
    x64 = rng.normal(size=(5, 4))
    report64 = check_layer(Dense(4, 3, rng=np.random.default_rng(1)), x64)
    report32 = check_layer(
        Dense(4, 3, rng=np.random.default_rng(1), dtype=np.float32), x64.astype(np.float32)
    )
    print("float64:", report64, sep="\\n")
    print("\\nfloat32:", report32, sep="\\n")
    assert report64.passed and not report32.passed
    """),
    md(r"""
    ## Pitfall 2: the step size $h$

    The centred difference has two errors (derivations.md §6.4): **truncation**, from the curvature
    of $L$, which shrinks like $h^2$; and **rounding**, about $\varepsilon_{\text{machine}} |L| / h$,
    which grows as $h$ shrinks. Their sum is a V on a log-log plot. In float64
    ($\varepsilon \approx 2\cdot10^{-16}$) the bottom is near $h \approx 10^{-5}$; in float32
    ($\varepsilon \approx 10^{-7}$) it is near $10^{-2}$ and never reaches the $10^{-6}$ tolerance.
    """),
    code("""
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
    assert 1e-8 <= best64 <= 1e-3
    assert errors[np.float64][0] > 100 * errors[np.float64].min()  # rounding arm of the V
    assert errors[np.float64][-1] > 100 * errors[np.float64].min()  # truncation arm of the V
    assert errors[np.float32].min() > 1e-6  # no step size rescues float32
    """),
    md(r"""
    ## Pitfall 3: the ReLU kink

    $\max(x, 0)$ has no derivative at 0; the backward uses the convention 0. A centred difference at
    $x = 0$ sees $(h - 0)/2h = \tfrac12$, and at $0 < x < h$ it straddles the kink and sees a value
    between $\tfrac12$ and 1. The check then reports an error although the backward is right
    everywhere it is defined.
    """),
    code("""
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
    """),
    md(r"""
    Inside a network the kink hides in a pre-activation. Below, the bias of the first hidden unit is
    set so that its pre-activation for the first input is exactly 0: the check of an otherwise
    correct ReLU MLP fails on the weights that feed that unit. Moving the bias away from the kink
    by 0.1 makes it pass. With random float64 inputs a pre-activation within $h$ of 0 is rare, but
    with exact zeros in the data (blank MNIST pixels) and zero-initialised biases it happens; check
    with smooth activations or random inputs, and distrust a single failing entry next to a kink.
    """),
    code("""
    mlp = MLP([3, 4, 2], activation="relu", rng=np.random.default_rng(4))
    x = np.random.default_rng(5).normal(size=(2, 3))
    W0, b0 = mlp.params["0.W"], mlp.params["0.b"]
    b0[0] = -(x[0] @ W0[:, 0])  # hidden unit 0 of input 0 sits exactly on the kink
    at_kink = check_layer(mlp, x)
    print("at the kink:\\n", at_kink, sep="")
    b0[0] += 0.1
    away = check_layer(mlp, x)
    print("\\n0.1 away from it:\\n", away, sep="")
    assert not at_kink.passed and away.passed
    """),
    md(r"""
    ## What to remember

    * A gradient has the shape of its variable; $\partial L/\partial W = x^\top\delta$ sums over the batch.
    * Check in **float64** with $h \approx 10^{-6}$ and a relative error (derivations.md §6.4).
    * A failure right at a kink (ReLU at 0) can be the check's fault, not the backward's.

    Notebook 6 asks you to write these backward passes yourself and checks them the same way.
    """),
]

# ============================================================================ 03 KL

NB03 = [
    md(r"""
    # 3. The KL term

    The ELBO's second term pulls every approximate posterior $q_\phi(z|x) = \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)$
    towards the prior $p(z) = \mathcal{N}(0, I)$. For these two Gaussians it has a closed form
    (lecture 000; lecture 004, Theorem 1.1; derivations.md §4.1):

    $$\mathrm{KL}\big(q_\phi(z|x)\,\|\,p(z)\big) = \frac12 \sum_{i=1}^k \big(\mu_i^2 + \sigma_i^2 - \log\sigma_i^2 - 1\big),$$

    which the slides (003) write as $\tfrac12(\mathrm{tr}\,\Sigma + \mu^\top\mu - k - \log\det\Sigma)$ (§4.2).
    This notebook checks it against Monte Carlo, checks its gradient (§4.3), and draws what it does to
    $q$ in one and two dimensions.
    """),
    code("""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Ellipse

    from numpyvae.gradcheck import check_gradient
    from numpyvae.posteriors import DiagonalGaussian

    rng = np.random.default_rng(0)
    """),
    md(r"""
    ## Closed form against Monte Carlo

    $\mathrm{KL}(q\|p) = \mathbb{E}_{z\sim q}[\log q(z) - \log p(z)]$, so drawing $z = \mu + \sigma\odot\epsilon$
    and averaging $\log q(z) - \log p(z)$ (both from `DiagonalGaussian.log_prob`; the prior is the
    same object with $h = 0$) must agree with the closed form up to Monte Carlo error. The encoder
    output is $h = [\mu \mid \log\sigma^2]$.
    """),
    code("""
    k = 2
    q = DiagonalGaussian(k)
    prior = np.zeros((1, 2 * k))  # mu = 0, log sigma^2 = 0: N(0, I)
    cases = {
        "near the prior": [0.1, -0.2, 0.1, -0.1],
        "shifted": [2.0, -1.0, 0.0, 0.0],
        "narrow": [0.0, 0.5, -3.0, -2.0],
        "wide": [1.0, 0.5, 1.0, 1.5],
    }
    S = 200_000
    samples = {}
    print(f"{'q':>15} {'closed form':>12} {'Monte Carlo':>12} {'std. error':>11}")
    for name, row in cases.items():
        h = np.array([row])
        z = q.sample(h, q.draw_eps(rng, S, 1, np.float64))  # (S, 1, k)
        log_ratio = (q.log_prob(z, h) - q.log_prob(z, prior))[:, 0]  # log q(z) - log p(z)
        samples[name] = log_ratio
        closed = q.kl(h)[0]
        mc, se = log_ratio.mean(), log_ratio.std() / np.sqrt(S)
        print(f"{name:>15} {closed:12.5f} {mc:12.5f} {se:11.5f}")
        assert abs(mc - closed) < 4 * se

        # The slides' trace / log-det form (derivations.md §4.2) is the same number.
        mu, logvar = q.split(h)
        Sigma = np.diag(np.exp(logvar[0]))
        trace_form = 0.5 * (np.trace(Sigma) + mu[0] @ mu[0] - k - np.log(np.linalg.det(Sigma)))
        assert np.isclose(trace_form, closed)
    """),
    code("""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    n = np.arange(1, S + 1)
    for (name, log_ratio), color in zip(samples.items(), ["C0", "C1", "C2", "C3"], strict=True):
        running = np.cumsum(log_ratio) / n
        ax.semilogx(n, running, color=color, lw=1, label=name)
        ax.axhline(q.kl(np.array([cases[name]]))[0], color=color, ls="--", lw=0.8)
    ax.set(
        xlabel="Monte Carlo samples",
        ylabel="running estimate of KL (nats)",
        title="Monte Carlo (solid) converges to the closed form (dashed)",
    )
    ax.legend(fontsize=8)
    plt.show()
    """),
    md(r"""
    The closed form costs nothing and has no noise, which is why the VAE uses it (estimator B of
    derivations.md §7.2); only the reconstruction term needs samples.

    ## Its gradient (derivations.md §4.3)

    Per dimension, $\partial\,\mathrm{KL}/\partial\mu_i = \mu_i$ and
    $\partial\,\mathrm{KL}/\partial\log\sigma_i^2 = \tfrac12(\sigma_i^2 - 1)$. `DiagonalGaussian.kl_grad`
    returns both as one array shaped like $h$; finite differences agree:
    """),
    code("""
    h = rng.normal(size=(5, 2 * k))
    report = check_gradient(lambda: q.kl(h).sum(), {"h": h}, {"h": q.kl_grad(h)})
    print(report)
    assert report.passed
    mu, logvar = q.split(h)
    assert np.allclose(q.kl_grad(h), np.concatenate([mu, 0.5 * (np.exp(logvar) - 1)], axis=1))
    """),
    md(r"""
    ## What the KL does in one dimension

    Over $(\mu, \log\sigma^2)$ the KL is a bowl with its minimum, 0, at the prior $(0, 0)$. The arrows
    are $-\nabla\,\mathrm{KL}$, the direction gradient descent moves $q$: means are pulled to 0 in
    proportion to their distance; variances are pushed to 1, gently from below
    ($-\tfrac12\log\sigma^2$ grows slowly) and steeply from above ($\tfrac12\sigma^2$ grows fast).
    """),
    code("""
    q1 = DiagonalGaussian(1)
    mus, logvars = np.meshgrid(np.linspace(-3, 3, 121), np.linspace(-5, 3, 161))
    grid = np.stack([mus.ravel(), logvars.ravel()], axis=1)  # rows of h = [mu | log sigma^2]
    kl = q1.kl(grid).reshape(mus.shape)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    ax = axes[0]
    contours = ax.contour(mus, logvars, kl, levels=[0.1, 0.25, 0.5, 1, 2, 4, 8], cmap="viridis")
    ax.clabel(contours, fontsize=8)
    coarse = grid[(np.abs(grid[:, 0] * 2 % 1) < 1e-9) & (np.abs(grid[:, 1] % 1) < 1e-9)]
    g = q1.kl_grad(coarse)
    ax.quiver(coarse[:, 0], coarse[:, 1], -g[:, 0], -g[:, 1], angles="xy", color="grey", width=0.003)
    ax.plot(0, 0, "r*", ms=12, label="the prior N(0, 1)")
    ax.set(xlabel="mu", ylabel="log sigma^2", title="KL(q || N(0,1)) and -grad KL")
    ax.legend(loc="lower left")

    ax = axes[1]
    z = np.linspace(-5, 5, 501).reshape(-1, 1, 1)  # (points, B = 1, k = 1)
    for m, lv in [(0.0, 0.0), (1.5, 0.0), (0.0, -2.0), (0.0, 1.5), (-2.0, -1.0)]:
        h = np.array([[m, lv]])
        density = np.exp(q1.log_prob(z, h))[:, 0]
        style = dict(color="k", lw=2.5, ls="--") if (m, lv) == (0.0, 0.0) else {}
        ax.plot(z[:, 0, 0], density, label=f"mu={m:g}, log s2={lv:g}: KL={q1.kl(h)[0]:.2f}", **style)
    ax.set(xlabel="z", ylabel="q(z|x)", title="densities of q against the prior (dashed)")
    ax.legend(fontsize=8)
    plt.show()
    """),
    md(r"""
    ## What the KL does in two dimensions

    Alone, the KL would drag every $q(z|x)$ onto the prior. Below, gradient descent on the KL only
    (`h -= lr * kl_grad(h)`) moves a narrow, shifted posterior: the ellipses are the 1- and 2-$\sigma$
    contours of $q$ at a few steps, the dashed circles those of $\mathcal{N}(0, I)$. In a VAE the
    reconstruction term pulls the other way, keeping $q$ narrow and distinct for different $x$; the
    trained posterior is the compromise (notebook 4).
    """),
    code("""
    h = np.array([[2.5, -1.5, -3.0, 0.8]])  # mu = (2.5, -1.5), log sigma^2 = (-3, 0.8)
    lr, steps = 0.2, 60
    path = [h.copy()]
    for _ in range(steps):
        h = h - lr * q.kl_grad(h)
        path.append(h.copy())
    path = np.concatenate(path)  # (steps + 1, 2k)
    kls = q.kl(path)


    def draw_q(ax, row, **style):
        mu, logvar = row[:k], row[k:]
        sigma = np.exp(0.5 * logvar)
        for n_std in (1, 2):
            ax.add_patch(Ellipse(mu, 2 * n_std * sigma[0], 2 * n_std * sigma[1], fill=False, **style))


    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    draw_q(ax, np.zeros(2 * k), color="k", ls="--", lw=1.5)
    shown = [0, 2, 5, 10, 20, 60]
    for i, color in zip(shown, plt.cm.plasma(np.linspace(0, 0.85, len(shown))), strict=True):
        draw_q(ax, path[i], color=color, lw=1.5)
        ax.plot(*path[i, :k], "o", color=color, label=f"step {i}: KL = {kls[i]:.2f}")
    ax.plot(path[:, 0], path[:, 1], "-", color="grey", lw=0.8)
    ax.set(
        xlim=(-4, 5),
        ylim=(-5, 4),
        aspect="equal",
        xlabel="z_1",
        ylabel="z_2",
        title="q(z|x) under gradient descent on the KL alone",
    )
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[1]
    ax.semilogy(kls)
    ax.set(xlabel="step", ylabel="KL (nats)", title="the KL falls monotonically")
    plt.show()
    assert np.all(np.diff(kls) < 0) and kls[-1] < 0.01 * kls[0]
    """),
    md(r"""
    **What to take away.** The KL is exact, cheap and smooth, with gradient $[\mu \mid \tfrac12(\sigma^2-1)]$.
    It joins the backward pass at $(\mu, \log\sigma^2)$, adds nothing to the decoder's gradient
    (derivations.md §6.3), and acts like a spring towards $\mathcal{N}(0, I)$: it is what makes
    $z \sim \mathcal{N}(0, I)$ decode to something sensible (notebook 5).
    """),
]

# ============================================================================ 04 training

NB04 = [
    md(r"""
    # 4. Training a VAE on MNIST

    The lectures' training loop (lecture 000; lecture 004, AEVB): encode $x$ into
    $h = [\mu_\phi(x) \mid \log\sigma_\phi^2(x)]$, draw $\epsilon \sim \mathcal{N}(0, I)$, set
    $z = \mu + \sigma\odot\epsilon$, decode $z$, and score the two terms of the ELBO. numpyvae minimises
    the **negative** ELBO (derivations.md §2.4):

    $$\text{loss} = \frac1B\sum_{i=1}^B\Big[-\frac1M\sum_{j=1}^M \log p_\theta(x_i|z_{ij}) + \mathrm{KL}\big(q_\phi(z|x_i)\,\|\,\mathcal{N}(0,I)\big)\Big],$$

    summed over the $d$ pixels and the $k$ latent dimensions, averaged over the $M$ samples and the
    batch, so gradient *descent* on it is the lectures' gradient *ascent* on the ELBO.
    This notebook does one forward pass and one training step by hand, checks them against the
    library, then trains, and compares a Bernoulli decoder with a Gaussian one.
    """),
    code("""
    %matplotlib inline
    import time

    import matplotlib.pyplot as plt
    import numpy as np

    from numpyvae import VAE, plots
    from numpyvae.datasets import load_dataset
    from numpyvae.gradcheck import check_model
    from numpyvae.layers import sigmoid, softplus
    from numpyvae.optim import SGD, Adam
    from numpyvae.train import Trainer

    data = load_dataset("auto")  # full MNIST if found on this machine, else the shipped subset
    x_train, x_test = data.x_train, data.x_test
    d = x_train.shape[1]
    print(f"{data.source}: x_train {x_train.shape}, x_test {x_test.shape}, pixels in [0, 1]")
    plots.plot_samples(x_train[:36], title="training digits")
    """),
    md(r"""
    ## One forward pass, step by step

    A small model in float64, a batch of $B = 4$ digits and $M = 1$ sample each. The pixel intensities
    in $[0, 1]$ are the Bernoulli targets. Every line below is one arrow of the lecture's diagram:
    """),
    code("""
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
    """),
    md(r"""
    Untrained, the decoder's mean is grey noise, and the reconstruction term is about
    $d \log 2 \approx 543$ nats: every pixel is a coin flip.
    """),
    code("""
    plots.plot_reconstructions(x, x_hat[0], n=4, title="untrained: inputs (top) and x_hat (bottom)")
    """),
    md(r"""
    ## One training step by hand (derivations.md §6.3)

    Backward through the same graph, from the loss to every parameter:

    1. $\partial\,\text{loss}/\partial\,\text{logits} = -(x - \hat x)/(MB)$ (§5.3, with the averages' $1/(MB)$);
    2. the decoder's backward gives $\partial\,\text{loss}/\partial\theta$ and $\partial\,\text{loss}/\partial z$;
    3. the reparameterization's backward (§3.4) takes $\partial/\partial z$ to $(\mu, \log\sigma^2)$;
    4. the KL's gradient $[\mu \mid \tfrac12(\sigma^2 - 1)]/B$ (§4.3) joins **there**, never in the decoder;
    5. the encoder's backward gives $\partial\,\text{loss}/\partial\phi$.

    Then one SGD step $\theta \leftarrow \theta - \alpha\,\partial\,\text{loss}/\partial\theta$ (and the
    same for $\phi$): the lectures' ascent step on the ELBO, written as descent on its negative.
    """),
    code("""
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
        np.testing.assert_allclose(p, before[name] - lr * by_hand[name], rtol=1e-12)
    after = model.loss(x, eps)
    print(f"loss on this batch and eps: {parts.loss:.4f} before the step, {after.loss:.4f} after")
    assert after.loss < parts.loss
    """),
    md(r"""
    The library agrees with the hand computation, and both agree with finite differences: on a tiny
    VAE (20 pixels, $k = 2$, 8 hidden units, $M = 3$) `check_model` nudges every parameter
    (derivations.md §6.4).
    """),
    code("""
    tiny = VAE(20, 2, hidden=(8,), activation="tanh", n_samples=3, seed=0)
    report = check_model(tiny, x_test[:5, 300:320])
    print(report)
    assert report.passed
    """),
    md(r"""
    ## Training

    A float32 model (16 latent dimensions, one hidden layer of 256 units each way, ReLU),
    Adam with learning rate $10^{-3}$ (derivations.md §9.3), batches of 128, $M = 1$ sample per digit.
    The test curve is the loss on held-out digits, evaluated after every epoch.
    """),
    code("""
    epochs = max(2, 100_000 // len(x_train))  # about 100k digits seen: 10 epochs on the subset


    def train(likelihood, seed=0):
        model = VAE(d, 16, hidden=(256,), likelihood=likelihood, dtype=np.float32, seed=seed)
        trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=128, seed=seed)
        start = time.perf_counter()
        history = trainer.fit(x_train, epochs, x_test=x_test)
        print(
            f"{likelihood}: {epochs} epochs in {time.perf_counter() - start:.1f} s, "
            f"test loss {history.test_loss[0]:.1f} -> {history.test_loss[-1]:.1f} nats"
        )
        return model, history


    bernoulli, history = train("bernoulli")
    assert history.test_loss[-1] < history.test_loss[0] - 20
    plots.plot_losses(history)
    """),
    md(r"""
    The reconstruction term falls fast; the KL first *rises*, as the encoder learns to use $z$
    (a posterior equal to the prior would carry no information about $x$), then levels off:
    the compromise between the two terms of the ELBO (notebook 3).
    """),
    code("""
    plots.plot_reconstructions(
        x_test[:10],
        bernoulli.reconstruct(x_test[:10]),
        title="Bernoulli decoder: test digits (top), reconstructions (bottom)",
    )
    """),
    md(r"""
    ## Bernoulli against Gaussian decoder

    Lecture 000 uses a Gaussian decoder with identity covariance, $p_\theta(x|z) = \mathcal{N}(x;\hat x_\theta(z), I)$,
    so $-\log p_\theta(x|z) = \tfrac d2\log 2\pi + \tfrac12\lVert x - \hat x\rVert^2$, the squared error
    (derivations.md §5.1). On pixels in $[0, 1]$ the unit variance is enormous: a pixel wrong by 0.5
    costs only $0.125$ nats, while the Bernoulli decoder (§5.3) charges $\log 2 \approx 0.69$ nats for a
    pixel it is unsure of and much more for a confident mistake. With the Gaussian decoder the KL
    term wins the compromise: the posterior stays close to the prior (a small KL), and reconstructions
    are blurred towards an average digit. The two losses are not comparable numbers (a density and a
    probability); the pictures and the KL are.
    """),
    code("""
    gaussian, gaussian_history = train("gaussian")
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
    """),
    md(r"""
    **What to take away.** The whole gradient of the VAE is five short steps, each a formula of
    derivations.md, and the library computes exactly these numbers. The choice of likelihood is part
    of the model, not a detail: it sets the exchange rate between reconstruction and KL. Notebook 5 uses
    the trained model: generation, embeddings, the latent space.
    """),
]

# ============================================================================ 05 inference

NB05 = [
    md(r"""
    # 5. Inference: generation and embeddings

    After training, the two halves of the VAE are used apart (lecture 001):

    * **generation** uses the decoder $\theta$: draw $z \sim \mathcal{N}(0, I)$, then take
      the decoder mean $\hat x_\theta(z)$ (**method A**) or a sample $x \sim p_\theta(x|z)$ (**method B**)
      (derivations.md §8.1);
    * **embeddings** use the encoder $\phi$: the posterior mean $z = \mu_\phi(x)$ (**method A**) or a
      sample $z = \mu_\phi(x) + \sigma_\phi(x)\odot\epsilon$ (**method B**) (derivations.md §8.2).

    We train two models briefly: $k = 16$ for pictures and a downstream task, and $k = 2$ to look at
    the latent plane directly.
    """),
    code("""
    %matplotlib inline
    import time

    import matplotlib.pyplot as plt
    import numpy as np

    from numpyvae import VAE, plots
    from numpyvae.datasets import load_dataset
    from numpyvae.optim import Adam
    from numpyvae.train import Trainer

    data = load_dataset("auto")
    # A fixed budget: at most 10,000 training and 2,000 test digits (the shipped subset's size).
    x_train, y_train = data.x_train[:10_000], data.y_train[:10_000]
    x_test, y_test = data.x_test[:2_000], data.y_test[:2_000]
    d = x_train.shape[1]


    def train(k, epochs, seed=0):
        model = VAE(d, k, hidden=(256,), dtype=np.float32, seed=seed)
        trainer = Trainer(model, Adam(model.params, lr=1e-3), batch_size=128, seed=seed)
        start = time.perf_counter()
        history = trainer.fit(x_train, epochs, x_test=x_test)
        print(
            f"k = {k:>2}: {epochs} epochs in {time.perf_counter() - start:.1f} s, "
            f"test loss {history.test_loss[-1]:.1f} nats"
        )
        return model


    model = train(k=16, epochs=10)
    model2 = train(k=2, epochs=20)  # two dimensions take longer to organise
    """),
    md(r"""
    ## Generation, methods A and B (derivations.md §8.1)

    The same 64 draws $z \sim \mathcal{N}(0, I)$, decoded by both methods. Method A shows the
    Bernoulli means $\mathrm{sigmoid}(\text{logits})$, smooth grey-level digits; method B flips each
    pixel's coin, a binary image with speckle wherever the decoder is unsure. Most papers show
    method A.
    """),
    code("""
    plots.plot_generation(model, n=64)
    """),
    md(r"""
    ## Reconstructions from embeddings A and B

    Decode (method A) the posterior mean, and a posterior sample, of the same test digits. The sample
    moves $z$ within the posterior's spread $\sigma_\phi(x)$: the digit keeps its identity but changes
    its style a little. That spread is what the KL term (notebook 3) keeps from shrinking to zero.
    """),
    code("""
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
    """),
    md(r"""
    ## Embeddings A and B, coloured by label (derivations.md §8.2)

    The 16-dimensional embeddings of the test digits, projected on their first two principal
    components. The encoder was never shown a label, yet digits of a class gather together. Method B
    adds the posterior noise on top of method A: same picture, blurred.
    """),
    code("""
    z_mean = model.encode(x_test, method="mean")
    z_sample = model.encode(x_test, method="sample")
    plots.plot_embeddings(z_mean, y_test, title="method A: posterior means (PCA of k = 16)")
    """),
    code("""
    plots.plot_embeddings(z_sample, y_test, title="method B: posterior samples (PCA of k = 16)")
    """),
    md(r"""
    ## The latent plane of a $k = 2$ model

    With two latent dimensions there is nothing to project. Left: the posterior means of the test
    digits. Right: the decoder's mean over a grid of $z$ placed at equal-probability slices of the
    prior (the inverse normal CDF), so the picture covers the whole of $\mathcal{N}(0, I)$. The digit
    classes occupy regions of the plane, and the decoder morphs smoothly from one to the next.
    """),
    code("""
    plots.plot_latent_scatter(
        model2.encode(x_test), y_test, n=20, title="k = 2: posterior means of test digits"
    )
    """),
    code("""
    plots.plot_latent_manifold(model2, n=20)
    """),
    md(r"""
    ## Interpolation between two digits

    Walk in a straight line from the embedding (method A) of one test digit to that of another, and
    decode every point: because the KL keeps the latent space filled, the path between two digits
    decodes to plausible digits all along.
    """),
    code("""
    first = {digit: np.flatnonzero(y_test == digit)[0] for digit in range(10)}
    pairs = [(first[a], first[b]) for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)]]
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
    """),
    md(r"""
    ## A downstream use: nearest-neighbour classification

    Embeddings are features (lecture 001). Classify each test digit by the label of its nearest
    training digit, once in raw pixels ($d = 784$) and once in the posterior means ($k = 16$ and
    $k = 2$), in NumPy: squared distances $\lVert a\rVert^2 + \lVert b\rVert^2 - 2a^\top b$, then an
    argmin per row. The labels were never used to train the VAE.
    """),
    code("""
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
    """),
    md(r"""
    Sixteen numbers per digit, learned without labels, classify nearly as well as all 784 pixels, and
    the nearest-neighbour search is 49 times cheaper per pair. The posterior means (A) beat the samples (B):
    for a deterministic feature, the noise of method B only hurts. Two dimensions keep only part of the
    class structure (well above chance, far below $k = 16$): the scatter above shows the classes that
    overlap in the plane, such as 4 and 9, or 3, 5 and 8.
    """),
]

# ============================================================================ 06 exercises

EXERCISE_INTRO = r"""
# 6. Gradient-check exercises

Write five backward passes yourself. Each exercise gives the forward formula and the signature;
replace the `raise NotImplementedError(...)` in the cell marked **YOUR ANSWER** with your code,
run the cell, then run the check below it. A check compares what your function returns with
centred finite differences of the forward pass (derivations.md §6.4) and prints

* `PASS`, or
* `FAIL` with the worst entry: which array, which index, your value and the numerical one; or a
  sentence saying what went wrong (not implemented yet, an exception, a wrong shape).

A check never stops the notebook, so you can run it top to bottom and see where you stand.
Conventions: the upstream gradient comes first (`dout` = $\partial L/\partial\,\mathrm{out}$), then the
forward's inputs; return one gradient per input, each with the shape of that input.
Notebook 2 shows the dense layer and the pitfalls of gradient checking; do it first.
"""

EXERCISE_SETUP = """
import numpy as np  # noqa: F401 (for your answers)

from numpyvae.exercises import (
    check_bernoulli_backward,
    check_dense_backward,
    check_kl_backward,
    check_relu_backward,
    check_reparam_backward,
)
from numpyvae.layers import sigmoid  # noqa: F401 (a sigmoid that never overflows)
"""

# (name, markdown, signature and docstring, solution body)
EXERCISES = [
    (
        "dense",
        r"""
        ## Exercise 1: the dense layer (derivations.md §6.1)

        $\mathrm{out} = xW + b$ with $x$ `(N, D_in)`, $W$ `(D_in, D_out)`, $b$ `(D_out,)`.
        Given `dout` $= \partial L/\partial\,\mathrm{out}$ `(N, D_out)`, return
        $(\partial L/\partial x, \partial L/\partial W, \partial L/\partial b)$.
        Hint: each gradient has the shape of its variable; $b$ is added to every row.
        """,
        '''
        def dense_backward(dout, x, W, b):
            """dout (N, D_out), x (N, D_in), W (D_in, D_out), b (D_out,) -> (dx, dW, db)."""
        ''',
        """
        dx = dout @ W.T
        dW = x.T @ dout
        db = dout.sum(axis=0)  # b reaches every row of out
        return dx, dW, db
        """,
        "check_dense_backward(dense_backward)",
    ),
    (
        "relu",
        r"""
        ## Exercise 2: ReLU (derivations.md §6.2)

        $\mathrm{out} = \max(x, 0)$ element-wise. Return $\partial L/\partial x$ given `dout`.
        Use derivative 0 at $x = 0$ (the check keeps away from the kink; notebook 2 shows why).
        """,
        '''
        def relu_backward(dout, x):
            """dout (N, D), x (N, D) -> dx (N, D)."""
        ''',
        """
        return dout * (x > 0)
        """,
        "check_relu_backward(relu_backward)",
    ),
    (
        "reparam",
        r"""
        ## Exercise 3: the reparameterization (derivations.md §3.4)

        $z_j = \mu + \sigma \odot \epsilon_j$ with $\sigma = \exp(\tfrac12\log\sigma^2)$, for $M$ samples
        $j = 1..M$: `mu`, `logvar` are `(B, k)`, `eps` and `dz` $= \partial L/\partial z$ are `(M, B, k)`.
        Return $(\partial L/\partial\mu, \partial L/\partial\log\sigma^2)$, both `(B, k)`.
        Hints: $\mu$ is used by all $M$ samples; $d\sigma/d\log\sigma^2 = \sigma/2$.
        """,
        '''
        def reparam_backward(dz, mu, logvar, eps):
            """dz (M, B, k), mu (B, k), logvar (B, k), eps (M, B, k) -> (dmu, dlogvar)."""
        ''',
        """
        sigma = np.exp(0.5 * logvar)
        dmu = dz.sum(axis=0)  # every sample z_j depends on mu
        dlogvar = (dz * eps).sum(axis=0) * sigma / 2  # dz/dsigma = eps, dsigma/dlogvar = sigma/2
        return dmu, dlogvar
        """,
        "check_reparam_backward(reparam_backward)",
    ),
    (
        "kl",
        r"""
        ## Exercise 4: the KL to $\mathcal{N}(0, I)$ (derivations.md §4.1, §4.3)

        $\mathrm{KL}_b = \tfrac12\sum_{i=1}^k(\mu_{bi}^2 + \sigma_{bi}^2 - \log\sigma_{bi}^2 - 1)$ for each row $b$.
        Return the gradient of $\sum_b \mathrm{KL}_b$ with respect to `mu` and `logvar`, both `(B, k)`.
        Hint: write $\sigma^2 = \exp(\log\sigma^2)$ and differentiate in $\log\sigma^2$.
        """,
        '''
        def kl_backward(mu, logvar):
            """mu (B, k), logvar (B, k) -> (dmu, dlogvar) of sum_b KL(q(z|x_b) || N(0, I))."""
        ''',
        """
        dmu = mu.copy()
        dlogvar = 0.5 * np.expm1(logvar)  # (sigma^2 - 1) / 2, accurate near sigma^2 = 1
        return dmu, dlogvar
        """,
        "check_kl_backward(kl_backward)",
    ),
    (
        "bernoulli",
        r"""
        ## Exercise 5: the Bernoulli reconstruction loss (derivations.md §5.3)

        The decoder outputs logits $l$ `(B, d)`; $p_\theta(x|z) = \prod_i s_i^{x_i}(1-s_i)^{1-x_i}$ with
        $s = \mathrm{sigmoid}(l)$, so $-\log p_\theta(x|z) = \sum_i [\mathrm{softplus}(l_i) - x_i l_i]$.
        Return the gradient of $-\sum_b \log p_\theta(x_b|z_b)$ with respect to the logits, `(B, d)`.
        """,
        '''
        def bernoulli_backward(x, logits):
            """x (B, d) in [0, 1], logits (B, d) -> dlogits (B, d) of -sum log p(x|z)."""
        ''',
        """
        return sigmoid(logits) - x  # softplus'(l) = sigmoid(l)
        """,
        "check_bernoulli_backward(bernoulli_backward)",
    ),
]


def _answer_cell(signature: str, body: str, solved: bool) -> dict:
    signature = textwrap.dedent(signature).strip()
    if solved:
        lines = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    else:
        name = signature.split("(")[0].removeprefix("def ")
        lines = (
            f'    # YOUR ANSWER\n    raise NotImplementedError("{name}: write your answer here")'
        )
    header = "# YOUR ANSWER: replace the raise with your code" if not solved else "# SOLUTION"
    return code(f"{header}\n{signature}\n{lines}", tags=("solution" if solved else "exercise",))


def exercise_cells(solved: bool) -> list[dict]:
    intro = EXERCISE_INTRO
    if solved:
        intro = intro.replace(
            "# 6. Gradient-check exercises",
            "# 6. Gradient-check exercises: SOLUTIONS\n\n"
            "These are the answers; try the exercises in `../06_gradient_check_exercises.ipynb` "
            "first.",
        )
    cells = [md(intro), code(EXERCISE_SETUP, tags=("setup",))]
    if not solved:
        cells += [
            md("""
            ### What a failing check looks like

            This dense backward divides `dW` by the batch size, as if the loss were a mean over the
            batch (it is a sum here). The check prints FAIL and names the array and the entry that
            are wrong:
            """),
            code("""
            def wrong_dense_backward(dout, x, W, b):
                return dout @ W.T, x.T @ dout / len(x), dout.sum(axis=0)


            result = check_dense_backward(wrong_dense_backward)
            """),
        ]
    for _, text, signature, body, check in EXERCISES:
        cells += [md(text), _answer_cell(signature, body, solved), code(f"result = {check}")]
    summary = """
    results = {
        "dense": check_dense_backward(dense_backward, verbose=False),
        "relu": check_relu_backward(relu_backward, verbose=False),
        "reparam": check_reparam_backward(reparam_backward, verbose=False),
        "kl": check_kl_backward(kl_backward, verbose=False),
        "bernoulli": check_bernoulli_backward(bernoulli_backward, verbose=False),
    }
    for name, result in results.items():
        print(f"{name:>10}: {'PASS' if result.passed else 'FAIL'}")
    print(f"{sum(r.passed for r in results.values())} of {len(results)} exercises pass")
    """
    if solved:
        summary += "assert all(r.passed for r in results.values())\n"
    cells += [md("## Summary"), code(summary)]
    if not solved:
        cells.append(
            md("""
            When all five pass you have written, by hand, every gradient the VAE needs apart from the
            chain through the MLPs (derivations.md §6.3): compare with `numpyvae/layers/dense.py`,
            `numpyvae/posteriors/diagonal_gaussian.py` and `numpyvae/likelihoods/bernoulli.py`.
            """)
        )
    return cells


# ============================================================================ registry and CLI

NOTEBOOKS: dict[str, list[dict]] = {
    "01_reparameterization_trick.ipynb": NB01,
    "02_layers_and_backprop.ipynb": NB02,
    "03_kl_divergence.ipynb": NB03,
    "04_training_on_mnist.ipynb": NB04,
    "05_inference.ipynb": NB05,
    "06_gradient_check_exercises.ipynb": exercise_cells(solved=False),
    "solutions/06_gradient_check_solutions.ipynb": exercise_cells(solved=True),
}


def build_all() -> dict[Path, str]:
    """Every generated notebook as its path and its JSON text, exactly as written to disk."""
    return {
        HERE / name: nbformat.writes(make_notebook(cells)) + "\n"
        for name, cells in NOTEBOOKS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in build_all().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.relative_to(HERE))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    for name in stale:
        print(f"{verb}: notebooks/{name}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
