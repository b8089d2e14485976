"""Grade a class: a folder of submitted notebooks into a gradebook, LMS CSV and feedback files.

    python -m numpyvae.course.grade SUBMISSIONS [--out grades] [-j N] [--sets 3]
        [--timeout 120] [--cell-timeout 10] [--memory 1024] [--seed N] [--assignment STEM]
        [--resume | --overwrite] [--strict] [--similarity 0.8] [--no-sandbox]

Each submission (numpyvae.course.submissions) is run by its own runner in a bubblewrap sandbox
(numpyvae.course.sandbox) and judged here (numpyvae.course.judge); the outputs are listed in
numpyvae.course.gradebook. Every argument is checked before any work, and a bad one is refused
in one line naming it, its value and what is accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from numpyvae.course import gradebook, sandbox, similarity
from numpyvae.course.judge import (
    Settings,
    SubmissionResult,
    assignment_exercises,
    digest,
    grade_safely,
    hidden_sets,
    runner_fault,
)
from numpyvae.course.sandbox import Limits, bwrap
from numpyvae.course.submissions import NotebookError, find_submissions, read_cells
from numpyvae.exercises import ASSIGNMENTS, EXERCISES

GRADE_COMMAND = "python -m numpyvae.course.grade"


class Refused(Exception):
    """A bad argument or input: the one line that says so."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise Refused(message)


def parser() -> argparse.ArgumentParser:
    """The command line (every value is checked again by `check_arguments`)."""
    p = _Parser(prog=GRADE_COMMAND, description=__doc__.splitlines()[0])
    p.add_argument("submissions", type=Path, help="folder of NAME.ipynb files or NAME/ folders")
    p.add_argument("--out", type=Path, default=Path("grades"), help="output folder (grades)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel runners")
    p.add_argument("--sets", type=int, default=3, help="hidden input sets per exercise (3)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per submission (120)")
    p.add_argument("--cell-timeout", type=float, default=10.0, help="seconds per cell/call (10)")
    p.add_argument("--memory", type=int, default=1024, help="MiB a process may map (1024)")
    p.add_argument("--seed", type=int, default=None, help="seed of the hidden inputs (random)")
    p.add_argument(
        "--assignment",
        action="append",
        default=None,
        help=f"notebook stem to grade, repeatable (one of {', '.join(ASSIGNMENTS)}; default: "
        "the assignments whose exercises the submissions define)",
    )
    p.add_argument("--resume", action="store_true", help="grade only what OUT does not hold")
    p.add_argument("--overwrite", action="store_true", help="replace the grades in OUT")
    p.add_argument("--strict", action="store_true", help="review evidence scores 0")
    p.add_argument("--similarity", type=float, default=0.8, help="pair threshold, 0 to 1 (0.8)")
    p.add_argument("--no-sandbox", action="store_true", help="run without bubblewrap (unsafe)")
    return p


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse a bad value in one line; nothing is read or written before."""
    rules = [
        ("-j/--jobs", args.jobs, 1 <= args.jobs <= 256, "an integer from 1 to 256"),
        ("--sets", args.sets, 1 <= args.sets <= 20, "an integer from 1 to 20"),
        ("--timeout", args.timeout, 0 < args.timeout <= 86400, "seconds, above 0"),
        ("--cell-timeout", args.cell_timeout, 0 < args.cell_timeout <= 3600, "seconds, above 0"),
        ("--memory", args.memory, 256 <= args.memory <= 1 << 20, "MiB, at least 256"),
        ("--similarity", args.similarity, 0 < args.similarity <= 1, "a number in (0, 1]"),
    ]
    if args.seed is not None:
        rules.append(("--seed", args.seed, 0 <= args.seed < 2**32, "an integer in [0, 2**32)"))
    for name, value, ok, accepted in rules:
        if not ok:
            raise Refused(f"{name} must be {accepted}, got {value}")
    if args.resume and args.overwrite:
        raise Refused("--resume and --overwrite exclude each other: choose one")
    for stem in args.assignment or []:
        if stem not in ASSIGNMENTS:
            raise Refused(f"--assignment must be one of {', '.join(ASSIGNMENTS)}, got {stem!r}")


def check_paths(args: argparse.Namespace) -> None:
    """SUBMISSIONS is a folder; OUT is a folder apart from it, writable, and free or allowed."""
    folder, out = args.submissions, args.out
    if not folder.is_dir():
        what = "a file" if folder.exists() else "missing"
        raise Refused(f"SUBMISSIONS must be a folder of notebooks, got {str(folder)!r} ({what})")
    folder_r, out_r = folder.resolve(), out.resolve()
    if out_r == folder_r or folder_r in out_r.parents:
        raise Refused(f"--out must be outside SUBMISSIONS, got {str(out)!r} (inside {folder})")
    if out_r in folder_r.parents:
        raise Refused(f"--out must not contain SUBMISSIONS, got {str(out)!r}")
    if out.exists() and not out.is_dir():
        raise Refused(f"--out must be a folder (it will hold several files), got the file {out}")
    held = [n for n in ("gradebook.csv", "lms.csv", "results") if (out / n).exists()]
    if held and not (args.resume or args.overwrite):
        raise Refused(
            f"--out {out} already holds {held[0]}: pass --resume to grade the rest, "
            "--overwrite to replace it, or choose another folder"
        )
    if args.resume and not (out / "run.json").is_file():
        raise Refused(f"--resume needs a graded folder, but {out} holds no run.json")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise Refused(f"--out {out} cannot be made: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise Refused(f"--out {out} is not writable ({probe} refuses new files)")


def run(argv: list[str] | None = None) -> int:
    """The command: check everything, grade what is left, write the outputs."""
    args = parser().parse_args(argv)
    check_arguments(args)
    check_paths(args)
    found, skipped, duplicates = find_submissions(args.submissions)
    if duplicates:
        raise Refused(
            duplicates[0] + (f" (and {len(duplicates) - 1} more)" if duplicates[1:] else "")
        )
    if not found:
        raise Refused(f"SUBMISSIONS {args.submissions} holds no notebook (*.ipynb): nothing graded")
    for line in skipped:
        print(f"grade: {line}")
    sources: dict[str, str] = {}
    for submission in found:
        code = []
        for path in submission.notebooks:
            try:
                code += read_cells(path)
            except NotebookError as exc:
                print(f"grade: {submission.key}: {exc} (graded 0 with this reason)")
        sources[submission.key] = "\n".join(code)[: similarity.MAX_CODE]
    assignments = args.assignment or [
        stem
        for stem in ASSIGNMENTS
        if any(
            f"def {e.name}(" in code
            for e in EXERCISES.values()
            if e.notebook == stem
            for code in sources.values()
        )
    ]
    if not assignments:
        raise Refused(
            f"no submission defines an exercise of {', '.join(ASSIGNMENTS)}: "
            "pass --assignment to grade one anyway"
        )
    exercises = assignment_exercises(assignments)
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    run_file = args.out / "run.json"
    settings_record = {"seed": seed, "sets": args.sets, "assignments": assignments}
    if args.resume:
        try:
            recorded = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Refused(f"--resume cannot read {run_file} ({type(exc).__name__})") from None
        if args.seed is None:
            seed = settings_record["seed"] = recorded.get("seed")
        if recorded != settings_record:
            raise Refused(
                f"--resume must grade as the first run did ({recorded}), got {settings_record}"
            )
    limits = Limits(wall=args.timeout, memory=args.memory * 1024**2)
    settings = Settings(seed, args.sets, args.cell_timeout, limits, not args.no_sandbox, args.jobs)
    if args.no_sandbox:
        print(
            "grade: --no-sandbox: submissions run with your user's rights; they can read and "
            "write your files (the solutions, other submissions, this gradebook), use the "
            "network and leave processes behind. Only limits of time, memory and processes hold."
        )

    if not args.no_sandbox and bwrap() is None:
        raise Refused(
            "bubblewrap (bwrap) is not installed, so submissions cannot be sandboxed: install it "
            "(apt-get install bubblewrap), or pass --no-sandbox to grade unprotected"
        )
    with tempfile.TemporaryDirectory(prefix="numpyvae-grade-") as workdir:
        os.chmod(workdir, 0o711)
        fault = runner_fault(settings, Path(workdir))
    if fault:
        how = "--no-sandbox" if args.no_sandbox else "bubblewrap"
        raise Refused(
            f"a runner does not start here with {how} ({fault}): nothing graded"
            + ("; --no-sandbox grades unprotected" if not args.no_sandbox else "")
        )

    # From here on, files are written.
    if args.overwrite:
        for name in ("results", "feedback"):
            shutil.rmtree(args.out / name, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    gradebook.write_atomic(run_file, json.dumps(settings_record))
    done: dict[str, SubmissionResult] = {}
    if args.resume:
        saved, bad = gradebook.load_results(args.out)
        for line in bad:
            print(f"grade: {line}")
        wanted = {s.key: s for s in found}
        done = {k: r for k, r in saved.items() if k in wanted and r.digest == digest(wanted[k])}
    todo = [s for s in found if s.key not in done]
    names = ", ".join(
        f"{a} ({sum(e.notebook == a for e in exercises)} exercises)" for a in assignments
    )
    print(f"grade: {len(todo)} submissions to grade ({len(done)} kept), {names}, seed {seed}")
    hidden = hidden_sets(exercises, seed, args.sets)
    interrupted = False
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="numpyvae-grade-") as workdir:
        os.chmod(workdir, 0o711)
        pool = ThreadPoolExecutor(max_workers=args.jobs)
        pending = {
            pool.submit(grade_safely, s, exercises, hidden, settings, Path(workdir)): s
            for s in todo
        }
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending.pop(future)
                    result = future.result()
                    gradebook.save_result(args.out, result)
                    done[result.key] = result
                    total = sum(g.points for g in result.grades)
                    print(f"{result.key:>32}: {total:.2f} of {len(exercises)}  ({result.ending})")
        except KeyboardInterrupt:  # what is saved stays; what was running is graded again
            interrupted = True
            for future in pending:
                future.cancel()
            sandbox.stop_all()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    references = _references(assignments)
    handed_out = _handed_out(assignments)
    graded = {k: v for k, v in sources.items() if k in done}
    pairs = similarity.compare(graded, references, handed_out, args.similarity)
    totals = gradebook.write_all(args.out, list(done.values()), exercises, pairs, args.strict)
    seconds = time.monotonic() - start
    print(
        f"grade: {len(totals)} submissions in {args.out}/ (gradebook.csv, lms.csv, "
        f"feedback/, similarity.csv: {len(pairs)} pairs); hidden-input seed {seed}; "
        f"{seconds:.1f} s"
    )
    if interrupted:
        print(f"grade: interrupted; {len(todo) - len(pending)} graded, --resume grades the rest")
        return 130
    return 0


def _references(assignments: list[str]) -> dict[str, str]:
    """The code a submission should not share: the solutions (in a checkout) and numpyvae."""
    import numpyvae

    package = Path(numpyvae.__file__).resolve().parent
    library = "\n".join(
        p.read_text(encoding="utf-8")
        for p in sorted(package.rglob("*.py"))
        if "course" not in p.relative_to(package).parts
    )
    references = {"numpyvae's source": library}
    folder = package.parent / "notebooks" / "solutions"
    paths = [folder / f"{stem.replace('exercises', 'solutions')}.ipynb" for stem in assignments]
    solutions = ["\n".join(read_cells(path)) for path in paths if path.is_file()]
    if solutions:  # one reference: a submission's answers may come from several of them
        references["the solutions"] = "\n".join(solutions)
    return references


def _handed_out(assignments: list[str]) -> str:
    """The code cells of the notebooks students received (their code counts for nobody)."""
    from numpyvae.course_files import notebook_sources

    try:
        notebooks = notebook_sources()
    except FileNotFoundError:
        return ""
    return "\n".join("\n".join(read_cells(p)) for p in notebooks if p.stem in assignments)


def main(argv: list[str] | None = None) -> int:
    """Run the command; a refusal is one line on stderr and exit status 2."""
    try:
        return run(argv)
    except Refused as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
