"""Probabilistic PCA, the linear VAE with every quantity in closed form (derivations.md §13).

The linear-Gaussian model (Tipping and Bishop), in the lectures' notation,

    z ~ p(z) = N(0, I_k),    x | z ~ p_theta(x | z) = N(W z + b, s2 I_d),

with W (d, k), b (d,) and the noise variance s2, has

    the marginal        p(x) = N(x; b, C),            C = W W^T + s2 I_d            (13.1)
    the exact posterior p(z | x) = N(M^-1 W^T (x - b), s2 M^-1),  M = W^T W + s2 I_k (13.2)

and, for data with mean b and covariance S = U diag(lambda) U^T (lambda_1 >= ... >= lambda_d),
the maximum-likelihood solution W = U_k (Lambda_k - s2 I)^(1/2) R, s2 = the mean of the d - k
discarded eigenvalues (13.4). A VAE with identity activations, no hidden layer and a Gaussian
decoder (`VAE(d, k, hidden=(), likelihood="gaussian_shared_var")`) is this model with an
amortised diagonal posterior q_phi(z | x) = N(mu, diag(sigma^2)); its ELBO, and the ELBO's gap
to log p(x) (the KL from q to the exact posterior), are closed forms here too (§13.2).

Shapes: data x (N, d) as rows, as everywhere in numpyvae; W is (d, k) as in the formulas, so
the decoder's mean of a batch z (N, k) is z @ W.T + b.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.layers.activations import Identity
from numpyvae.layers.mlp import MLP
from numpyvae.validation import InvalidTypeError, InvalidValueError, check_positive_int

LINEAR_LIKELIHOODS = ("gaussian", "gaussian_shared_var")


@dataclass(frozen=True)
class LinearGaussian:
    """p(z) = N(0, I_k), p(x | z) = N(W z + b, s2 I_d): W (d, k), b (d,), s2 > 0."""

    W: np.ndarray
    b: np.ndarray
    s2: float

    def __post_init__(self) -> None:
        W = np.asarray(self.W, dtype=np.float64)
        b = np.asarray(self.b, dtype=np.float64)
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise InvalidValueError(f"W must be (d, k) and b (d,), got W {W.shape} and b {b.shape}")
        if not (np.isfinite(self.s2) and self.s2 > 0):
            raise InvalidValueError(f"s2 must be a positive number, got {self.s2!r}")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "s2", float(self.s2))

    @property
    def data_dim(self) -> int:
        """d."""
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        """k."""
        return self.W.shape[1]

    def posterior_precision_scaled(self) -> np.ndarray:
        """M = W^T W + s2 I_k (k, k): the exact posterior's covariance is s2 M^-1 (13.2)."""
        return self.W.T @ self.W + self.s2 * np.eye(self.latent_dim)

    def covariance(self) -> np.ndarray:
        """C = W W^T + s2 I_d (d, d), the covariance of the marginal p(x) (13.1)."""
        return self.W @ self.W.T + self.s2 * np.eye(self.data_dim)


@dataclass(frozen=True)
class PPCA:
    """A fitted PPCA: the model, and the eigenvalues (d,) (descending) and eigenvectors
    (d, d) (columns) of the data's covariance S that it was computed from."""

    model: LinearGaussian
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


def _check_data(x: np.ndarray, d: int | None = None) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind not in "fiu":
        raise InvalidTypeError(f"x must be a 2-D NumPy array (N, d) of numbers, got {x!r:.80}")
    if d is not None and x.shape[1] != d:
        raise InvalidValueError(f"x must have {d} columns (the model's d), got {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise InvalidValueError("x contains NaN or infinity")
    return x.astype(np.float64, copy=False)


def sample_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean (d,) and covariance S = (1/N) sum_n (x_n - mean)(x_n - mean)^T (d, d) of x (N, d).

    The maximum-likelihood moments (divisor N, not N - 1), as the PPCA solution uses them.
    """
    x = _check_data(x)
    mean = x.mean(axis=0)
    centred = x - mean
    return mean, centred.T @ centred / x.shape[0]


def fit_ppca(x: np.ndarray, k: int, s2: float | None = None) -> PPCA:
    """Tipping and Bishop's maximum-likelihood PPCA of x (N, d) with k < d latent dimensions.

    W = U_k (Lambda_k - s2 I)^(1/2) (the rotation R = I, which makes W's columns orthogonal),
    b = the mean of x, s2 = the mean of the d - k smallest eigenvalues of S (derivations.md
    §13.1). With `s2` given, the noise is held there and W maximises the likelihood for it:
    each column is sqrt(max(lambda_j - s2, 0)) u_j, so a direction whose eigenvalue is at most
    s2 gets a zero column: it collapses (derivations.md §13.3).
    """
    x = _check_data(x)
    d = x.shape[1]
    k = check_positive_int("k", k)
    if k >= d:
        raise InvalidValueError(f"k must be smaller than the data dimension d = {d}, got {k}")
    mean, S = sample_moments(x)
    eigenvalues, eigenvectors = np.linalg.eigh(S)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    if s2 is None:
        s2 = float(eigenvalues[k:].mean())
        if s2 <= 1e-12 * max(float(eigenvalues[0]), 1e-300):  # 0 up to rounding
            raise InvalidValueError(
                f"the data lie in a subspace of dimension <= k = {k}: the discarded "
                "eigenvalues are 0, so the maximum-likelihood s2 is 0; add noise or lower k"
            )
    elif not (np.isfinite(s2) and s2 > 0):
        raise InvalidValueError(f"s2 must be a positive number or None, got {s2!r}")
    scales = np.sqrt(np.maximum(eigenvalues[:k] - s2, 0.0))
    W = eigenvectors[:, :k] * scales
    return PPCA(LinearGaussian(W, mean, s2), eigenvalues, eigenvectors)


def log_marginal(model: LinearGaussian, x: np.ndarray) -> np.ndarray:
    """log p(x) = log N(x; b, W W^T + s2 I) (N,) for x (N, d), exactly (derivations.md §13.1).

    By the matrix determinant lemma and Woodbury, with M = W^T W + s2 I_k and r = x - b,
    log det C = (d - k) log s2 + log det M and r^T C^-1 r = (|r|^2 - r^T W M^-1 W^T r) / s2:
    a k x k problem instead of a d x d one.
    """
    x = _check_data(x, model.data_dim)
    d, k, s2 = model.data_dim, model.latent_dim, model.s2
    M = model.posterior_precision_scaled()
    r = x - model.b
    projected = r @ model.W  # (N, k): W^T r per row
    quadratic = np.sum(r * r, axis=1) - np.sum(projected * np.linalg.solve(M, projected.T).T, 1)
    log_det = (d - k) * np.log(s2) + np.linalg.slogdet(M)[1]
    return -0.5 * (d * LOG_2PI + log_det + quadratic / s2)


def exact_posterior(model: LinearGaussian, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p(z | x) = N(M^-1 W^T (x - b), s2 M^-1): the means (N, k) and the covariance (k, k),
    the same for every x (derivations.md §13.1)."""
    x = _check_data(x, model.data_dim)
    M = model.posterior_precision_scaled()
    means = np.linalg.solve(M, model.W.T @ (x - model.b).T).T
    return means, model.s2 * np.linalg.inv(M)


def _check_moments(model: LinearGaussian, x: np.ndarray, mu: np.ndarray, logvar: np.ndarray):
    x = _check_data(x, model.data_dim)
    shape = (x.shape[0], model.latent_dim)
    mu = np.broadcast_to(np.asarray(mu, dtype=np.float64), shape)
    logvar = np.broadcast_to(np.asarray(logvar, dtype=np.float64), shape)
    return x, mu, logvar


def elbo(model: LinearGaussian, x: np.ndarray, mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """The ELBO (N,) of q(z | x_n) = N(mu_n, diag(exp(logvar_n))) under the linear model, exactly.

    E_q[log p(x | z)] = -d/2 log(2 pi s2) - (|x - b - W mu|^2 + sum_j sigma_j^2 (W^T W)_jj) / (2 s2)
    minus the KL (4.1) to N(0, I) (derivations.md §13.2). mu, logvar (N, k), or broadcastable.
    """
    x, mu, logvar = _check_moments(model, x, mu, logvar)
    d, s2 = model.data_dim, model.s2
    residual = x - model.b - mu @ model.W.T
    column_norms = np.sum(model.W * model.W, axis=0)  # (W^T W)_jj
    variances = np.exp(logvar)
    expected_log_px = -0.5 * (
        d * (LOG_2PI + np.log(s2)) + (np.sum(residual**2, 1) + variances @ column_norms) / s2
    )
    kl = 0.5 * np.sum(mu * mu + variances - logvar - 1.0, axis=1)
    return expected_log_px - kl


def elbo_gap(
    model: LinearGaussian, x: np.ndarray, mu: np.ndarray, logvar: np.ndarray
) -> np.ndarray:
    """log p(x) - ELBO = KL(q(z | x) || p(z | x)) (N,), in closed form (derivations.md §13.2).

    Between N(mu, V), V = diag(exp(logvar)), and the exact posterior N(m, P), P^-1 = M / s2:
    1/2 [tr(P^-1 V) + (m - mu)^T P^-1 (m - mu) - k + log det P - log det V].
    """
    x, mu, logvar = _check_moments(model, x, mu, logvar)
    k, s2 = model.latent_dim, model.s2
    M = model.posterior_precision_scaled()
    means, _ = exact_posterior(model, x)
    delta = means - mu
    trace = np.exp(logvar) @ np.diag(M) / s2
    mahalanobis = np.sum((delta @ M) * delta, axis=1) / s2
    log_det_P = k * np.log(s2) - np.linalg.slogdet(M)[1]
    return 0.5 * (trace + mahalanobis - k + log_det_P - logvar.sum(axis=1))


def best_diagonal_posterior(model: LinearGaussian, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The diagonal Gaussian q closest to p(z | x) in KL(q || p): its means (N, k), the exact
    posterior's, and its log-variances (k,), log(s2 / M_jj) (derivations.md §13.2).

    Its gap is 1/2 (sum_j log M_jj - log det M) for every x: zero exactly when W^T W is diagonal.
    """
    means, _ = exact_posterior(model, x)
    return means, np.log(model.s2 / np.diag(model.posterior_precision_scaled()))


def optimal_kl_per_dimension(eigenvalues: np.ndarray, s2: float, k: int) -> np.ndarray:
    """The data-averaged KL of each latent dimension (k,) at the linear VAE's optimum for noise
    s2: 1/2 log(lambda_j / s2) where lambda_j > s2, else 0 (derivations.md §13.3)."""
    top = np.asarray(eigenvalues, dtype=np.float64)[:k]
    return 0.5 * np.log(np.maximum(top / s2, 1.0))


def optimal_activity(eigenvalues: np.ndarray, s2: float, k: int) -> np.ndarray:
    """Cov_x(E_q[z_j | x]) (k,) at the linear VAE's optimum for noise s2: (lambda_j - s2) /
    lambda_j where lambda_j > s2, else 0 (derivations.md §13.3)."""
    top = np.asarray(eigenvalues, dtype=np.float64)[:k]
    return np.maximum(top - s2, 0.0) / top


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The principal angles (radians, ascending) between the column spaces of A (d, p) and
    B (d, q): arccos of the singular values of Q_A^T Q_B, with Q from a QR factorisation."""
    qa, _ = np.linalg.qr(np.asarray(A, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(B, dtype=np.float64))
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))


def affine_map(mlp: MLP) -> tuple[np.ndarray, np.ndarray]:
    """An MLP whose activations are all the identity as one affine map x @ A + c: A (n_in,
    n_out) and c (n_out,) (the layers' products, Dense after Dense)."""
    if not all(isinstance(layer, Identity) for layer in mlp.layers[1::2]):
        raise InvalidValueError(
            "the network is not linear: a linear VAE needs activation='identity' (or no "
            f"hidden layer, hidden=()), got the layers {mlp!r}"
        )
    A = np.eye(mlp.sizes[0])
    c = np.zeros(mlp.sizes[0])
    for dense in mlp.dense:
        W, b = (dense.params[n].astype(np.float64) for n in ("W", "b"))
        A, c = A @ W, c @ W + b
    return A, c


def linear_gaussian_of(model) -> LinearGaussian:
    """The generative model p(z) p_theta(x | z) of a linear VAE (numpyvae.vae.VAE) as a
    LinearGaussian: its decoder composed into W (d, k) and b (d,), and s2 = 1 for the
    "gaussian" likelihood or exp(v) for "gaussian_shared_var" (derivations.md §13.2)."""
    config = model.config
    if config.likelihood not in LINEAR_LIKELIHOODS or config.n_classes is not None:
        raise InvalidValueError(
            "a linear-Gaussian model needs likelihood in "
            f"{', '.join(map(repr, LINEAR_LIKELIHOODS))} and no labels, got "
            f"likelihood={config.likelihood!r}, n_classes={config.n_classes!r}"
        )
    A, c = affine_map(model.decoder)
    s2 = 1.0
    if config.likelihood == "gaussian_shared_var":
        s2 = float(np.exp(model.params["likelihood.logvar"][0]))
    return LinearGaussian(A.T, c, s2)
