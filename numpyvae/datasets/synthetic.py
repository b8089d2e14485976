"""Small 2-D toy data sets (x itself lies in R^2), handy for notebooks and quick experiments.

Each function returns ``(x, labels)`` with x of shape (n, 2) float64 and labels of shape (n,)
int64, and draws all randomness from the ``rng`` argument, a ``np.random.Generator`` that must be
given (so results are reproducible), e.g. ``two_moons(500, 0.1, np.random.default_rng(0))``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..validation import InvalidTypeError, InvalidValueError

__all__ = ["gaussian_mixture", "pinwheel", "two_moons"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InvalidValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_real(name: str, value: object, positive: bool = False) -> float:
    what = "a finite number > 0" if positive else "a finite number >= 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be {what}, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        raise InvalidValueError(f"{name} must be {what}, got {value!r}")
    return v


def _check_rng(rng: object) -> np.random.Generator:
    """The generator to draw from: `rng` itself, or a fresh unseeded one for None (as NumPy's
    own functions do); anything else is refused."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise InvalidTypeError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)) or None, "
            f"got {rng!r}"
        )
    return rng


def _shuffled(
    x: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(x))
    return x[order].astype(np.float64), labels[order].astype(np.int64)


def two_moons(
    n: int, noise: float = 0.1, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles with Gaussian noise.

    Args:
        n: number of points (>= 2); half (rounded up) on moon 0, the rest on moon 1.
        noise: standard deviation of the isotropic Gaussian noise added to each point.
        rng: random generator, the only source of randomness (None: a fresh unseeded one).

    Returns:
        x (n, 2) float64 and labels (n,) int64 in {0, 1}.
    """
    n = _check_int("n", n, 2)
    noise = _check_real("noise", noise)
    rng = _check_rng(rng)
    labels = (np.arange(n) >= (n + 1) // 2).astype(np.int64)
    angle = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    x = np.where(labels[:, None] == 0, upper, lower) + noise * rng.standard_normal((n, 2))
    return _shuffled(x, labels, rng)


def gaussian_mixture(
    n: int,
    n_components: int = 8,
    radius: float = 2.0,
    std: float = 0.2,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight isotropic Gaussians whose means are evenly spaced on a circle.

    Args:
        n: number of points (>= 1).
        n_components: number of Gaussians (>= 1); component k has mean
            radius * (cos(2 pi k / K), sin(2 pi k / K)).
        radius: radius of the circle of means (>= 0).
        std: standard deviation of each component (> 0).
        rng: random generator, the only source of randomness (None: a fresh unseeded one).

    Returns:
        x (n, 2) float64 and labels (n,) int64, the component of each point.
    """
    n = _check_int("n", n, 1)
    k = _check_int("n_components", n_components, 1)
    radius = _check_real("radius", radius)
    std = _check_real("std", std, positive=True)
    rng = _check_rng(rng)
    labels = rng.integers(0, k, size=n)
    angle = 2 * np.pi * labels / k
    means = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x = means + std * rng.standard_normal((n, 2))
    return x.astype(np.float64), labels.astype(np.int64)


def pinwheel(
    n: int,
    n_arms: int = 5,
    radial_std: float = 0.3,
    tangential_std: float = 0.05,
    rate: float = 0.25,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Curved arms spiralling out of the origin: points further out are rotated more.

    Each point starts at (1 + radial_std * e1, tangential_std * e2) with e ~ N(0, I), then is
    rotated by 2 pi k / n_arms + rate * exp(first coordinate), where k is its arm.

    Args:
        n: number of points (>= 1).
        n_arms: number of arms (>= 1).
        radial_std: spread along each arm (>= 0).
        tangential_std: spread across each arm (>= 0).
        rate: how strongly the arms bend (>= 0).
        rng: random generator, the only source of randomness (None: a fresh unseeded one).

    Returns:
        x (n, 2) float64 and labels (n,) int64, the arm of each point.
    """
    n = _check_int("n", n, 1)
    arms = _check_int("n_arms", n_arms, 1)
    radial_std = _check_real("radial_std", radial_std)
    tangential_std = _check_real("tangential_std", tangential_std)
    rate = _check_real("rate", rate)
    rng = _check_rng(rng)
    labels = rng.integers(0, arms, size=n)
    e = rng.standard_normal((n, 2))
    r = 1.0 + radial_std * e[:, 0]
    t = tangential_std * e[:, 1]
    angle = 2 * np.pi * labels / arms + rate * np.exp(r)
    cos, sin = np.cos(angle), np.sin(angle)
    x = np.stack([cos * r - sin * t, sin * r + cos * t], axis=1)
    return x.astype(np.float64), labels.astype(np.int64)
