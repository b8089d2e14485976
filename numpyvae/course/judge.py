"""The judge: the hidden inputs, one submission graded through its runner, the verdicts.

Everything that decides a grade happens here, in the instructor's process: the hidden input
sets are drawn from the seed, the runner (numpyvae.course.runner, in the sandbox) is handed
copies and replies with arrays, and each exercise's own `judge` (numpyvae.exercises) compares
them with its reference. An exercise is checked on `sets` hidden input sets of sizes the
notebook never uses; its point is shared out in proportion to the sets it passes.

Suspicion never costs points here: it goes to the `review` evidence of the exercise (an
answer equal to the reference to the last bit, a cell that redefines a real check, finite
differences written in the answer); the gradebook turns it into a 0 only with --strict.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numpyvae.course import sandbox
from numpyvae.course.channel import MAX_ELEMENTS, parse_reply
from numpyvae.course.seccomp import program
from numpyvae.course.submissions import NotebookError, Submission, read_cells, shown, stem
from numpyvae.exercises import EXERCISES, Exercise

MAX_ANALYSED_CELLS = 2000  # cells of a notebook read for evidence
MAX_ANALYSED_CHARS = 100_000  # characters of one cell read for evidence


@dataclass(frozen=True)
class Settings:
    """How a class is graded: the seed, sets per exercise, time and sandbox."""

    seed: int
    sets: int = 3
    cell_timeout: float = 10.0
    limits: sandbox.Limits = sandbox.Limits()
    sandboxed: bool = True
    jobs: int = 1


@dataclass(frozen=True)
class ExerciseGrade:
    """One exercise of one submission: points out of 1, one line of feedback, the evidence."""

    exercise: str
    points: float
    passed_sets: int
    sets: int
    feedback: str
    review: str = ""


@dataclass(frozen=True)
class SubmissionResult:
    """What the judge decided on one submission (saved as JSON as soon as it is known)."""

    key: str
    name: str
    student_id: str
    entries: tuple[str, ...]
    digest: str  # sha256 of the notebooks graded, for --resume
    grades: tuple[ExerciseGrade, ...]
    ending: str  # how the runner ended, for the instructor
    seconds: float

    def to_json(self) -> dict:
        """A JSON-ready dict (`from_json` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SubmissionResult:
        """The result saved by `to_json`; ValueError if it is not one."""
        try:
            grades = tuple(ExerciseGrade(**g) for g in data["grades"])
            fields = {k: data[k] for k in ("key", "name", "student_id", "digest", "ending")}
            return cls(
                **fields,
                entries=tuple(data["entries"]),
                grades=grades,
                seconds=float(data["seconds"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a saved result ({exc})") from None


# ------------------------------------------------------------------ the hidden inputs


@dataclass(frozen=True)
class HiddenSet:
    """One hidden input set of one exercise, and the reference outputs for it."""

    inputs: dict[str, np.ndarray]
    judge: Exercise  # the exercise, with its reference computed once for these inputs


def hidden_sets(exercises: Sequence[Exercise], seed: int, sets: int) -> dict[str, list[HiddenSet]]:
    """`sets` input sets per exercise, of its hidden sizes in turn, drawn from `seed`."""
    out = {}
    for exercise in exercises:
        out[exercise.name] = []
        for i in range(sets):
            sizes = exercise.hidden_sizes[i % len(exercise.hidden_sizes)]
            rng = np.random.default_rng([seed, zlib.crc32(exercise.name.encode()), i])
            inputs = exercise.make_inputs(sizes, rng)
            right = exercise.reference(dict(inputs))
            # Every submission is judged against the same reference: computed once.
            judge = dataclasses.replace(exercise, reference=lambda _inputs, r=right: r)
            out[exercise.name].append(HiddenSet(inputs, judge))
    return out


# ------------------------------------------------------------------ static evidence


def digest(submission: Submission) -> str:
    """sha256 over the submission's notebooks, in order."""
    h = hashlib.sha256()
    for path in submission.notebooks:
        h.update(path.name.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


def redefined_checks(source: str, names: Sequence[str]) -> list[str]:
    """What a cell does to the real checks: `def check_<exercise>`, `check = ...`, imports as.

    Only the checks' own names count (`check`, `check_<exercise>`, `report_syntax_errors`):
    a helper named `check_shapes` or a variable `result = check_kl_backward()` is fine.
    """
    real = {"check", "report_syntax_errors"} | {f"check_{n}" for n in names}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found = []
    for node in ast.walk(tree):
        bound: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [a.asname for a in node.names if a.asname and a.asname != a.name]
        found += [f"binds its own {name}" for name in bound if name in real]
    return found


def patches_in(source: str) -> list[str]:
    """Evidence that a cell rebinds a name inside NumPy, numpyvae or builtins."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    modules = {"numpy", "numpyvae", "builtins", "np"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("numpy", "numpyvae", "builtins"):
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in ("numpy", "numpyvae", "builtins"):
                modules.update(alias.asname or alias.name for alias in node.names)
    found = []
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
            targets = node.args[:1]
            if targets and _root(targets[0]) in modules:
                found.append(f"calls {ast.unparse(node)[:60]}")
            continue
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and _root(sub) in modules:
                    found.append(f"rebinds {ast.unparse(sub)[:60]}")
                    break
    return found


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def finite_differences_in(source: str) -> str | None:
    """Evidence that a cell differentiates numerically: np.gradient, or a division by a step.

    A step is a float constant of at most 1e-3, or a name bound to one (an assignment or a
    default argument), dividing alone or times a number: `/ h`, `/ (2 * h)`, `/ 1e-6`.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    steps: dict[str, float] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "gradient":
            return "calls np.gradient: finite differences?"
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            positional = node.args.posonlyargs + node.args.args
            pairs = list(zip(positional[::-1], node.args.defaults[::-1], strict=False))
            keywords = zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
            pairs += [(a, d) for a, d in keywords if d]
        for target, value in pairs:
            name = getattr(target, "id", None) or getattr(target, "arg", None)
            if name and _small(value) is not None:
                steps[name] = _small(value)
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            step = _step(node.right, steps)
            if step is not None:
                return f"divides by a small step ({step:g}): finite differences?"
    return None


def _small(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, float):
        return node.value if 0 < abs(node.value) <= 1e-3 else None
    return None


def _step(node: ast.AST, steps: dict[str, float]) -> float | None:
    if isinstance(node, ast.Name):
        return steps.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(other, ast.Constant) and isinstance(other.value, (int, float)):
                return _step(side, steps)
    return _small(node)


# ------------------------------------------------------------------ one submission


def grade_submission(
    submission: Submission,
    exercises: Sequence[Exercise],
    hidden: Mapping[str, list[HiddenSet]],
    settings: Settings,
    workdir: Path,
) -> SubmissionResult:
    """Grade one submission: its runner in the sandbox, then each exercise judged here."""
    names = [e.name for e in exercises]
    notebooks, unreadable = [], []
    everywhere: list[str] = []
    for path in submission.notebooks:
        try:
            cells = read_cells(path)
        except NotebookError as exc:
            unreadable.append(str(exc))
            continue
        notebooks.append((stem(path), cells))
        for number, source in enumerate(cells[:MAX_ANALYSED_CELLS], 1):
            if len(source) > MAX_ANALYSED_CHARS:  # the runner runs it; the judge's time is shared
                everywhere.append(
                    f"{shown(path.name)} cell {number} is too long to be read for evidence"
                )
                continue
            what = redefined_checks(source, names) + patches_in(source)
            # a helper in one cell can serve every answer: the evidence concerns them all
            what += [fd] if (fd := finite_differences_in(source)) else []
            everywhere += [f"{shown(path.name)} cell {number} {w}" for w in what]
    job = Path(tempfile.mkdtemp(prefix=f"{submission.key}-", dir=workdir))
    try:
        outcome = _run(job, notebooks, exercises, hidden, settings)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    expected = {e.name: (settings.sets, len(e.outputs)) for e in exercises}
    replies, problem = parse_reply(outcome.reply, expected)
    ending = _ending(outcome, problem, settings.limits.wall)
    grades = []
    for exercise in exercises:
        grades.append(
            _grade_exercise(
                exercise,
                hidden[exercise.name],
                replies,
                ending,
                unreadable,
                everywhere,
            )
        )
    return SubmissionResult(
        submission.key,
        submission.name,
        submission.student_id,
        submission.entries,
        digest(submission),
        tuple(grades),
        ending or "the runner finished",
        round(outcome.seconds, 3),
    )


def grade_safely(
    submission: Submission,
    exercises: Sequence[Exercise],
    hidden: Mapping[str, list[HiddenSet]],
    settings: Settings,
    workdir: Path,
) -> SubmissionResult:
    """`grade_submission`, except that a failure of the grader itself costs this submission
    a result in review (and a regrade on --resume), never the class's run."""
    try:
        return grade_submission(submission, exercises, hidden, settings, workdir)
    except Exception as exc:
        why = f"the grader failed on this submission ({type(exc).__name__}: {exc})"[:300]
        grades = tuple(
            ExerciseGrade(e.name, 0.0, 0, settings.sets, f"FAIL ({e.name}): {why}", why)
            for e in exercises
        )
        return SubmissionResult(
            submission.key,
            submission.name,
            submission.student_id,
            submission.entries,
            "",  # matches no notebook: --resume grades it again
            grades,
            why,
            0.0,
        )


def runner_fault(settings: Settings, workdir: Path) -> str | None:
    """None if a runner starts and ends cleanly here (an empty job), else what went wrong.

    Run before a class is graded: a sandbox that cannot start (no user namespaces, a path it
    cannot bind) would otherwise give every student a zero.
    """
    job = Path(tempfile.mkdtemp(prefix="self-test-", dir=workdir))
    wall = max(settings.limits.wall, 30.0)  # a short --timeout is for the students' code
    settings = dataclasses.replace(settings, limits=dataclasses.replace(settings.limits, wall=wall))
    try:
        outcome = _run(job, [], [], {}, settings)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    if outcome.returncode == 0 and not outcome.reply:
        return None
    last = (outcome.log.strip().splitlines() or ["no message"])[-1]
    return f"exit code {outcome.returncode}: {shown(' '.join(last.split()))[:200]}"


def _run(job, notebooks, exercises, hidden, settings) -> sandbox.Outcome:
    """Write the job folder (cells, inputs, request) and run the runner on it."""
    as_root = os.geteuid() == 0
    (job / "inputs").mkdir()
    request_notebooks = []
    for i, (name, cells) in enumerate(notebooks):
        (job / f"cells-{i}.json").write_text(json.dumps(cells), encoding="utf-8")
        request_notebooks.append({"name": name, "cells": f"cells-{i}.json"})
    request_exercises = []
    for exercise in exercises:
        sets = []
        for i, hidden_set in enumerate(hidden[exercise.name]):
            paths = []
            for argument in exercise.arguments:
                path = f"inputs/{exercise.name}-{i}-{argument}.npy"
                np.save(job / path, hidden_set.inputs[argument], allow_pickle=False)
                paths.append(path)
            sets.append(paths)
        request_exercises.append(
            {
                "name": exercise.name,
                "notebook": exercise.notebook,
                "n_outputs": len(exercise.outputs),
                "sets": sets,
            }
        )
    if settings.sandboxed:
        argv, path = sandbox.command(job, as_root)
    else:
        argv, path = sandbox.unsandboxed_command(job)
    request = {
        "drop_to": sandbox.NOBODY if (settings.sandboxed and as_root) else None,
        "sys_path": path,
        "max_elements": MAX_ELEMENTS,
        "cell_timeout": settings.cell_timeout,
        "notebooks": request_notebooks,
        "exercises": request_exercises,
    }
    (job / "request.json").write_text(json.dumps(request), encoding="utf-8")
    for folder, _dirs, files in os.walk(job):  # readable by the runner's user, never writable
        os.chmod(folder, 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)
    nproc = sandbox.process_limit(settings.limits, as_root and settings.sandboxed, settings.jobs)
    return sandbox.run(argv, settings.limits, nproc, program() if settings.sandboxed else None)


def _ending(outcome: sandbox.Outcome, problem: str | None, wall: float) -> str:
    """Why the runner's reply stops early, or "" if it ran to its end."""
    if outcome.timed_out:
        return f"the notebook did not finish within {wall:g} s and was stopped"
    if outcome.overflow:
        return "the reply passed its size limit and the notebook was stopped"
    if problem:
        return f"the reply could not be read: {problem}"
    if outcome.returncode:
        last = (outcome.log.strip().splitlines() or [""])[-1]
        last = shown(" ".join(last.split()))[:160]  # the student's text: no terminal escapes
        return f"the notebook's process stopped with exit code {outcome.returncode}" + (
            f" ({last})" if last else ""
        )
    return ""


def _grade_exercise(exercise, sets, replies, ending, unreadable, evidence):
    results = []
    for i, hidden_set in enumerate(sets):
        reply = replies.get((exercise.name, i))
        if reply is None:
            why = "; ".join(unreadable) or ending
            why = why or "the notebook's process ended before this answer was called (an exit?)"
            results.append((False, f"FAIL ({exercise.name}): {why}", None))
        elif isinstance(reply, str):
            why = "; ".join([*unreadable, reply])  # an unreadable notebook is the first reason
            results.append((False, f"FAIL ({exercise.name}): {why}", None))
        else:
            verdict = hidden_set.judge.judge(dict(hidden_set.inputs), reply)
            results.append((verdict.passed, one_line(verdict.message), verdict))
    passed = sum(ok for ok, _, _ in results)
    review = list(evidence)
    for i, (ok, _, verdict) in enumerate(results):
        # Against a formula an exact match is what a right answer gives; against finite
        # differences only copied finite differences give it.
        exact = ok and verdict.worst is not None and verdict.worst.error == 0.0
        if exact and exercise.numerical_reference:
            review.append(
                f"set {i + 1}: equal to the reference to the last bit (error exactly 0), "
                "where a hand-written gradient differs by rounding"
            )
            break
    first_fail = next((message for ok, message, _ in results if not ok), None)
    n = len(results)
    if first_fail is None:
        feedback = f"PASS ({exercise.name}) on all {n} hidden input sets"
    else:
        feedback = f"passed {passed} of {n} hidden input sets; {first_fail}"
    return ExerciseGrade(
        exercise.name, round(passed / n, 4), passed, n, feedback, " | ".join(review)
    )


def one_line(message: str) -> str:
    """A verdict in one line: the first line, the wrong arrays and the hints."""
    lines = message.splitlines()
    keep = [lines[0]] + [ln.strip() for ln in lines[1:] if not ln.strip().startswith("ok ")]
    return " | ".join(keep)


def assignment_exercises(assignments: Sequence[str]) -> list[Exercise]:
    """The exercises of `assignments` (notebook stems), in reading order."""
    return [e for e in EXERCISES.values() if e.notebook in assignments]
