"""The verdict on one exercise, as the notebook prints it and the grader records it."""

from __future__ import annotations

from dataclasses import dataclass

from numpyvae.gradcheck import ArrayCheck


@dataclass(frozen=True)
class ExerciseResult:
    """The verdict on one exercise: `passed`, the message printed, and the worst entry if any.

    `mistake` is the short name of the typical mistake recognised (e.g. "sign", "1/M",
    "transpose"), or None.
    """

    exercise: str
    passed: bool
    message: str
    worst: ArrayCheck | None = None
    mistake: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ExerciseResult({self.exercise!r}, {'PASS' if self.passed else 'FAIL'})"
