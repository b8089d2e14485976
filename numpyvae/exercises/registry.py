"""EXERCISES: every graded exercise, in reading order, keyed by the student's function name.

The one list the notebooks' checks, the tests and the grader read. An assignment is the
exercises sharing a `notebook`; `ASSIGNMENTS` lists the notebooks in reading order.
"""

from __future__ import annotations

from numpyvae.exercises.activations import (
    LEAKY_RELU_BACKWARD,
    SIGMOID_BACKWARD,
    SOFTPLUS_BACKWARD,
    TANH_BACKWARD,
)
from numpyvae.exercises.chain import MLP_BACKWARD
from numpyvae.exercises.exercise import Exercise
from numpyvae.exercises.layers import DENSE_BACKWARD, RELU_BACKWARD
from numpyvae.exercises.likelihoods import (
    BERNOULLI_BACKWARD,
    GAUSSIAN_BACKWARD,
    GAUSSIAN_LEARNED_BACKWARD,
)
from numpyvae.exercises.numerics import CENTRED_DIFFERENCE, REL_ERROR
from numpyvae.exercises.posterior import KL_BACKWARD, REPARAM_BACKWARD

EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in (
        # 06: the VAE's first gradients
        DENSE_BACKWARD,
        RELU_BACKWARD,
        REPARAM_BACKWARD,
        KL_BACKWARD,
        BERNOULLI_BACKWARD,
        # 12: layers and backprop
        TANH_BACKWARD,
        SIGMOID_BACKWARD,
        SOFTPLUS_BACKWARD,
        LEAKY_RELU_BACKWARD,
        MLP_BACKWARD,
        GAUSSIAN_BACKWARD,
        GAUSSIAN_LEARNED_BACKWARD,
        REL_ERROR,
        CENTRED_DIFFERENCE,
    )
}

ASSIGNMENTS: tuple[str, ...] = tuple(dict.fromkeys(e.notebook for e in EXERCISES.values()))
