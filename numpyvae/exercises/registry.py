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
from numpyvae.exercises.beyond import CONDITIONAL_DECODER_BACKWARD, FULLCOV_BACKWARD
from numpyvae.exercises.chain import MLP_BACKWARD
from numpyvae.exercises.exercise import Exercise
from numpyvae.exercises.iwae import IWAE_BOUND
from numpyvae.exercises.layers import DENSE_BACKWARD, RELU_BACKWARD
from numpyvae.exercises.likelihoods import (
    BERNOULLI_BACKWARD,
    GAUSSIAN_BACKWARD,
    GAUSSIAN_LEARNED_BACKWARD,
)
from numpyvae.exercises.numerics import CENTRED_DIFFERENCE, REL_ERROR
from numpyvae.exercises.posterior import KL_BACKWARD, REPARAM_BACKWARD
from numpyvae.exercises.tangents import DUAL_BACKWARD, TANH_JVP
from numpyvae.exercises.training import ADAM_STEP
from numpyvae.exercises.vae import SAMPLED_KL_BACKWARD, VAE_BACKWARD

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
        # 13: the VAE
        SAMPLED_KL_BACKWARD,
        VAE_BACKWARD,
        ADAM_STEP,
        IWAE_BOUND,
        # 14: beyond
        FULLCOV_BACKWARD,
        CONDITIONAL_DECODER_BACKWARD,
        TANH_JVP,
        DUAL_BACKWARD,
    )
}

ASSIGNMENTS: tuple[str, ...] = tuple(dict.fromkeys(e.notebook for e in EXERCISES.values()))
