"""Graded exercises: a student writes a function, a check judges it and names the mistake.

Each exercise (numpyvae.exercises.exercise.Exercise) is data plus a check: the student's
function name and arguments, the assignment notebook and the derivations.md section it belongs
to, how to draw inputs of the notebook's sizes or of hidden ones, the right outputs (finite
differences of the forward pass, or the formula) and its typical mistakes. `EXERCISES` lists
them in reading order (numpyvae.exercises.registry), one small module per topic defines them.

    from numpyvae.exercises import EXERCISES, check, summary
    check("kl_backward")             # in a notebook: judges the kl_backward defined there
    check("kl_backward", my_fn, sizes={"B": 7, "k": 4}, seed=3, verbose=False)
    summary("13_vae_exercises")      # every exercise of an assignment, one line each

`check` (numpyvae.exercises.live) draws the inputs, calls the function on copies and judges
what it returned; a grader instead calls `make_inputs` and `judge` itself and runs the
student's function elsewhere, sending only arrays. A check never raises on a bad answer.

The first assignment's checks keep their own names (`check_dense_backward()` and so on, the
same as `check("dense_backward")`), and `CHECKS` maps their names to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from numpyvae.exercises.exercise import Exercise, Mistake
from numpyvae.exercises.layers import dense_forward, relu_forward
from numpyvae.exercises.likelihoods import bernoulli_nll
from numpyvae.exercises.live import check, report_syntax_errors, summary, syntax_guard
from numpyvae.exercises.posterior import kl_forward, reparam_forward
from numpyvae.exercises.registry import ASSIGNMENTS, EXERCISES
from numpyvae.exercises.result import ExerciseResult
from numpyvae.gradcheck import compare

__all__ = [
    "ASSIGNMENTS",
    "CHECKS",
    "EXERCISES",
    "Exercise",
    "ExerciseResult",
    "Mistake",
    "bernoulli_nll",
    "check",
    "check_bernoulli_backward",
    "check_dense_backward",
    "check_kl_backward",
    "check_relu_backward",
    "check_reparam_backward",
    "compare",
    "dense_forward",
    "kl_forward",
    "relu_forward",
    "reparam_forward",
    "report_syntax_errors",
    "summary",
    "syntax_guard",
]


def _named_check(name: str) -> Callable[..., ExerciseResult]:
    def named_check(
        student_fn: Callable | None = None,
        *,
        seed: int = 0,
        sizes: Mapping[str, int] | None = None,
        verbose: bool = True,
    ) -> ExerciseResult:
        return check(name, student_fn, sizes=sizes, seed=seed, verbose=verbose)

    exercise = EXERCISES[name]
    named_check.__name__ = named_check.__qualname__ = f"check_{name}"
    named_check.__doc__ = (
        f"Check {name}({', '.join(exercise.arguments)}) -> {', '.join(exercise.outputs)}: "
        f"{exercise.title} (derivations.md {exercise.section}); the same as check({name!r})."
    )
    return named_check


check_dense_backward = _named_check("dense_backward")
check_relu_backward = _named_check("relu_backward")
check_reparam_backward = _named_check("reparam_backward")
check_kl_backward = _named_check("kl_backward")
check_bernoulli_backward = _named_check("bernoulli_backward")

CHECKS: dict[str, Callable[..., ExerciseResult]] = {
    "dense_backward": check_dense_backward,
    "relu_backward": check_relu_backward,
    "reparam_backward": check_reparam_backward,
    "kl_backward": check_kl_backward,
    "bernoulli_backward": check_bernoulli_backward,
}
