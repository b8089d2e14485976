"""The toy problem of the reparameterization lecture: the gradient of E_{x ~ N(phi, 1)}[x^2].

The objective is E[x^2] = phi^2 + 1, so the true gradient is 2 phi. Two unbiased single-sample
estimators of it (derivations.md §3.3), both from x = phi + eps, eps ~ N(0, 1):

    score function      g_SF = x^2 (x - phi)      Var g_SF = phi^4 + 14 phi^2 + 15
    reparameterization  g_RP = 2 x = 2 (phi + eps)  Var g_RP = 4

The average of N independent estimates has variance Var g / N. Notebook 1 plots
`estimator_variances` against N; the tests compare it with these exact values, within a
tolerance that comes from the variance of a sample variance (`variance_of_sample_variance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from numpyvae.validation import InvalidValueError, check_positive_int

# Draw at most this many normal numbers at once in `estimator_variances` (8 MB in float64).
_CHUNK = 1_000_000


def exact_gradient(phi: float | np.ndarray) -> float | np.ndarray:
    """d/dphi E_{x ~ N(phi, 1)}[x^2] = d/dphi (phi^2 + 1) = 2 phi: the mean of both estimators."""
    return 2.0 * np.asarray(phi, dtype=np.float64) if np.ndim(phi) else 2.0 * float(phi)


def score_function_gradients(phi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n independent single-sample score-function estimates x^2 (x - phi), x ~ N(phi, 1).

    d/dphi log N(x; phi, 1) = x - phi, so g_SF = f(x) d/dphi log q(x) with f(x) = x^2
    (derivations.md §3.2, §3.3). Returns shape (n,), float64.
    """
    n = check_positive_int("n", n)
    return _score_function(float(phi), rng.standard_normal(n))


def reparameterization_gradients(phi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n independent single-sample reparameterization estimates 2 (phi + eps), eps ~ N(0, 1).

    x = phi + eps, so d/dphi x^2 = 2 x dx/dphi = 2 x (derivations.md §3.1, §3.3).
    Returns shape (n,), float64.
    """
    n = check_positive_int("n", n)
    return _reparameterization(float(phi), rng.standard_normal(n))


def exact_variance_score_function(phi: float | np.ndarray) -> float | np.ndarray:
    """Var g_SF = phi^4 + 14 phi^2 + 15 for ONE sample (derivations.md §3.3)."""
    p2 = np.square(phi)
    return p2 * p2 + 14.0 * p2 + 15.0


def exact_variance_reparameterization(phi: float | np.ndarray) -> float | np.ndarray:
    """Var g_RP = Var 2 eps = 4 for ONE sample, whatever phi (derivations.md §3.3)."""
    return np.full(np.shape(phi), 4.0) if np.ndim(phi) else 4.0


def exact_fourth_central_moment_score_function(phi: float | np.ndarray) -> float | np.ndarray:
    """E[(g_SF - 2 phi)^4] = 3 phi^8 + 300 phi^6 + 5334 phi^4 + 21780 phi^2 + 10395 (§3.3)."""
    p2 = np.square(phi)
    return (((3.0 * p2 + 300.0) * p2 + 5334.0) * p2 + 21780.0) * p2 + 10395.0


def exact_fourth_central_moment_reparameterization(phi: float | np.ndarray) -> float | np.ndarray:
    """E[(g_RP - 2 phi)^4] = E[(2 eps)^4] = 16 * 3 = 48, whatever phi (derivations.md §3.3)."""
    return np.full(np.shape(phi), 48.0) if np.ndim(phi) else 48.0


def variance_of_sample_variance(
    variance: float | np.ndarray, fourth_central_moment: float | np.ndarray, n: int
) -> float | np.ndarray:
    """Var s^2 = mu_4 / n - sigma^4 (n - 3) / (n (n - 1)) for the unbiased sample variance s^2.

    s^2 is computed from n independent draws with variance sigma^2 = `variance` and fourth
    central moment mu_4 (derivations.md §3.3). Its square root is the statistical error
    of an empirical variance, which the tests use as their tolerance.
    """
    if n < 2:
        raise InvalidValueError(f"n must be at least 2 for a sample variance, got {n}")
    return fourth_central_moment / n - np.square(variance) * (n - 3) / (n * (n - 1))


@dataclass(frozen=True)
class EstimatorVariances:
    """Empirical variances of the N-sample average of each estimator, one per N.

    sample_sizes (S,) int; score_function (S,) and reparameterization (S,) float64: the
    unbiased sample variance, over `n_repeats` independent repeats, of (1/N) sum_n g_n.
    """

    sample_sizes: np.ndarray
    score_function: np.ndarray
    reparameterization: np.ndarray
    n_repeats: int


def estimator_variances(
    phi: float, sample_sizes: Sequence[int], n_repeats: int, rng: np.random.Generator
) -> EstimatorVariances:
    """The variance of each estimator's N-sample average, measured over `n_repeats` repeats.

    For every N in `sample_sizes`, draws n_repeats independent averages of N single-sample
    estimates and returns their sample variance (exact value Var g / N, derivations.md §3.3).
    Both estimators use the same eps (common random numbers), so their curves differ by the
    estimators, not by the luck of the draws.
    """
    n_repeats = check_positive_int("n_repeats", n_repeats)
    if n_repeats < 2:
        raise InvalidValueError(f"n_repeats must be at least 2 for a variance, got {n_repeats}")
    sizes = np.array(
        [check_positive_int(f"sample_sizes[{i}]", n) for i, n in enumerate(sample_sizes)]
    )
    phi = float(phi)
    score = np.empty(len(sizes))
    reparam = np.empty(len(sizes))
    for s, n in enumerate(sizes):
        means_sf = np.empty(n_repeats)
        means_rp = np.empty(n_repeats)
        rows = max(1, _CHUNK // n)  # repeats per draw, so memory stays bounded for large N
        for start in range(0, n_repeats, rows):
            stop = min(start + rows, n_repeats)
            eps = rng.standard_normal((stop - start, n))
            means_sf[start:stop] = _score_function(phi, eps).mean(axis=1)
            means_rp[start:stop] = _reparameterization(phi, eps).mean(axis=1)
        score[s] = means_sf.var(ddof=1)
        reparam[s] = means_rp.var(ddof=1)
    return EstimatorVariances(sizes, score, reparam, n_repeats)


def _score_function(phi: float, eps: np.ndarray) -> np.ndarray:
    x = phi + eps
    return x * x * eps  # x - phi = eps


def _reparameterization(phi: float, eps: np.ndarray) -> np.ndarray:
    return 2.0 * (phi + eps)
