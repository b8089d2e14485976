"""The grader on a class: N correct submissions graded with -j J, the sandbox on (issue 19).

    python benchmarks/bench_grade.py [--n 300] [--jobs 2] [--overhead 20] [--hangs 2]

1. the class: `--n` copies of a correct notebook (tests/fixtures/submissions.py, "all_correct")
   graded by the documented command, `-j --jobs`, 3 hidden input sets per exercise; prints the
   wall-clock time, per submission, and checks every student got full marks;
2. the sandbox's cost: one submission's runner started `--overhead` times with bubblewrap and
   as many times without (alternating), the medians and their difference;
3. hanging submissions: `--hangs` notebooks that never finish among 20 correct ones, timeout
   5 s: the class takes about the limit, not the limit times the number of hangs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "fixtures")]

from submissions import submission  # noqa: E402

from numpyvae.course import sandbox  # noqa: E402
from numpyvae.course.judge import Settings, grade_submission, hidden_sets  # noqa: E402
from numpyvae.course.submissions import Submission  # noqa: E402
from numpyvae.exercises import EXERCISES  # noqa: E402

HANG = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"


def write_class(folder: Path, n: int, hangs: int = 0) -> None:
    folder.mkdir(parents=True)
    good = json.dumps(submission({}, [])) + "\n"
    bad = json.dumps(submission({}, [HANG])) + "\n"
    for i in range(n):
        (folder / f"student{i:04d}.ipynb").write_text(good, encoding="utf-8")
    for i in range(hangs):
        (folder / f"hangs{i:02d}.ipynb").write_text(bad, encoding="utf-8")


def grade(folder: Path, out: Path, jobs: int, timeout: float = 120) -> float:
    command = [sys.executable, "-m", "numpyvae.course.grade", str(folder), "--out", str(out)]
    command += ["-j", str(jobs), "--seed", "1", "--timeout", str(timeout)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return seconds


def overhead(tmp: Path, runs: int) -> tuple[float, float]:
    """Median seconds of one submission's grading with and without the sandbox."""
    path = tmp / "one.ipynb"
    path.write_text(json.dumps(submission({}, [])), encoding="utf-8")
    one = Submission("one", "one", "", (path,), ("one.ipynb",))
    exercises = list(EXERCISES.values())[:5]
    hidden = hidden_sets(exercises, 1, 3)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for sandboxed in (True, False):
            settings = Settings(1, 3, 10.0, sandbox.Limits(wall=60), sandboxed, 1)
            start = time.perf_counter()
            result = grade_submission(one, exercises, hidden, settings, tmp)
            times[sandboxed].append(time.perf_counter() - start)
            assert sum(g.points for g in result.grades) == 5, result
    return statistics.median(times[True]), statistics.median(times[False])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--overhead", type=int, default=20)
    parser.add_argument("--hangs", type=int, default=2)
    args = parser.parse_args()
    print(f"bwrap: {sandbox.bwrap()}; python {sys.version.split()[0]}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    try:
        write_class(tmp / "class", args.n)
        seconds = grade(tmp / "class", tmp / "grades", args.jobs)
        totals = (tmp / "grades" / "lms.csv").read_text().splitlines()[1:]
        assert len(totals) == args.n and all(",5,5," in row for row in totals)
        print(
            f"class: {args.n} correct submissions, -j {args.jobs}, sandbox on: {seconds:.1f} s "
            f"({seconds / args.n:.3f} s a submission); all {args.n} at 5 of 5"
        )
        with_box, without = overhead(tmp, args.overhead)
        print(
            f"one submission, median of {args.overhead}: {with_box:.3f} s sandboxed, "
            f"{without:.3f} s without: the sandbox costs {with_box - without:.3f} s"
        )
        if args.hangs:
            write_class(tmp / "hangs", 20, args.hangs)
            seconds = grade(tmp / "hangs", tmp / "hangs-grades", args.jobs, timeout=5)
            print(
                f"20 correct + {args.hangs} hanging (timeout 5 s), -j {args.jobs}: {seconds:.1f} s"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
