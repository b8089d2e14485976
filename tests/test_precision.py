"""Every activation, its phi' and phi'', softplus, log-sigmoid and the likelihoods' log-densities
against mpmath at 50 significant digits, over [-750, 750] in float64 and the float32 range.

The error is counted in ulps of the exact value rounded to the dtype: |computed - exact| /
spacing(exact). It must stay within ULPS_OF[dtype] ulps wherever the exact value is a normal
number of the dtype (below the smallest normal one, spacing is fixed and a relative bound means
nothing). derivations.md §11 says why each form is accurate and names the limits that remain
(the float32 Bernoulli kernel, the flush of e^-|l|, sums of terms of both signs), each tested
here at its stated bound.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from numpyvae.layers.activations import ACTIVATIONS, sigmoid, softplus
from numpyvae.likelihoods import make_likelihood
from numpyvae.likelihoods.bernoulli import bernoulli_fast, bernoulli_reference, flush_limit


@pytest.fixture(autouse=True)
def fifty_digits():
    """mpmath's working precision for each test here, restored after it."""
    with mpmath.workdps(50):
        yield


# "A few ulps": the bound every function below meets. NumPy's float32 exp and tanh are
# themselves up to 1.8 and 1.1 ulps off (measured on this grid), and sech^2 squares one exp,
# so float32 gets 6 where float64 (whose exp is within 0.65 ulps) gets 4.
ULPS_OF = {np.float64: 4, np.float32: 6}
ULPS = ULPS_OF[np.float64]


def grid(dtype) -> np.ndarray:
    """Inputs over [-750, 750] in float64 and [-110, 110] in float32 (beyond 104 every exp(-|x|)
    of float32 is subnormal): an even grid, a geometric one near 0 on both sides, the
    integers near where exp(-|x|) underflows in float32, and the exact 0."""
    end = 750 if dtype == np.float64 else 110
    even = np.linspace(-end, end, 3001)
    near_zero = np.geomspace(1e-12, 50, 400)
    x = np.concatenate([even, near_zero, -near_zero, np.arange(-110, 111), [0.0]])
    return np.unique(x.astype(dtype))


def ulp_error(computed: np.ndarray, exact: list, dtype) -> np.ndarray:
    """|computed - exact| in ulps of the exact value in `dtype`; NaN where the exact value is
    not a normal number of the dtype (nor 0, which must come out exactly)."""
    finfo = np.finfo(dtype)
    errors = np.full(len(exact), np.nan)
    for i, (c, e) in enumerate(zip(computed.tolist(), exact, strict=True)):
        magnitude = abs(e)
        if magnitude == 0:
            errors[i] = 0.0 if c == 0 else np.inf
            continue
        if magnitude < finfo.tiny or magnitude > finfo.max:
            continue
        rounded = dtype(float(e))
        errors[i] = float(abs(mpmath.mpf(c) - e) / mpmath.mpf(float(np.spacing(abs(rounded)))))
    return errors


def exact_sigmoid(a):
    return 1 / (1 + mpmath.exp(-a))


EXACT = {  # phi, phi', phi'' of every activation, and the two helpers, in mpmath
    "relu": (lambda a: max(a, 0), lambda a: 1 if a > 0 else 0, lambda a: 0),
    "leaky_relu": (
        lambda a: a if a > 0 else mpmath.mpf("0.01") * a,
        lambda a: 1 if a > 0 else mpmath.mpf("0.01"),
        lambda a: 0,
    ),
    "tanh": (
        mpmath.tanh,
        lambda a: mpmath.sech(a) ** 2,
        lambda a: -2 * mpmath.tanh(a) * mpmath.sech(a) ** 2,
    ),
    "sigmoid": (
        exact_sigmoid,
        lambda a: exact_sigmoid(a) * exact_sigmoid(-a),
        lambda a: exact_sigmoid(a) * exact_sigmoid(-a) * (1 - 2 * exact_sigmoid(a)),
    ),
    "softplus": (
        lambda a: mpmath.log1p(mpmath.exp(a)),
        exact_sigmoid,
        lambda a: exact_sigmoid(a) * exact_sigmoid(-a),
    ),
    "identity": (lambda a: a, lambda a: 1, lambda a: 0),
}


def check(name: str, computed, exact_fn, x: np.ndarray, dtype) -> None:
    ulps = ULPS_OF[dtype]
    computed = np.broadcast_to(np.asarray(computed), x.shape)
    assert computed.dtype == dtype, f"{name} returned {computed.dtype} for {dtype.__name__}"
    exact = [exact_fn(mpmath.mpf(float(a))) for a in x]
    errors = ulp_error(computed, exact, dtype)
    worst = int(np.nanargmax(errors))
    assert np.nanmax(errors) <= ulps, (
        f"{name}({x[worst]!r}) in {dtype.__name__}: {computed[worst]!r}, exact "
        f"{mpmath.nstr(exact[worst], 20)}, {errors[worst]:.3g} ulps"
    )
    assert np.count_nonzero(~np.isnan(errors)) > 0.5 * len(x)  # most points were compared


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_and_its_two_derivatives_are_within_a_few_ulps(name, dtype):
    x = grid(dtype)
    layer = ACTIVATIONS[name]()
    out = layer.forward(x.copy())
    first, second = layer.derivatives(np.dtype(dtype))
    exact_phi, exact_first, exact_second = EXACT[name]
    check(f"{name}", out, exact_phi, x, dtype)
    check(f"{name}'", np.asarray(first, dtype=dtype), exact_first, x, dtype)
    if second is None:  # phi'' = 0 away from a kink: stated by returning None
        assert all(exact_second(mpmath.mpf(float(a))) == 0 for a in x if a != 0)
    else:
        check(f"{name}''", second, exact_second, x, dtype)
    # backward is phi' times dout, to the same precision
    check(f"{name} backward", layer.backward(np.ones_like(x)), exact_first, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_softplus_and_log_sigmoid_are_within_a_few_ulps(dtype):
    x = grid(dtype)
    check("sigmoid", sigmoid(x), exact_sigmoid, x, dtype)
    check("softplus", softplus(x), lambda a: mpmath.log1p(mpmath.exp(a)), x, dtype)
    check("log-sigmoid", -softplus(-x), lambda a: -mpmath.log1p(mpmath.exp(-a)), x, dtype)


def test_the_old_sigmoid_form_fails_this_test():
    """The test can fail: (1 + tanh(x/2)) / 2, the form this package used, is 1 ulp-accurate
    for x > 0 but returns 0 at x = -40 (exact 4.2e-18)."""
    x = grid(np.float64)
    old = (1.0 + np.tanh(0.5 * x)) / 2.0
    with pytest.raises(AssertionError, match="ulps"):
        check("old sigmoid", old, exact_sigmoid, x, np.float64)
    t = np.tanh(x)
    with pytest.raises(AssertionError, match="ulps"):
        check("1 - tanh^2", 1.0 - t * t, EXACT["tanh"][1], x, np.float64)


# --------------------------------------------------------------------------- log-densities


def exact_bernoulli(x: float):
    """x l - softplus(l), written for l > 0 as (x - 1) l - log(1 + e^-l) so that 50 digits
    are 50 digits of the result."""
    return lambda a: (
        (x - 1) * a - mpmath.log1p(mpmath.exp(-a)) if a > 0 else x * a - mpmath.log1p(mpmath.exp(a))
    )


@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
def test_bernoulli_log_density_per_pixel_within_a_few_ulps(target):
    """log p(x|l) = x l - softplus(l) for one pixel, over every logit; float64 is the path of
    the gradient checks, and the float32 reference the formula as written."""
    for dtype in DTYPES:
        logits = grid(dtype)
        x = np.full((logits.size, 1), target, dtype=dtype)
        out = logits.reshape(1, -1, 1)
        if dtype == np.float64:
            log_p, _ = make_likelihood("bernoulli", np.float64).log_prob_and_grad(x, out)
            # beyond flush_limit e^-|l| is set to 0 on purpose (derivations.md §11): there the
            # error is that term, below 1e-246, and the relative bound holds inside
            inside = np.abs(logits) <= flush_limit(logits.dtype)
            check(
                f"bernoulli x={target}",
                log_p[0][inside],
                exact_bernoulli(target),
                logits[inside],
                dtype,
            )
            exact = np.array(
                [float(exact_bernoulli(target)(mpmath.mpf(float(a)))) for a in logits[~inside]]
            )
            error = np.abs(log_p[0][~inside] - exact)
            bound = ULPS * np.spacing(np.abs(exact)) + np.exp(-flush_limit(logits.dtype))
            assert np.all(error <= bound)
        # the formula as written cancels where x l and softplus(l) are both large and
        # close (x = 1, l >> 0): it is held to a few ulps of the larger of the two
        log_p_ref, _ = bernoulli_reference(x, out)
        exact_fn = exact_bernoulli(float(dtype(target)))
        for a, got in zip(logits.tolist(), log_p_ref[0].tolist(), strict=True):
            a = mpmath.mpf(a)
            scale = max(abs(dtype(target) * a), mpmath.log1p(mpmath.exp(a)), np.finfo(dtype).tiny)
            ulp = float(np.spacing(dtype(float(scale))))
            assert abs(mpmath.mpf(got) - exact_fn(a)) <= ULPS_OF[dtype] * ulp, (target, a, got)


def test_the_float32_bernoulli_kernel_meets_its_stated_absolute_bound():
    """bernoulli_fast (the float32 training path) computes -log(1 + e^-|l|) as
    log1p(|tanh(l/2)|) - log 2: its error per pixel is within 2 ulps of max(1, |log p|)
    (derivations.md §11), not relative to a log p near 0."""
    logits = grid(np.float32)
    for target in (0.0, 1.0, 0.3):
        x = np.full((logits.size, 1), target, dtype=np.float32)
        log_p, _ = bernoulli_fast(x, logits.reshape(1, -1, 1))
        exact_fn = exact_bernoulli(float(np.float32(target)))
        exact = np.array([float(exact_fn(mpmath.mpf(float(a)))) for a in logits])
        bound = 2 * np.spacing(np.maximum(1.0, np.abs(exact)).astype(np.float32))
        assert np.all(np.abs(log_p[0].astype(np.float64) - exact) <= bound)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_log_density_per_pixel_within_a_few_ulps(dtype):
    """-1/2 log 2pi - 1/2 (x - x_hat)^2: no cancellation (both terms negative)."""
    residual = np.concatenate([[0.0], np.geomspace(1e-6, 1e6, 300)]).astype(dtype)
    x = residual.reshape(-1, 1)
    out = np.zeros((1, residual.size, 1), dtype=dtype)
    log_p, _ = make_likelihood("gaussian", dtype=dtype).log_prob_and_grad(x, out)

    def exact(r):
        return -mpmath.log(2 * mpmath.pi) / 2 - r * r / 2

    check("gaussian", log_p[0], exact, residual, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("logvar", [-20.0, -3.0, 0.0, 5.0, 40.0])
def test_learned_variance_gaussian_log_density_within_a_few_ulps_of_its_terms(dtype, logvar):
    """-1/2 (log 2pi + v + (x - x_hat)^2 e^-v): a sum of terms of both signs, so it is held to a
    few ulps of the largest term (near a zero of the sum no rounded form does better)."""
    residual = np.concatenate([[0.0], np.geomspace(1e-4, 1e3, 200)]).astype(dtype)
    likelihood = make_likelihood("gaussian_shared_var", dtype=dtype)
    likelihood.params["logvar"][...] = logvar
    log_p, _ = likelihood.log_prob_and_grad(
        residual.reshape(-1, 1), np.zeros((1, residual.size, 1), dtype=dtype)
    )
    v = mpmath.mpf(float(dtype(logvar)))
    for r, got in zip(residual.tolist(), log_p[0].tolist(), strict=True):
        terms = [mpmath.log(2 * mpmath.pi), v, mpmath.mpf(r) ** 2 * mpmath.exp(-v)]
        exact = -sum(terms) / 2
        scale = max(abs(t) for t in terms) / 2
        if scale > np.finfo(dtype).max:
            continue
        ulp = float(np.spacing(dtype(float(scale))))
        assert abs(mpmath.mpf(got) - exact) <= ULPS_OF[dtype] * ulp, (r, got, exact)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus"])
def test_the_weights_feeding_a_saturated_unit_get_their_exact_gradient(name):
    """A Dense layer into a unit saturated at pre-activations of +-(30..40): dW = x^T (dout *
    phi'(a)), summed from positive terms, within a few ulps per term of mpmath. The textbook
    slopes of the cached output gave 0 or a wrong value there (relative error up to 1)."""
    from numpyvae.layers import Dense

    rng = np.random.default_rng(0)
    dense = Dense(3, 2, rng=rng)
    x = rng.uniform(0.5, 1.0, size=(5, 3))
    dense.params["W"][...] = 1.0
    dense.params["b"][...] = [-36.0, 34.0]  # unit 0 saturated below, unit 1 above
    layer = ACTIVATIONS[name]()
    a = dense.forward(x)
    layer.forward(a)
    dout = rng.uniform(0.5, 1.0, size=a.shape)
    dense.backward(layer.backward(dout))
    slope = EXACT[name][1]
    for j in range(2):
        terms = [
            [
                mpmath.mpf(x[n, i]) * mpmath.mpf(dout[n, j]) * slope(mpmath.mpf(a[n, j]))
                for n in range(5)
            ]
            for i in range(3)
        ]
        for i in range(3):
            exact = sum(terms[i])
            got = dense.grads["W"][i, j]
            assert abs(mpmath.mpf(got) - exact) <= 8 * float(np.spacing(float(exact))), (
                name,
                i,
                j,
                got,
                mpmath.nstr(exact, 17),
            )
