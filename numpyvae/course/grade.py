"""Grade a folder of submitted exercise notebooks into a CSV gradebook.

    python -m numpyvae.course.grade SUBMISSIONS [--out gradebook.csv] [--timeout 120]
        [--cell-timeout 10] [--seed N]

SUBMISSIONS holds one notebook per student: `NAME.ipynb`, or a folder `NAME/` with the
exercise notebook in it (the student is NAME). Each submission is graded in its own Python
process, killed after --timeout seconds; inside it each cell and each check has --cell-timeout
seconds. The gradebook has one row per student and exercise: student, exercise, points (1 or
0), feedback (one line).

How a submission is graded (the README, "For instructors", says why this is not nbgrader):

1. Every code cell is run in order, in a fresh namespace with NumPy and the notebook's imports
   (the student's own checks inside it do not run: the checking helpers are blocked). A cell
   that does not parse, raises or loops costs only the exercises it defines.
2. Each answer (`dense_backward`, ...) is checked by `numpyvae.exercises` on inputs of other
   sizes and another seed than the notebook's, so an answer fitted to the notebook's inputs fails.
3. While the student's code runs, the library's own backward passes and finite differences refuse
   to run (numpyvae.course.guard): an answer that calls them scores 0, naming what it called.
4. An answer equal to the finite differences to the last bit (error exactly 0) is flagged and
   scores 0: a hand-written gradient differs from them by rounding. So is an exercise whose check
   the submission redefines, or a name it rebinds inside numpyvae or NumPy.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from numpyvae import exercises

EXERCISES = tuple(exercises.CHECKS)
# Sizes unlike the notebook's (where N, D_in, D_out = 4, 5, 3 ...): no dimension equals another,
# so a transposed or wrongly summed answer cannot pass by coincidence.
HIDDEN_SIZES = {
    "dense_backward": {"N": 6, "D_in": 7, "D_out": 5},
    "relu_backward": {"N": 5, "D": 7},
    "reparam_backward": {"M": 5, "B": 6, "k": 3},
    "kl_backward": {"B": 7, "k": 4},
    "bernoulli_backward": {"B": 5, "d": 9},
}
POINTS = 1
COLUMNS = ("student", "exercise", "points", "feedback")


@dataclass(frozen=True)
class Grade:
    """One row of the gradebook."""

    student: str
    exercise: str
    points: int
    feedback: str


class TimeUp(BaseException):  # noqa: N818 (BaseException: an answer's `except Exception` misses it)
    """Raised in the student's code when its time is up."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeUp in the running code after `seconds` (SIGALRM: the main thread, POSIX)."""

    def on_alarm(signum, frame):
        raise TimeUp(f"did not finish within {seconds:g} s (an infinite loop?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ reading a submission


def code_cells(path: Path) -> list[tuple[str, list[str]]]:
    """(source, tags) of each code cell of the notebook at `path`."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        cells.append((source, list(cell.get("metadata", {}).get("tags", []))))
    return cells


def defined_names(source: str) -> set[str]:
    """The answers a cell defines (`def dense_backward(`, `dense_backward = ...`), by text."""
    names = set()
    for name in EXERCISES:
        if re.search(rf"^\s*(def\s+{name}\s*\(|{name}\s*=)", source, flags=re.MULTILINE):
            names.add(name)
    return names


def redefined_checks(source: str) -> dict[str, str]:
    """{exercise: what the cell does} for the checks a cell redefines or tampers with.

    Looks for `def check_...`, `check_... =`, `import ... as check_...`, and assignments or
    setattr calls on an attribute of numpyvae (e.g. `numpyvae.gradcheck.compare = ...`), which
    concern all exercises.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, str] = {}

    def flag(name: str, what: str) -> None:
        exercise = name.removeprefix("check_")
        for affected in [exercise] if exercise in EXERCISES else EXERCISES:
            found.setdefault(affected, what)

    # Names bound to numpyvae or NumPy, or to something imported from them.
    library = {"numpyvae", "numpy", "np"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("numpyvae", "numpy"):
                    library.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "numpyvae",
            "numpy",
        ):
            library.update(alias.asname or alias.name for alias in node.names)

    def root(node: ast.AST) -> str | None:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def assigned(node) -> Iterator[ast.AST]:
        if isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                yield from assigned(element)
        else:
            yield node

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name.startswith("check_"):
                flag(node.name, f"defines its own {node.name}")
        elif isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in assigned(target)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = list(assigned(node.target))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (
                    alias.asname
                    and alias.asname.startswith("check_")
                    and alias.asname != alias.name
                ):
                    flag(alias.asname, f"imports {alias.name} as {alias.asname}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
            and root(node.args[0]) in library
        ):
            flag("*", f"calls {ast.unparse(node)[:60]}")
        for target in targets:
            text = ast.unparse(target)
            if isinstance(target, ast.Name) and target.id.startswith("check_"):
                flag(target.id, f"assigns {text}")
            elif isinstance(target, ast.Attribute) and root(target) in library:
                flag(target.attr, f"assigns {text}")
    return found


# ------------------------------------------------------------------ grading one submission


def grade_submission(
    path: Path, seed: int, cell_timeout: float = 10.0, block: bool = True
) -> Iterator[tuple[str, int, str]]:
    """(exercise, points, feedback) for each exercise of the notebook at `path`, in order.

    Runs the submission's code in this process: call it in a process of its own (`grade`
    does). `block=False` leaves the library usable (only for testing the grader itself).
    """
    from numpyvae.course.guard import Blocked, LibraryBlock, ModuleSnapshot

    # One run of every check before the snapshot: whatever the library binds lazily on first
    # use (a cache, a submodule) is bound before, so that only the submission's rebinding shows.
    for exercise, check in exercises.CHECKS.items():
        check(lambda *args: None, seed=seed, sizes=HIDDEN_SIZES[exercise], verbose=False)
    snapshot = ModuleSnapshot()
    namespace = _fresh_namespace()
    problems: dict[str, str] = {}  # why an answer is missing: the first problem of its cell
    cheats: dict[str, str] = {}
    block_context = LibraryBlock if block else contextlib.nullcontext

    for number, (source, _tags) in enumerate(code_cells(path), 1):
        for exercise, what in redefined_checks(source).items():
            cheats.setdefault(exercise, f"cell {number} {what}")
        names = defined_names(source)
        problem = _run_cell(source, number, namespace, cell_timeout, block_context, Blocked)
        for name in snapshot.changes():
            exercise = name.rsplit(".", 1)[1].removeprefix("check_")
            affected = {exercise} if exercise in EXERCISES else set(EXERCISES)
            for affected_exercise in affected:
                cheats.setdefault(affected_exercise, f"cell {number} rebinds {name}")
        if problem:
            for name in names:
                problems.setdefault(name, problem)

    for exercise in EXERCISES:
        if exercise in cheats:
            yield exercise, 0, f"flagged: {cheats[exercise]}"
            continue
        answer = namespace.get(exercise)
        if not callable(answer):
            why = problems.get(exercise, f"no cell defines {exercise}")
            yield exercise, 0, f"not answered: {why}"
            continue
        LibraryBlock.calls.clear()
        try:
            with time_limit(cell_timeout):
                result = exercises.CHECKS[exercise](
                    _guarded(answer, block_context),
                    seed=seed,
                    sizes=HIDDEN_SIZES[exercise],
                    verbose=False,
                )
        except TimeUp as exc:
            yield exercise, 0, f"FAIL: {exercise} {exc}"
            continue
        except Blocked:
            yield exercise, 0, _blocked_feedback(exercise, LibraryBlock.calls[0])
            continue
        except BaseException as exc:  # SystemExit and the like, raised by the answer
            yield exercise, 0, f"FAIL: {exercise} raised {type(exc).__name__}: {exc}"
            continue
        tampered = snapshot.changes()
        if LibraryBlock.calls:  # the answer caught Blocked itself
            yield exercise, 0, _blocked_feedback(exercise, LibraryBlock.calls[0])
        elif tampered:
            yield exercise, 0, f"flagged: {exercise} rebinds {', '.join(tampered)}"
        elif result.passed and result.worst is not None and result.worst.error == 0.0:
            yield (
                exercise,
                0,
                "flagged: the answer equals finite differences to the last bit (error exactly "
                "0); a hand-written gradient differs from them by rounding",
            )
        else:
            yield exercise, POINTS if result.passed else 0, one_line(result.message)


def _blocked_feedback(exercise: str, called: str) -> str:
    return (
        f"flagged: {exercise} calls numpyvae's own {called}; write the gradient by hand with NumPy"
    )


def _fresh_namespace() -> dict:
    """What the exercise notebook's setup cell defines, and nothing of the grader."""
    import numpy as np

    from numpyvae.layers import sigmoid

    return {"__name__": "__main__", "__builtins__": __builtins__, "np": np, "sigmoid": sigmoid}


def _run_cell(source, number, namespace, seconds, block_context, blocked) -> str | None:
    """Run one cell of the submission; None if it ran, else why it did not finish."""
    try:
        code = compile(source, f"<cell {number}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"cell {number} has a {type(exc).__name__} at line {exc.lineno}: {exc.msg}"
    try:
        with block_context(), time_limit(seconds), contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)
    except TimeUp as exc:
        return f"cell {number} {exc}"
    except blocked:
        return None  # e.g. the notebook's own check calls: the answers above them are defined
    except BaseException as exc:  # the student's crash, SystemExit included
        return f"cell {number} raised {type(exc).__name__}: {exc}"
    return None


def _guarded(answer, block_context):
    def call(*args):
        with block_context():
            return answer(*args)

    return call


def one_line(message: str) -> str:
    """A check's message in one line: the verdict, the wrong arrays and the hints."""
    lines = message.splitlines()
    keep = [lines[0]] + [ln.strip() for ln in lines[1:] if not ln.strip().startswith("ok ")]
    return " | ".join(keep)


# ------------------------------------------------------------------ the folder


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, notebook) for each `NAME.ipynb` or `NAME/<exercise notebook>` in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"grade: SUBMISSIONS must be a folder of notebooks, got {folder}")
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix == ".ipynb" and entry.is_file():
            found.append((entry.stem, entry))
        elif entry.is_dir() and not entry.name.startswith("."):
            notebooks = sorted(entry.rglob("*.ipynb"))
            notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
            exercise = [p for p in notebooks if "exercise" in p.name] or notebooks
            if exercise:
                found.append((entry.name, exercise[0]))
    return found


def grade_folder(
    folder: Path, seed: int, timeout: float = 120.0, cell_timeout: float = 10.0
) -> list[Grade]:
    """Grade every submission in `folder`, each in its own process; every exercise gets a row."""
    grades = []
    for student, path in find_submissions(folder):
        reported: dict[str, tuple[int, str]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            results = Path(tmp) / "results.jsonl"
            command = [
                sys.executable,
                "-m",
                "numpyvae.course.grade",
                "--one",
                str(Path(path).resolve()),
                "--results",
                str(results),
                "--seed",
                str(seed),
                "--cell-timeout",
                str(cell_timeout),
            ]
            env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
            try:
                done = subprocess.run(
                    command, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout
                )
                last = (done.stderr.strip().splitlines() or [""])[-1]
                ending = f"the grading process stopped with exit code {done.returncode}"
                ending += f" ({last})" if last else ""
                if done.returncode == 0:
                    ending = "the grading process ended without grading it"
            except subprocess.TimeoutExpired:
                ending = f"the submission did not finish within {timeout:g} s"
            if results.exists():
                for line in results.read_text(encoding="utf-8").splitlines():
                    row = json.loads(line)
                    reported[row["exercise"]] = (row["points"], row["feedback"])
        for exercise in EXERCISES:
            points, feedback = reported.get(exercise, (0, f"FAIL: {ending}"))
            grades.append(Grade(student, exercise, points, feedback))
    return grades


def write_gradebook(grades: list[Grade], path: Path) -> Path:
    """Write the grades as CSV with the header student, exercise, points, feedback."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(g) for g in grades)
    return path


def _grade_one(path: Path, results: Path, seed: int, cell_timeout: float) -> None:
    """The child process: grade one notebook, appending one JSON line per exercise."""
    with open(results, "a", encoding="utf-8") as out:
        for exercise, points, feedback in grade_submission(path, seed, cell_timeout):
            row = {"exercise": exercise, "points": points, "feedback": feedback}
            out.write(json.dumps(row) + "\n")
            out.flush()  # what is written survives a kill by the parent's time limit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m numpyvae.course.grade",
        description="Grade a folder of submitted exercise notebooks into a CSV gradebook.",
    )
    parser.add_argument("submissions", nargs="?", type=Path, help="folder of NAME.ipynb or NAME/")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="the CSV file")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per submission")
    parser.add_argument("--cell-timeout", type=float, default=10.0, help="seconds per cell/check")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the hidden inputs (default: random)"
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    if args.one is not None:
        _grade_one(args.one, args.results, seed, args.cell_timeout)
        return 0
    if args.submissions is None:
        parser.error("give the folder of submissions")
    grades = grade_folder(args.submissions, seed, args.timeout, args.cell_timeout)
    write_gradebook(grades, args.out)
    students = sorted({g.student for g in grades})
    for student in students:
        total = sum(g.points for g in grades if g.student == student)
        print(f"{student:>24}: {total} of {POINTS * len(EXERCISES)}")
    print(f"{len(students)} submissions graded (hidden-input seed {seed}); gradebook: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
