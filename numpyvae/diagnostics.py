"""What a trained VAE does with its latent code: KL per dimension, active units, I(x; z).

Posterior collapse (derivations.md §13.3) shows in three numbers, computed here for any trained
model on a data set x_1..x_N (derivations.md §13.4):

- the KL per latent dimension, (1/N) sum_n KL(q(z_j | x_n) || N(0, 1)), which sums to the ELBO's
  KL term for the diagonal posterior; a collapsed dimension has KL 0;
- the activity of unit j, A_j = Cov_x(E_q[z_j | x]), the variance over the data of the posterior
  mean, and the active units, those with A_j > 0.01 (Burda, Grosse and Salakhutdinov 2016);
- the mutual information I(x; z) between the data (uniform over the N points) and the code
  under q(x, z) = q(z | x) / N (Hoffman and Johnson, "ELBO surgery"): the mean KL term equals
  I(x; z) + KL(q(z) || p(z)) with the aggregate posterior q(z) = (1/N) sum_n q(z | x_n).
  It is estimated with one draw z_n ~ q(z | x_n) per point and log q(z_n) summed over all N
  points exactly, so it can never exceed log N.

A posterior whose marginals are not Gaussian in closed form (a normalizing flow, §14; its
`gaussian_marginals` is None) gets the activity from a Monte Carlo E_q[z | x] (MEAN_SAMPLES
draws), I(x; z) from the term-by-term estimator on at most REFERENCE_POINTS points, and no KL
per dimension (NaN): its marginals q(z_j | x) have no closed form.

`diagnose` computes all of them (`numpyvae evaluate` prints them, the trainer records them per
epoch on a fixed subset of the test set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.posteriors import DiagonalGaussian, FullCovarianceGaussian
from numpyvae.posteriors.base import Posterior
from numpyvae.vae import with_labels
from numpyvae.validation import InvalidValueError, check_non_negative_float, check_positive_int

ACTIVITY_THRESHOLD = 0.01  # Burda et al.: unit u is active when Cov_x(E_q[u | x]) > 1e-2
MI_ROWS = 500  # rows of the N x N table of log q(z_n | x_m) held at once: 500 N numbers
# Draws of eps behind a sampled E_q[z | x]: 32 antithetic pairs, the same for every point, so
# that a unit whose q(z_j | x) ignores x gets the same estimate at every x (activity 0).
MEAN_SAMPLES = 64
MEAN_ROWS = 250  # points pushed through the flow at once: MEAN_SAMPLES x 250 samples of z
# A flow's I(x; z) evaluates log_prob at N^2 pairs, and a planar flow's log_prob inverts each
# step by 100 bisection halvings: on 256 points (k = 20, K = 8) about 0.3 s in blocks of 16,
# against 8 s on 1000 and about 30 s on the 2000 the trainer diagnoses (it grows as N^2).
REFERENCE_POINTS = 256
SAMPLED_ROWS = 16  # z_n per log_prob call: a 16 x 256 table of samples per flow pass


def encoder_outputs(model, x: np.ndarray, c: np.ndarray | None = None, batch_size: int = 1000):
    """The encoder's outputs h (N, P) for data x (N, d) (and labels c (N,) of a conditional
    model), in batches of `batch_size`, in the model's dtype."""
    data = model.prepare(x, c)
    batch_size = check_positive_int("batch_size", batch_size)
    parts = []
    for start in range(0, len(data), batch_size):
        batch = data.rows(slice(start, start + batch_size))
        parts.append(model.encoder.forward(with_labels(batch.x, batch.onehot)).copy())
    return np.concatenate(parts, axis=0)


def marginal_moments(posterior: Posterior, h: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The means (N, k) and variances (N, k) of the marginals q(z_j | x_n), in float64: for
    the diagonal posterior its mu and sigma^2, for the full one the diagonal of L L^T; None
    for a posterior whose marginals are not Gaussian in closed form (a flow, §14)."""
    return posterior.gaussian_marginals(h)


def sampled_means(
    posterior: Posterior,
    h: np.ndarray,
    rng: np.random.Generator,
    samples: int = MEAN_SAMPLES,
    rows: int = MEAN_ROWS,
) -> np.ndarray:
    """E_q[z | x_n] (N, k) in float64 by Monte Carlo: (1/S) sum_s g(h_n, eps_s), S = `samples`.

    h (N, P). The S draws are S/2 antithetic pairs (eps, -eps) drawn once from `rng` and shared
    by all N points (common random numbers), so the estimate is unbiased at each point, is
    exact where g is affine in eps (a Gaussian, a flow of identity steps), and errs alike at
    points whose q(z | x) agree: a unit whose posterior ignores x has the same estimate
    everywhere, and activity 0 (derivations.md §13.4). `rows` points at a time bound the
    memory to S x rows samples and their caches.
    """
    samples = check_positive_int("samples", samples)
    if samples % 2:
        raise InvalidValueError(f"samples must be even (antithetic pairs), got {samples}")
    rows = check_positive_int("rows", rows)
    half = posterior.draw_eps(rng, samples // 2, 1, h.dtype)
    eps = np.concatenate([half, -half])  # (S, 1, k)
    parts = []
    for start in range(0, h.shape[0], rows):
        chunk = h[start : start + rows]
        z = posterior.sample(chunk, np.broadcast_to(eps, (samples, len(chunk), eps.shape[2])))
        parts.append(z.astype(np.float64).mean(axis=0))
    return np.concatenate(parts, axis=0)


def kl_per_dimension_of(mu: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """(1/N) sum_n 1/2 (mu_nj^2 + s_nj - log s_nj - 1) (k,) from means and variances (N, k):
    the KL of each marginal q(z_j | x) to N(0, 1), averaged over the data (derivations.md
    §13.4; (4.1) term by term)."""
    return 0.5 * np.mean(mu * mu + variances - np.log(variances) - 1.0, axis=0)


def activity_of(mu: np.ndarray) -> np.ndarray:
    """A_j = Cov_x(E_q[z_j | x]) (k,): the variance over the N points of the posterior means
    mu (N, k), with divisor N (derivations.md §13.4)."""
    return np.var(mu, axis=0)


def information_sum(table: np.ndarray, start: int) -> float:
    """sum_n [log q(z_n | x_n) - log (1/N) sum_m q(z_n | x_m)] over the rows of `table`, the
    float64 values log q(z_n | x_m) (R, N) of n = start..start + R - 1: a log-sum-exp per row."""
    rows, n = table.shape
    own = table[np.arange(rows), np.arange(start, start + rows)]  # log q(z_n | x_n)
    peak = table.max(axis=1)
    log_aggregate = peak + np.log(np.exp(table - peak[:, None]).sum(axis=1)) - math.log(n)
    return float(np.sum(own - log_aggregate))


def aggregate_mutual_information_of(
    mu: np.ndarray, logvar: np.ndarray, z: np.ndarray, rows: int = MI_ROWS
) -> float:
    """I(x; z) ~ (1/N) sum_n [log q(z_n | x_n) - log (1/N) sum_m q(z_n | x_m)] for a diagonal
    posterior: mu, logvar (N, k) of q(z | x_m); z (N, k), z_n drawn from q(z | x_n)
    (derivations.md §13.4). The N x N table log q(z_n | x_m) comes from matrix products,
    -1/2 [k log 2pi + sum_j lv_mj + z_n^2 . p_m - 2 z_n . (mu p)_m + mu_m^2 . p_m] with
    p = exp(-logvar), `rows` values of n at a time; `aggregate_mutual_information_reference`
    is the same sum term by term."""
    mu, logvar, z = (np.asarray(a, dtype=np.float64) for a in (mu, logvar, z))
    n, k = mu.shape
    precision = np.exp(-logvar)
    weighted_mean = mu * precision
    constant = k * LOG_2PI + logvar.sum(axis=1) + np.sum(mu * weighted_mean, axis=1)  # (N,)
    total = 0.0
    for start in range(0, n, rows):
        zs = z[start : start + rows]
        table = -0.5 * ((zs * zs) @ precision.T - 2.0 * zs @ weighted_mean.T + constant)
        total += information_sum(table, start)
    return total / n


def aggregate_mutual_information_full(
    mu: np.ndarray, L: np.ndarray, z: np.ndarray, rows: int = MI_ROWS
) -> float:
    """The estimate of `aggregate_mutual_information_of` for the full-covariance posterior
    q(z | x_m) = N(mu_m, L_m L_m^T): mu (N, k), L (N, k, k) lower triangular, z (N, k).

    log q(z_n | x_m) = -k/2 log 2pi - sum_i log L_m,ii - 1/2 (z_n - mu_m)^T P_m (z_n - mu_m)
    with P_m = L_m^-T L_m^-1 (derivations.md §7.1); expanded, the quadratic is
    vec(z_n z_n^T) . vec(P_m) - 2 z_n . (P_m mu_m) + mu_m . P_m mu_m, so the N x N table is
    two matrix products (inner sizes k^2 and k), `rows` values of n at a time.
    """
    mu, L, z = (np.asarray(a, dtype=np.float64) for a in (mu, L, z))
    n, k = mu.shape
    inverse = np.linalg.inv(L)  # (N, k, k)
    precision = np.einsum("mli,mlj->mij", inverse, inverse)  # P_m (N, k, k)
    weighted_mean = np.einsum("mij,mj->mi", precision, mu)  # P_m mu_m (N, k)
    log_det = np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    constant = k * LOG_2PI + 2.0 * log_det + np.sum(mu * weighted_mean, axis=1)  # (N,)
    flat_precision = precision.reshape(n, k * k)
    total = 0.0
    for start in range(0, n, rows):
        zs = z[start : start + rows]
        outer = (zs[:, :, None] * zs[:, None, :]).reshape(len(zs), k * k)
        table = -0.5 * (outer @ flat_precision.T - 2.0 * zs @ weighted_mean.T + constant)
        total += information_sum(table, start)
    return total / n


def aggregate_mutual_information_sampled(
    posterior: Posterior, h: np.ndarray, z: np.ndarray, rows: int = SAMPLED_ROWS
) -> float:
    """The estimate of `aggregate_mutual_information_reference` for any posterior, with
    `posterior.log_prob` called on `rows` values of z_n at once against all N encoder outputs
    h (N, P): z (N, k). One call per block instead of one per point, so a planar flow's
    bisection runs N / rows times, not N (about 3.5 times faster on 256 points, K = 8)."""
    h, z = np.asarray(h), np.asarray(z)
    rows = check_positive_int("rows", rows)
    n, k = z.shape
    total = 0.0
    for start in range(0, n, rows):
        zs = z[start : start + rows]
        table = posterior.log_prob(np.broadcast_to(zs[:, np.newaxis], (len(zs), n, k)), h)
        total += information_sum(table.astype(np.float64), start)
    return total / n


def aggregate_mutual_information_reference(
    posterior: Posterior, h: np.ndarray, z: np.ndarray
) -> float:
    """The same estimate for any posterior, from `posterior.log_prob` one z_n at a time against
    all N encoder outputs h (N, P): the plain form of `aggregate_mutual_information_of`.

    N calls of log_prob on N points; `diagnose` uses `aggregate_mutual_information_sampled`,
    the same sum in blocks, on at most REFERENCE_POINTS points (a planar flow's log_prob
    inverts each step by bisection)."""
    n = h.shape[0]
    total = 0.0
    for i in range(n):
        table = posterior.log_prob(np.broadcast_to(z[i], (1, n, z.shape[1])), h)[0]  # (N,)
        table = table.astype(np.float64)
        peak = table.max()
        total += table[i] - (peak + math.log(np.exp(table - peak).sum()) - math.log(n))
    return total / n


@dataclass(frozen=True)
class Diagnostics:
    """A model's latent diagnostics on N data points (derivations.md §13.4).

    kl_per_dimension (k,): the data-averaged KL of each marginal q(z_j | x) to N(0, 1), nats
    (NaN where the marginals have no closed form: a flow); activity (k,): Cov_x(E_q[z_j | x]);
    active_units: how many exceed `threshold`; mutual_information: the estimate of I(x; z)
    under q, nats, at most log of the points it used. mean_samples: the draws behind a sampled
    E_q[z | x] (0: in closed form); information_points: the first this-many of the n_points
    carry the I(x; z) estimate (None: all of them).
    """

    kl_per_dimension: np.ndarray
    activity: np.ndarray
    active_units: int
    mutual_information: float
    n_points: int
    threshold: float = ACTIVITY_THRESHOLD
    mean_samples: int = 0
    information_points: int | None = None

    @property
    def latent_dim(self) -> int:
        """k."""
        return len(self.activity)

    def summary(self) -> str:
        """Three lines for a report: the active units, I(x; z), the KL of each dimension."""
        sampled = f", E_q from {self.mean_samples} draws" if self.mean_samples else ""
        n = self.n_points if self.information_points is None else self.information_points
        points = f"these {n}" if n == self.n_points else f"the first {n} of these {self.n_points}"
        bounded = "" if n == self.n_points else ", to bound the cost of log q(z|x) term by term"
        if np.all(np.isnan(self.kl_per_dimension)):
            kl = "KL per dimension: not available (the marginals q(z_j|x) have no closed form)"
        else:
            order = np.argsort(self.kl_per_dimension)[::-1]
            values = " ".join(f"{self.kl_per_dimension[j]:.2f}" for j in order)
            kl = f"KL per dimension, largest first (nats): {values}"
        return (
            f"active units {self.active_units} of {self.latent_dim} "
            f"(Cov_x E_q[z_j|x] > {self.threshold:g}{sampled}; derivations.md §13.4)\n"
            f"I(x; z) under q ~ {self.mutual_information:.2f} nats "
            f"(at most log N = {math.log(n):.2f} for {points} points{bounded})\n" + kl
        )


def diagnose(
    model,
    x: np.ndarray,
    c: np.ndarray | None = None,
    *,
    threshold: float = ACTIVITY_THRESHOLD,
    rng: np.random.Generator | None = None,
) -> Diagnostics:
    """KL per dimension, activity, active units and I(x; z) of `model` on x (N, d).

    c (N,): the labels of a conditional model. `rng` draws the one z per point of the I(x; z)
    estimate, and then the eps of a sampled E_q[z | x] (default: a generator seeded 0, so the
    estimate is repeatable and the model's own generator is left alone). Costs one encoder
    pass and an N x N table of k-vectors products. For a posterior without Gaussian marginals
    (a flow): E_q[z | x] from MEAN_SAMPLES draws per point through the flow, I(x; z) term by
    term on the first REFERENCE_POINTS points, and the KL per dimension NaN (§13.4).
    """
    threshold = check_non_negative_float("threshold", threshold)
    rng = np.random.default_rng(0) if rng is None else rng
    h = encoder_outputs(model, x, c)
    posterior, n = model.posterior, h.shape[0]
    moments = marginal_moments(posterior, h)
    fast = isinstance(posterior, (DiagonalGaussian, FullCovarianceGaussian))
    n_information = n if fast else min(n, REFERENCE_POINTS)
    eps = posterior.draw_eps(rng, 1, n_information, h.dtype)
    z = posterior.sample(h[:n_information], eps)[0]
    if isinstance(posterior, DiagonalGaussian):
        mi = aggregate_mutual_information_of(moments[0], np.log(moments[1]), z)
    elif isinstance(posterior, FullCovarianceGaussian):
        mi = aggregate_mutual_information_full(moments[0], posterior.split(h)[1], z)
    else:
        mi = aggregate_mutual_information_sampled(posterior, h[:n_information], z)
    if moments is None:
        mu, kl = sampled_means(posterior, h, rng), np.full(posterior.latent_dim, np.nan)
    else:
        mu, kl = moments[0], kl_per_dimension_of(*moments)
    activity = activity_of(mu)
    return Diagnostics(
        kl_per_dimension=kl,
        activity=activity,
        active_units=int(np.sum(activity > threshold)),
        mutual_information=mi,
        n_points=n,
        threshold=threshold,
        mean_samples=0 if moments is not None else MEAN_SAMPLES,
        information_points=None if n_information == n else n_information,
    )
