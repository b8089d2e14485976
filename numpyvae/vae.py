"""The variational autoencoder: encoder, posterior, decoder and likelihood composed.

THE LOSS (the one convention of this package, derivations.md §2.4). For a batch x_1..x_B and
M noise draws eps_ij ~ N(0, I), z_ij = mu_phi(x_i) + sigma_phi(x_i) * eps_ij,

    loss = (1/B) sum_i [ -(1/M) sum_j log p_theta(x_i | z_ij) + KL(q_phi(z|x_i) || N(0, I)) ]

log p is summed over the d data dimensions and the KL over the k latent dimensions. The loss
is the negative ELBO, so minimising it is gradient ascent on the ELBO. `reconstruction` and
`kl` are the two terms with the same batch average; loss = reconstruction + kl.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from numpyvae.layers.mlp import MLP
from numpyvae.likelihoods import LIKELIHOODS
from numpyvae.posteriors import POSTERIORS
from numpyvae.validation import check_batch, check_choice, check_dtype, check_positive_int

EMBEDDING_METHODS = ("mean", "sample")  # the lectures' methods A and B (derivations.md §8.2)
GENERATION_METHODS = ("mean", "sample")  # the lectures' methods A and B (derivations.md §8.1)


@dataclass(frozen=True)
class LossParts:
    """The negative ELBO of a batch and its two terms, each averaged over the batch (nats)."""

    loss: float
    reconstruction: float
    kl: float


class VAE:
    """A VAE with MLP encoder and decoder.

    Encoder (phi): x (B, d) -> h (B, 2k) = [mu | log sigma^2], an MLP d -> hidden -> 2k.
    Decoder (theta): z (N, k) -> out (N, d), an MLP k -> reversed(hidden) -> d; `out` is the
    logits (Bernoulli) or the mean x_hat (Gaussian). Every array of the model has `dtype`.
    Parameters are named "encoder.<i>.W", "decoder.<i>.b", ... in `params` and in the
    gradients that `loss_and_grads` returns.
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (400,),
        *,
        likelihood: str = "bernoulli",
        activation: str = "relu",
        posterior: str = "diagonal",
        n_samples: int = 1,
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
        init: str = "uniform",
    ) -> None:
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.hidden = tuple(check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        self.n_samples = check_positive_int("n_samples", n_samples)
        self.dtype = check_dtype("dtype", dtype)
        self.activation = activation
        self.init = init
        self.seed = seed
        self.likelihood = LIKELIHOODS[check_choice("likelihood", likelihood, LIKELIHOODS)]()
        self.posterior = POSTERIORS[check_choice("posterior", posterior, POSTERIORS)](latent_dim)
        init_rng, noise_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
        )
        self.rng = noise_rng  # draws eps and the samples of generation method B
        layers = dict(activation=activation, rng=init_rng, dtype=self.dtype, init=init)
        self.encoder = MLP([data_dim, *self.hidden, self.posterior.n_params], **layers)
        self.decoder = MLP([latent_dim, *reversed(self.hidden), data_dim], **layers)
        self.params = {f"encoder.{n}": p for n, p in self.encoder.params.items()}
        self.params.update({f"decoder.{n}": p for n, p in self.decoder.params.items()})

    # ----------------------------------------------------------------- the objective
    def loss(self, x: np.ndarray, eps: np.ndarray | None = None) -> LossParts:
        """The negative ELBO of x (B, d) with noise eps (M, B, k), forward only."""
        x = self._check_x(x)
        return self._forward(x, self._check_eps(eps, x.shape[0]))[0]

    def loss_and_grads(
        self, x: np.ndarray, eps: np.ndarray | None = None
    ) -> tuple[LossParts, dict[str, np.ndarray]]:
        """The negative ELBO of x and its gradient with respect to every parameter.

        x (B, d); eps (M, B, k), or (B, k) for M = 1, or None to draw M = `n_samples` from the
        model's generator. Returns (LossParts, grads) with grads[name] shaped like
        params[name]. The same eps serves the forward and the backward.
        """
        x = self._check_x(x)
        return self._loss_and_grads(x, self._check_eps(eps, x.shape[0]))

    def _forward(self, x: np.ndarray, eps: np.ndarray) -> tuple[LossParts, dict]:
        M, B, k = eps.shape
        h = self.encoder.forward(x)  # (B, 2k)
        z = self.posterior.sample(h, eps)  # (M, B, k)
        out = self.decoder.forward(z.reshape(M * B, k)).reshape(M, B, self.data_dim)
        log_p, dlog_p = self.likelihood.log_prob_and_grad(x, out)  # (M, B), (M, B, d)
        kl = self.posterior.kl(h)  # (B,)
        reconstruction = -float(log_p.sum()) / (M * B)
        kl_mean = float(kl.sum()) / B
        parts = LossParts(reconstruction + kl_mean, reconstruction, kl_mean)
        return parts, {"h": h, "dlog_p": dlog_p}

    def _loss_and_grads(self, x: np.ndarray, eps: np.ndarray) -> tuple[LossParts, dict]:
        """Forward and backward for checked x (B, d) and eps (M, B, k) (derivations.md §6.3)."""
        M, B, k = eps.shape
        parts, cache = self._forward(x, eps)
        # d loss / d out: the likelihood's closed form, scaled by the 1/(M B) of the averages.
        dout = cache["dlog_p"].reshape(M * B, self.data_dim)
        dout *= -1.0 / (M * B)
        dz = self.decoder.backward(dout).reshape(M, B, k)
        # The reconstruction gradient reaches (mu, log sigma^2) through the reparameterization;
        # the KL gradient joins there analytically. The decoder gets no KL gradient.
        dh = self.posterior.sample_backward(dz)
        dh += self.posterior.kl_grad(cache["h"]) * (1.0 / B)
        self.encoder.backward(dh, need_input_grad=False)
        grads = {f"encoder.{n}": g for n, g in self.encoder.grads.items()}
        grads.update({f"decoder.{n}": g for n, g in self.decoder.grads.items()})
        return parts, grads

    # ----------------------------------------------------------------- inference
    def encode(
        self, x: np.ndarray, method: str = "mean", eps: np.ndarray | None = None
    ) -> np.ndarray:
        """Embeddings z (B, k) of x (B, d) (derivations.md §8.2).

        method "mean" (lecture method A): the posterior mean mu_phi(x).
        method "sample" (method B): one draw z = mu + sigma * eps, eps (B, k) or drawn.
        """
        check_choice("method", method, EMBEDDING_METHODS)
        x = self._check_x(x)
        h = self.encoder.forward(x)
        if method == "mean":
            return self.posterior.mean(h).copy()
        return self.posterior.sample(h, self._check_eps(eps, x.shape[0], single=True))[0]

    def decode(self, z: np.ndarray, method: str = "mean") -> np.ndarray:
        """x (N, d) from latent codes z (N, k) (derivations.md §8.1).

        method "mean" (lecture method A): the decoder's mean E[x|z].
        method "sample" (method B): a draw from p_theta(x|z).
        """
        check_choice("method", method, GENERATION_METHODS)
        z = check_batch("z", z, self.latent_dim, self.dtype)
        out = self.decoder.forward(z)
        if method == "mean":
            return self.likelihood.mean(out)
        return self.likelihood.sample(out, self.rng)

    def generate(self, n: int, method: str = "mean") -> np.ndarray:
        """n new data points (n, d): z ~ N(0, I), then `decode(z, method)`."""
        n = check_positive_int("n", n)
        z = self.rng.standard_normal((n, self.latent_dim), dtype=self.dtype)
        return self.decode(z, method)

    def reconstruct(self, x: np.ndarray, method: str = "mean") -> np.ndarray:
        """Decoder means (B, d) at the embeddings of x (B, d) by `method` ("mean" or "sample")."""
        return self.decode(self.encode(x, method), "mean")

    def evaluate(self, x: np.ndarray, batch_size: int = 1000) -> LossParts:
        """The negative ELBO of a whole data set x (N, d), one eps draw per point, in batches."""
        x = self._check_x(x)
        batch_size = check_positive_int("batch_size", batch_size)
        totals = np.zeros(3)
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            eps = self.posterior.draw_eps(self.rng, self.n_samples, xb.shape[0], self.dtype)
            parts = self._forward(xb, eps)[0]
            totals += xb.shape[0] * np.array([parts.loss, parts.reconstruction, parts.kl])
        return LossParts(*(totals / x.shape[0]).tolist())

    # ----------------------------------------------------------------- checks
    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = check_batch("x", x, self.data_dim, self.dtype)
        self.likelihood.check_targets("x", x)
        return x

    def _check_eps(self, eps: np.ndarray | None, batch: int, single: bool = False) -> np.ndarray:
        """eps as (M, B, k) in the model's dtype; drawn from `self.rng` when None."""
        k = self.latent_dim
        if eps is None:
            return self.posterior.draw_eps(
                self.rng, 1 if single else self.n_samples, batch, self.dtype
            )
        if not isinstance(eps, np.ndarray) or eps.dtype.kind != "f":
            raise TypeError(
                f"eps must be a float NumPy array of shape (M, {batch}, {k}), got {eps!r:.80}"
            )
        if eps.ndim == 2:
            eps = eps[np.newaxis]
        if eps.ndim != 3 or eps.shape[1:] != (batch, k) or (single and eps.shape[0] != 1):
            want = f"({batch}, {k})" if single else f"(M, {batch}, {k}) or ({batch}, {k})"
            raise ValueError(f"eps must have shape {want}, got {eps.shape}")
        if not np.all(np.isfinite(eps)):
            raise ValueError("eps contains NaN or infinity")
        return np.asarray(eps, dtype=self.dtype)

    def __repr__(self) -> str:
        return (
            f"VAE(data_dim={self.data_dim}, latent_dim={self.latent_dim}, hidden={self.hidden}, "
            f"likelihood={self.likelihood.name!r}, activation={self.activation!r}, "
            f"dtype={self.dtype.name})"
        )
