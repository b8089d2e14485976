"""The notebook's live check: draw the inputs, call the student's function here, judge.

A check never raises on a bad answer. A missing answer (NotImplementedError), an answer not
defined yet, an exception or a malformed return each print a FAIL sentence saying what to fix.
Called without a function, a check looks the answer up by name in the caller's namespace (the
notebook's), so running a check before its answer cell says so instead of raising NameError.
`report_syntax_errors()` makes a syntax error in a notebook cell print a FAIL line naming the
exercise instead of stopping "Run All".
"""

from __future__ import annotations

import ast
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from numpyvae.exercises.exercise import Exercise, describe
from numpyvae.exercises.registry import EXERCISES
from numpyvae.exercises.result import ExerciseResult

PACKAGE = __name__.rpartition(".")[0]


def exercise_named(name: str) -> Exercise:
    """The registered exercise `name`, or a ValueError listing the names."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise named {name!r}; the exercises are {list(EXERCISES)}")
    return EXERCISES[name]


def check(
    name: str,
    fn: Callable | None = None,
    *,
    sizes: Mapping[str, int] | None = None,
    seed: int | None = None,
    verbose: bool = True,
) -> ExerciseResult:
    """Check the student's answer to exercise `name`: print and return the verdict.

    `fn` is the student's function; without it, the function called `name` in the caller's
    namespace. `sizes` (some of the exercise's sizes) and `seed` (0 when None) choose the
    inputs; the notebook uses the defaults, a grader others.
    """
    exercise = exercise_named(name)
    if fn is None:
        fn = answer_in_caller(name)
    inputs = exercise.make_inputs(sizes, np.random.default_rng(0 if seed is None else seed))
    result = call_and_judge(exercise, fn, inputs)
    if verbose:
        print(result.message)
    return result


def summary(notebook: str, *, verbose: bool = True) -> dict[str, ExerciseResult]:
    """Check every exercise of the assignment `notebook` (its stem) quietly; print PASS or FAIL
    for each and how many pass. The answers are looked up in the caller's namespace."""
    names = [name for name, exercise in EXERCISES.items() if exercise.notebook == notebook]
    if not names:
        notebooks = sorted({e.notebook for e in EXERCISES.values()})
        raise ValueError(f"no assignment {notebook!r}; the assignments are {notebooks}")
    results = {name: check(name, answer_in_caller(name), verbose=False) for name in names}
    if verbose:
        width = max(map(len, names))
        for name, result in results.items():
            print(f"{name:>{width}}: {'PASS' if result.passed else 'FAIL'}")
        passed = sum(r.passed for r in results.values())
        print(f"{passed} of {len(results)} exercises pass")
    return results


def call_and_judge(exercise: Exercise, fn, inputs: dict[str, np.ndarray]) -> ExerciseResult:
    """Call fn on copies of `inputs` in this process; every failure becomes a FAIL verdict."""
    if isinstance(fn, Missing):
        return exercise.fail(
            f"{exercise.name} is not defined yet. Run the cell marked YOUR ANSWER that defines "
            "it, then this check again; if that cell printed a syntax error, fix it first."
        )
    if not callable(fn):
        return exercise.fail(f"expected your function, got {fn!r:.60}")
    copies = [inputs[a].copy() for a in exercise.arguments]
    try:
        returned = fn(*copies)
    except NotImplementedError:
        return exercise.fail(
            "not implemented yet: your function still raises NotImplementedError. Replace the "
            "`raise NotImplementedError` in the marked cell with your code, run that cell, "
            "then run this check again."
        )
    except Exception as exc:  # any crash in student code becomes a readable FAIL
        return exercise.fail(
            f"your function raised {type(exc).__name__}: {exc}{_student_line(exc)}. "
            "The inputs were " + ", ".join(f"{n} {a.shape}" for n, a in inputs.items())
        )
    n = len(exercise.outputs)
    if n > 1 and not isinstance(returned, (tuple, list)):
        what = ", ".join(exercise.outputs)
        return exercise.fail(f"return {n} arrays ({what}) as a tuple; got {describe(returned)}")
    return exercise.judge(inputs, tuple(returned) if n > 1 else (returned,))


def answer_in_caller(name: str):
    """The function called `name` in the namespace that called the check, or a Missing."""
    frame = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(PACKAGE):
        frame = frame.f_back
    found = None if frame is None else frame.f_globals.get(name)
    return found if found is not None else Missing(name)


class Missing:
    """Stands for an answer that is not defined (yet) where the check was called."""

    def __init__(self, name: str) -> None:
        self.name = name


def _student_line(exc: BaseException) -> str:
    """' (at line n: `code`)' for the innermost frame of the traceback outside NumPy and here."""
    skip = (str(Path(np.__file__).parent), str(Path(__file__).parent))
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    code = (frames[-1].line or "").strip()
    return f" (at line {frames[-1].lineno}" + (f": `{code}`)" if code else ")")


# ------------------------------------------------------------------ syntax errors in a cell


def report_syntax_errors() -> None:
    """In IPython, make a cell with a syntax error print a FAIL line instead of raising.

    "Run All" stops at the first cell that raises; with this, a syntax error in one answer
    leaves the other exercises' checks running, and the answer it would have defined is
    removed so its check says it is not defined. Outside IPython (a plain script) it does
    nothing. Returns None, so that a notebook cell ending with it prints nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and syntax_guard not in shell.input_transformers_post:
        shell.input_transformers_post.append(syntax_guard)


def syntax_guard(lines: list[str]) -> list[str]:
    """IPython input transformer: a cell that does not parse becomes code that says why.

    The message names the exercise the cell defines (Jupyter shows no cell numbers).
    """
    source = "".join(lines)
    try:
        compile(source, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as exc:
        names = re.findall(r"^def (\w+)\s*\(", source, flags=re.MULTILINE)
        where = f"line {exc.lineno}" + (f": {exc.text.strip()}" if exc.text else "")
        which = f"the cell defining {', '.join(names)}" if names else "this cell"
        message = (
            f"FAIL: {which} has a {type(exc).__name__} ({exc.msg}) at {where}\n"
            "It was not run: fix it and run it again. The other cells run on."
        )
        if names:
            message += f"\n{', '.join(names)} is not defined until then."
        return [f"for _name in {names!r}:\n", "    globals().pop(_name, None)\n"] + [
            f"print({message!r})\n"
        ]
    return lines
