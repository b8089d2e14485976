"""An independent oracle for the flow posteriors: torch.autograd on the same weights, x and eps.

The log-determinants here come from torch.linalg.slogdet of each step's Jacobian matrix,
built entry by entry, not from the closed forms of derivations.md (14.2) and (14.5); the
gradients are autograd's.
"""

import numpy as np
import pytest

from numpyvae import VAE

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; .ci/run installs the CPU build"
)

D, K, B = 10, 3, 4


def planar_step(z, theta):
    """z (M, B, k), theta (B, 2k+1) -> z', log|det| from the Jacobian matrix."""
    u, w, b = theta[:, :K], theta[:, K : 2 * K], theta[:, 2 * K]
    a = (w * u).sum(1, keepdim=True)
    u_hat = u + (torch.nn.functional.softplus(a) - 1 - a) * w / (w * w).sum(1, keepdim=True)
    s = (z * w).sum(-1) + b
    jac = (
        torch.eye(K) + u_hat[..., :, None] * ((1 - torch.tanh(s) ** 2)[..., None] * w)[..., None, :]
    )
    return z + torch.tanh(s)[..., None] * u_hat, torch.linalg.slogdet(jac)[1]


def radial_step(z, theta):
    centre = theta[:, :K]
    alpha = torch.nn.functional.softplus(theta[:, K])
    beta = torch.nn.functional.softplus(theta[:, K + 1]) - alpha
    d = z - centre
    r = d.norm(dim=-1)
    h = 1 / (alpha + r)
    outer = d[..., :, None] * d[..., None, :] / r[..., None, None]
    jac = (1 + beta * h)[..., None, None] * torch.eye(K) - (beta * h * h)[..., None, None] * outer
    return z + (beta * h)[..., None] * d, torch.linalg.slogdet(jac)[1]


def torch_loss(model, x, eps, weights, step):
    n_enc = len(model.encoder.dense)
    h = torch.tensor(x)
    for i in range(n_enc):
        h = h @ weights[f"encoder.{i}.W"] + weights[f"encoder.{i}.b"]
        if i < n_enc - 1:
            h = torch.relu(h)
    mu, logvar = h[:, :K], h[:, K : 2 * K]
    eps_t = torch.tensor(eps)
    z = mu + torch.exp(0.5 * logvar) * eps_t
    log_q = -0.5 * (K * np.log(2 * np.pi) + (eps_t**2).sum(-1)) - 0.5 * logvar.sum(-1)
    p = model.posterior.step.n_params
    for i in range(model.posterior.flow_length):
        z, log_det = step(z, h[:, 2 * K + i * p : 2 * K + (i + 1) * p])
        log_q = log_q - log_det
    out = z.reshape(-1, K)
    n_dec = len(model.decoder.dense)
    for i in range(n_dec):
        out = out @ weights[f"decoder.{i}.W"] + weights[f"decoder.{i}.b"]
        if i < n_dec - 1:
            out = torch.relu(out)
    target = torch.tensor(x).repeat(eps.shape[0], 1)
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
        out, target, reduction="none"
    ).sum(-1)
    log_pz = -0.5 * (K * np.log(2 * np.pi) + (z**2).sum(-1))
    log_w = log_px.reshape(eps.shape[:2]) + log_pz - log_q  # (M, B)
    if model.objective == "iwae":
        return -(torch.logsumexp(log_w, 0) - np.log(eps.shape[0])).mean()
    return -log_w.mean()


@pytest.mark.parametrize("flow,step", [("planar", planar_step), ("radial", radial_step)])
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_flow_loss_and_gradients_match_torch_autograd(flow, step, objective):
    options = {"kl_estimator": "sampled"} if objective == "elbo" else {"objective": "iwae"}
    model = VAE(
        D, K, (8,), posterior=flow, flow_length=3, n_samples=3, seed=5, **options
    )  # fmt: skip
    rng = np.random.default_rng(6)
    x = (rng.random((B, D)) < 0.5).astype(float)
    eps = rng.standard_normal((3, B, K))
    parts, grads = model.loss_and_grads(x, eps)
    weights = {n: torch.tensor(p, requires_grad=True) for n, p in model.params.items()}
    loss = torch_loss(model, x, eps, weights, step)
    loss.backward()
    assert parts.loss == pytest.approx(loss.item(), rel=1e-10)
    for name, w in weights.items():
        np.testing.assert_allclose(grads[name], w.grad.numpy(), rtol=1e-9, atol=1e-12)
