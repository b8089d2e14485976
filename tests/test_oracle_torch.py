"""An independent oracle: torch.autograd on the same weights, x and eps gives the same numbers."""

import numpy as np
import pytest

from numpyvae import VAE

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; .ci/run installs the CPU build"
)

D, K, B = 10, 3, 5


def torch_negative_elbo(model, x, eps, weights):
    """The negative ELBO written with torch operations only, as a user of PyTorch would."""
    h = torch.tensor(x)
    n_enc = len(model.encoder.dense)
    for i in range(n_enc):
        h = h @ weights[f"encoder.{i}.W"] + weights[f"encoder.{i}.b"]
        if i < n_enc - 1:
            h = torch.relu(h)
    mu, logvar = h[:, :K], h[:, K:]
    z = mu + torch.exp(0.5 * logvar) * torch.tensor(eps)  # (M, B, K) by broadcasting
    out = z.reshape(-1, K)
    n_dec = len(model.decoder.dense)
    for i in range(n_dec):
        out = out @ weights[f"decoder.{i}.W"] + weights[f"decoder.{i}.b"]
        if i < n_dec - 1:
            out = torch.relu(out)
    target = torch.tensor(x).repeat(eps.shape[0], 1)
    if model.likelihood.name == "bernoulli":
        nll = torch.nn.functional.binary_cross_entropy_with_logits(out, target, reduction="sum")
    else:
        nll = -torch.distributions.Normal(out, 1.0).log_prob(target).sum()
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return nll / (eps.shape[0] * x.shape[0]) + kl / x.shape[0]


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("hidden,n_samples", [((8,), 1), ((8, 6), 3)])
def test_loss_and_gradients_match_torch_autograd(likelihood, hidden, n_samples):
    model = VAE(D, K, hidden, likelihood=likelihood, n_samples=n_samples, seed=4)
    rng = np.random.default_rng(9)
    x = rng.random((B, D))
    eps = rng.standard_normal((n_samples, B, K))
    parts, grads = model.loss_and_grads(x, eps)
    weights = {n: torch.tensor(p, requires_grad=True) for n, p in model.params.items()}
    loss = torch_negative_elbo(model, x, eps, weights)
    loss.backward()
    assert parts.loss == pytest.approx(loss.item(), rel=1e-10, abs=1e-10)
    for name, w in weights.items():
        np.testing.assert_allclose(
            grads[name], w.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )
