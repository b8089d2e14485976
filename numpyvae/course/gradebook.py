"""What grading writes, all in one output folder, each file replaced atomically:

    results/KEY.json     one per submission, written the moment it is graded (--resume reads them)
    gradebook.csv        one row per student and exercise: points, feedback, review evidence
    lms.csv              one row per student: id, name, one column per exercise, total, maximum
    feedback/KEY.md      what each student reads after the deadline
    similarity.csv       the pairs that share code (numpyvae.course.similarity)
    run.json             the seed and settings, so that --resume grades the rest the same way

A cell that begins with =, +, -, @, a tab or a carriage return is written behind a ' so that a
spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from numpyvae.atomic import atomic_write
from numpyvae.course.judge import SubmissionResult
from numpyvae.course.similarity import Pair
from numpyvae.exercises import Exercise

LONG = ("student", "id", "exercise", "notebook", "points", "max_points", "passed_sets", "sets")
LONG += ("feedback", "review")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` (its folder made if needed) complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def escape(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text (formula characters escaped)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: Sequence[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([escape(h) for h in header])
    writer.writerows([[escape(v) for v in row] for row in rows])
    return buffer.getvalue()


def save_result(folder: Path, result: SubmissionResult) -> None:
    """Save one submission's result as results/KEY.json."""
    write_atomic(folder / "results" / f"{result.key}.json", json.dumps(result.to_json(), indent=1))


def load_results(folder: Path) -> tuple[dict[str, SubmissionResult], list[str]]:
    """({key: saved result}, lines about files that are not readable results)."""
    results, bad = {}, []
    for path in sorted((folder / "results").glob("*.json")):
        try:
            result = SubmissionResult.from_json(json.loads(path.read_text(encoding="utf-8")))
            results[result.key] = result
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            bad.append(f"{path.name} is not a readable result ({exc}); it is graded again")
    return results, bad


def points(grade, review: str, strict: bool) -> float:
    """The points an exercise scores: its share of passed sets, 0 under --strict with review."""
    return 0.0 if (strict and review) else grade.points


def write_all(
    folder: Path,
    results: Sequence[SubmissionResult],
    exercises: Sequence[Exercise],
    pairs: Sequence[Pair],
    strict: bool,
) -> dict[str, float]:
    """Write gradebook.csv, lms.csv, similarity.csv and the feedback files; {key: total}."""
    similar: dict[str, list[str]] = {}
    for pair in pairs:
        for me, other in ((pair.a, pair.b), (pair.b, pair.a)):
            similar.setdefault(me, []).append(
                f"shares code with {other} (score {pair.score:.2f}, {pair.shared} fingerprints)"
            )
    long_rows, wide_rows, totals = [], [], {}
    names = [e.name for e in exercises]
    for result in sorted(results, key=lambda r: r.key):
        by_name = {g.exercise: g for g in result.grades}
        wide, total, flagged = [], 0.0, []
        for exercise in exercises:
            grade = by_name.get(exercise.name)
            if grade is None:
                wide.append("")
                continue
            review = " | ".join(filter(None, [grade.review, *similar.get(result.key, [])]))
            earned = points(grade, review, strict)
            total += earned
            wide.append(_number(earned))
            flagged += [(exercise.name, atom) for atom in review.split(" | ") if atom]
            long_rows.append(
                [result.name, result.student_id, exercise.name, exercise.notebook]
                + [_number(earned), 1, grade.passed_sets, grade.sets, grade.feedback, review]
            )
        totals[result.key] = total
        wide_rows.append(
            [result.student_id, result.name, *wide, _number(total), len(names)]
            + [_summary(flagged, names)]
        )
        write_atomic(
            folder / "feedback" / f"{result.key}.md",
            feedback_text(result, exercises, strict, similar.get(result.key, [])),
        )
    write_atomic(folder / "gradebook.csv", _csv(LONG, long_rows))
    wide_header = ["id", "student", *names, "total", "max", "review"]
    write_atomic(folder / "lms.csv", _csv(wide_header, wide_rows))
    write_atomic(
        folder / "similarity.csv",
        _csv(["a", "b", "score", "shared"], [[p.a, p.b, p.score, p.shared] for p in pairs]),
    )
    return totals


def _summary(flagged: list[tuple[str, str]], names: list[str]) -> str:
    """Each piece of evidence once, with the exercises it concerns (unless it is all of them)."""
    by_evidence: dict[str, list[str]] = {}
    for exercise, evidence in flagged:
        by_evidence.setdefault(evidence, []).append(exercise)
    return "; ".join(
        evidence if len(exercises) == len(names) else f"{', '.join(exercises)}: {evidence}"
        for evidence, exercises in by_evidence.items()
    )


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def feedback_text(
    result: SubmissionResult,
    exercises: Sequence[Exercise],
    strict: bool,
    similar: Sequence[str] = (),
) -> str:
    """The Markdown a student reads: each exercise's verdict, worst entry and named mistake."""
    by_name: Mapping[str, object] = {g.exercise: g for g in result.grades}
    lines = [f"# Feedback for {result.name}", ""]
    total = 0.0
    for exercise in exercises:
        grade = by_name.get(exercise.name)
        if grade is None:
            continue
        review = " | ".join(filter(None, [grade.review, *similar]))
        earned = points(grade, review, strict)
        total += earned
        lines += [
            f"## {exercise.name}: {exercise.title} (derivations.md {exercise.section})",
            "",
            f"Points: {_number(earned)} of 1 (passed {grade.passed_sets} of {grade.sets} "
            "hidden input sets, of sizes your notebook did not use).",
            "",
            grade.feedback.replace(" | ", "\n\n"),
            "",
        ]
        if review:  # the evidence (a classmate's name, say) is the instructor's, not shown
            lines += ["Your instructor reviews this answer before the grade is final.", ""]
    lines.insert(2, f"Total: {_number(total)} of {len(exercises)}.\n")
    return "\n".join(lines)
