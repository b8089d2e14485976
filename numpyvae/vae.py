"""The variational autoencoder: encoder, posterior, decoder and likelihood composed.

THE LOSS (the one convention of this package, derivations.md §2.4). For a batch x_1..x_B and
M noise draws eps_ij ~ N(0, I), z_ij = mu_phi(x_i) + sigma_phi(x_i) * eps_ij,

    loss = (1/B) sum_i [ -(1/M) sum_j log p_theta(x_i | z_ij) + KL(q_phi(z|x_i) || N(0, I)) ]

log p is summed over the d data dimensions and the KL over the k latent dimensions. The loss
is the negative ELBO, so minimising it is gradient ascent on the ELBO. `reconstruction` and
`kl` are the two terms with the same batch average; loss = reconstruction + kl.

Options beyond this loss, all off by default: the KL by sampling (estimator A, `kl_estimator=
"sampled"`), the importance-weighted bound (`objective="iwae"`, numpyvae.iwae), a KL weight
(`beta`), a full-covariance posterior, learned-variance likelihoods, and a conditional model
(`n_classes`: q(z|x, c), p(x|z, c)). The objectives live in numpyvae.objectives and
numpyvae.iwae; this class runs the network forward and carries their gradients back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numpyvae.iwae import iwae_bound, log_importance_weights, log_likelihood
from numpyvae.layers.mlp import MLP
from numpyvae.likelihoods import LIKELIHOODS, likelihood_params, make_likelihood, output_width
from numpyvae.objectives import (
    KL_ESTIMATORS,
    LossParts,
    ObjectiveGrad,
    elbo_analytic_kl,
    elbo_sampled_kl,
)
from numpyvae.posteriors import POSTERIORS
from numpyvae.validation import check_batch, check_choice, check_dtype, check_positive_int

EMBEDDING_METHODS = ("mean", "sample")  # the lectures' methods A and B (derivations.md §8.2)
GENERATION_METHODS = ("mean", "sample")  # the lectures' methods A and B (derivations.md §8.1)
OBJECTIVES = ("elbo", "iwae")


class VAE:
    """A VAE with MLP encoder and decoder.

    Encoder (phi): x (B, d) -> h (B, P) = [mu | log sigma^2] (P = 2k for the diagonal
    posterior), an MLP d -> hidden -> P. Decoder (theta): z (N, k) -> out (N, d'), an MLP
    k -> reversed(hidden) -> d'; `out` is the logits (Bernoulli) or the mean x_hat (Gaussian),
    d' = d, or [x_hat | log-variance] (d' = 2d, "gaussian_pixel_var"). Every array of the
    model has `dtype`. Parameters are named "encoder.<i>.W", "decoder.<i>.b", ... and
    "likelihood.logvar" ("gaussian_shared_var") in `params` and in the gradients that
    `loss_and_grads` returns.

    Options (defaults give the plain VAE above):
    - objective: "elbo" (the loss above) or "iwae", the importance-weighted bound L_K with
      K = n_samples (derivations.md §9.1).
    - kl_estimator (ELBO only): "analytic", the closed-form KL (AEVB's estimator B), or
      "sampled", the one-sample estimate log q(z|x) - log p(z) (estimator A) (§7.2).
    - beta: the weight of the KL term, loss = reconstruction + beta * kl (§9.4); settable.
    - posterior: "diagonal" or "full" (Cholesky factor, §4.4).
    - likelihood: "bernoulli", "gaussian", "gaussian_shared_var" or "gaussian_pixel_var" (§5).
    - n_classes: a conditional VAE (§9.2): the encoder reads [x, onehot(c)], the decoder
      [z, onehot(c)]; then every method that takes data takes the labels c (B,) too.
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
        objective: str = "elbo",
        kl_estimator: str = "analytic",
        beta: float = 1.0,
        n_classes: int | None = None,
    ) -> None:
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.hidden = tuple(check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        self.n_samples = check_positive_int("n_samples", n_samples)
        self.dtype = check_dtype("dtype", dtype)
        self.activation = activation
        self.init = init
        self.seed = seed
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.kl_estimator = check_choice("kl_estimator", kl_estimator, KL_ESTIMATORS)
        self.beta = beta
        self.n_classes = None if n_classes is None else check_positive_int("n_classes", n_classes)
        self.likelihood = make_likelihood(
            check_choice("likelihood", likelihood, LIKELIHOODS), self.dtype
        )
        self.posterior = POSTERIORS[check_choice("posterior", posterior, POSTERIORS)](latent_dim)
        self.n_outputs = output_width(self.likelihood, data_dim)
        if objective == "iwae":
            self._objective = iwae_bound
        elif kl_estimator == "sampled":
            self._objective = elbo_sampled_kl
        else:
            self._objective = elbo_analytic_kl
        init_rng, noise_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
        )
        self.rng = noise_rng  # draws eps and the samples of generation method B
        layers = dict(activation=activation, rng=init_rng, dtype=self.dtype, init=init)
        n_labels = self.n_classes or 0
        self.encoder = MLP([data_dim + n_labels, *self.hidden, self.posterior.n_params], **layers)
        self.decoder = MLP(
            [latent_dim + n_labels, *reversed(self.hidden), self.n_outputs], **layers
        )
        self.params = {f"encoder.{n}": p for n, p in self.encoder.params.items()}
        self.params.update({f"decoder.{n}": p for n, p in self.decoder.params.items()})
        self.params.update(
            {f"likelihood.{n}": p for n, p in likelihood_params(self.likelihood).items()}
        )

    @property
    def beta(self) -> float:
        """The weight of the KL term (derivations.md §9.4); 1 is the ELBO, a warm-up sets it."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"beta must be a number >= 0, got {value!r}")
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {value}")
        self._beta = float(value)

    # ----------------------------------------------------------------- the objective
    def loss(
        self, x: np.ndarray, eps: np.ndarray | None = None, c: np.ndarray | None = None
    ) -> LossParts:
        """The loss of x (B, d) with noise eps (M, B, k) (labels c (B,) if conditional)."""
        x = self._check_x(x)
        cond = self._check_c(c, x.shape[0])
        return self._forward(x, self._check_eps(eps, x.shape[0]), cond)[0].parts

    def loss_and_grads(
        self, x: np.ndarray, eps: np.ndarray | None = None, c: np.ndarray | None = None
    ) -> tuple[LossParts, dict[str, np.ndarray]]:
        """The loss of x and its gradient with respect to every parameter.

        x (B, d); eps (M, B, k), or (B, k) for M = 1, or None to draw M = `n_samples` from the
        model's generator; c (B,) integer labels in [0, n_classes) for a conditional model.
        Returns (LossParts, grads) with grads[name] shaped like params[name]. The same eps
        serves the forward and the backward.
        """
        x = self._check_x(x)
        cond = self._check_c(c, x.shape[0])
        return self._loss_and_grads(x, self._check_eps(eps, x.shape[0]), cond)

    def _run(
        self, x: np.ndarray, eps: np.ndarray, cond: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encoder, reparameterization, decoder: h (B, P), z (M, B, k), out (M, B, d')."""
        M, B, k = eps.shape
        h = self.encoder.forward(x if cond is None else np.concatenate([x, cond], axis=1))
        z = self.posterior.sample(h, eps)  # (M, B, k)
        z_in = z.reshape(M * B, k)
        if cond is not None:  # row j*B + i of z_in is z_ij, so it gets label c_i
            z_in = np.concatenate([z_in, np.tile(cond, (M, 1))], axis=1)
        out = self.decoder.forward(z_in).reshape(M, B, self.n_outputs)
        return h, z, out

    def _forward(
        self, x: np.ndarray, eps: np.ndarray, cond: np.ndarray | None = None, beta=None
    ) -> tuple[ObjectiveGrad, np.ndarray]:
        """The objective at checked x, eps, cond, and d log p(x|z) / d out (M, B, d')."""
        h, z, out = self._run(x, eps, cond)
        log_p, dlog_p = self.likelihood.log_prob_and_grad(x, out)  # (M, B), (M, B, d')
        beta = self.beta if beta is None else beta
        return self._objective(log_p, z, eps, h, self.posterior, beta), dlog_p

    def _loss_and_grads(
        self, x: np.ndarray, eps: np.ndarray, cond: np.ndarray | None = None
    ) -> tuple[LossParts, dict]:
        """Forward and backward for checked x (B, d) and eps (M, B, k) (derivations.md §6.3)."""
        M, B, k = eps.shape
        objective, dlog_p = self._forward(x, eps, cond)
        # d loss / d out = d loss / d log p(x|z) (from the objective) * the likelihood's closed
        # form: 1/(M B) for the ELBO, the importance weights -w~/B for the IWAE.
        dout = dlog_p.reshape(M * B, self.n_outputs)
        scale = objective.dlog_px
        dout *= scale if np.ndim(scale) == 0 else scale.reshape(M * B, 1)
        dz = self.decoder.backward(dout)
        if cond is not None:
            dz = dz[:, :k]  # the labels are data: their gradient is not needed
        dz = dz.reshape(M, B, k)
        if objective.dz is not None:  # log p(z) in the sampled KL and the IWAE
            dz += objective.dz
        # The reconstruction gradient reaches h through the reparameterization; the KL (or
        # log q) gradient joins there directly. The decoder gets no KL gradient.
        dh = self.posterior.sample_backward(dz)
        dh += objective.dh
        self.encoder.backward(dh, need_input_grad=False)
        grads = {f"encoder.{n}": g for n, g in self.encoder.grads.items()}
        grads.update({f"decoder.{n}": g for n, g in self.decoder.grads.items()})
        if likelihood_params(self.likelihood):
            own = self.likelihood.backward_params(objective.dlog_px)
            grads.update({f"likelihood.{n}": g for n, g in own.items()})
        return objective.parts, grads

    def _log_weights(
        self, x: np.ndarray, eps: np.ndarray, cond: np.ndarray | None = None
    ) -> np.ndarray:
        """log w = log p(x|z) + log p(z) - log q(z|x) (M, B) for checked x, eps (§9.1)."""
        h, z, out = self._run(x, eps, cond)
        return log_importance_weights(self.likelihood.log_prob(x, out), z, eps, h, self.posterior)

    def log_likelihood(
        self, x: np.ndarray, n_samples: int = 5000, *, c: np.ndarray | None = None, **chunks
    ) -> np.ndarray:
        """Importance-sampling estimates of log p(x) (N,) with n_samples draws per point.

        See numpyvae.iwae.log_likelihood (derivations.md §9.5) for `chunk_size` and
        `batch_size`, which bound the memory.
        """
        return log_likelihood(self, x, n_samples, c=c, **chunks)

    # ----------------------------------------------------------------- inference
    def encode(
        self,
        x: np.ndarray,
        method: str = "mean",
        eps: np.ndarray | None = None,
        c: np.ndarray | None = None,
    ) -> np.ndarray:
        """Embeddings z (B, k) of x (B, d) (derivations.md §8.2).

        method "mean" (lecture method A): the posterior mean mu_phi(x).
        method "sample" (method B): one draw z = mu + sigma * eps, eps (B, k) or drawn.
        c (B,): the labels, for a conditional model.
        """
        check_choice("method", method, EMBEDDING_METHODS)
        x = self._check_x(x)
        cond = self._check_c(c, x.shape[0])
        h = self.encoder.forward(x if cond is None else np.concatenate([x, cond], axis=1))
        if method == "mean":
            return self.posterior.mean(h).copy()
        return self.posterior.sample(h, self._check_eps(eps, x.shape[0], single=True))[0]

    def decode(
        self, z: np.ndarray, method: str = "mean", c: np.ndarray | int | None = None
    ) -> np.ndarray:
        """x (N, d) from latent codes z (N, k) (derivations.md §8.1).

        method "mean" (lecture method A): the decoder's mean E[x|z].
        method "sample" (method B): a draw from p_theta(x|z).
        c: for a conditional model, the labels (N,) or one label for all (§9.2).
        """
        check_choice("method", method, GENERATION_METHODS)
        z = check_batch("z", z, self.latent_dim, self.dtype)
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            c = np.full(z.shape[0], c)
        cond = self._check_c(c, z.shape[0])
        out = self.decoder.forward(z if cond is None else np.concatenate([z, cond], axis=1))
        if method == "mean":
            return self.likelihood.mean(out)
        return self.likelihood.sample(out, self.rng)

    def generate(
        self, n: int, method: str = "mean", c: np.ndarray | int | None = None
    ) -> np.ndarray:
        """n new data points (n, d): z ~ N(0, I), then `decode(z, method, c)`.

        c: for a conditional model, the digit to draw (an int) or n labels (§9.2).
        """
        n = check_positive_int("n", n)
        z = self.rng.standard_normal((n, self.latent_dim), dtype=self.dtype)
        return self.decode(z, method, c)

    def reconstruct(
        self, x: np.ndarray, method: str = "mean", c: np.ndarray | None = None
    ) -> np.ndarray:
        """Decoder means (B, d) at the embeddings of x (B, d) by `method` ("mean" or "sample")."""
        return self.decode(self.encode(x, method, c=c), "mean", c)

    def evaluate(
        self, x: np.ndarray, batch_size: int = 1000, c: np.ndarray | None = None
    ) -> LossParts:
        """The model's bound on a whole data set x (N, d), in batches, with beta = 1.

        The negative ELBO (or -L_K for the IWAE objective) with fresh noise per point; the KL
        weight of training is left out, so the figure is a bound on -log p(x) (§9.4).
        """
        x = self._check_x(x)
        cond = self._check_c(c, x.shape[0])
        batch_size = check_positive_int("batch_size", batch_size)
        totals = np.zeros(3)
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            cb = None if cond is None else cond[start : start + batch_size]
            eps = self.posterior.draw_eps(self.rng, self.n_samples, xb.shape[0], self.dtype)
            parts = self._forward(xb, eps, cb, beta=1.0)[0].parts
            totals += xb.shape[0] * np.array([parts.loss, parts.reconstruction, parts.kl])
        return LossParts(*(totals / x.shape[0]).tolist())

    # ----------------------------------------------------------------- checks
    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = check_batch("x", x, self.data_dim, self.dtype)
        self.likelihood.check_targets("x", x)
        return x

    def _check_c(self, c: np.ndarray | None, batch: int) -> np.ndarray | None:
        """One-hot labels (B, n_classes) in the model's dtype from labels c (B,); None if
        the model is not conditional."""
        if self.n_classes is None:
            if c is not None:
                raise ValueError(
                    "c (labels) given, but the model is not conditional; pass "
                    "n_classes=... to VAE to build a conditional VAE"
                )
            return None
        if c is None:
            raise ValueError(
                f"c (labels) is required: this is a conditional VAE with n_classes={self.n_classes}"
            )
        if not isinstance(c, np.ndarray) or c.dtype.kind not in "iu":
            raise TypeError(f"c must be an integer NumPy array of shape ({batch},), got {c!r:.80}")
        if c.shape != (batch,):
            raise ValueError(f"c must have shape ({batch},), got {c.shape}")
        if c.min() < 0 or c.max() >= self.n_classes:
            raise ValueError(
                f"c must lie in [0, {self.n_classes - 1}], got values in [{c.min()}, {c.max()}]"
            )
        return np.eye(self.n_classes, dtype=self.dtype)[c]

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
            f"posterior={self.posterior.name!r}, objective={self.objective!r}, "
            f"kl_estimator={self.kl_estimator!r}, beta={self.beta:g}, n_samples={self.n_samples}, "
            f"n_classes={self.n_classes}, dtype={self.dtype.name})"
        )
