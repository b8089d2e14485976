"""Planar and radial normalizing-flow posteriors (derivations.md §14)."""

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.gradcheck import check_gradient, check_model, numerical_vjp
from numpyvae.posteriors import POSTERIORS, DiagonalGaussian, PlanarFlow, RadialFlow
from numpyvae.posteriors.flow import softplus
from numpyvae.posteriors.planar import PlanarStep, reparameterize, reparameterize_backward
from numpyvae.posteriors.radial import RadialStep
from numpyvae.validation import ConfigError

FLOWS = ["planar", "radial"]
STEPS = {"planar": PlanarStep, "radial": RadialStep}
D = 8


def random_theta(flow, k, batch, rng, active=False):
    """Step parameters (batch, p); with `active`, planar raw u has w^T u < -1 (the
    reparameterisation changes the map's invertibility there)."""
    step = STEPS[flow](k)
    theta = rng.normal(scale=0.8, size=(batch, step.n_params))
    if active and flow == "planar":
        u, w = theta[:, :k], theta[:, k : 2 * k]
        w += 0.5 * np.sign(w)
        u[...] = -2.0 * w / np.sum(w * w, axis=1, keepdims=True) + 0.3 * u
        assert np.all(np.sum(w * u, axis=1) < -1)
    return step, theta


def numerical_jacobian(f, z, h=1e-6):
    """J[..., a, b] = d f_a / d z_b (M, B, k, k) by centred differences of f (M, B, k)."""
    k = z.shape[-1]
    jac = np.zeros(z.shape + (k,))
    for b in range(k):
        step = np.zeros(k)
        step[b] = h
        jac[..., :, b] = (f(z + step) - f(z - step)) / (2 * h)
    return jac


# ------------------------------------------------------------------------- one step
@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("active", [False, True])
def test_log_det_is_log_det_of_the_finite_difference_jacobian(flow, k, active):
    rng = np.random.default_rng(k)
    step, theta = random_theta(flow, k, 3, rng, active)
    z = rng.normal(size=(4, 3, k))
    log_det = step.forward(z, theta)[1]
    jac = numerical_jacobian(lambda v: step.forward(v, theta)[0], z)
    sign, expected = np.linalg.slogdet(jac)
    assert np.all(sign > 0)  # invertible, orientation kept: what the reparameterisation promises
    np.testing.assert_allclose(log_det, expected, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("active", [False, True])
def test_step_backward_by_finite_differences(flow, k, active):
    """dL/dz and dL/dtheta of L = sum(dz' * z') + sum(dlog_det * log_det)."""
    rng = np.random.default_rng(10 + k)
    step, theta = random_theta(flow, k, 3, rng, active)
    z = rng.normal(size=(2, 3, k))
    dz_out, dlog_det = rng.normal(size=(2, 3, k)), rng.normal(size=(2, 3))

    def objective():
        z_out, log_det, _ = step.forward(z, theta)
        return np.sum(dz_out * z_out) + np.sum(dlog_det * log_det)

    dz, dtheta = step.backward(step.forward(z, theta)[2], dz_out, dlog_det)
    report = check_gradient(objective, {"z": z, "theta": theta}, {"z": dz, "theta": dtheta})
    assert report.passed, str(report)


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("k", [1, 2, 4])
def test_inverse_undoes_the_step(flow, k):
    rng = np.random.default_rng(20 + k)
    step, theta = random_theta(flow, k, 5, rng, active=True)
    z = 2 * rng.normal(size=(6, 5, k))
    np.testing.assert_allclose(step.inverse(step.forward(z, theta)[0], theta), z, atol=1e-10)


def test_planar_reparameterisation_keeps_w_dot_u_hat_above_minus_one():
    rng = np.random.default_rng(3)
    u, w = 3 * rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    a = np.sum(w * u, axis=1)
    assert (a < -1).sum() > 20  # many raw u violate the condition
    wu_hat = np.sum(w * reparameterize(u, w), axis=1)
    np.testing.assert_allclose(wu_hat, -1 + softplus(a), rtol=1e-12, atol=1e-12)
    assert np.all(wu_hat > -1)


def test_planar_reparameterisation_backward_by_finite_differences():
    rng = np.random.default_rng(4)
    u, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    u[0] = -3 * w[0]  # w^T u < -1 in the first row
    du_hat = rng.normal(size=(3, 4))
    du, dw = reparameterize_backward(du_hat, u, w)
    for analytic, x in ((du, u), (dw, w)):
        numeric = numerical_vjp(lambda: reparameterize(u, w), x, du_hat)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-7)


def test_identity_steps():
    """u_hat = 0 (planar) and beta = 0 (radial) leave z and the density unchanged."""
    rng = np.random.default_rng(5)
    z = rng.normal(size=(3, 2, 4))
    w = rng.normal(size=(2, 4))
    u = np.log(np.e - 1) * w / np.sum(w * w, axis=1, keepdims=True)  # m(w^T u) = 0
    planar = np.concatenate([u, w, rng.normal(size=(2, 1))], axis=1)
    np.testing.assert_allclose(reparameterize(u, w), 0, atol=1e-15)
    alpha_raw = rng.normal(size=(2, 1))
    radial = np.concatenate([rng.normal(size=(2, 4)), alpha_raw, alpha_raw], axis=1)
    for step, theta in ((PlanarStep(4), planar), (RadialStep(4), radial)):
        z_out, log_det, _ = step.forward(z, theta)
        np.testing.assert_allclose(z_out, z, atol=1e-15)
        np.testing.assert_allclose(log_det, 0, atol=1e-15)


# ------------------------------------------------------------------------- the posterior
def random_h(flow, k, K, batch=3, seed=0):
    q = POSTERIORS[flow](k, K)
    return q, np.random.default_rng(seed).normal(scale=0.7, size=(batch, q.n_params))


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("K", [1, 3])
def test_posterior_backwards_by_finite_differences(flow, K):
    """sample_backward and log_det_backward (IWAE-like weights) against finite differences."""
    q, h = random_h(flow, 3, K, seed=K)
    rng = np.random.default_rng(30)
    eps = rng.standard_normal((4, 3, 3))
    dz = rng.normal(size=(4, 3, 3))
    weights = rng.dirichlet(np.ones(4), size=3).T  # (M, B), columns sum to 1
    q.sample(h, eps)
    analytic = q.sample_backward(dz)
    np.testing.assert_allclose(analytic, numerical_vjp(lambda: q.sample(h, eps), h, dz), atol=1e-8)
    q.sample(h, eps)
    analytic = q.log_det_backward(h, eps, -0.7, weights)
    numeric = numerical_vjp(lambda: q.log_det_at(h, eps), h, -0.7 * weights)
    np.testing.assert_allclose(analytic, numeric, atol=1e-8)


@pytest.mark.parametrize("flow", FLOWS)
def test_log_prob_at_a_sample_is_the_change_of_variables(flow):
    q, h = random_h(flow, 3, 4, seed=2)
    eps = np.random.default_rng(6).standard_normal((5, 3, 3))
    z = q.sample(h, eps)
    expected = -0.5 * (3 * np.log(2 * np.pi) + np.sum(eps**2, axis=-1)) - q.log_det_at(h, eps)
    np.testing.assert_allclose(q.log_prob(z, h), expected, rtol=1e-10)


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("K", [1, 4])
def test_log_q_integrates_to_one_in_1d(flow, K):
    q, h = random_h(flow, 1, K, batch=2, seed=K)
    samples = q.sample(h, np.random.default_rng(0).standard_normal((1000, 2, 1)))
    for i in range(2):  # a small |w| sends the mass far: integrate around the samples
        z = np.linspace(samples[:, i].min() - 15, samples[:, i].max() + 15, 60_001)
        density = np.exp(q.log_prob(np.broadcast_to(z[:, None, None], (z.size, 2, 1)), h))
        assert np.trapezoid(density[:, i], z) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("K", [1, 4])
def test_log_q_integrates_to_one_in_2d(flow, K):
    q, h = random_h(flow, 2, K, batch=2, seed=10 + K)
    axis = np.linspace(-12, 12, 801)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 1, 2)
    density = np.exp(q.log_prob(np.broadcast_to(grid, (grid.shape[0], 2, 2)), h))
    density = density.reshape(axis.size, axis.size, 2)
    total = np.trapezoid(np.trapezoid(density, axis, axis=0), axis, axis=0)
    np.testing.assert_allclose(total, 1.0, atol=2e-4)


def test_sampled_kl_of_a_flow_is_not_the_base_kl():
    """A flow changes the posterior: its Monte Carlo KL differs from the base Gaussian's."""
    q, h = random_h("planar", 2, 3, batch=1, seed=7)
    eps = np.random.default_rng(8).standard_normal((100_000, 1, 2))
    z = q.sample(h, eps)
    log_q = -0.5 * (2 * np.log(2 * np.pi) + np.sum(eps**2, axis=-1)) - q.log_det_at(h, eps)
    kl = np.mean(log_q + 0.5 * (2 * np.log(2 * np.pi) + np.sum(z**2, axis=-1)))
    base_kl = DiagonalGaussian(2).kl(h[:, :4])[0]
    assert abs(kl - base_kl) > 0.1


# ------------------------------------------------------------------------- the whole model
def flow_model(flow, K, **options):
    options = {"hidden": (6,), "activation": "tanh", "seed": K, **options}
    if options.get("objective") != "iwae":
        options.setdefault("kl_estimator", "sampled")
    return VAE(D, 3, posterior=flow, flow_length=K, **options)


def make_planar_active(model):
    """Shift the encoder's last bias so every raw (u, w) of every step has w^T u < -1."""
    k, p = model.latent_dim, model.posterior.step.n_params
    bias = model.params[f"encoder.{len(model.encoder.dense) - 1}.b"]
    for i in range(model.posterior.flow_length):
        start = 2 * k + i * p
        bias[start : start + k] = -2.0  # u
        bias[start + k : start + 2 * k] = 1.0  # w


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize(
    "options",
    [
        dict(n_samples=1),
        dict(n_samples=3),
        dict(n_samples=3, objective="iwae"),
        dict(n_samples=2, likelihood="gaussian", beta=0.5),
    ],
    ids=["elbo-M1", "elbo-M3", "iwae-M3", "gaussian-beta"],
)
def test_whole_model_gradient_matches_finite_differences(flow, K, options):
    model = flow_model(flow, K, **options)
    x = np.random.default_rng(1).random((4, D))
    if flow == "planar":
        make_planar_active(model)
        h = model.encoder.forward(x)
        for theta in model.posterior.split(h)[1]:
            u, w, _ = model.posterior.step.split(theta)
            assert np.all(np.sum(w * u, axis=1) < -1)  # the reparameterisation is active
    report = check_model(model, x, seed=K, tolerance=1e-6)
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == set(model.params)


@pytest.mark.parametrize("flow", FLOWS)
def test_conditional_flow_model_gradient(flow):
    model = flow_model(flow, 2, n_classes=3, n_samples=2)
    rng = np.random.default_rng(2)
    x, c = rng.random((4, D)), np.array([0, 2, 1, 2])
    eps = rng.standard_normal((2, 4, 3))
    _, grads = model.loss_and_grads(x, eps, c)
    for name in ("encoder.0.W", "encoder.1.b", "decoder.0.W"):
        report = check_gradient(
            lambda: model.loss(x, eps, c).loss, {name: model.params[name]}, {name: grads[name]}
        )
        assert report.passed, str(report)
    assert model.encode(x, c=c).shape == (4, 3)
    assert np.isfinite(model.log_likelihood(x, 20, c=c)).all()


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_flow_length_zero_is_the_diagonal_posterior_exactly(flow, objective):
    options = dict(hidden=(6,), seed=3, n_samples=2, objective=objective)
    if objective == "elbo":
        options["kl_estimator"] = "sampled"
    diagonal = VAE(D, 3, posterior="diagonal", **options)
    flow_0 = VAE(D, 3, posterior=flow, flow_length=0, **options)
    x = np.random.default_rng(4).random((5, D))
    eps = np.random.default_rng(5).standard_normal((2, 5, 3))
    parts_d, grads_d = diagonal.loss_and_grads(x, eps)
    parts_f, grads_f = flow_0.loss_and_grads(x, eps)
    assert parts_d == parts_f
    for name in diagonal.params:
        np.testing.assert_array_equal(grads_d[name], grads_f[name], err_msg=name)
    np.testing.assert_array_equal(diagonal.encode(x), flow_0.encode(x))


def test_planar_step_with_u_hat_zero_is_the_diagonal_posterior():
    """Raw u = log(e - 1) w / |w|^2 gives u_hat = 0: K identity steps on the base Gaussian."""
    q, h = random_h("planar", 3, 2, batch=4, seed=9)
    for theta in q.split(h)[1]:
        u, w, _ = q.step.split(theta)
        u[...] = np.log(np.e - 1) * w / np.sum(w * w, axis=1, keepdims=True)
    eps = np.random.default_rng(10).standard_normal((3, 4, 3))
    base = DiagonalGaussian(3)
    np.testing.assert_allclose(q.sample(h, eps), base.sample(h[:, :6], eps), atol=1e-14)
    expected = np.broadcast_to(base.log_det(h[:, :6]), (3, 4))
    np.testing.assert_allclose(q.log_det_at(h, eps), expected, atol=1e-14)


@pytest.mark.parametrize("flow", FLOWS)
def test_float32_model_trains_in_float32(flow):
    from numpyvae.optim import Adam

    model = flow_model(flow, 2, dtype="float32", n_samples=2, hidden=(16,))
    x = (np.random.default_rng(6).random((64, D)) < 0.3).astype(np.float32)
    parts, grads = model.loss_and_grads(x)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.encode(x).dtype == np.float32
    optimizer = Adam(model.params, lr=1e-2)
    start = model.evaluate(x).loss
    for _ in range(150):
        optimizer.step(model.loss_and_grads(x)[1])
    assert np.isfinite(start) and model.evaluate(x).loss < start - 0.5
    assert all(p.dtype == np.float32 for p in model.params.values())


# ------------------------------------------------------------------------- the options
@pytest.mark.parametrize("flow", FLOWS)
def test_analytic_kl_is_refused_in_one_line(flow):
    with pytest.raises(ConfigError) as error:
        VAE(D, 3, posterior=flow)
    message = str(error.value)
    assert "\n" not in message and f"posterior={flow!r}" in message and "sampled" in message
    VAE(D, 3, posterior=flow, objective="iwae")  # the bound needs no KL


def test_flow_length_is_checked():
    with pytest.raises(ValueError, match="flow_length"):
        VAE(D, 3, posterior="planar", flow_length=-1, kl_estimator="sampled")
    model = flow_model("radial", 4)
    assert model.posterior.flow_length == 4
    assert model.posterior.n_params == 2 * 3 + 4 * (3 + 2)
    assert model.config.replace(flow_length=2).flow_length == 2


@pytest.mark.parametrize("flow", FLOWS)
def test_kl_and_log_det_of_h_alone_are_refused(flow):
    q, h = random_h(flow, 2, 1)
    for method in (q.kl, q.kl_grad, q.log_det, q.log_det_grad):
        with pytest.raises(RuntimeError, match="no closed-form"):
            method(h)


def test_log_det_backward_needs_the_last_sample():
    q, h = random_h("planar", 2, 1)
    eps = np.zeros((1, 3, 2))
    with pytest.raises(RuntimeError, match="before sample"):
        q.log_det_backward(h, eps, 1.0)
    q.sample(h, eps)
    with pytest.raises(RuntimeError, match="eps of the last sample"):
        q.log_det_backward(h, eps.copy(), 1.0)


def test_flow_posteriors_are_registered():
    assert POSTERIORS["planar"] is PlanarFlow and POSTERIORS["radial"] is RadialFlow


# ------------------------------------------------------------------------- the 2-D energies
def table_1(name, z):
    """The four energies written as in the paper's Table 1, term by term (plus the window)."""
    z1, z2 = z[..., 0], z[..., 1]
    w1 = np.sin(2 * np.pi * z1 / 4)
    w2 = 3 * np.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    w3 = 3 / (1 + np.exp(-(z1 - 1) / 0.3))
    if name == "U1":
        ring = 0.5 * ((np.linalg.norm(z, axis=-1) - 2) / 0.4) ** 2
        bumps = np.exp(-0.5 * ((z1 - 2) / 0.6) ** 2) + np.exp(-0.5 * ((z1 + 2) / 0.6) ** 2)
        return ring - np.log(bumps)
    window = 0.5 * (z1 / 4) ** 8  # numpyvae's addition, which makes exp(-U) integrable
    if name == "U2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2 + window
    if name == "U3":
        first, second = (z2 - w1) / 0.35, (z2 - w1 + w2) / 0.35
    else:
        first, second = (z2 - w1) / 0.4, (z2 - w1 + w3) / 0.35
    return -np.log(np.exp(-0.5 * first**2) + np.exp(-0.5 * second**2)) + window


@pytest.mark.parametrize("name", ["U1", "U2", "U3", "U4"])
def test_energies_are_the_papers_and_their_gradients_are_right(name):
    from numpyvae.energies import energy, log_normaliser

    z = np.random.default_rng(11).uniform(-3, 3, size=(7, 2))
    value, grad = energy(name, z)
    np.testing.assert_allclose(value, table_1(name, z), rtol=1e-12)
    assert np.isfinite(log_normaliser(name))
    wider = log_normaliser(name, limit=9.0, n=1801)  # all the mass lies inside [-6, 6]^2
    assert abs(log_normaliser(name) - wider) < 1e-6
    report = check_gradient(lambda: energy(name, z)[0].sum(), {"z": z}, {"z": grad})
    assert report.passed, str(report)


def test_fitting_a_planar_flow_lowers_kl_to_the_target():
    """Training lowers KL(q || p) far below the base Gaussian's start (log Z by quadrature)."""
    from numpyvae.energies import fit_flow, kl_divergence

    fit = fit_flow("U2", 4, steps=400, seed=1, kl_samples=5000)
    start = fit_flow("U2", 4, steps=1, seed=1, kl_samples=5000)
    again = kl_divergence("U2", fit.flow, fit.h, 5000, np.random.default_rng(2))
    assert fit.kl < start.kl - 1.0 and fit.kl > 0  # KL is positive: log Z is right
    assert abs(again - fit.kl) < 0.05  # the Monte Carlo estimate is stable


@pytest.mark.parametrize("flow", FLOWS)
def test_a_flow_model_survives_its_checkpoint(flow, tmp_path):
    from numpyvae.checkpoint import load_model, save_checkpoint
    from numpyvae.optim import Adam
    from numpyvae.train import Trainer

    model = flow_model(flow, 3, n_samples=2)
    x = (np.random.default_rng(3).random((20, D)) < 0.5).astype(float)
    trainer = Trainer(model, Adam(model.params, lr=1e-2), batch_size=10)
    trainer.fit(x, 2)
    save_checkpoint(tmp_path / "flow.npz", trainer)
    loaded = load_model(tmp_path / "flow.npz")
    assert loaded.config == model.config and loaded.posterior.flow_length == 3
    eps = np.random.default_rng(4).standard_normal((2, 20, 3))
    assert loaded.loss(x, eps) == model.loss(x, eps)


def test_flow_length_without_a_flow_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"flow_length=3 is an option of the flow posteriors"):
        VAE(6, 2, hidden=(4,), posterior="diagonal", flow_length=3)
    with pytest.raises(ConfigError, match=r"got posterior='full'"):
        VAE(6, 2, hidden=(4,), posterior="full", flow_length=0)
    # The default is no choice at all, and a flow takes any length.
    assert VAE(6, 2, hidden=(4,)).config.flow_length == 1
    VAE(6, 2, hidden=(4,), posterior="radial", flow_length=3, kl_estimator="sampled")
