"""The paper's 2-D test densities, and a flow fitted to one by minimising KL(q || p).

Rezende and Mohamed (2015, Table 1) give four unnormalised densities p(z) = exp(-U(z)) / Z on
z in R^2, each hard for a Gaussian: a ring split in two (U1), a sine wave (U2) and two forms
of a sine wave split in two (U3, U4). Every one is a sum of squares minus a log-sum-exp of
Gaussian bumps,

    U(z) = sum_r 1/2 (g_r(z) / s_r)^2 - log sum_i exp(-1/2 (g_i(z) / s_i)^2),

so one function gives U and its gradient (derivations.md §14.5). U2, U3 and U4 as printed do
not depend on z1 far from the origin, so exp(-U) has no finite integral along z1 and KL(q || p)
does not exist; they gain the soft window 1/2 (z1 / 4)^8 (a square in the sum above), which
keeps the square [-4, 4]^2 of the paper's Figure 3 (the density changes by under 5% for
|z1| < 3) and removes the rest. `fit_flow` fits a
normalizing flow q(z) (numpyvae.posteriors, one data point) to p by minimising

    KL(q || p) = E_q[log q(z) + U(z)] + log Z,

the ELBO of a model whose "decoder" is -U (derivations.md §14.5), with the paper's annealing
of the energy's weight; `log_normaliser` gives log Z by quadrature, so the KL is in nats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpyvae.constants import LOG_2PI
from numpyvae.optim import Adam
from numpyvae.posteriors import POSTERIORS, FlowPosterior
from numpyvae.validation import InvalidValueError, check_choice, check_positive_int

ENERGIES = ("U1", "U2", "U3", "U4")
WINDOW = 4.0  # U2-U4 gain 1/2 (z1 / WINDOW)^8: without it exp(-U) has no finite integral


def _w1(z1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w1 = sin(2 pi z1 / 4) and dw1/dz1."""
    return np.sin(0.5 * np.pi * z1), 0.5 * np.pi * np.cos(0.5 * np.pi * z1)


def _w2(z1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w2 = 3 exp(-1/2 ((z1 - 1) / 0.6)^2) and dw2/dz1."""
    w2 = 3.0 * np.exp(-0.5 * ((z1 - 1.0) / 0.6) ** 2)
    return w2, -w2 * (z1 - 1.0) / 0.36


def _w3(z1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w3 = 3 sigmoid((z1 - 1) / 0.3) and dw3/dz1."""
    s = 0.5 * (1.0 + np.tanh(0.5 * (z1 - 1.0) / 0.3))
    return 3.0 * s, 3.0 * s * (1.0 - s) / 0.3


def _terms(name: str, z: np.ndarray) -> tuple[list, list]:
    """The squares and the bumps of U: lists of (g (N,), dg/dz (N, 2), s)."""
    z1, z2 = z[..., 0], z[..., 1]
    one, zero = np.ones_like(z1), np.zeros_like(z1)
    along_z1 = np.stack([one, zero], axis=-1)
    if name == "U1":
        r = np.sqrt(z1 * z1 + z2 * z2)
        ring = (r - 2.0, z / np.maximum(r, 1e-300)[..., np.newaxis], 0.4)
        return [ring], [(z1 - 2.0, along_z1, 0.6), (z1 + 2.0, along_z1, 0.6)]
    w1, dw1 = _w1(z1)
    wave = (z2 - w1, np.stack([-dw1, one], axis=-1))
    window = ((z1 / WINDOW) ** 4, np.stack([4 * z1**3 / WINDOW**4, zero], axis=-1), 1.0)
    if name == "U2":
        return [(*wave, 0.4), window], []
    w, dw = _w2(z1) if name == "U3" else _w3(z1)
    shifted = (z2 - w1 + w, np.stack([dw - dw1, one], axis=-1))
    return [window], [(*wave, 0.35 if name == "U3" else 0.4), (*shifted, 0.35)]


def energy(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U(z) and dU/dz for z (..., 2) -> (...), (..., 2) (derivations.md (14.12)).

    dU/dz = sum_r g_r dg_r / s_r^2 + sum_i p_i g_i dg_i / s_i^2 with p = softmax of the
    bumps' exponents: the log-sum-exp's gradient weighs each bump by its share.
    """
    check_choice("name", name, ENERGIES)
    squares, bumps = _terms(name, z)
    value = np.zeros(z.shape[:-1])
    grad = np.zeros(z.shape)
    for g, dg, s in squares:
        value += 0.5 * (g / s) ** 2
        grad += (g / s**2)[..., np.newaxis] * dg
    if bumps:
        exponents = np.stack([-0.5 * (g / s) ** 2 for g, _, s in bumps])
        peak = exponents.max(axis=0)
        shares = np.exp(exponents - peak)
        total = shares.sum(axis=0)
        value -= peak + np.log(total)
        for p, (g, dg, s) in zip(shares / total, bumps, strict=True):
            grad += (p * g / s**2)[..., np.newaxis] * dg
    return value, grad


def grid(limit: float = 5.0, n: int = 401) -> tuple[np.ndarray, np.ndarray]:
    """A square grid on [-limit, limit]^2: the axis (n,) and the points (n, n, 2), [i, j] =
    (axis[j], axis[i]) so that an image of a function on it has z1 across."""
    axis = np.linspace(-limit, limit, n)
    z1, z2 = np.meshgrid(axis, axis)
    return axis, np.stack([z1, z2], axis=-1)


def log_normaliser(name: str, limit: float = 6.0, n: int = 1201) -> float:
    """log Z = log of the integral of exp(-U) over the plane, by the trapezoidal rule on
    [-limit, limit]^2 (each U's mass lies well inside [-6, 6]^2)."""
    axis, points = grid(limit, n)
    density = np.exp(-energy(name, points)[0])
    return float(np.log(np.trapezoid(np.trapezoid(density, axis, axis=1), axis)))


@dataclass
class FlowFit:
    """A flow fitted to one energy: its posterior object, its parameters h (1, P), the loss
    E_q[log q + beta U] of every step, and the final KL(q || p) in nats."""

    flow: FlowPosterior
    h: np.ndarray
    losses: list[float]
    kl: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws z_K (n, 2) from the fitted q."""
        return self.flow.sample(self.h, rng.standard_normal((n, 1, 2)))[:, 0]

    def density(self, points: np.ndarray) -> np.ndarray:
        """q(z) at points (..., 2), through the flow's inverse (derivations.md §14.1)."""
        flat = points.reshape(-1, 1, 2)
        return np.exp(self.flow.log_prob(flat, self.h)).reshape(points.shape[:-1])


def _log_normal(eps: np.ndarray) -> np.ndarray:
    """log N(eps; 0, I) (M, 1) for eps (M, 1, 2)."""
    return -0.5 * (2 * LOG_2PI + np.sum(eps * eps, axis=-1))


def kl_divergence(
    name: str, flow: FlowPosterior, h: np.ndarray, n: int, rng: np.random.Generator
) -> float:
    """KL(q || p) = E_q[log q(z) + U(z)] + log Z by n draws from q (nats)."""
    eps = rng.standard_normal((n, 1, 2))
    z = flow.sample(h, eps)
    log_q = _log_normal(eps) - flow.log_det_at(h, eps)
    return float(np.mean(log_q[:, 0] + energy(name, z[:, 0])[0]) + log_normaliser(name))


def fit_flow(
    name: str,
    flow_length: int,
    *,
    flow: str = "planar",
    steps: int = 3000,
    n_samples: int = 100,
    lr: float = 0.01,
    anneal_steps: int | None = None,
    seed: int = 0,
    kl_samples: int = 20000,
) -> FlowFit:
    """Fit q(z) = a diagonal Gaussian bent by `flow_length` steps to exp(-U) / Z.

    Each of `steps` Adam steps (learning rate `lr`) uses `n_samples` draws of eps and
    minimises E_q[log q(z) + beta_t U(z)], beta_t = min(1, 0.01 + t / anneal_steps) (the
    paper's annealing; default a third of the steps). The gradient is the model's: dU/dz
    through the flow's `sample_backward`, and -d log|det| through `log_det_backward`.
    """
    check_choice("name", name, ENERGIES)
    check_choice("flow", flow, ("planar", "radial"))
    steps = check_positive_int("steps", steps)
    n_samples = check_positive_int("n_samples", n_samples)
    anneal_steps = max(1, steps // 3) if anneal_steps is None else anneal_steps
    if anneal_steps < 1:
        raise InvalidValueError(f"anneal_steps must be a positive integer, got {anneal_steps}")
    q = POSTERIORS[flow](2, flow_length)
    rng = np.random.default_rng(seed)
    h = np.zeros((1, q.n_params))
    h[:, 4:] = rng.normal(scale=0.5, size=q.n_params - 4)  # base N(0, I); random steps
    params = {"h": h}
    optimizer = Adam(params, lr=lr)
    losses = []
    for t in range(steps):
        beta = min(1.0, 0.01 + t / anneal_steps)
        eps = rng.standard_normal((n_samples, 1, 2))
        z = q.sample(params["h"], eps)
        u, du = energy(name, z)
        log_q = _log_normal(eps) - q.log_det_at(params["h"], eps)
        losses.append(float(np.mean(log_q + beta * u)))
        grad = q.sample_backward(du * (beta / n_samples))
        grad += q.log_det_backward(params["h"], eps, -1.0)
        optimizer.step({"h": grad})
    kl = kl_divergence(name, q, params["h"], kl_samples, rng)
    return FlowFit(q, params["h"], losses, kl)
