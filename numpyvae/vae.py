"""The variational autoencoder: encoder, posterior, decoder and likelihood composed.

THE LOSS (the one convention of this package, derivations.md §2.4). For a batch x_1..x_B and
M noise draws eps_ij ~ N(0, I), z_ij = mu_phi(x_i) + sigma_phi(x_i) * eps_ij,

    loss = (1/B) sum_i [ -(1/M) sum_j log p_theta(x_i | z_ij) + KL(q_phi(z|x_i) || N(0, I)) ]

log p is summed over the d data dimensions and the KL over the k latent dimensions. The loss
is the negative ELBO, so minimising it is gradient ascent on the ELBO. `reconstruction` and
`kl` are the two terms with the same batch average; loss = reconstruction + kl.

Options beyond this loss, all off by default, are the fields of `numpyvae.config.VAEConfig`:
the KL by sampling (estimator A, `kl_estimator="sampled"`), the importance-weighted bound
(`objective="iwae"`), a KL weight (`beta`), a full-covariance posterior, learned-variance
likelihoods, and a conditional model (`n_classes`: q(z|x, c), p(x|z, c)). The objectives live in
numpyvae.objectives; this class runs the networks forward and carries their gradients back.

The boundary with the rest of the package (the trainer, the objectives, the log p(x) estimate):
`prepare` checks data and labels once into a `Batch`, `noise` checks or draws eps, `forward`
runs encoder, reparameterization and decoder, `backward` carries an objective's partial
derivatives back to every parameter, `gradients` is one forward-backward of the configured
objective, and `log_weights` gives the importance weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from numpyvae.config import VAEConfig, options
from numpyvae.kernels import FlatArrays
from numpyvae.layers.mlp import MLP
from numpyvae.likelihoods import make_likelihood
from numpyvae.objectives import OBJECTIVES, LossParts, ObjectiveGrad
from numpyvae.objectives.iwae import log_importance_weights, log_likelihood
from numpyvae.posteriors import POSTERIORS
from numpyvae.validation import (
    InvalidTypeError,
    InvalidValueError,
    check_batch,
    check_choice,
    check_non_negative_float,
    check_positive_int,
)

EMBEDDING_METHODS = ("mean", "sample")  # the lectures' methods A and B (derivations.md §8.2)
GENERATION_METHODS = ("mean", "sample")  # the lectures' methods A and B (derivations.md §8.1)


@dataclass(frozen=True)
class Batch:
    """Data checked by `VAE.prepare`: x (B, d) in the model's dtype, and for a conditional
    model the labels as one-hot rows onehot (B, n_classes) (None otherwise)."""

    x: np.ndarray
    onehot: np.ndarray | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def rows(self, index: slice | np.ndarray) -> Batch:
        """The rows `index` (a slice or an index array) of x and of the labels."""
        return Batch(self.x[index], None if self.onehot is None else self.onehot[index])


@dataclass(frozen=True)
class Forward:
    """One forward pass: the encoder output h (B, P), the samples z (M, B, k) and the decoder
    output out (M, B, d') (logits, means, or means and log-variances)."""

    h: np.ndarray
    z: np.ndarray
    out: np.ndarray


def with_labels(a: np.ndarray, onehot: np.ndarray | None) -> np.ndarray:
    """A network's input: a (N, n) alone, or [a | onehot] (N, n + n_classes) for a
    conditional model (derivations.md §9.2)."""
    return a if onehot is None else np.concatenate([a, onehot], axis=1)


class VAE:
    """A VAE with MLP encoder and decoder, built from a `VAEConfig`.

    Encoder (phi): x (B, d) -> h (B, P) = [mu | log sigma^2] (P = 2k for the diagonal
    posterior), an MLP d -> hidden -> P. Decoder (theta): z (N, k) -> out (N, d'), an MLP
    k -> reversed(hidden) -> d'; `out` is the logits (Bernoulli) or the mean x_hat (Gaussian),
    d' = d, or [x_hat | log-variance] (d' = 2d, "gaussian_pixel_var"). Every array of the
    model has `dtype`. Parameters are named "encoder.<i>.W", "decoder.<i>.b", ... and
    "likelihood.logvar" ("gaussian_shared_var") in `params` and in the gradients that
    `loss_and_grads` returns.

    Build it from a configuration, `VAE(config=VAEConfig(...))`, or with the options as
    arguments, `VAE(784, 20, hidden=(400,), likelihood="bernoulli", ...)`: the same fields, the
    same defaults and checks (numpyvae.config lists and explains them).
    """

    def __init__(
        self,
        data_dim: int | None = None,
        latent_dim: int | None = None,
        hidden: Sequence[int] | None = None,
        *,
        config: VAEConfig | None = None,
        **settings: Any,
    ) -> None:
        given = {"data_dim": data_dim, "latent_dim": latent_dim, "hidden": hidden}
        given = {name: value for name, value in given.items() if value is not None}
        unknown = sorted(set(settings) - set(options()))
        if unknown:
            raise InvalidTypeError(
                f"VAE got unknown option(s) {', '.join(unknown)}; the options are "
                f"{', '.join(options())}"
            )
        given.update(settings)
        if config is None:
            config = VAEConfig(**given)
        elif not isinstance(config, VAEConfig):
            raise InvalidTypeError(f"config must be a VAEConfig, got {type(config).__name__}")
        elif given:
            raise InvalidTypeError(
                f"pass either config or the options ({', '.join(given)}), not both; "
                "config.replace(...) changes options of a configuration"
            )
        self.config = config
        self.dtype = config.np_dtype
        self.beta = config.beta
        self.objective_fn = OBJECTIVES[config.objective].from_config(config)
        self.likelihood = make_likelihood(config.likelihood, self.dtype)
        self.posterior = POSTERIORS[config.posterior].from_config(config)
        self.n_outputs = self.likelihood.n_outputs(config.data_dim)
        init_rng, noise_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2)
        )
        self.rng = noise_rng  # draws eps and the samples of generation method B
        layers = dict(
            activation=config.activation, rng=init_rng, dtype=self.dtype, init=config.init
        )
        n_labels = config.n_classes or 0
        self.encoder = MLP(
            [config.data_dim + n_labels, *config.hidden, self.posterior.n_params], **layers
        )
        self.decoder = MLP(
            [config.latent_dim + n_labels, *reversed(config.hidden), self.n_outputs], **layers
        )
        self.params = {f"encoder.{n}": p for n, p in self.encoder.params.items()}
        self.params.update({f"decoder.{n}": p for n, p in self.decoder.params.items()})
        self.params.update({f"likelihood.{n}": p for n, p in self.likelihood.params.items()})
        self._share_flat_buffers()

    def _share_flat_buffers(self) -> None:
        """Move every parameter into one flat buffer, and the networks' gradients into
        another of the same layout (numpyvae.kernels.FlatArrays): `params` stays a dict of
        the live arrays by name, the Dense layers write their gradients straight into the
        buffer, and an optimizer updates the whole model with one call per formula line."""
        params = FlatArrays.gather(self.params)
        self._grads = params.zeros_like()
        for prefix, net in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            own = {n: prefix + n for n in net.params}
            net.adopt(
                {n: params[f] for n, f in own.items()}, {n: self._grads[f] for n, f in own.items()}
            )
        for n in self.likelihood.params:
            self.likelihood.params[n] = params[f"likelihood.{n}"]
        self.params = params

    # ----------------------------------------------------------------- the options
    @property
    def data_dim(self) -> int:
        """d, the data dimension."""
        return self.config.data_dim

    @property
    def latent_dim(self) -> int:
        """k, the latent dimension."""
        return self.config.latent_dim

    @property
    def hidden(self) -> tuple[int, ...]:
        """The encoder's hidden layer sizes (the decoder's, reversed)."""
        return self.config.hidden

    @property
    def objective(self) -> str:
        """The name of the training objective (numpyvae.objectives.OBJECTIVES)."""
        return self.config.objective

    @property
    def kl_estimator(self) -> str:
        """The ELBO's KL estimator: "analytic" (estimator B) or "sampled" (A) (§7.2)."""
        return self.config.kl_estimator

    @property
    def n_classes(self) -> int | None:
        """The number of labels of a conditional model; None for a plain VAE."""
        return self.config.n_classes

    @property
    def n_samples(self) -> int:
        """M, the samples of z per data point drawn when eps is not given (K for the IWAE)."""
        return self.config.n_samples

    @n_samples.setter
    def n_samples(self, value: int) -> None:
        self.config = self.config.replace(n_samples=value)

    @property
    def beta(self) -> float:
        """The weight of the KL term now (derivations.md §9.4); `config.beta` is the one
        configured, which a KL warm-up reaches at its end."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = check_non_negative_float("beta", value)

    # ----------------------------------------------------------------- the boundary
    def prepare(self, x: np.ndarray, c: np.ndarray | None = None, *, name: str = "x") -> Batch:
        """Check data x (B, d) (and labels c (B,) of a conditional model) once, into a Batch.

        x is converted to the model's dtype and checked against the likelihood (Bernoulli
        targets in [0, 1]); `name` is how errors call it (e.g. "x_test"). The labels become
        one-hot rows here, the one place they are encoded.
        """
        x = check_batch(name, x, self.data_dim, self.dtype)
        self.likelihood.check_targets(name, x)
        return Batch(x, self._one_hot(c, x.shape[0], name))

    def noise(self, eps: np.ndarray | None, batch_size: int, *, single: bool = False) -> np.ndarray:
        """eps as (M, B, k) in the model's dtype, checked; drawn from `rng` when None.

        M = `n_samples` when drawn (1 with `single`, for one embedding per point); a given
        eps may be (M, B, k), or (B, k) for M = 1.
        """
        k = self.latent_dim
        if eps is None:
            n = 1 if single else self.n_samples
            return self.posterior.draw_eps(self.rng, n, batch_size, self.dtype)
        if not isinstance(eps, np.ndarray) or eps.dtype.kind != "f":
            raise InvalidTypeError(
                f"eps must be a float NumPy array of shape (M, {batch_size}, {k}), got {eps!r:.80}"
            )
        if eps.ndim == 2:
            eps = eps[np.newaxis]
        if eps.ndim != 3 or eps.shape[1:] != (batch_size, k) or (single and eps.shape[0] != 1):
            want = (
                f"({batch_size}, {k})"
                if single
                else f"(M, {batch_size}, {k}) or ({batch_size}, {k})"
            )
            raise InvalidValueError(f"eps must have shape {want}, got {eps.shape}")
        if not np.all(np.isfinite(eps)):
            raise InvalidValueError("eps contains NaN or infinity")
        return np.asarray(eps, dtype=self.dtype)

    def forward(self, batch: Batch, eps: np.ndarray) -> Forward:
        """Encoder, reparameterization, decoder for a prepared batch and eps (M, B, k)."""
        M, B, k = eps.shape
        h = self.encoder.forward(with_labels(batch.x, batch.onehot))
        z = self.posterior.sample(h, eps)  # (M, B, k)
        # Row j*B + i of the decoder's input is z_ij, so it gets label c_i.
        labels = None if batch.onehot is None else np.tile(batch.onehot, (M, 1))
        out = self.decoder.forward(with_labels(z.reshape(M * B, k), labels))
        return Forward(h, z, out.reshape(M, B, self.n_outputs))

    def backward(
        self, batch: Batch, objective: ObjectiveGrad, dlog_px: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Every parameter's gradient from a pathwise objective's partial derivatives at the
        last `forward`, and d log p(x|z) / d out (M, B, d') (derivations.md §6.3).

        Returns grads[name] shaped like params[name]; nothing accumulates between calls. They
        are the model's gradient buffer itself (the layers write into it; an optimizer reads
        it in place), so the next backward overwrites them: `loss_and_grads` returns a copy.
        """
        M, B, _ = dlog_px.shape
        k = self.latent_dim
        # d loss / d out = d loss / d log p(x|z) (from the objective) * the likelihood's closed
        # form: 1/(M B) for the ELBO, the importance weights -w~/B for the IWAE.
        dout = dlog_px.reshape(M * B, self.n_outputs)
        scale = objective.dlog_px
        dout *= scale.reshape(M * B, 1) if isinstance(scale, np.ndarray) else scale
        dz = self.decoder.backward(dout)
        if batch.onehot is not None:
            dz = dz[:, :k]  # the labels are data: their gradient is not needed
        dz = dz.reshape(M, B, k)
        if objective.dz is not None:  # log p(z) in the sampled KL and the IWAE
            dz += objective.dz
        # The reconstruction gradient reaches h through the reparameterization; the KL (or
        # log q) gradient joins there directly. The decoder gets no KL gradient.
        dh = self.posterior.sample_backward(dz)
        dh += objective.dh
        self.encoder.backward(dh, need_input_grad=False)
        if self.likelihood.params:
            own = self.likelihood.backward_params(objective.dlog_px)
            for n, g in own.items():
                self._grads[f"likelihood.{n}"][...] = g
        return self._grads

    def gradients(self, batch: Batch, eps: np.ndarray) -> tuple[LossParts, dict[str, np.ndarray]]:
        """One forward-backward of the configured objective on a prepared batch and checked
        eps (M, B, k): the loss (with the current beta) and every parameter's gradient, in the
        model's gradient buffer, which the next call overwrites (the trainer's hot path)."""
        return self.objective_fn.loss_and_grads(self, batch, eps)

    def log_weights(self, batch: Batch, eps: np.ndarray) -> np.ndarray:
        """log w = log p(x|z) + log p(z) - log q(z|x) (M, B) for a prepared batch (§9.1)."""
        run = self.forward(batch, eps)
        log_px = self.likelihood.log_prob(batch.x, run.out)
        return log_importance_weights(log_px, run.z, eps, run.h, self.posterior)

    # ----------------------------------------------------------------- the objective
    def loss(
        self, x: np.ndarray, eps: np.ndarray | None = None, c: np.ndarray | None = None
    ) -> LossParts:
        """The loss of x (B, d) with noise eps (M, B, k) (labels c (B,) if conditional)."""
        batch = self.prepare(x, c)
        return self.objective_fn.loss(self, batch, self.noise(eps, len(batch)), self.beta)

    def loss_and_grads(
        self, x: np.ndarray, eps: np.ndarray | None = None, c: np.ndarray | None = None
    ) -> tuple[LossParts, dict[str, np.ndarray]]:
        """The loss of x and its gradient with respect to every parameter.

        x (B, d); eps (M, B, k), or (B, k) for M = 1, or None to draw M = `n_samples` from the
        model's generator; c (B,) integer labels in [0, n_classes) for a conditional model.
        Returns (LossParts, grads) with grads[name] shaped like params[name], arrays of the
        caller's that later calls leave alone. The same eps serves the forward and the backward.
        """
        batch = self.prepare(x, c)
        parts, grads = self.gradients(batch, self.noise(eps, len(batch)))
        return parts, FlatArrays.gather(grads)

    def log_likelihood(
        self, x: np.ndarray, n_samples: int = 5000, *, c: np.ndarray | None = None, **chunks
    ) -> np.ndarray:
        """Importance-sampling estimates of log p(x) (N,) with n_samples draws per point.

        See numpyvae.objectives.iwae.log_likelihood (derivations.md §9.5) for `chunk_size`
        and `batch_size`, which bound the memory.
        """
        return log_likelihood(self, x, n_samples, c=c, **chunks)

    def evaluate(
        self, x: np.ndarray, batch_size: int = 1000, c: np.ndarray | None = None, *, name: str = "x"
    ) -> LossParts:
        """The model's bound on a whole data set x (N, d), in batches, with beta = 1.

        The negative ELBO (or -L_K for the IWAE objective) with fresh noise per point; the KL
        weight of training is left out, so the figure is a bound on -log p(x) (§9.4). `name`
        is how errors call x.
        """
        data = self.prepare(x, c, name=name)
        batch_size = check_positive_int("batch_size", batch_size)
        totals = np.zeros(3)
        for start in range(0, len(data), batch_size):
            batch = data.rows(slice(start, start + batch_size))
            parts = self.objective_fn.loss(self, batch, self.noise(None, len(batch)), 1.0)
            totals += len(batch) * np.array([parts.loss, parts.reconstruction, parts.kl])
        return LossParts(*(totals / len(data)).tolist())

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
        batch = self.prepare(x, c)
        h = self.encoder.forward(with_labels(batch.x, batch.onehot))
        if method == "mean":
            return self.posterior.mean(h).copy()
        return self.posterior.sample(h, self.noise(eps, len(batch), single=True))[0]

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
        out = self.decoder.forward(with_labels(z, self._one_hot(c, z.shape[0])))
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

    # ----------------------------------------------------------------- checks
    def _one_hot(self, c: np.ndarray | None, batch: int, data_name: str = "x") -> np.ndarray | None:
        """One-hot labels (B, n_classes) in the model's dtype from labels c (B,); None if
        the model is not conditional."""
        if self.n_classes is None:
            if c is not None:
                raise InvalidValueError(
                    "c (labels) given, but the model is not conditional; pass "
                    "n_classes=... to VAE to build a conditional VAE"
                )
            return None
        if c is None:
            raise InvalidValueError(
                f"c (labels) is required: this is a conditional VAE with n_classes={self.n_classes}"
            )
        if not isinstance(c, np.ndarray) or c.dtype.kind not in "iu":
            raise InvalidTypeError(
                f"c must be an integer NumPy array of shape ({batch},), got {c!r:.80}"
            )
        if c.shape != (batch,):
            raise InvalidValueError(f"c must have shape ({batch},) like {data_name}, got {c.shape}")
        if c.min() < 0 or c.max() >= self.n_classes:
            raise InvalidValueError(
                f"c must lie in [0, {self.n_classes - 1}], got values in [{c.min()}, {c.max()}]"
            )
        return np.eye(self.n_classes, dtype=self.dtype)[c]

    def __repr__(self) -> str:
        always = ("data_dim", "latent_dim", "hidden")
        shown = ", ".join(
            f"{name}={getattr(self.config, name)!r}"
            for name, option in options().items()
            if name in always or getattr(self.config, name) != option.default
        )
        beta = f", beta now {self.beta:g}" if self.beta != self.config.beta else ""
        return f"VAE({shown}{beta})"
