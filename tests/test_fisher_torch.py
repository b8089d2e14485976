"""An independent oracle for the Fisher auto-encoder: PyTorch autograd with create_graph=True.

The oracle writes the objective from its definition (derivations.md §12.1-12.2), not from our
formulas: every score is an autograd gradient of a log density, the Laplacian is the trace of
an autograd Hessian, grad_x log q(z|x) is the partial derivative at fixed z (a second copy of
x feeds log q while z is made from the first), and the parameter gradients come from a
backward through all of it (double backprop). Both must agree to 1e-10 in float64.
"""

import math

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.objectives.fisher import FisherObjective
from numpyvae.posteriors.diagonal_gaussian import LOGVAR_LIMIT

torch = pytest.importorskip("torch")

ACTIVATIONS = {
    "tanh": torch.tanh,
    "softplus": torch.nn.functional.softplus,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
}


def torch_mlp(model, prefix, n_layers, activation):
    weights = [
        (
            torch.tensor(model.params[f"{prefix}.{i}.W"], requires_grad=True),
            torch.tensor(model.params[f"{prefix}.{i}.b"], requires_grad=True),
        )
        for i in range(n_layers)
    ]

    def run(a):
        for i, (W, b) in enumerate(weights):
            a = a @ W + b
            if i < n_layers - 1:
                a = ACTIVATIONS[activation](a)
        return a

    return run, weights


def oracle(model, x, eps, activation, score="partial"):
    """The Fisher loss and its parameter gradients by autograd."""
    M, B, k = eps.shape
    n_layers = len(model.hidden) + 1
    encoder, enc_w = torch_mlp(model, "encoder", n_layers, activation)
    decoder, dec_w = torch_mlp(model, "decoder", n_layers, activation)
    logvar_x = torch.tensor(model.params.get("likelihood.logvar", np.zeros(1)), requires_grad=True)
    x1 = torch.tensor(np.tile(x, (M, 1)), requires_grad=True)  # makes z
    x2 = torch.tensor(np.tile(x, (M, 1)), requires_grad=True)  # feeds log q: the partial in x
    e = torch.tensor(eps.reshape(M * B, k))

    def posterior(xx):
        h = encoder(xx)
        return h[:, :k], torch.clamp(h[:, k:], -LOGVAR_LIMIT, LOGVAR_LIMIT)

    mu, logvar = posterior(x1)
    z = mu + torch.exp(0.5 * logvar) * e

    def log_q(zz, mean, lv):
        return -0.5 * torch.sum(lv + (zz - mean) ** 2 / torch.exp(lv) + math.log(2 * math.pi), 1)

    def log_joint(xx, zz):
        s2 = torch.exp(logvar_x)
        residual = xx - decoder(zz)
        log_px = -0.5 * torch.sum(residual**2 / s2 + torch.log(2 * math.pi * s2), 1)
        return log_px - 0.5 * torch.sum(zz**2, 1)

    d = x.shape[1]
    x3 = x1 if score == "total" else x2
    q_value = log_q(z, *posterior(x3)) if score == "partial" else log_q(z, mu, logvar)
    dq_dz = torch.autograd.grad(q_value.sum(), z, create_graph=True)[0]
    dq_dx = torch.autograd.grad(q_value.sum(), x3, create_graph=True)[0]
    x4 = x1.detach().clone().requires_grad_(True)  # log p(x|z) as a function of x at this z
    p_value = log_joint(x4, z)
    dp_dz = torch.autograd.grad(p_value.sum(), z, create_graph=True)[0]
    dp_dx = torch.autograd.grad(p_value.sum(), x4, create_graph=True)[0]
    laplacian = sum(
        torch.autograd.grad(dp_dx[:, i].sum(), x4, create_graph=True)[0][:, i] for i in range(d)
    )
    terms = (
        0.5 * torch.sum((dq_dz - dp_dz) ** 2, 1)
        + 0.5 * torch.sum(dp_dx**2, 1)
        + laplacian
        + 0.5 * torch.sum(dq_dx**2, 1)
    )
    loss = terms.mean()
    loss.backward()
    grads = {}
    for prefix, weights in (("encoder", enc_w), ("decoder", dec_w)):
        for i, (W, b) in enumerate(weights):
            grads[f"{prefix}.{i}.W"] = W.grad.numpy()
            grads[f"{prefix}.{i}.b"] = b.grad.numpy()
    if "likelihood.logvar" in model.params:
        grads["likelihood.logvar"] = logvar_x.grad.numpy()
    return loss.item(), grads


def relative(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize(
    ("activation", "likelihood", "score"),
    [
        ("tanh", "gaussian_shared_var", "partial"),
        ("softplus", "gaussian", "partial"),
        ("sigmoid", "gaussian_shared_var", "partial"),
        ("relu", "gaussian_shared_var", "partial"),
        ("tanh", "gaussian_shared_var", "total"),
    ],
)
def test_loss_and_every_gradient_match_autograd(activation, likelihood, score):
    model = VAE(
        7, 3, hidden=(6, 5), likelihood=likelihood, activation=activation, objective="fisher"
    )
    if likelihood == "gaussian_shared_var":
        model.params["likelihood.logvar"][:] = -0.3
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 7))
    eps = rng.standard_normal((2, 4, 3))
    objective = FisherObjective(score=score)
    parts, grads = objective.loss_and_grads(model, model.prepare(x), eps)
    loss, expected = oracle(model, x, eps, activation, score)
    assert parts.loss == pytest.approx(loss, rel=1e-12, abs=1e-12)
    assert set(expected) == set(model.params)
    for name, value in expected.items():
        assert relative(grads[name], value) < 1e-10, name
