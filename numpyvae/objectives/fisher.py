"""The Fisher auto-encoder objective (lecture 004, section 1.3; derivations.md §12).

The Fisher divergence between the data-side joint q(x, z) = p_d(x) q(z|x) and the model's
p(x, z) = p(z) p(x|z), integrated by parts in x, is a constant of the data plus (§12.1-12.2)

    J = E_{p_d(x) q(z|x)} [ 1/2 ||g||^2 + 1/2 ||r||^2 - d / s^2 + 1/2 ||w||^2 ],

for the diagonal Gaussian posterior z = mu + sigma * eps, the prior N(0, I) and the Gaussian
decoder N(f(z), s^2 I), with (one row per data point i and noise draw j)

    r = (x - f(z)) / s^2         -grad_x log p(x|z)
    v = J_f(z)^T r               grad_z log p(x|z), a VJP through the decoder
    g = z - eps / sigma - v      grad_z [log q(z|x) - log p(z) - log p(x|z)]
    u = (eps / sigma, (eps^2 - 1) / 2)   d log q / d(mu, log sigma^2) at fixed z
    w = J_E(x)^T u               grad_x log q(z|x) at fixed z, a VJP through the encoder.

The three terms recorded (each a batch and sample mean; the loss is their sum, it is not in
nats and it can be negative):

    z_score   = 1/2 ||g||^2                 the Fisher divergence of q(z|x) to p(z|x)
    x_score   = 1/2 ||r||^2 - d / s^2       the decoder's score matching in x
    stability = 1/2 ||w||^2                 the sensitivity of the encoder to x

mapped onto LossParts as reconstruction = x_score (the term that fits the decoder to the data)
and kl = z_score + stability (the terms that place q(z|x)), so loss = reconstruction + kl.

The gradient (§12.5) needs second derivatives of both networks: one tangent pass (JVP) per
network, then one reverse pass through the primal and the tangent together (the layers'
`jvp` and `dual_backward`, §12.4). Two variants reproduce the authors' public code (§12.7):
`score="total"` takes the total derivative of log q(z|x) in x through z = mu(x) + sigma(x) eps,
and `detach_decoder_score=True` treats v as a constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from numpyvae.objectives.base import LossParts, Objective
from numpyvae.posteriors.diagonal_gaussian import LOGVAR_LIMIT
from numpyvae.validation import ConfigError, InvalidValueError

if TYPE_CHECKING:
    from numpyvae.config import VAEConfig
    from numpyvae.layers.mlp import MLP
    from numpyvae.vae import VAE, Batch

SCORES = ("partial", "total")  # grad_x log q(z|x) at fixed z (the objective), or through z
LIKELIHOODS = ("gaussian", "gaussian_shared_var")


@dataclass(frozen=True)
class FisherParts(LossParts):
    """The Fisher loss and its three terms (batch and sample means; derivations.md §12.2).

    reconstruction = x_score, kl = z_score + stability, loss = reconstruction + kl.
    """

    z_score: float
    x_score: float
    stability: float


@dataclass
class _Pass:
    """The quantities of one evaluation, kept for the gradient (rows: N = M B)."""

    x: np.ndarray  # (N, d)
    eps: np.ndarray  # (N, k)
    inside: np.ndarray  # (N, k) raw log sigma^2 strictly inside the clamp
    sigma: np.ndarray  # (N, k)
    eps_over_sigma: np.ndarray  # (N, k)
    s2_inv: np.floating  # 1 / s^2
    r: np.ndarray  # (N, d)
    v: np.ndarray  # (N, k)
    g: np.ndarray  # (N, k)
    u: np.ndarray  # (N, 2k)
    w: np.ndarray  # (N, d)
    parts: FisherParts


def _evaluate(
    encoder: MLP, decoder: MLP, x: np.ndarray, eps: np.ndarray, logvar: float, score: str
) -> _Pass:
    """Forward, the two VJPs and the three terms (derivations.md §12.2)."""
    M, B, k = eps.shape
    n, d = M * B, x.shape[1]
    # Row j B + i holds x_i and eps_ij: the encoder runs once per row, so that the VJP to x
    # (one per noise draw) has its own cached activations. M = 1 costs nothing extra.
    x = x if M == 1 else np.tile(x, (M, 1))
    e = eps.reshape(n, k)
    h = encoder.forward(x)
    raw = h[:, k:]
    inside = np.abs(raw) < LOGVAR_LIMIT
    logvar_z = np.clip(raw, -LOGVAR_LIMIT, LOGVAR_LIMIT)
    sigma = np.exp(0.5 * logvar_z)
    eps_over_sigma = e * np.exp(-0.5 * logvar_z)
    z = h[:, :k] + sigma * e
    f = decoder.forward(z)
    s2_inv = np.exp(-np.asarray(logvar, dtype=x.dtype))
    r = (x - f) * s2_inv
    v = decoder.vjp(r)
    g = z - eps_over_sigma - v
    if score == "partial":
        u = np.concatenate([eps_over_sigma, 0.5 * (e * e - 1.0) * inside], axis=1)
    else:  # d/d(mu, lambda) of log q(mu + sigma eps | x): (0, -1/2) (derivations.md §12.7)
        u = np.concatenate([np.zeros_like(e), -0.5 * inside.astype(x.dtype)], axis=1)
    w = encoder.vjp(u)
    z_score = 0.5 * float(np.sum(g * g)) / n
    x_score = 0.5 * float(np.sum(r * r)) / n - d * float(s2_inv)
    stability = 0.5 * float(np.sum(w * w)) / n
    parts = FisherParts(
        loss=z_score + x_score + stability,
        reconstruction=x_score,
        kl=z_score + stability,
        z_score=z_score,
        x_score=x_score,
        stability=stability,
    )
    return _Pass(x, e, inside, sigma, eps_over_sigma, s2_inv, r, v, g, u, w, parts)


def fisher_loss(
    encoder: MLP,
    decoder: MLP,
    x: np.ndarray,
    eps: np.ndarray,
    logvar: float = 0.0,
    *,
    score: str = "partial",
) -> FisherParts:
    """The Fisher loss of x (B, d) with noise eps (M, B, k) (derivations.md §12.2).

    encoder: x -> h (B, 2k) = [mu | log sigma^2] (clamped to +-LOGVAR_LIMIT); decoder: z (N, k)
    -> f(z) (N, d); logvar = log s^2 of the decoder's variance (0 for unit variance).
    """
    return _evaluate(encoder, decoder, x, eps, logvar, score).parts


def fisher_loss_and_grads(
    encoder: MLP,
    decoder: MLP,
    x: np.ndarray,
    eps: np.ndarray,
    logvar: float = 0.0,
    *,
    score: str = "partial",
    detach_decoder_score: bool = False,
) -> tuple[FisherParts, dict[str, np.ndarray], float]:
    """The Fisher loss and its gradients (derivations.md §12.5).

    Shapes as in `fisher_loss`. Returns (parts, grads, dlogvar): grads["encoder.<i>.W"] ...
    and grads["decoder.<i>.b"] ... shaped like the parameters, and dloss / d log s^2.
    With N = M B rows and c = 1/N:

        decoder: dual pass with H = c (t - r) / s^2, T = -c r, where t = J_f g;
        dL/dz = c g + (the dual pass's input adjoint);
        dL/dmu = dL/dz, dL/dlambda = [dL/dz eps sigma / 2 + c g eps / (2 sigma)
                                      - c tau_mu eps / (2 sigma)] * inside,
        encoder: dual pass with H = (dL/dmu, dL/dlambda), T = c u, tangent input w,
                 where tau = J_E w;
        dL/dlog s^2 = c (<g, v> - ||r||^2) + d / s^2.

    `detach_decoder_score=True` treats v as a constant: the decoder and z then get only the
    x-score's gradient (a plain backward with H = -c r / s^2), and <g, v> leaves dL/dlog s^2.
    """
    run = _evaluate(encoder, decoder, x, eps, logvar, score)
    n, d = run.x.shape
    k = run.eps.shape[1]
    c = 1.0 / n
    r_scaled = run.r * (c * run.s2_inv)
    if detach_decoder_score:
        dz = decoder.backward(-r_scaled)
        dlogvar = c * -float(np.sum(run.r * run.r))
    else:
        t = decoder.jvp(run.g)
        dz, _ = decoder.dual_backward(t * (c * run.s2_inv) - r_scaled, run.r * -c)
        dlogvar = c * (float(np.sum(run.g * run.v)) - float(np.sum(run.r * run.r)))
    dlogvar += d * float(run.s2_inv)
    dz += c * run.g
    # lambda reaches the loss through z (sigma eps), through -eps/sigma in g, and through
    # eps/sigma in u (the partial score): d(eps/sigma)/dlambda = -eps/(2 sigma).
    half_eps_over_sigma = 0.5 * run.eps_over_sigma
    tau = encoder.jvp(run.w)
    dlam = dz * run.eps * run.sigma * 0.5
    dlam += c * run.g * half_eps_over_sigma
    if score == "partial":
        dlam -= c * tau[:, :k] * half_eps_over_sigma
    dlam *= run.inside
    encoder.dual_backward(np.concatenate([dz, dlam], axis=1), c * run.u, need_input_grad=False)
    grads = {f"encoder.{name}": grad for name, grad in encoder.grads.items()}
    grads.update({f"decoder.{name}": grad for name, grad in decoder.grads.items()})
    return run.parts, grads, dlogvar


# ------------------------------------------------------------------------- linear-Gaussian
def linear_gaussian_fisher(
    W: np.ndarray,
    b: np.ndarray,
    s2: float,
    A: np.ndarray,
    c: np.ndarray,
    D: np.ndarray,
    m: np.ndarray,
    C: np.ndarray,
) -> float:
    """J in closed form for a linear-Gaussian model and data of mean m and covariance C (§12.6).

    Decoder f(z) = W z + b, W (d, k), b (d,), variance s2; encoder mu = A x + c, A (k, d),
    c (k,), constant variances D (k,); m (d,), C (d, d). With P = I + W^T W / s2,

        J = 1/2 (||G_x m + g_0||^2 + tr(G_x C G_x^T) + ||P D^1/2 - D^-1/2||_F^2)
          + 1/2 (||K m - W c - b||^2 + tr(K C K^T) + tr(W D W^T)) / s2^2 - d / s2
          + 1/2 sum_j (A A^T)_jj / D_j,

    G_x = P A - W^T / s2, g_0 = P c + W^T b / s2, K = I - W A.
    """
    d, k = W.shape
    P = np.eye(k) + W.T @ W / s2
    Gx = P @ A - W.T / s2
    g0 = P @ c + W.T @ b / s2
    Geps = P * np.sqrt(D) - np.diag(1.0 / np.sqrt(D))
    K = np.eye(d) - W @ A
    rho = K @ m - W @ c - b
    z_block = np.sum((Gx @ m + g0) ** 2) + np.trace(Gx @ C @ Gx.T) + np.sum(Geps**2)
    x_block = (rho @ rho + np.trace(K @ C @ K.T) + np.sum(W * W * D)) / s2**2
    stability = np.sum(np.sum(A * A, axis=1) / D)
    return float(0.5 * z_block + 0.5 * x_block - d / s2 + 0.5 * stability)


def gaussian_joint_fisher_divergence(
    W: np.ndarray,
    b: np.ndarray,
    s2: float,
    A: np.ndarray,
    c: np.ndarray,
    D: np.ndarray,
    m: np.ndarray,
    C: np.ndarray,
) -> float:
    """The exact Fisher divergence 1/2 E_q ||grad log q(x, z) - grad log p(x, z)||^2 (§12.6).

    q(x, z) = N(x; m, C) N(z; A x + c, diag(D)) and p(x, z) = N(z; 0, I) N(x; W z + b, s2 I),
    arguments as in `linear_gaussian_fisher`. Both joints are Gaussian: with precisions L_q,
    L_p and means mu_q, mu_p, the divergence is
    1/2 tr((L_q - L_p) S_q (L_q - L_p)) + 1/2 ||L_p (mu_q - mu_p)||^2, S_q = L_q^-1.
    """
    d, k = W.shape
    S_q = np.block([[C, C @ A.T], [A @ C, A @ C @ A.T + np.diag(D)]])
    L_q = np.linalg.inv(S_q)
    L_p = np.block([[np.eye(d) / s2, -W / s2], [-W.T / s2, np.eye(k) + W.T @ W / s2]])
    mean_gap = np.concatenate([m - b, A @ m + c])
    gap = L_q - L_p
    return float(0.5 * np.trace(gap @ S_q @ gap) + 0.5 * np.sum((L_p @ mean_gap) ** 2))


def fisher_optimal_variances(W: np.ndarray, A: np.ndarray, s2: float) -> np.ndarray:
    """The posterior variances D (k,) that minimise J for fixed W (d, k), A (k, d), s2 (§12.6).

    D_j^2 = (1 + (A A^T)_jj) / ((P^2)_jj + (W^T W)_jj / s2^2), P = I + W^T W / s2; the ELBO
    chooses 1 / P_jj instead.
    """
    P = np.eye(W.shape[1]) + W.T @ W / s2
    numerator = 1.0 + np.sum(A * A, axis=1)
    return np.sqrt(numerator / (np.sum(P * P, axis=0) + np.sum(W * W, axis=0) / s2**2))


# ------------------------------------------------------------------------- the model's objective
def check_continuous(x: np.ndarray) -> None:
    """Refuse binary data x (B, d): the x-score needs a density in x (derivations.md §12.3).

    Binarized digits have no density, so the objective would be meaningless: a batch whose
    values are all 0 or 1 raises InvalidValueError (B x d comparisons, beside 12 products).
    """
    if x.size and np.all((x == 0) | (x == 1)):
        raise InvalidValueError(
            "objective='fisher' needs continuous data, got values that are all 0 or 1 "
            "(binarized digits?): train on grayscale intensities (--binarize none), to which "
            "the command line adds N(0, 0.1^2) noise"
        )


def likelihood_logvar(likelihood: object) -> float:
    """log s^2 of a Gaussian likelihood: its learned "logvar" parameter, else 0 (unit variance)."""
    params = getattr(likelihood, "params", None) or {}
    return float(params["logvar"][0]) if "logvar" in params else 0.0


class FisherObjective(Objective):
    """The Fisher auto-encoder's loss (derivations.md §12) for numpyvae's VAE.

    Works with the Gaussian likelihoods of unit or one learned shared variance, the diagonal
    posterior and the N(0, I) prior, on continuous data (the x-score needs a density in x:
    never binarized digits). `score` and `detach_decoder_score` select the variants of the
    authors' code (§12.7); the defaults are the objective itself. The KL weight beta does not
    apply (there is no KL term): the configuration must keep beta = 1.
    """

    name = "fisher"
    summary = "the Fisher auto-encoder's score-matching loss (derivations.md §12)"
    loss_name = "Fisher objective J"
    term_names = ("x-score", "z-score + stability")
    units = "per image (a score-matching loss, not in nats)"
    uses_kl_weight = False

    def __init__(self, score: str = "partial", detach_decoder_score: bool = False) -> None:
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        self.score = score
        self.detach_decoder_score = bool(detach_decoder_score)

    @classmethod
    def check_config(cls, config: VAEConfig) -> None:
        """Refuse what the Fisher objective cannot do, naming the field and what is accepted."""
        likelihood = getattr(config, "likelihood", None)
        if likelihood not in LIKELIHOODS:
            raise ConfigError(
                f"objective='fisher' needs likelihood 'gaussian' or 'gaussian_shared_var' "
                f"(a density over continuous x), got likelihood={likelihood!r}"
            )
        posterior = getattr(config, "posterior", "diagonal")
        if posterior != "diagonal":
            raise ConfigError(
                f"objective='fisher' needs posterior='diagonal', got posterior={posterior!r}"
            )
        n_classes = getattr(config, "n_classes", None)
        if n_classes is not None:
            raise ConfigError(
                f"objective='fisher' does not support conditional models (got "
                f"n_classes={n_classes!r}); leave n_classes out"
            )
        kl_estimator = getattr(config, "kl_estimator", "analytic")
        if kl_estimator != "analytic":
            raise ConfigError(
                f"kl_estimator={kl_estimator!r} applies to objective='elbo' only: the Fisher "
                "objective has no KL term to estimate (derivations.md §12); leave one of them out"
            )
        beta = getattr(config, "beta", 1.0)
        if beta != 1.0:
            raise ConfigError(
                f"objective='fisher' has no KL term to weight: beta must be 1, got beta={beta!r}"
            )

    def loss(self, model: VAE, batch: Batch, eps: np.ndarray, beta: float) -> FisherParts:
        """The Fisher loss of `batch` with noise eps (M, B, k); beta is not used (§12.2)."""
        check_continuous(batch.x)
        logvar = likelihood_logvar(model.likelihood)
        return fisher_loss(model.encoder, model.decoder, batch.x, eps, logvar, score=self.score)

    def loss_and_grads(
        self, model: VAE, batch: Batch, eps: np.ndarray
    ) -> tuple[FisherParts, dict[str, np.ndarray]]:
        """The loss and grads[name] for every parameter of the model (derivations.md §12.5)."""
        check_continuous(batch.x)
        logvar = likelihood_logvar(model.likelihood)
        parts, grads, dlogvar = fisher_loss_and_grads(
            model.encoder,
            model.decoder,
            batch.x,
            eps,
            logvar,
            score=self.score,
            detach_decoder_score=self.detach_decoder_score,
        )
        if "likelihood.logvar" in model.params:
            grads["likelihood.logvar"] = np.full(
                1, dlogvar, dtype=model.params["likelihood.logvar"].dtype
            )
        return parts, grads

    def __repr__(self) -> str:
        return (
            f"FisherObjective(score={self.score!r}, "
            f"detach_decoder_score={self.detach_decoder_score})"
        )
