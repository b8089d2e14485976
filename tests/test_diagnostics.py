"""numpyvae.diagnostics on constructed cases whose answers are known (derivations.md §13.4), and
on a trained linear VAE whose collapse the closed form predicts (§13.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numpyvae import VAE, diagnostics, ppca
from numpyvae.optim import Adam
from numpyvae.validation import InvalidValueError

D, K = 5, 3


def linear_vae(seed: int = 0, likelihood: str = "gaussian", **options) -> VAE:
    return VAE(D, K, hidden=(), likelihood=likelihood, seed=seed, **options)


def set_encoder(model: VAE, mean_weights: np.ndarray, mean_bias, logvar_bias) -> None:
    """Encoder mean x @ mean_weights + mean_bias (mean_weights (d, k)), constant log-variances."""
    params = model.encoder.dense[0].params
    params["W"][...] = np.concatenate([mean_weights, np.zeros_like(mean_weights)], axis=1)
    params["b"][...] = np.concatenate([np.broadcast_to(mean_bias, (K,)), logvar_bias])


def test_kl_per_dimension_sums_to_the_kl_term():
    """For the diagonal posterior the per-dimension KLs add up to the ELBO's KL, averaged over
    the data; for the full one (marginals) they add up to less: the rest is q's correlation."""
    x = (np.random.default_rng(0).random((40, 8)) < 0.5).astype(float)
    model = VAE(8, 4, hidden=(6,), seed=1)
    result = diagnostics.diagnose(model, x)
    h = diagnostics.encoder_outputs(model, x)
    assert result.kl_per_dimension.sum() == pytest.approx(model.posterior.kl(h).mean(), rel=1e-12)
    assert np.all(result.kl_per_dimension > 0)
    full = VAE(8, 4, hidden=(6,), posterior="full", seed=1)
    h = diagnostics.encoder_outputs(full, x)
    per_dimension = diagnostics.diagnose(full, x).kl_per_dimension
    assert per_dimension.sum() < full.posterior.kl(h).mean()


def test_a_unit_wired_to_ignore_x_is_inactive_and_the_others_have_their_known_activity():
    """Encoder mean A^T x + c with the column of unit 2 zero: its activity is 0; the others'
    is a_j^T S a_j, S the data's covariance with divisor N."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, D)) @ rng.normal(size=(D, D))
    A = rng.normal(size=(D, K)) * 0.3
    A[:, 2] = 0.0
    model = linear_vae()
    set_encoder(model, A, rng.normal(size=K), np.zeros(K))
    result = diagnostics.diagnose(model, x)
    _, S = ppca.sample_moments(x)
    expected = np.einsum("dj,de,ej->j", A, S, A)
    np.testing.assert_allclose(result.activity, expected, rtol=1e-10, atol=1e-20)
    assert result.activity[2] < 1e-20  # the variance of a constant, up to rounding
    assert result.active_units == 2
    assert diagnostics.diagnose(model, x, threshold=expected.max() * (1 + 1e-9)).active_units == 0


def test_a_posterior_equal_to_the_prior_has_zero_kl_activity_and_information():
    """Encoder weights and biases 0: q(z|x) = N(0, I) for every x, so every KL, every activity
    and I(x; z) are 0 (the posterior has collapsed completely)."""
    x = np.random.default_rng(3).normal(size=(200, D))
    model = linear_vae()
    set_encoder(model, np.zeros((D, K)), 0.0, np.zeros(K))
    result = diagnostics.diagnose(model, x)
    assert np.array_equal(result.kl_per_dimension, np.zeros(K))
    assert np.array_equal(result.activity, np.zeros(K))
    assert result.active_units == 0
    assert result.mutual_information == pytest.approx(0.0, abs=1e-12)


def test_point_posteriors_at_distinct_means_carry_log_n_nats():
    """Tiny variances around distinct means: the code identifies x, I(x; z) = log N."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, D))
    model = linear_vae()
    set_encoder(model, rng.normal(size=(D, K)), 0.0, np.full(K, -20.0))
    result = diagnostics.diagnose(model, x)
    assert result.mutual_information == pytest.approx(math.log(100), abs=1e-9)


def test_information_of_a_gaussian_encoder_matches_the_closed_form():
    """x ~ N(0, I), mu = A^T x, constant variances sigma^2: q(z) = N(0, A^T A + diag(sigma^2)),
    so I(x; z) = 1/2 log det(A^T A + diag(sigma^2)) - 1/2 sum log sigma^2. The estimate on
    N = 4000 points, averaged over 5 draws of z, agrees within 0.03 nats."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4000, D))
    A = rng.normal(size=(D, K)) * 0.5
    logvar = np.log([0.5, 1.0, 2.0])
    model = linear_vae()
    set_encoder(model, A, 0.0, logvar)
    exact = 0.5 * (np.linalg.slogdet(A.T @ A + np.diag(np.exp(logvar)))[1] - logvar.sum())
    estimates = [
        diagnostics.diagnose(model, x, rng=np.random.default_rng(s)).mutual_information
        for s in range(5)
    ]
    assert np.mean(estimates) == pytest.approx(exact, abs=0.03)
    assert 0.5 < exact < math.log(4000)


def test_fast_information_estimate_equals_the_term_by_term_reference():
    rng = np.random.default_rng(6)
    model = VAE(D, K, hidden=(7,), likelihood="gaussian", seed=2)
    x = rng.normal(size=(60, D))
    h = diagnostics.encoder_outputs(model, x)
    mu, logvar = model.posterior.split(h)
    z = model.posterior.sample(h, rng.standard_normal((1, 60, K)))[0]
    reference = diagnostics.aggregate_mutual_information_reference(model.posterior, h, z)
    for rows in (7, 60, 500):  # the chunks leave the sum unchanged
        fast = diagnostics.aggregate_mutual_information_of(mu, logvar, z, rows=rows)
        assert fast == pytest.approx(reference, rel=1e-10, abs=1e-12)


def test_full_covariance_estimate_equals_the_term_by_term_reference():
    rng = np.random.default_rng(10)
    model = VAE(D, K, hidden=(7,), likelihood="gaussian", posterior="full", seed=2)
    x = rng.normal(size=(50, D))
    h = diagnostics.encoder_outputs(model, x)
    mu, L = model.posterior.split(h)
    z = model.posterior.sample(h, rng.standard_normal((1, 50, K)))[0]
    reference = diagnostics.aggregate_mutual_information_reference(model.posterior, h, z)
    for rows in (1, 7, 500):  # chunks of 1, 7 and all z_n
        fast = diagnostics.aggregate_mutual_information_full(mu, L, z, rows=rows)
        assert fast == pytest.approx(reference, rel=1e-10, abs=1e-12)
    assert diagnostics.diagnose(model, x).mutual_information > 0


def test_diagnose_leaves_the_models_generator_alone_and_is_repeatable():
    model = VAE(D, K, hidden=(4,), likelihood="gaussian", seed=3)
    x = np.random.default_rng(7).normal(size=(30, D))
    state = model.rng.bit_generator.state
    first, second = diagnostics.diagnose(model, x), diagnostics.diagnose(model, x)
    assert model.rng.bit_generator.state == state
    assert first.mutual_information == second.mutual_information
    lines = first.summary().splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"active units {first.active_units} of 3")
    assert "log N = 3.40" in lines[1]


def test_bad_input_is_refused_with_one_clear_line():
    model = linear_vae()
    with pytest.raises(InvalidValueError, match="threshold"):
        diagnostics.diagnose(model, np.zeros((4, D)), threshold=-1.0)
    with pytest.raises(InvalidValueError, match=f"x must have shape \\(N, {D}\\)|{D}"):
        diagnostics.diagnose(model, np.zeros((4, D + 1)))


def test_trained_linear_vae_collapses_the_directions_below_the_noise():
    """The lectures' Gaussian with identity covariance is the linear model with s2 = 1 held
    fixed. On data with eigenvalues (4, 2, 0.5, ...) and k = 3, the third direction lies below
    the noise and collapses (§13.3): the trained VAE's KL per dimension approaches
    1/2 log(lambda_j / s2)_+ = (0.69, 0.35, 0) within 0.02 nats, its activities
    (lambda_j - s2)_+ / lambda_j = (0.75, 0.5, 0) within 0.02, and 2 units are active."""
    rng = np.random.default_rng(8)
    U, _ = np.linalg.qr(rng.normal(size=(D, D)))
    x = (rng.normal(size=(1000, D)) * np.sqrt([4.0, 2.0, 0.5, 0.3, 0.2])) @ U.T
    fit = ppca.fit_ppca(x, K, s2=1.0)
    model = linear_vae(n_samples=4)
    optimizer = Adam(model.params, lr=1e-2)
    batch = model.prepare(x)
    for step in range(3000):
        if step in (1500, 2500):
            optimizer.lr /= 5
        optimizer.step(model.gradients(batch, model.noise(None, len(batch)))[1])
    result = diagnostics.diagnose(model, x)
    order = np.argsort(result.kl_per_dimension)[::-1]
    np.testing.assert_allclose(
        result.kl_per_dimension[order],
        ppca.optimal_kl_per_dimension(fit.eigenvalues, 1.0, K),
        atol=0.02,
    )
    np.testing.assert_allclose(
        result.activity[order], ppca.optimal_activity(fit.eigenvalues, 1.0, K), atol=0.02
    )
    assert result.active_units == 2
    assert result.kl_per_dimension[order[-1]] < 0.01


# ----------------------------------------------------------------------------- flows
def linear_flow(flow: str, theta_bias: np.ndarray, seed: int = 0, **options) -> VAE:
    """A linear-encoder flow model whose K = 2 steps have parameters theta_bias (p,) at every x
    (their weights 0): h = [mu | logvar | theta_bias | theta_bias]."""
    model = VAE(
        D,
        K,
        hidden=(),
        likelihood="gaussian",
        posterior=flow,
        flow_length=2,
        seed=seed,
        kl_estimator="sampled",
        **options,
    )
    params = model.encoder.dense[0].params
    params["W"][:, 2 * K :] = 0.0
    params["b"][2 * K :] = np.tile(theta_bias, 2)
    return model


def identity_step(flow: str, rng: np.random.Generator) -> np.ndarray:
    """Step parameters of an identity step: planar u = w = 0 (u_hat = 0), any b; radial any
    centre and alpha, beta = 0 (the raw c equal to the raw a)."""
    if flow == "planar":
        return np.concatenate([np.zeros(2 * K), rng.normal(size=1)])
    a = rng.normal()
    return np.concatenate([rng.normal(size=K), [a, a]])


def copy_base_encoder(flow_model: VAE, diagonal: VAE) -> None:
    """The diagonal model's encoder gets the flow's [mu | logvar] outputs."""
    source = flow_model.encoder.dense[0].params
    for name in ("W", "b"):
        diagonal.encoder.dense[0].params[name][...] = source[name][..., : 2 * K]


@pytest.mark.parametrize("flow", ["planar", "radial"])
def test_a_flow_of_identity_steps_has_the_activity_and_information_of_its_base(flow):
    """Identity steps leave q(z|x) the diagonal Gaussian: the sampled E_q[z|x] (antithetic
    pairs) gives its activity and the term-by-term I(x; z) its estimate, from the same draw of
    z (N = 200 points, all used); the KL per dimension is NaN and the summary says why."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(200, D))
    model = linear_flow(flow, identity_step(flow, rng))
    diagonal = linear_vae()
    copy_base_encoder(model, diagonal)
    result, expected = diagnostics.diagnose(model, x), diagnostics.diagnose(diagonal, x)
    np.testing.assert_allclose(result.activity, expected.activity, rtol=1e-10)
    assert result.active_units == expected.active_units > 0
    assert result.mutual_information == pytest.approx(expected.mutual_information, abs=1e-9)
    assert expected.mutual_information > 0.1
    assert np.isnan(result.kl_per_dimension).all() and result.kl_per_dimension.shape == (K,)
    assert result.mean_samples == diagnostics.MEAN_SAMPLES and result.information_points is None
    lines = result.summary().splitlines()
    assert f"E_q from {diagnostics.MEAN_SAMPLES} draws" in lines[0]
    assert "for these 200 points)" in lines[1]
    assert lines[2] == (
        "KL per dimension: not available (the marginals q(z_j|x) have no closed form)"
    )


def test_a_flow_unit_wired_to_ignore_x_is_inactive():
    """Planar steps with u_2 = w_2 = 0 never move z_2, and its mu_2, logvar_2 are constants:
    the sampled E_q[z_2|x] is the same at every x, activity 0 to rounding, while the other
    units, which the steps mix with x-dependent parameters, are active. 300 points: I(x; z)
    uses the first 256, and stays below log 256."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(300, D))
    theta = rng.normal(size=2 * K + 1)
    theta[[2, K + 2]] = 0.0  # u_2 and w_2
    model = linear_flow("planar", theta)
    params = model.encoder.dense[0].params
    params["W"][:, [2, K + 2]] = 0.0  # mu_2 and logvar_2 ignore x
    p = 2 * K + 1
    for step in range(2):  # the steps' w and b depend on x, u_2 and w_2 do not
        columns = 2 * K + step * p + np.array([K, K + 1, 2 * K])
        params["W"][:, columns] = rng.normal(scale=0.3, size=(D, 3))
    h = diagnostics.encoder_outputs(model, x)
    assert np.ptp(h[:, 2 * K :], axis=0).max() > 0.1  # the flow's parameters vary with x
    result = diagnostics.diagnose(model, x)
    assert result.activity[2] < 1e-20
    assert np.all(result.activity[[0, 1]] > diagnostics.ACTIVITY_THRESHOLD)
    assert result.active_units == 2
    assert result.information_points == diagnostics.REFERENCE_POINTS
    assert 0 < result.mutual_information <= math.log(diagnostics.REFERENCE_POINTS)
    assert "the first 256 of these 300 points, to bound the cost" in result.summary()


@pytest.mark.parametrize("flow", ["planar", "radial"])
def test_sampled_means_agree_with_a_long_monte_carlo_run(flow):
    """E_q[z|x] of a bent flow from 64 draws against 20000: within 5 standard errors of the
    64-draw estimate (the spread of z over independent draws bounds it), and on average
    three times farther from the flow's image of the base mean, f(mu), which `mean` returns."""
    rng = np.random.default_rng(13)
    q = VAE(D, K, hidden=(), posterior=flow, flow_length=3, kl_estimator="sampled").posterior
    h = rng.normal(scale=0.8, size=(40, q.n_params))
    short = diagnostics.sampled_means(q, h, np.random.default_rng(1))
    long = diagnostics.sampled_means(q, h, np.random.default_rng(2), samples=20000, rows=10)
    spread = np.std(q.sample(h, rng.standard_normal((2000, 40, K))), axis=0)
    np.testing.assert_array_less(np.abs(short - long), 5 * spread / math.sqrt(64) + 1e-12)
    assert np.abs(long - q.mean(h)).mean() > 3 * np.abs(short - long).mean()


def test_sampled_means_need_an_even_number_of_draws():
    q = VAE(D, K, hidden=(), posterior="planar", kl_estimator="sampled").posterior
    with pytest.raises(InvalidValueError, match="samples must be even.*got 3"):
        diagnostics.sampled_means(q, np.zeros((2, q.n_params)), np.random.default_rng(), 3)


@pytest.mark.parametrize("flow", ["planar", "radial"])
def test_blockwise_information_estimate_equals_the_term_by_term_reference(flow):
    rng = np.random.default_rng(14)
    q = VAE(D, K, hidden=(), posterior=flow, flow_length=2, kl_estimator="sampled").posterior
    h = rng.normal(scale=0.8, size=(45, q.n_params))
    z = q.sample(h, rng.standard_normal((1, 45, K)))[0]
    reference = diagnostics.aggregate_mutual_information_reference(q, h, z)
    for rows in (1, 7, 500):
        blocks = diagnostics.aggregate_mutual_information_sampled(q, h, z, rows=rows)
        assert blocks == pytest.approx(reference, rel=1e-9, abs=1e-12)
    assert reference > 0


# ----------------------------------------------------------------------------- the history
def small_run(tmp_path, diagnostics_on: bool):
    from numpyvae.checkpoint import save_checkpoint
    from numpyvae.train import Trainer

    rng = np.random.default_rng(9)
    x = (rng.random((64, 12)) < 0.4).astype(float)
    model = VAE(12, 3, hidden=(8,), seed=0)
    trainer = Trainer(model, Adam(model.params, lr=1e-2), batch_size=16)
    trainer.fit(x, 2, x_test=x[:40], diagnostics=diagnostics_on)
    save_checkpoint(tmp_path / "run.npz", trainer)
    return x, trainer


def test_trainer_records_the_diagnostics_of_the_test_set_each_epoch(tmp_path):
    from numpyvae.checkpoint import read_checkpoint

    x, trainer = small_run(tmp_path, diagnostics_on=True)
    h = trainer.history
    assert len(h.active_units) == len(h.mutual_information) == len(h.kl_per_dimension) == 2
    expected = diagnostics.diagnose(trainer.model, x[:40])
    assert h.active_units[-1] == expected.active_units
    assert h.mutual_information[-1] == expected.mutual_information
    np.testing.assert_array_equal(h.kl_per_dimension[-1], expected.kl_per_dimension)
    restored = read_checkpoint(tmp_path / "run.npz").trainer.history
    assert restored == h


def test_a_checkpoint_without_diagnostics_loads_and_resumes_with_nan_before(tmp_path):
    """A run saved without the series (as numpyvae wrote them before) still loads; training
    on records the new epochs' diagnostics, and the old epochs read NaN (null in history.json)."""
    from numpyvae.checkpoint import read_checkpoint

    x, _ = small_run(tmp_path, diagnostics_on=False)
    with np.load(tmp_path / "run.npz") as saved:
        assert not any(name.startswith("history/active") for name in saved.files)
    trainer = read_checkpoint(tmp_path / "run.npz").trainer
    assert trainer.history.active_units == []
    trainer.fit(x, 1, x_test=x[:40])
    h = trainer.history
    assert len(h.loss) == len(h.active_units) == 3
    assert np.isnan(h.active_units[:2]).all() and h.active_units[2] >= 0
    assert np.array(h.kl_per_dimension).shape == (3, 3)
    record = h.as_json()
    assert record["active_units"][:2] == [None, None]
    assert record["kl_per_dimension"][0] == [None, None, None]


def test_evaluate_prints_the_diagnostics_that_train_recorded(tmp_path, capsys):
    """`numpyvae evaluate` on a run's checkpoint prints the same active units and KL per
    dimension as the last row of the history train wrote (the same first 200 test images)."""
    import json
    import re

    from numpyvae import cli

    out = tmp_path / "run"
    tiny = ["--data", "embedded", "--limit", "200", "--latent-dim", "4", "--no-progress"]
    assert cli.main(["train", *tiny, "--hidden", "16", "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    checkpoint = out / "checkpoint.npz"
    assert cli.main(["evaluate", "--checkpoint", str(checkpoint)]) == 0
    stdout = capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    found = re.search(r"active units (\d+) of 4", stdout)
    assert found and int(found.group(1)) == history["active_units"][-1]
    kl = re.search(r"KL per dimension, largest first \(nats\): ([\d. ]+)", stdout).group(1)
    expected = sorted(history["kl_per_dimension"][-1], reverse=True)
    np.testing.assert_allclose([float(v) for v in kl.split()], expected, atol=0.006)
    assert re.search(r"I\(x; z\) under q ~ [\d.]+ nats \(at most log N = 5.30", stdout)


@pytest.mark.parametrize("flow", ["planar", "radial"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_flow_runs_history_records_and_its_checkpoint_keeps_the_diagnostics(
    tmp_path, flow, dtype
):
    """Training a flow model records its activity and I(x; z) each epoch, the KL per
    dimension as NaN (null in history.json), and the checkpoint returns them as recorded."""
    from numpyvae.checkpoint import read_checkpoint, save_checkpoint
    from numpyvae.train import Trainer

    x = (np.random.default_rng(15).random((64, 12)) < 0.4).astype(dtype)
    model = VAE(
        12,
        3,
        hidden=(8,),
        posterior=flow,
        flow_length=2,
        kl_estimator="sampled",
        dtype=dtype,
        seed=0,
    )
    trainer = Trainer(model, Adam(model.params, lr=1e-2), batch_size=16)
    trainer.fit(x, 2, x_test=x[:40])
    h = trainer.history
    expected = diagnostics.diagnose(model, x[:40])
    assert h.active_units[-1] == expected.active_units
    assert h.mutual_information[-1] == expected.mutual_information
    assert np.isfinite(h.mutual_information).all() and np.isnan(h.kl_per_dimension).all()
    assert h.as_json()["kl_per_dimension"] == [[None] * 3] * 2
    save_checkpoint(tmp_path / "run.npz", trainer)
    restored = read_checkpoint(tmp_path / "run.npz").trainer.history.as_arrays()
    for name, series in h.as_arrays().items():
        np.testing.assert_array_equal(restored[name], series, err_msg=name)


@pytest.mark.parametrize(("flow", "dtype"), [("planar", "float64"), ("radial", "float32")])
def test_train_then_evaluate_a_flow_model_prints_its_diagnostics(tmp_path, capsys, flow, dtype):
    """The command line end to end on a flow: train records the diagnostics, evaluate prints
    the same active units and I(x; z) (the same 300 test images), I(x; z) on the first 256."""
    import json
    import re

    from numpyvae import cli

    out = tmp_path / "run"
    tiny = ["--data", "embedded", "--limit", "300", "--latent-dim", "4", "--no-progress"]
    options = ["--posterior", flow, "--flow-length", "2", "--kl-estimator", "sampled"]
    argv = ["train", *tiny, *options, "--dtype", dtype, "--hidden", "16", "--epochs", "1"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", "--checkpoint", str(out / "checkpoint.npz")]) == 0
    stdout = capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    found = re.search(r"active units (\d+) of 4 \(.*E_q from 64 draws", stdout)
    assert found and int(found.group(1)) == history["active_units"][-1]
    mi = re.search(
        r"I\(x; z\) under q ~ ([\d.]+) nats \(at most log N = 5.55 for the first", stdout
    )
    assert mi and float(mi.group(1)) == pytest.approx(history["mutual_information"][-1], abs=0.006)
    assert "KL per dimension: not available" in stdout
    assert history["kl_per_dimension"] == [[None] * 4]
