"""The fast kernels of the training step against their formula-shaped references.

Each kernel sits beside its reference in the module a student reads (numpyvae.optim,
numpyvae.likelihoods.bernoulli). In float64 they agree to rounding; in float32 to the stated
tolerances, which are a few units of the last place of the values involved.
"""

import copy
import os
import pickle
import time

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.kernels import FlatArrays
from numpyvae.kernels.blocks import run_in_blocks
from numpyvae.kernels.fastest import Fastest
from numpyvae.likelihoods.bernoulli import (
    Bernoulli,
    bernoulli_fast,
    bernoulli_reference,
    bernoulli_threads,
)
from numpyvae.optim import (
    FLUSH_MARGIN,
    SGD,
    Adam,
    adam_reference,
    adam_update,
    sgd_reference,
    sgd_update,
)

HYPER = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)


def random_arrays(dtype, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(3)]


def run_adam_both_ways(dtype, steps=200, seed=0):
    """`steps` Adam steps from one start with gradients of scales 1e-4 to 10: the kernel on
    pre-scaled moments, the reference on the moments of the formula, and the reference in
    float64 on the same (float32-rounded) gradients. Returns (p, m, v) of each, the kernel's
    moments converted to those of the formula, and the start."""
    start = np.random.default_rng(seed).standard_normal(1000)
    runs = {
        "kernel": [start.astype(dtype)] + [np.zeros(1000, dtype) for _ in range(2)],
        "reference": [start.astype(dtype)] + [np.zeros(1000, dtype) for _ in range(2)],
        "exact": [start.copy(), np.zeros(1000), np.zeros(1000)],
    }
    tmp = np.empty(1000, dtype)
    rng = np.random.default_rng(seed + 1)
    for t in range(1, steps + 1):
        g = (rng.standard_normal(1000) * 10.0 ** rng.integers(-4, 2)).astype(dtype)
        for name, (p, m, v) in runs.items():
            if name == "kernel":
                adam_update(p, g, m, v, tmp, t, *HYPER.values())
            else:
                adam_reference(p, g.astype(p.dtype), m, v, t, **HYPER)
    p, m_scaled, v_scaled = runs["kernel"]
    assert p.dtype == m_scaled.dtype == v_scaled.dtype == dtype
    runs["kernel"] = [p, (1 - HYPER["beta1"]) * m_scaled, (1 - HYPER["beta2"]) * v_scaled]
    return runs, start


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 5e-6)])
def test_adam_update_on_prescaled_moments_matches_the_formula(dtype, tol):
    """After 200 steps the kernel's p, (1 - b1) m and (1 - b2) v agree with the reference's
    p, m and v to `tol` times their largest entry, and v (positive, no cancellation) entry by
    entry to 10 `tol`: rounding in float64 (measured: 2e-15); in float32 a few units of the
    last place (measured: 9e-7), the two forms rounding differently (b1 m + g against
    b1 m + (1 - b1) g, and the folded constants)."""
    runs, start = run_adam_both_ways(dtype)
    for fast, ref in zip(runs["kernel"], runs["reference"], strict=True):
        assert np.max(np.abs(fast - ref)) <= tol * np.max(np.abs(ref))
    np.testing.assert_allclose(runs["kernel"][2], runs["reference"][2], rtol=10 * tol)
    assert np.max(np.abs(runs["kernel"][0] - start)) > 5e-2  # the parameters did move


@pytest.mark.parametrize("beta1, beta2", [(0.0, 0.0), (0.0, 0.999), (0.5, 0.0), (0.99, 0.9999)])
def test_adam_update_matches_the_formula_for_any_betas(beta1, beta2):
    """The folded constants hold at the ends of [0, 1) too (b = 0: no scaling, no momentum):
    50 float64 steps agree to 1e-14 of the largest parameter (measured: 2e-16)."""
    rng = np.random.default_rng(0)
    p_fast = rng.standard_normal(100)
    p_ref = p_fast.copy()
    m_fast, v_fast, m_ref, v_ref, tmp = (np.zeros(100) for _ in range(5))
    for t in range(1, 51):
        g = rng.standard_normal(100)
        adam_update(p_fast, g, m_fast, v_fast, tmp, t, 1e-2, beta1, beta2, 1e-8)
        adam_reference(p_ref, g, m_ref, v_ref, t, 1e-2, beta1, beta2, 1e-8)
    assert np.max(np.abs(p_fast - p_ref)) <= 1e-14 * np.max(np.abs(p_ref))
    np.testing.assert_allclose((1 - beta2) * v_fast, v_ref, rtol=1e-13)


def test_prescaled_float32_adam_is_as_accurate_as_the_formula_in_float32():
    """Against Adam in float64 on the same gradients, the float32 kernel's p, m and v are off
    by at most twice as much as the float32 reference's (measured: 0.9 to 1.2 times as much,
    about 1e-6 of the largest entry): pre-scaling loses no accuracy."""
    runs, _ = run_adam_both_ways(np.float32, seed=2)
    for fast, ref, exact in zip(runs["kernel"], runs["reference"], runs["exact"], strict=True):
        scale = np.max(np.abs(exact))
        fast_error = np.max(np.abs(fast - exact)) / scale
        ref_error = np.max(np.abs(ref - exact)) / scale
        assert 0 < ref_error < 1e-5 and fast_error <= 2 * ref_error


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_sgd_update_matches_the_formula(dtype, rtol):
    p_fast, g, _ = random_arrays(dtype)
    p_ref, vel_fast, vel_ref = p_fast.copy(), np.zeros_like(p_fast), np.zeros_like(p_fast)
    for _ in range(5):
        sgd_update(p_fast, g, vel_fast, 0.01, 0.9)
        sgd_reference(p_ref, g, vel_ref, 0.01, 0.9)
    np.testing.assert_allclose(vel_fast, vel_ref, rtol=rtol)
    np.testing.assert_allclose(p_fast, p_ref, rtol=rtol)
    assert p_fast.dtype == dtype


def logits_and_targets(dtype, M=2, B=16, d=50, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((B, d)) < 0.4).astype(dtype)
    x[0] = rng.random(d)  # intensities in [0, 1] as well as binary pixels
    logits = (rng.standard_normal((M, B, d)) * 10).astype(dtype)
    logits[0, 1, :6] = [-95.0, 95.0, 75.0, -80.0, 0.0, 1e-3]  # saturated, zero and tiny
    return x, logits


def test_bernoulli_fast_matches_the_formula_float64():
    x, logits = logits_and_targets(np.float64)
    log_p, grad = bernoulli_fast(x, logits)
    ref_log_p, ref_grad = bernoulli_reference(x, logits)
    np.testing.assert_allclose(log_p, ref_log_p, rtol=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=4e-16)


def test_bernoulli_fast_matches_the_formula_float32():
    """float32: log p to 1e-6 relative (a sum of d terms), each gradient entry x - sigmoid(l)
    to 2 units of the last place of 1 (1.2e-7), against the float64 reference."""
    x, logits = logits_and_targets(np.float32)
    log_p, grad = bernoulli_fast(x, logits)
    assert log_p.dtype == np.float32 and grad.dtype == np.float32
    ref_log_p, ref_grad = bernoulli_reference(x.astype(np.float64), logits.astype(np.float64))
    np.testing.assert_allclose(log_p, ref_log_p, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1.2e-7)


def test_bernoulli_chooses_the_kernel_by_precision():
    x, logits = logits_and_targets(np.float32)
    fast = bernoulli_fast(x, logits)
    used = Bernoulli(dtype=np.float32).log_prob_and_grad(x, logits)
    for a, b in zip(fast, used, strict=True):
        np.testing.assert_array_equal(a, b)
    x64, logits64 = x.astype(np.float64), logits.astype(np.float64)
    exact = Bernoulli().log_prob_and_grad(x64, logits64)  # float64: log1p, not the fast kernel
    ref = bernoulli_reference(x64, logits64)
    np.testing.assert_allclose(exact[0], ref[0], rtol=1e-13)
    np.testing.assert_allclose(exact[1], ref[1], rtol=0, atol=4e-16)


def small_model(**options):
    return VAE(12, 3, hidden=(7,), seed=0, **options)


def test_model_parameters_are_views_of_one_flat_buffer():
    model = small_model()
    params = model.params
    assert isinstance(params, FlatArrays)
    assert params.flat.size == sum(p.size for p in params.values())
    for p in params.values():
        assert np.shares_memory(p, params.flat)
    assert model.encoder.dense[0].params["W"] is params["encoder.0.W"]
    # writing through the flat buffer changes what the forward pass uses
    x = np.random.default_rng(0).random((4, 12))
    before = model.encoder.forward(x).copy()
    params.flat[:] = 0.0
    np.testing.assert_array_equal(model.encoder.forward(x), 0.0)
    assert before.any()


def test_loss_and_grads_returns_arrays_the_next_call_leaves_alone():
    model = small_model()
    rng = np.random.default_rng(0)
    x = (rng.random((5, 12)) < 0.5).astype(float)
    _, first = model.loss_and_grads(x, rng.standard_normal((5, 3)))
    kept = {n: g.copy() for n, g in first.items()}
    _, second = model.loss_and_grads(x, rng.standard_normal((5, 3)) + 1.0)
    for name in kept:
        np.testing.assert_array_equal(first[name], kept[name])
    assert any(not np.array_equal(second[n], kept[n]) for n in kept)


def train_steps(model, optimizer, steps=5, live=True):
    rng = np.random.default_rng(3)
    x = (rng.random((6, 12)) < 0.5).astype(model.dtype)
    for _ in range(steps):
        batch = model.prepare(x)
        eps = model.noise(None, len(batch))
        _, grads = model.gradients(batch, eps) if live else model.loss_and_grads(x, eps)
        optimizer.step(grads)
    return {n: p.copy() for n, p in model.params.items()}


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.01), lambda p: SGD(p, lr=0.01)])
def test_flat_update_equals_the_update_per_parameter(make):
    """One kernel call over the flat buffer, the same gradients gathered from a plain dict,
    and one call per parameter (a model whose params are a plain dict) agree bit for bit."""
    flat = train_steps(small_model(), make(small_model().params), steps=0)  # the start
    by_flat_model = small_model()
    by_flat = train_steps(by_flat_model, make(by_flat_model.params))
    gathered_model = small_model()
    gathered = train_steps(gathered_model, make(gathered_model.params), live=False)
    plain_model = copy.deepcopy(small_model())
    assert type(plain_model.params) is dict  # a deep copy cannot keep the views
    per_parameter = train_steps(plain_model, make(plain_model.params))
    for name in by_flat:
        assert not np.array_equal(by_flat[name], flat[name]), name
        np.testing.assert_array_equal(by_flat[name], gathered[name])
        np.testing.assert_array_equal(by_flat[name], per_parameter[name])


def test_pickled_model_keeps_training():
    model = pickle.loads(pickle.dumps(small_model()))
    start = {n: p.copy() for n, p in model.params.items()}
    after = train_steps(model, Adam(model.params, lr=0.01))
    assert all(not np.array_equal(after[n], start[n]) for n in start)


def test_adam_flushes_tiny_first_moments_every_flush_every_steps():
    p = np.ones(4, dtype=np.float32)
    adam = Adam({"p": p}, lr=1e-3)
    tiny = float(np.finfo(np.float32).tiny)
    assert 0.9**adam.flush_every >= 1 / FLUSH_MARGIN > 0.9 ** (adam.flush_every + 1)
    adam.step({"p": np.array([1.0, 1e-30, 1e-36, 0.0], dtype=np.float32)})
    m_first = adam.m["p"].copy()
    assert m_first[2] > 0  # not flushed at a step that is not a multiple of flush_every
    zero = {"p": np.zeros(4, dtype=np.float32)}
    while adam.steps < adam.flush_every:
        adam.step(zero)
    m = adam.m["p"]  # pre-scaled: m / (1 - b1), which started at g
    assert m[0] > 0 and m[1] == 0 and m[2] == 0  # 1e-30 decayed below 2^16 tiny: flushed
    assert np.all((m == 0) | (np.abs(m) >= FLUSH_MARGIN * tiny * 0.9**adam.flush_every))


@pytest.mark.parametrize("beta1", [0.9, 0.5, 0.99])
def test_a_stored_first_moment_above_the_threshold_stays_normal_until_the_next_flush(beta1):
    """The stored (pre-scaled) m decays by b1 a step where g is 0, as the formula's m does, so
    the threshold applies to it unchanged: an entry at FLUSH_MARGIN smallest normal numbers
    just after a flush is still normal at the next flush, which sets it to 0; an entry that
    has fallen below the threshold by a flush step is set to 0 then."""
    tiny = float(np.finfo(np.float32).tiny)
    adam = Adam({"p": np.ones(3, dtype=np.float32)}, lr=1e-3, betas=(beta1, 0.999))
    zero = {"p": np.zeros(3, dtype=np.float32)}
    while adam.steps < adam.flush_every - 1:
        adam.step(zero)
    threshold = FLUSH_MARGIN * tiny
    adam.m["p"][...] = [threshold * 1.01, threshold * 0.99, 1.0]
    adam.step(zero)  # a flush step: m *= b1 first, so both are now below the threshold
    np.testing.assert_array_equal(adam.m["p"][:2], 0.0)
    adam.m["p"][...] = [threshold, threshold * 1.01, 1.0]  # the least a flush leaves alone
    for _ in range(adam.flush_every - 1):
        adam.step(zero)
        assert np.all(np.abs(adam.m["p"][:2]) >= tiny)  # never subnormal
    adam.step(zero)
    np.testing.assert_array_equal(adam.m["p"][:2], 0.0)
    assert adam.m["p"][2] > 0  # a moment far above the threshold is left alone


def test_adam_on_two_threads_equals_one_thread():
    """The update is element-wise, so running the halves of the flat buffer on two threads
    gives the same bits."""
    results = []
    for threads in (1, 2):
        model = small_model()
        results.append(train_steps(model, Adam(model.params, lr=0.01, threads=threads)))
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name])


@pytest.mark.parametrize("block, threads", [(1000, 1), (64, 1), (333, 2), (7, 2), (500, 2)])
def test_adam_in_blocks_gives_the_bits_of_one_call(block, threads):
    """Blocks of any size (dividing n or not), shared by one or two threads, compute every
    entry exactly as one call over the whole arrays: the kernel is element-wise."""
    p, g, _ = random_arrays(np.float32, seed=4)
    zeros = np.zeros_like(p)
    whole = [p.copy(), g, zeros.copy(), zeros.copy(), zeros.copy()]  # p, g, m, v, scratch
    blocked = [p.copy(), g, zeros.copy(), zeros.copy(), zeros.copy()]
    for t in range(1, 4):
        adam_update(*whole, t, *HYPER.values())
        run_in_blocks(adam_update, blocked, (t, *HYPER.values()), block=block, threads=threads)
    for a, b in zip(whole[:4], blocked[:4], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole[0], p)


def test_every_form_of_the_flat_adam_update_gives_the_same_bits():
    """Adam measures its candidate forms (whole arrays or blocks, one thread or two) and
    keeps the fastest: forced to each one in turn, training the 164k float32 parameters of a
    784-100-20 model gives the same parameters to the last bit."""
    rng = np.random.default_rng(5)
    x = rng.random((8, 784), dtype=np.float32)
    results = {}
    for threads in (1, 2):
        params = VAE(784, 20, hidden=(100,), dtype=np.float32).params
        for name in Adam(params, threads=threads).kernel.candidates:
            model = VAE(784, 20, hidden=(100,), seed=0, dtype=np.float32)
            adam = Adam(model.params, lr=0.01, threads=threads)
            adam.kernel.candidates = {name: adam.kernel.candidates[name]}
            for _ in range(3):
                batch = model.prepare(x)
                adam.step(model.gradients(batch, model.noise(None, len(batch)))[1])
            results[name] = model.params.flat.copy()
    assert len(results) == 6  # whole arrays and two block sizes, on one thread and two
    first = next(iter(results.values()))
    for name, params in results.items():
        np.testing.assert_array_equal(params, first, err_msg=name)


def test_fastest_measures_every_candidate_then_keeps_the_fastest():
    calls = []

    def slow(x):
        calls.append("slow")
        time.sleep(0.002)

    def quick(x):
        calls.append("quick")

    chooser = Fastest({"slow": slow, "quick": quick}, rounds=3, keep=5)
    for _ in range(6):
        chooser(0)
    assert sorted(calls) == ["quick"] * 3 + ["slow"] * 3 and chooser.chosen == "quick"
    assert [len(t) for t in chooser.timings.values()] == [3, 3]
    calls.clear()
    for _ in range(5):
        chooser(0)
    assert calls == ["quick"] * 5 and chooser.chosen is None  # time to measure again
    calls.clear()
    chooser(0)
    assert len(calls) == 1 and chooser.chosen is None


@pytest.mark.parametrize("M, B", [(1, 128), (2, 15), (3, 2)])
def test_bernoulli_rows_over_two_threads_give_the_bits_of_one(M, B):
    """The likelihood measures its float32 kernel on one thread and with the batch's rows
    split over two, and keeps the faster: both give the same bits, any M and B."""
    x, logits = logits_and_targets(np.float32, M=M, B=B, d=784)
    one = bernoulli_threads(x, logits, threads=1)
    two = bernoulli_threads(x, logits, threads=2)
    whole = bernoulli_fast(x, logits)
    for a, b, c in zip(one, two, whole, strict=True):
        assert a.shape == c.shape and a.dtype == c.dtype == np.float32
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


@pytest.mark.parametrize("n, block, threads, calls", [(10, 3, 1, 4), (10, 5, 2, 2), (10, 20, 2, 1)])
def test_run_in_blocks_splits_the_first_axis(n, block, threads, calls):
    """Blocks run along the first axis (a batch's rows as well as a 1-D buffer), each once."""
    seen = []
    rows = np.arange(n * 4.0).reshape(n, 4)
    run_in_blocks(
        lambda a, c: seen.append(a.copy() * c), [rows], (2.0,), block=block, threads=threads
    )
    assert len(seen) == calls
    np.testing.assert_array_equal(np.sort(np.concatenate(seen), axis=0), rows * 2.0)


def test_bernoulli_measures_each_shape_of_logits_apart():
    """Training and evaluation batches differ in size, and so may their fastest form: the
    likelihood keeps one choice per shape, and every call gives bernoulli_fast's bits."""
    likelihood = Bernoulli(dtype=np.float32)
    for B in (16, 16, 16, 40, 16, 40):
        x, logits = logits_and_targets(np.float32, M=1, B=B)
        used, fast = likelihood.log_prob_and_grad(x, logits), bernoulli_fast(x, logits)
        for a, b in zip(used, fast, strict=True):
            np.testing.assert_array_equal(a, b)
    assert sorted(likelihood.kernels) == [(1, 16, 50), (1, 40, 50)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_blocks_on_two_threads_work_in_a_forked_child():
    """A child forked after the helper thread started has no such thread: it makes its own,
    rather than waiting for ever on the parent's."""
    a = np.arange(10.0)
    run_in_blocks(np.negative, [a, a], (), block=5, threads=2)  # the parent's helper starts
    pid = os.fork()
    if pid == 0:  # the child: exit 0 once the blocks ran on two threads
        b = np.arange(10.0)
        run_in_blocks(np.negative, [b, b], (), block=5, threads=2)
        os._exit(0 if np.array_equal(b, -np.arange(10.0)) else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's blocks did not finish within 60 s")


def test_fastest_knocks_out_the_slower_half_until_one_is_left():
    """Six candidates: 4 rounds of six, 4 of the faster three, 4 of the faster two; then the
    fastest runs alone. The times are made by sleeping, so the order is certain."""
    delays = {"a": 0.012, "b": 0.0, "c": 0.010, "d": 0.003, "e": 0.014, "f": 0.006}
    calls = []

    def make(name):
        def run():
            calls.append(name)
            time.sleep(delays[name])

        return run

    chooser = Fastest({n: make(n) for n in delays}, rounds=4, keep=10)
    for _ in range(24 + 12 + 8):
        assert chooser.chosen is None
        chooser()
    assert calls[:6] == list(delays) and sorted(set(calls[24:36])) == ["b", "d", "f"]
    assert sorted(set(calls[36:])) == ["b", "d"] and chooser.chosen == "b"
    assert {n: len(t) for n, t in chooser.timings.items()} == dict(a=4, b=12, c=4, d=12, e=4, f=8)
