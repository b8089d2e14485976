"""Bernoulli likelihood on logits l: p(x|z) = prod_i s_i^x_i (1 - s_i)^(1 - x_i), s = sigma(l)."""

from __future__ import annotations

import numpy as np

from numpyvae.layers.activations import sigmoid


class Bernoulli:
    """log p(x|z) from the decoder's logits l = f_theta(z) (derivations.md §5.3).

    Shapes: x (B, d) targets in [0, 1]; out (M, B, d) logits, one slice per sample z_j.
    """

    name = "bernoulli"

    def log_prob(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """sum_i [x_i l_i - softplus(l_i)]: (B, d), (M, B, d) -> (M, B).

        softplus(l) = max(l, 0) + log1p(exp(-|l|)) never overflows, unlike log(sigmoid(l)).
        """
        return self.log_prob_and_grad(x, out)[0]

    def log_prob_and_grad(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p(x|z) (M, B) and its gradient d log p / dl = x - sigmoid(l) (M, B, d).

        Both come from one exp(-|l|), so the hot path evaluates no exponential twice.
        """
        e = np.abs(out)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = exp(-|l|), computed in one buffer
        # log p = sum_i x_i l_i - softplus(l_i), softplus(l) = max(l, 0) + log1p(e).
        terms = x * out
        terms -= np.maximum(out, 0.0)
        terms -= np.log1p(e)
        log_p = terms.sum(axis=-1)
        # sigmoid(l) = 1 / (1 + e) for l >= 0 and e / (1 + e) for l < 0.
        grad = np.where(out >= 0, 1.0, e)
        e += 1.0
        grad /= e
        np.subtract(x, grad, out=grad)  # x - sigmoid(l), in place of sigmoid(l)
        return log_p, grad

    def mean(self, out: np.ndarray) -> np.ndarray:
        """E[x|z] = sigmoid(l): generation method A (derivations.md §8.1). Same shape as out."""
        return sigmoid(out)

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x ~ Bernoulli(sigmoid(l)), in out's dtype: generation method B (derivations.md §8.1)."""
        return (rng.random(out.shape) < sigmoid(out)).astype(out.dtype)

    def check_targets(self, name: str, x: np.ndarray) -> None:
        """Bernoulli targets must lie in [0, 1]; raise ValueError otherwise."""
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            hint = " (pixels in 0..255? divide by 255)" if hi > 1.0 else ""
            raise ValueError(
                f"{name} must lie in [0, 1] for the Bernoulli likelihood, got values in "
                f"[{lo:g}, {hi:g}]{hint}"
            )

    def __repr__(self) -> str:
        return "Bernoulli()"
