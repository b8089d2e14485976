"""EXERCISES: every graded exercise, in reading order, keyed by the student's function name.

The one list the notebooks' checks, the tests and the grader read. An assignment is the
exercises sharing a `notebook`; `ASSIGNMENTS` lists the notebooks in reading order.
"""

from __future__ import annotations

from numpyvae.exercises.exercise import Exercise
from numpyvae.exercises.layers import DENSE_BACKWARD, RELU_BACKWARD
from numpyvae.exercises.likelihoods import BERNOULLI_BACKWARD
from numpyvae.exercises.posterior import KL_BACKWARD, REPARAM_BACKWARD

EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in (
        DENSE_BACKWARD,
        RELU_BACKWARD,
        REPARAM_BACKWARD,
        KL_BACKWARD,
        BERNOULLI_BACKWARD,
    )
}

ASSIGNMENTS: tuple[str, ...] = tuple(dict.fromkeys(e.notebook for e in EXERCISES.values()))
