"""The grader (numpyvae.course.grade): every fixture gets the score it deserves, every attack
scores 0 or lands in review and harms nothing and nobody, every bad instructor input is
refused in one line before any work.

The class is graded once, through the documented command with the sandbox on: the honest and
mistaken fixtures (tests/fixtures/submissions.py), the attacks (tests/fixtures/attacks.py),
a victim graded after them, LMS download names, a corrupt notebook and a file name that a
spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from numpyvae.course import (
    channel,
    grade,
    gradebook,
    sandbox,
    seccomp,
    similarity,
    submissions,
)
from numpyvae.course.judge import SubmissionResult, finite_differences_in, redefined_checks
from numpyvae.exercises import ASSIGNMENTS, EXERCISES

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from attacks import ATTACKS, REVIEW_OK, fill  # noqa: E402
from submissions import CORRECT, FIXTURES, submission, write_submissions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ALL = tuple(e.name for e in EXERCISES.values() if e.notebook == "06_gradient_check_exercises")
TIMEOUT, CELL_TIMEOUT = 8, 2
MARKER = "numpyvae-attack-marker"
needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="bubblewrap (bwrap) is not installed: .ci/install-grader-tools installs it",
)

# fixture -> {exercise: (points, words the feedback must contain)}; unlisted exercises pass.
EXPECTED = {
    "all_correct": {},
    "honest_check_helpers": {},
    "honest_notebook_habits": {},
    "copied_helper_a": {},
    "copied_helper_b": {},
    "zz_victim": {},
    "transposed_weight_gradient": {"dense_backward": (0, "transpose of the right dW")},
    "kl_missing_half": {"kl_backward": (0, "exactly 2 times the right values")},
    "reparam_one_over_m_twice": {"reparam_backward": (0, "exactly 0.2 times the right values")},
    "bernoulli_sign_flip": {"bernoulli_backward": (0, "exactly -1 times the right values")},
    "partly_right": {"relu_backward": (0.33, "passed 1 of 3 hidden input sets; FAIL")},
    "blank": dict.fromkeys(ALL, (0, "still raises NotImplementedError")),
    "syntax_error": {"relu_backward": (0, "SyntaxError")},
    "infinite_loop": {
        "kl_backward": (0, f"kl_backward did not finish within {CELL_TIMEOUT} s"),
        "bernoulli_backward": (0, f"did not finish within {CELL_TIMEOUT} s"),
    },
    "hangs_ignoring_the_alarm": dict.fromkeys(ALL, (0, f"did not finish within {TIMEOUT} s")),
    "crashes_the_process": dict.fromkeys(ALL, (0, "exit code 3")),
    "cheat_library_backward": {
        "dense_backward": (0, "numpyvae.layers.Dense is not available while grading"),
        "relu_backward": (0, "numpyvae.layers.ReLU is not available"),
        "reparam_backward": (0, "numpyvae.posteriors.DiagonalGaussian is not available"),
        "kl_backward": (0, "numpyvae.posteriors.DiagonalGaussian is not available"),
        "bernoulli_backward": (0, "numpyvae.likelihoods.Bernoulli is not available"),
    },
    "cheat_finite_differences": dict.fromkeys(
        ALL, (0, "numpyvae.gradcheck.numerical_gradient is not available while grading")
    ),
    "cheat_redefined_check": {"kl_backward": (0, "FAIL (kl_backward)")},
    "cheat_patches_the_checker": {},  # right answers: full points, and in review
}
# fixture -> words every exercise's review must contain ("" : the review must be empty)
REVIEW = {
    "cheat_redefined_check": "binds its own check_kl_backward",
    "cheat_patches_the_checker": "rebinds numpyvae.gradcheck.DEFAULT_TOLERANCE",
}
CANVAS = "doe, jane_12345_678901_06_gradient_check_exercises.ipynb"
MOODLE = "Jane Roe_4242_assignsubmission_file_"
FORMULA = "=HYPERLINK(1)"


def sha(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def marker_processes() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            uid = (entry / "status").read_text().split("Uid:")[1].split()[0]
        except (OSError, IndexError):
            continue
        if "/opt/runner/runner.py" in command or (uid == "65534" and "python" in command):
            found.append(f"{entry.name} {uid} {command[:80]}")
    return found


# `python -m numpyvae.course.grade ARGS`, and the judge's own peak memory (its runners apart)
# (VmHWM: getrusage's maxrss would carry pytest's own size over the exec)
MEASURED = """
import runpy, sys
sys.argv = ["numpyvae.course.grade", *sys.argv[1:]]
try:
    runpy.run_module("numpyvae.course.grade", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code
status = open("/proc/self/status").read()
print("PEAK", status.split("VmHWM:")[1].split()[0], file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded once with the sandbox on; everything the tests look at afterwards."""
    top = tmp_path_factory.mktemp("class")
    folder, out = top / "submissions", top / "grades"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    connections: list[bytes] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                connections.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    venv_site = Path(np.__file__).resolve().parents[1]
    values = {
        "SUBMISSIONS": str(folder),
        "OUT": str(out),
        "REPO": str(ROOT),
        "VENV_SITE": str(venv_site),
        "PORT": str(listener.getsockname()[1]),
        "MARKER": MARKER,
    }
    fixtures = {**FIXTURES, "zz_victim": ({}, [])}
    write_submissions(folder, fixtures=fixtures)
    write_submissions(folder, fixtures=fill(ATTACKS, values))
    good = json.dumps(submission({}, [])) + "\n"
    (folder / CANVAS).write_text(good, encoding="utf-8")
    (folder / MOODLE).mkdir()
    (folder / MOODLE / "06_gradient_check_exercises.IPYNB").write_text(good, encoding="utf-8")
    (folder / f"{FORMULA}.ipynb").write_text(good, encoding="utf-8")
    (folder / "corrupt.ipynb").write_text('{"cells": [', encoding="utf-8")
    (folder / "saved_by_a_browser.ipynb.json").write_text(good, encoding="utf-8")
    (folder / "latin1.ipynb").write_bytes(good.encode("utf-8") + "é".encode("latin-1"))
    deep = '{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (folder / "deep_json.ipynb").write_text(deep, encoding="utf-8")
    (folder / "notes.txt").write_text("not a notebook", encoding="utf-8")
    (folder / "escape\x1b[2J.txt").write_text("a name that clears a terminal", encoding="utf-8")
    solutions = ROOT / "notebooks" / "solutions" / "06_gradient_check_solutions.ipynb"
    (folder / "linked.ipynb").symlink_to(solutions)  # a student's symlink to the solutions
    (folder / "linker").mkdir()
    (folder / "linker" / "06_gradient_check_exercises.ipynb").symlink_to(solutions)
    before = sha(folder)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, str(folder), "--out", str(out)]
        + ["--seed", "11", "-j", "2", "--timeout", str(TIMEOUT)]
        + ["--cell-timeout", str(CELL_TIMEOUT)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=top,
    )
    seconds = time.monotonic() - start
    peak_kib = int(done.stderr.rsplit("PEAK ", 1)[1].split()[0])
    time.sleep(0.5)  # anything a runner left behind would be running now
    stop.set()
    thread.join()
    listener.close()
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(out / "lms.csv", newline="", encoding="utf-8") as f:
        wide = list(csv.DictReader(f))
    return {
        "top": top,
        "folder": folder,
        "out": out,
        "stdout": done.stdout,
        "rows": {(r["student"], r["exercise"]): r for r in rows},
        "wide": {r["student"]: r for r in wide},
        "before": before,
        "after": sha(folder),
        "connections": connections,
        "processes": marker_processes(),
        "seconds": seconds,
        "peak_kib": peak_kib,
        "values": values,
    }


def test_every_honest_fixture_has_an_expected_score():
    assert set(EXPECTED) == set(FIXTURES) | {"zz_victim"}


@needs_bwrap
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_the_score_it_deserves(graded, name):
    for exercise in ALL:
        row = graded["rows"][(name, exercise)]
        points, words = EXPECTED[name].get(exercise, (1, f"PASS ({exercise}) on all 3"))
        assert float(row["points"]) == points, (name, exercise, row["feedback"])
        assert words in row["feedback"], (name, exercise, row["feedback"])
        assert "\n" not in row["feedback"] and "Traceback" not in row["feedback"]
        review = REVIEW.get(name, "")
        if name in ("copied_helper_a", "copied_helper_b"):
            review = "shares code with copied_helper_"
        assert review in row["review"] if review else row["review"] == "", (name, row["review"])


@needs_bwrap
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_scores_zero_or_lands_in_review(graded, name):
    for exercise in ALL:
        row = graded["rows"][(name, exercise)]
        if float(row["points"]) > 0:
            assert name in REVIEW_OK and row["review"], (name, exercise, row)
        assert len(row["feedback"]) < 2000 and "\n" not in row["feedback"]


@needs_bwrap
def test_the_attacks_harm_nothing_and_nobody(graded):
    assert graded["after"] == graded["before"]  # no submission changed, added or removed
    assert graded["connections"] == []  # nothing reached 127.0.0.1
    assert graded["processes"] == []  # no runner, fork or detached child outlived grading
    site, home = Path(graded["values"]["VENV_SITE"]), Path.home()
    leftovers = [
        *ROOT.rglob(f"*{MARKER}*"),
        *graded["top"].rglob(f"*{MARKER}*"),
        *site.glob(f"*{MARKER}*"),  # where the attack writes: the top of each folder
        *home.glob(f"*{MARKER}*"),
        *(home / ".local").rglob(f"*{MARKER}*"),
    ]
    assert leftovers == []
    for name in ("sitecustomize.py", "usercustomize.py"):
        assert not (Path(graded["values"]["VENV_SITE"]) / name).exists()
    text = (graded["out"] / "gradebook.csv").read_text(encoding="utf-8")
    assert MARKER not in text
    # no terminal escape reaches the instructor's terminal or files
    assert "\x1b" not in graded["stdout"] and "\x1b" not in text
    assert "escape\\x1b[2J.txt is not a notebook" in graded["stdout"]
    assert (
        "ValueError: \\x1b[31mred"
        in graded["rows"][("attack_terminal_escapes_in_errors", "kl_backward")]["feedback"]
    )
    assert all(0 <= float(row["points"]) <= 1 for row in graded["rows"].values())
    assert len(graded["rows"]) == len(graded["wide"]) * len(ALL)
    # 200 MiB of log and a reply flood cost the judge nothing of the sort
    assert graded["peak_kib"] < 400 * 1024, graded["peak_kib"]
    # the victim graded after every attack, and the first and last fixtures, are untouched
    assert graded["wide"]["zz_victim"]["total"] == "5"
    assert graded["wide"]["all_correct"]["total"] == "5"


@needs_bwrap
def test_a_hanging_submission_costs_its_limit_and_holds_up_nobody(graded):
    for name in ("hangs_ignoring_the_alarm", "attack_escapes_time_limit"):
        saved = json.loads((graded["out"] / "results" / f"{name}.json").read_text())
        assert TIMEOUT <= saved["seconds"] <= TIMEOUT + 5, saved["seconds"]
        assert "did not finish within 8 s" in saved["ending"]
    flood = json.loads((graded["out"] / "results" / "attack_output_flood.json").read_text())
    assert "size limit" in flood["ending"]


@needs_bwrap
def test_lms_csv_has_one_row_per_student_with_ids_totals_and_maximum(graded):
    wide = graded["wide"]
    assert wide["doe, jane"]["id"] == "12345" and wide["doe, jane"]["total"] == "5"
    assert wide["Jane Roe"]["id"] == "4242" and wide["Jane Roe"]["total"] == "5"
    assert wide["kl_missing_half"]["kl_backward"] == "0"
    assert {row["max"] for row in wide.values()} == {"5"}
    header = (graded["out"] / "lms.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,student," + ",".join(ALL) + ",total,max,review"
    assert "'" + FORMULA in (graded["out"] / "lms.csv").read_text(encoding="utf-8")
    assert f"\n{FORMULA}" not in (graded["out"] / "gradebook.csv").read_text(encoding="utf-8")


@needs_bwrap
def test_unreadable_notebooks_and_other_files_are_reported_by_name(graded):
    assert (
        "corrupt: corrupt.ipynb is not a notebook: its JSON is broken at line 1"
        in (graded["stdout"])
    )
    assert "notes.txt is not a notebook (.ipynb): not graded" in graded["stdout"]
    assert "deep_json.ipynb is not a notebook: its JSON is too deeply nested" in graded["stdout"]
    assert "latin1: latin1.ipynb is not UTF-8 text (byte" in graded["stdout"]
    row = graded["rows"][("latin1", "kl_backward")]
    assert row["points"] == "0" and "is not UTF-8 text" in row["feedback"]
    assert graded["wide"]["saved_by_a_browser"]["total"] == "5"
    assert "linked.ipynb is a symbolic link: not graded" in graded["stdout"]
    assert "linker/06_gradient_check_exercises.ipynb is a symbolic link" in graded["stdout"]
    assert "linked" not in graded["wide"] and "linker" not in graded["wide"]
    row = graded["rows"][("corrupt", "dense_backward")]
    assert row["points"] == "0" and "JSON is broken" in row["feedback"]


@needs_bwrap
def test_feedback_files_name_each_exercise_its_verdict_and_mistake(graded):
    text = (graded["out"] / "feedback" / "kl_missing_half.md").read_text(encoding="utf-8")
    assert text.startswith("# Feedback for kl_missing_half\n\nTotal: 4 of 5.")
    assert "## kl_backward: the KL to N(0, I) (derivations.md §4.3)" in text
    assert "exactly 2 times the right values" in text and "cell " not in text
    copied = (graded["out"] / "feedback" / "copied_helper_a.md").read_text(encoding="utf-8")
    assert "copied_helper_b" not in copied  # the evidence is the instructor's
    assert "reviews this answer" in copied


@needs_bwrap
def test_similarity_report_lists_the_copied_pair_only(graded):
    with open(graded["out"] / "similarity.csv", newline="", encoding="utf-8") as f:
        pairs = list(csv.DictReader(f))
    assert [(p["a"], p["b"]) for p in pairs] == [("copied_helper_a", "copied_helper_b")]


@needs_bwrap
def test_resume_grades_only_what_is_missing_and_overwrite_replaces(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "grades"
    write_submissions(folder, ["all_correct", "kl_missing_half"])
    command = [str(folder), "--out", str(out), "--seed", "3", "-j", "2", "--sets", "1"]
    assert grade.main(command) == 0
    first = (out / "lms.csv").read_text(encoding="utf-8")
    (out / "results" / "kl_missing_half.json").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "numpyvae.course.grade", *command, "--resume"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "1 submissions to grade (1 kept)" in done.stdout
    assert (out / "lms.csv").read_text(encoding="utf-8") == first
    assert grade.main(command + ["--resume", "--seed", "4"]) == 2  # not the same grading
    assert grade.main(command + ["--overwrite"]) == 0


@needs_bwrap
def test_ctrl_c_keeps_what_is_graded_and_resume_grades_the_rest(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "grades"
    write_submissions(folder, ["all_correct", "hangs_ignoring_the_alarm", "kl_missing_half"])
    command = [sys.executable, "-m", "numpyvae.course.grade", str(folder), "--out", str(out)]
    command += ["--seed", "3", "-j", "1", "--sets", "1"]
    process = subprocess.Popen(
        command + ["--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = out / "results" / "all_correct.json"
    deadline = time.monotonic() + 60
    while not first.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the hanging one is running now
    start = time.monotonic()
    process.send_signal(2)  # Ctrl-C
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - start < 10  # the hanging runner was stopped, not waited for
    assert "interrupted; 1 graded, --resume grades the rest" in stdout
    assert sorted(p.name for p in (out / "results").iterdir()) == ["all_correct.json"]
    assert (out / "lms.csv").read_text(encoding="utf-8").count("\n") == 2  # header + 1
    done = subprocess.run(
        command + ["--timeout", "4", "--resume"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "2 submissions to grade (1 kept)" in done.stdout
    assert (out / "lms.csv").read_text(encoding="utf-8").count("\n") == 4


@needs_bwrap
def test_no_runner_outlives_a_judge_killed_with_sigkill(tmp_path):
    """bwrap --die-with-parent: the sandbox goes down with the judge, even after kill -9."""
    folder, out = tmp_path / "subs", tmp_path / "grades"
    write_submissions(folder, ["hangs_ignoring_the_alarm"])
    process = subprocess.Popen(
        [sys.executable, "-m", "numpyvae.course.grade", str(folder), "--out", str(out)]
        + ["--timeout", "300", "--sets", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker_processes(), "the runner never started"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while marker_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker_processes() == []


@needs_bwrap
def test_every_assignment_is_graded_from_the_registry(tmp_path):
    """The solutions of every assignment, handed in as one folder, score full marks; the
    notebooks as released score 0; a copy of the solutions is in review for it."""
    folder = tmp_path / "subs"
    for student, source in (("teacher", ROOT / "notebooks" / "solutions"), ("blank", None)):
        (folder / student).mkdir(parents=True)
        for stem in ASSIGNMENTS:
            path = (
                source / f"{stem.replace('exercises', 'solutions')}.ipynb"
                if source
                else (ROOT / "notebooks" / f"{stem}.ipynb")
            )
            shutil.copy(path, folder / student / f"{stem}.ipynb")
    out = tmp_path / "grades"
    assert grade.main([str(folder), "--out", str(out), "-j", "2", "--seed", "2"]) == 0
    with open(out / "lms.csv", newline="", encoding="utf-8") as f:
        wide = {row["student"]: row for row in csv.DictReader(f)}
    assert wide["teacher"]["total"] == wide["teacher"]["max"] == str(len(EXERCISES))
    assert wide["teacher"]["review"].startswith("shares code with the solutions (score 1.00")
    assert wide["blank"]["total"] == "0" and wide["blank"]["review"] == ""


@needs_bwrap
def test_the_sandbox_of_an_instructor_without_root_grades_too(class_folder, tmp_path, monkeypatch):
    """Not root: bwrap makes a user namespace, and the runner keeps the instructor's user."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    argv, _ = sandbox.command(tmp_path, as_root=False)
    assert "--unshare-user" in argv and "--cap-add" not in argv
    out = tmp_path / "grades"
    assert grade.main([str(class_folder), "--out", str(out), "--sets", "1"]) == 0
    assert ",5,5," in (out / "lms.csv").read_text(encoding="utf-8")


@needs_bwrap
def test_a_sandbox_that_cannot_start_is_refused_before_any_work(
    class_folder, tmp_path, capsys, monkeypatch
):
    broken = ["bwrap", "--ro-bind", str(tmp_path / "missing"), "/x", "true"]
    monkeypatch.setattr(sandbox, "command", lambda job, as_root: (broken, []))
    assert grade.main([str(class_folder), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a runner does not start here with bubblewrap" in err, err
    assert "Can't find source path" in err and not (tmp_path / "g").exists()


def test_a_file_named_like_another_students_download_does_not_join_theirs(tmp_path):
    (tmp_path / "doe, jane_12345_1_06.ipynb").write_text("{}")
    (tmp_path / "doe, jane_12345_2_12.ipynb").write_text("{}")  # the same student, twice
    (tmp_path / "mallory_12345_3_06.ipynb").write_text("{}")  # someone else, with her id
    found, _, duplicates = submissions.find_submissions(tmp_path)
    assert [(s.name, len(s.notebooks)) for s in found] == [("doe, jane", 2)]
    assert duplicates == [
        "two students share the name or id '12345': doe, jane_12345_1_06.ipynb and "
        "mallory_12345_3_06.ipynb"
    ]


PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for name, call in [
    ("unshare", lambda: libc.unshare(0x10000000)),  # CLONE_NEWUSER
    ("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    ("ptrace", lambda: libc.ptrace(16, 1, None, None)),  # PTRACE_ATTACH to PID 1
    ("setuid", lambda: libc.setuid(0)),
]:
    print("PROBE", name, call(), ctypes.get_errno(), file=sys.stderr)
print("PROBE uid", os.getuid(), file=sys.stderr)
"""


@needs_bwrap
@pytest.mark.skipif(seccomp.program() is None, reason="the seccomp filter is for x86-64 only")
def test_the_runner_cannot_make_namespaces_mount_or_trace(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "cells-0.json").write_text(json.dumps([PROBE]))
    request = {"notebooks": [{"name": "probe", "cells": "cells-0.json"}], "exercises": []}
    request |= {"drop_to": 65534 if os.geteuid() == 0 else None, "sys_path": [sandbox.SITE]}
    request |= {"max_elements": 10, "cell_timeout": 10}
    (job / "request.json").write_text(json.dumps(request))
    os.chmod(tmp_path, 0o755)
    for path in [job, *job.iterdir()]:
        os.chmod(path, 0o755)
    argv, _ = sandbox.command(job, os.geteuid() == 0)
    outcome = sandbox.run(argv, sandbox.Limits(wall=30), 64, seccomp.program())
    probes = dict(
        (line.split()[1], line.split()[2:]) for line in outcome.log.splitlines() if "PROBE" in line
    )
    assert outcome.returncode == 0, outcome.log
    for name in ("unshare", "mount", "ptrace", "setuid"):
        assert probes[name] == ["-1", "1"], (name, probes)  # refused with EPERM
    assert probes["uid"] != ["0"]


# ------------------------------------------------------------------ bad instructor input


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "subs"
    write_submissions(folder, ["all_correct"])
    return folder


@pytest.mark.parametrize(
    "args, words",
    [
        (["--timeout", "-1"], "--timeout must be seconds, above 0, got -1.0"),
        (["--seed", "-5"], "--seed must be an integer in [0, 2**32), got -5"),
        (["-j", "0"], "-j/--jobs must be an integer from 1 to 256, got 0"),
        (["--sets", "0"], "--sets must be an integer from 1 to 20, got 0"),
        (["--cell-timeout", "0"], "--cell-timeout must be seconds, above 0, got 0.0"),
        (["--similarity", "2"], "--similarity must be a number in (0, 1], got 2.0"),
        (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
        (["--assignment", "99_x"], "--assignment must be one of 06_gradient_check_exercises"),
        (["--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    ],
)
def test_bad_arguments_are_refused_in_one_line_before_any_work(
    class_folder, tmp_path, capsys, args, words
):
    out = tmp_path / "grades"
    assert grade.main([str(class_folder), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not out.exists()


def test_bad_paths_are_refused_in_one_line_and_nothing_is_overwritten(
    class_folder, tmp_path, capsys
):
    notebook = class_folder / "all_correct.ipynb"
    kept = notebook.read_bytes()
    book = tmp_path / "old" / "gradebook.csv"
    book.parent.mkdir()
    book.write_text("precious", encoding="utf-8")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([str(class_folder), "--out", str(notebook)], "--out must be outside SUBMISSIONS"),
        ([str(class_folder), "--out", str(class_folder)], "--out must be outside SUBMISSIONS"),
        ([str(class_folder), "--out", str(a_file)], "--out must be a folder"),
        ([str(class_folder), "--out", str(a_file / "x")], "is a file"),
        ([str(class_folder), "--out", str(book.parent)], "already holds gradebook.csv"),
        ([str(tmp_path / "missing"), "--out", str(tmp_path / "g")], "(missing)"),
        ([str(empty), "--out", str(tmp_path / "g")], "holds no notebook"),
        ([str(class_folder), "--out", str(tmp_path / "g"), "--resume"], "holds no run.json"),
    ]
    for argv, words in cases:
        assert grade.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, (argv, err)
    assert notebook.read_bytes() == kept
    assert book.read_text(encoding="utf-8") == "precious"
    assert not (tmp_path / "g").exists()


def test_a_student_handed_in_twice_is_refused_by_name(class_folder, tmp_path, capsys):
    (class_folder / "all_correct").mkdir()
    shutil.copy(class_folder / "all_correct.ipynb", class_folder / "all_correct" / "nb.ipynb")
    assert grade.main([str(class_folder), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "student 'all_correct' handed in twice: all_correct/ and all_correct.ipynb" in err


def test_grading_refuses_without_bubblewrap_unless_told(
    class_folder, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(grade, "bwrap", lambda: None)
    assert grade.main([str(class_folder), "--out", str(tmp_path / "g")]) == 2
    assert "pass --no-sandbox to grade unprotected" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
    assert grade.main([str(class_folder), "--out", str(tmp_path / "g"), "--no-sandbox"]) == 0
    out = capsys.readouterr().out
    assert "they can read and write your files" in out
    assert "all_correct: 5.00 of 5" in out


# ------------------------------------------------------------------ the pieces


def _frame(header: dict, arrays=()) -> bytes:
    blobs = []
    for a in arrays:
        import io

        buffer = io.BytesIO()
        np.save(buffer, a, allow_pickle=True)
        blobs.append(buffer.getvalue())
    if blobs:
        header = {**header, "arrays": [len(b) for b in blobs]}
    return json.dumps(header).encode() + b"\n" + b"".join(blobs)


def test_reply_keeps_only_what_was_asked_for_and_stops_at_what_it_cannot_read():
    expected = {"kl_backward": (2, 2)}
    good = _frame({"exercise": "kl_backward", "set": 0}, [np.ones((2, 3)), np.zeros((2, 3))])
    data = (
        good
        + _frame({"exercise": "kl_backward", "set": 0}, [np.full((2, 3), 9.0)])  # twice: ignored
        + _frame({"exercise": "points", "set": 0, "error": "500"})  # unknown: ignored
        + _frame({"exercise": "kl_backward", "set": 7, "error": "x"})  # no such set
        + _frame({"exercise": "kl_backward", "set": 1}, [np.array([object()], dtype=object)])
        + good
    )
    replies, problem = channel.parse_reply(data, expected)
    assert list(replies) == [("kl_backward", 0)]
    assert replies[("kl_backward", 0)][0].shape == (2, 3)
    assert "dtype object" in problem
    huge = b'{"exercise": "kl_backward", "set": 1, "arrays": [128]}\n' + good[-128:]
    assert channel.parse_reply(huge, expected)[1] is not None
    replies, problem = channel.parse_reply(b"x" * 10_000, expected)
    assert replies == {} and "not a line of JSON" in problem


def test_only_the_real_checks_count_as_redefined():
    names = list(ALL)
    assert redefined_checks("def check_shapes(x):\n    pass", names) == []
    assert redefined_checks("check_result = check_dense_backward()", names) == []
    assert redefined_checks("def check_kl_backward(f=None):\n    pass", names) == [
        "binds its own check_kl_backward"
    ]
    assert redefined_checks("from math import floor as check", names) == ["binds its own check"]


def test_finite_differences_are_evidence_but_a_small_constant_elsewhere_is_not():
    fd = "def f(loss, x, h=1e-5):\n    y = 1 / (2 * h)"
    assert "small step (1e-05)" in finite_differences_in(fd)
    assert "np.gradient" in finite_differences_in("g = np.gradient(y, x)")
    assert finite_differences_in("y = x / (np.sum(x) + 1e-8)") is None


def test_download_names_are_parsed_and_csv_formulas_escaped():
    assert submissions.parse_name("doe, jane_12345_678901_06_x") == ("doe, jane", "12345")
    assert submissions.parse_name("doejane_LATE_12345_678901_06_x") == ("doejane", "12345")
    assert submissions.parse_name(MOODLE) == ("Jane Roe", "4242")
    assert submissions.parse_name("alice") == ("alice", "")
    assert [gradebook.escape(v) for v in ("=1+1", "+1", "-x", "@a", "ok", 3)] == [
        "'=1+1",
        "'+1",
        "'-x",
        "'@a",
        "ok",
        "3",
    ]


def test_strict_turns_review_into_zero(tmp_path):
    result = SubmissionResult.from_json(
        {
            "key": "s",
            "name": "s",
            "student_id": "",
            "entries": ["s.ipynb"],
            "digest": "",
            "ending": "",
            "seconds": 1,
            "grades": [
                {"exercise": n, "points": 1.0, "passed_sets": 3, "sets": 3, "feedback": "PASS"}
                | {"review": "x" if n == "kl_backward" else ""}
                for n in ALL
            ],
        }
    )
    exercises = [EXERCISES[n] for n in ALL]
    assert gradebook.write_all(tmp_path, [result], exercises, [], strict=False) == {"s": 5.0}
    assert gradebook.write_all(tmp_path, [result], exercises, [], strict=True) == {"s": 4.0}


def test_similarity_finds_copies_of_classmates_and_of_the_library():
    library = (ROOT / "numpyvae" / "gradcheck.py").read_text(encoding="utf-8")
    pasted = library.split("def numerical_gradient", 1)[1][:900]
    code = {
        "ann": CORRECT["kl_backward"],
        "ben": CORRECT["kl_backward"],
        "cat": "def numerical_gradient" + pasted,
        "dan": CORRECT["dense_backward"],
    }
    pairs = similarity.compare(code, {"numpyvae": library}, handed_out="", threshold=0.8)
    assert [(p.a, p.b) for p in pairs] == [("cat", "numpyvae")]
    renamed = pasted.replace("grad", "g2").replace("f_plus", "up")
    assert similarity.compare({"cat": "def n(" + renamed}, {"lib": library}, "", 0.8)


@needs_bwrap
@pytest.mark.parametrize("stem", ASSIGNMENTS)
def test_each_assignments_fixture_submissions_get_their_expected_scores(stem, tmp_path):
    """Every fixture of tests/fixtures/assignments.py (all right, blank, each typical mistake),
    handed in as a class and graded through the sandbox, gets the points it deserves on every
    exercise: the grader and the notebook's check agree on each assignment."""
    import assignments as assignment_fixtures

    folder = tmp_path / "subs"
    assignment_fixtures.write_submissions(folder, stem)
    expected = {name: scores for name, (_, scores) in assignment_fixtures.fixtures(stem).items()}
    out = tmp_path / "grades"
    assert grade.main([str(folder), "--out", str(out), "-j", "2", "--seed", "11"]) == 0
    with open(out / "lms.csv", newline="", encoding="utf-8") as f:
        wide = {row["student"]: row for row in csv.DictReader(f)}
    assert set(wide) == set(expected)
    for name, scores in expected.items():
        got = {exercise: float(wide[name][exercise]) for exercise in scores}
        assert got == {exercise: points for exercise, (points, _) in scores.items()}, name
        assert float(wide[name]["total"]) == sum(points for points, _ in scores.values()), name
