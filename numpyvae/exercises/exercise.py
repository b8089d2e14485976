"""One graded exercise: its statement's data, its inputs, its reference and its judge.

An `Exercise` is data plus a check (DESIGN.md, "Exercises"): the student's function name and
its arguments, the sizes the notebook uses and the hidden ones it never does, how to draw the
inputs (`make_inputs`), the right outputs (`reference`: finite differences of the forward
pass, or the formula) and the typical mistakes, each a wrong answer written out with the
sentence that explains it. `judge(inputs, outputs)` decides everything from arrays alone, so
the notebook's live check (numpyvae.exercises.live) and a grader whose runner sends back only
arrays use the same verdict. It never runs the student's code and never raises on what the
student returned: a wrong count, shape or dtype, NaN, an object array or a huge array each get
one FAIL sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from numpyvae.exercises.result import ExerciseResult
from numpyvae.gradcheck import DEFAULT_TOLERANCE, ArrayCheck, compare

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Mistake:
    """A typical mistake: a short `key`, the `hint` a student reads, and the wrong `answer`.

    `answer(*arguments)` returns what a student who makes this mistake returns (the same
    outputs as the exercise); an output equal to it, where it differs from the right one,
    is named by `hint`, in which "{M}" stands for the size M of the exercise's `factors`.
    """

    key: str
    hint: str
    answer: Callable[..., object]


@dataclass(frozen=True)
class Exercise:
    """A graded exercise: a student writes `name(*arguments) -> outputs`.

    `notebook` is the stem of the assignment notebook that asks for it, `title` what it
    computes, `section` and `lecture` where it is derived ("§6.1", "lecture 000"). `sizes`
    are the notebook's, `hidden_sizes` (at least three) the grader's. `draw(sizes, rng)`
    makes the inputs (float64 arrays, 0-d for scalars) and `reference(inputs)` the right
    outputs, a tuple in the order of `outputs`, named `reference_name` in messages (the
    student's being `answer_name`). `mistakes` are the typical wrong answers; `factors` maps
    a size (e.g. "M") to where its value is read ("eps:0", the first axis of eps), so that a
    right answer times 1/M or M is named so when no listed mistake explains it;
    `nonfinite_hint` says why an answer might overflow on these inputs.
    """

    name: str
    notebook: str
    title: str
    section: str
    lecture: str
    arguments: tuple[str, ...]
    outputs: tuple[str, ...]
    sizes: Mapping[str, int]
    hidden_sizes: tuple[Mapping[str, int], ...]
    draw: Callable[[dict[str, int], np.random.Generator], Inputs]
    reference: Callable[[Inputs], tuple[np.ndarray, ...]]
    mistakes: tuple[Mistake, ...] = ()
    reference_name: str = "finite differences"
    answer_name: str = "backward"
    tolerance: float = DEFAULT_TOLERANCE
    nonfinite_hint: str = ""
    factors: Mapping[str, str] = field(default_factory=dict)

    @property
    def numerical_reference(self) -> bool:
        """Whether the reference is finite differences (an answer never equals it exactly)."""
        return self.reference_name.startswith("finite differences")

    # ------------------------------------------------------------------ the inputs

    def full_sizes(self, sizes: Mapping[str, int] | None = None) -> dict[str, int]:
        """The notebook's sizes updated by `sizes`, in the notebook's order; bad names refused."""
        given = dict(sizes or {})
        unknown = set(given) - set(self.sizes)
        if unknown:
            raise ValueError(
                f"unknown sizes {sorted(unknown)}; this check takes {list(self.sizes)}"
            )
        out = {}
        for key, default in self.sizes.items():
            value = given.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"sizes[{key!r}] must be a positive integer, got {value!r}")
            out[key] = int(value)
        return out

    def make_inputs(self, sizes: Mapping[str, int] | None, rng: np.random.Generator) -> Inputs:
        """The arguments, drawn with `rng`: {name: float64 array}, in the order of `arguments`."""
        drawn = self.draw(self.full_sizes(sizes), rng)
        return {name: np.asarray(drawn[name], dtype=np.float64) for name in self.arguments}

    # ------------------------------------------------------------------ the verdict

    def judge(self, inputs: Inputs, outputs: tuple) -> ExerciseResult:
        """The verdict on `outputs` (what the student's function returned) for `inputs`.

        Pure: computes the right outputs itself, compares, and names the typical mistake.
        """
        inputs = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
        right = tuple(np.asarray(r, dtype=np.float64) for r in self.reference(dict(inputs)))
        with np.errstate(all="ignore"):  # an answer's 1e308 is judged, not warned about
            return self._verdict(inputs, outputs, right)

    def _verdict(self, inputs: Inputs, outputs, right: tuple[np.ndarray, ...]) -> ExerciseResult:
        arrays_or_failure = self._as_arrays(outputs, right)
        if isinstance(arrays_or_failure, ExerciseResult):
            return arrays_or_failure
        arrays = arrays_or_failure
        checks = [compare(n, a, r) for n, a, r in zip(self.outputs, arrays, right, strict=True)]
        passed = all(c.error <= self.tolerance for c in checks)
        worst = max(checks, key=lambda c: c.error)
        lines = [
            f"{'PASS' if passed else 'FAIL'} ({self.name}): largest relative error "
            f"{worst.error:.2e} (tolerance {self.tolerance:.0e})"
        ]
        lines += [
            ("  ok    " if c.error <= self.tolerance else "  WRONG ") + self._describe_check(c)
            for c in checks
        ]
        hints = [] if passed else self._recognise(inputs, arrays, right, checks)
        said: dict[str, str] = {}  # one mistake in several arrays is said once, for the first
        for key, hint in hints:
            said.setdefault(key, hint)
        lines += [f"  hint: {hint}" for hint in said.values()]
        return ExerciseResult(self.name, passed, "\n".join(lines), worst, next(iter(said), None))

    def _describe_check(self, c: ArrayCheck) -> str:
        where = f"worst entry {c.name}[{', '.join(map(str, c.index))}]" if c.index else "value"
        return (
            f"{c.name}: relative error {c.error:.2e}; {where}: "
            f"{self.answer_name} gave {c.analytic:.10g}, {self.reference_name} {c.numeric:.10g}"
        )

    def fail(self, why: str, mistake: str | None = None) -> ExerciseResult:
        """A FAIL verdict with one sentence saying why."""
        return ExerciseResult(self.name, False, f"FAIL ({self.name}): {why}", None, mistake)

    def _as_arrays(self, outputs, right) -> tuple[np.ndarray, ...] | ExerciseResult:
        """The returned values as float64 arrays of the right shapes, or the FAIL saying why not."""
        n = len(self.outputs)
        if not isinstance(outputs, (tuple, list)):
            return self.fail(f"expected a tuple of {n} outputs, got {describe(outputs)}")
        if n > 1 and len(outputs) == 1 and outputs[0] is None:
            return self.fail(f"return {n} arrays ({', '.join(self.outputs)}); got None")
        if len(outputs) != n:
            what = ", ".join(self.outputs)
            got = f"{len(outputs)} value{'' if len(outputs) == 1 else 's'}"
            return self.fail(
                f"return {n} arrays ({what}) as a tuple; got {got}"
                if n > 1
                else f"return one array ({what}); got {got}"
            )
        arrays = []
        for name, out, want in zip(self.outputs, outputs, right, strict=True):
            if out is None:
                return self.fail(f"{name} is None: did you forget a `return`?")
            array = _numeric_array(out)
            if array is None:
                return self.fail(f"{name} must be a NumPy array of numbers, got {describe(out)}")
            if array.shape != want.shape:
                return self._wrong_shape(name, array, want)
            array = array.astype(np.float64)
            if not np.all(np.isfinite(array)):
                hint = f" {self.nonfinite_hint}" if self.nonfinite_hint else ""
                return self.fail(f"{name} contains NaN or infinity.{hint}", "not finite")
            arrays.append(array)
        return tuple(arrays)

    def _wrong_shape(self, name: str, array: np.ndarray, want: np.ndarray) -> ExerciseResult:
        variable = name[1:] if name.startswith("d") and name[1:] in self.arguments else None
        why = f"{name} has shape {array.shape}, but "
        why += (
            f"{variable} has shape {want.shape}: a gradient has the shape of the variable it is "
            "taken with respect to."
            if variable
            else f"it must have shape {want.shape}."
        )
        transposed = False
        if array.ndim == 2 and array.T.shape == want.shape and array.dtype.kind in "biuf":
            with np.errstate(all="ignore"):
                transposed = bool(np.allclose(array.T.astype(np.float64), want, rtol=1e-5))
        if transposed:
            why += f" It is the transpose of the right {name}."
        return self.fail(why, "transpose" if transposed else None)

    # ------------------------------------------------------------------ the typical mistakes

    def _recognise(self, inputs, arrays, right, checks) -> list[tuple[str, str]]:
        """(key, sentence) for each wrong output that looks like a typical mistake."""
        found = []
        wrong_answers: list[tuple[Mistake, tuple[np.ndarray, ...]]] = []
        for mistake in self.mistakes:
            copies = [inputs[a].copy() for a in self.arguments]
            got = mistake.answer(*copies)
            got = got if len(self.outputs) > 1 else (got,)
            wrong_answers.append((mistake, tuple(np.asarray(g, dtype=np.float64) for g in got)))

        sizes = self.factor_sizes(inputs)

        def same(a: np.ndarray, b: np.ndarray) -> bool:
            return a.shape == b.shape and compare("", a, b).error <= 1e-6

        # A mistake that explains more of the returned arrays wins: with M = 2, "times M" and
        # "a factor 2" give the same dlogvar, but only one of them also leaves dmu right.
        scored = sorted(
            wrong_answers,
            key=lambda mg: -sum(same(a, g) for a, g in zip(arrays, mg[1], strict=True)),
        )
        for i, (name, array, want, c) in enumerate(
            zip(self.outputs, arrays, right, checks, strict=True)
        ):
            if c.error <= self.tolerance:
                continue
            ratio = _constant_ratio(array, want)
            said = f"your {name} is exactly {ratio:.4g} times the right values" if ratio else ""
            matched = next(
                (m for m, got in scored if same(array, got[i]) and not same(want, got[i])), None
            )
            if matched is not None:
                # "(6.5)" in a hint is an equation of derivations.md: say so to the student
                hint = re.sub(r"\((\d+\.\d+)\)", r"(derivations.md, eq. \1)", matched.hint)
                for size_name, size in sizes.items():
                    hint = hint.replace("{" + size_name + "}", str(size))
                found.append((matched.key, f"{said}: {hint}" if said else hint))
            elif _is_transpose(array, want):
                found.append(("transpose", f"your {name} is the transpose of the right one."))
            elif ratio is not None:
                found.append(_name_factor(said, ratio, sizes))
        return found

    def factor_sizes(self, inputs: Inputs) -> dict[str, int]:
        """The sizes a constant factor is compared with, read from the inputs' shapes."""
        out = {}
        for size_name, where in self.factors.items():
            argument, axis = where.split(":")
            if argument in inputs and inputs[argument].ndim > int(axis):
                out[size_name] = inputs[argument].shape[int(axis)]
        return out


def _numeric_array(value) -> np.ndarray | None:
    """`value` as an array of real numbers (bool, int or float), or None."""
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, (int, float, np.number, list, tuple)) and not isinstance(value, bool):
        try:
            array = np.asarray(value)
        except (TypeError, ValueError, OverflowError):
            return None
    else:
        return None
    return array if array.dtype.kind in "biuf" else None


def _is_transpose(a: np.ndarray, n: np.ndarray) -> bool:
    return (
        a.ndim == 2
        and a.shape == a.T.shape
        and a.shape[0] > 1
        and bool(np.allclose(a.T, n, rtol=1e-5, atol=1e-8))
    )


def _constant_ratio(a: np.ndarray, n: np.ndarray) -> float | None:
    """c if a = c n for one constant c (up to finite-difference noise), else None."""
    scale = float(np.max(np.abs(n), initial=0.0))
    if scale == 0.0:
        return None
    big = np.abs(n) > 1e-3 * scale
    if np.count_nonzero(big) < 2:  # one number is a multiple of any other: nothing to say
        return None
    c = float(np.median(a[big] / n[big]))
    # Finite differences carry ~1e-10 relative noise: 1e-6 separates a constant from a pattern.
    if c == 0.0 or not np.allclose(a, c * n, rtol=1e-6, atol=1e-6 * scale * abs(c)):
        return None
    return c


def _name_factor(said: str, c: float, sizes: Mapping[str, int]) -> tuple[str, str]:
    """A constant factor that no listed mistake explains: name it, claim no cause."""

    def near(value: float) -> bool:
        return abs(c - value) <= 1e-6 * abs(value)

    if near(-1.0):
        return "sign", f"{said}: a sign error."
    for size_name, size in sizes.items():
        if size > 1 and near(1.0 / size):
            return f"1/{size_name}", f"{said}, 1/{size_name} with {size_name} = {size}."
        if size > 1 and near(float(size)):
            return size_name, f"{said}, {size_name} = {size}."
    return "factor", f"{said}: one constant factor is wrong."


def describe(value) -> str:
    """A short description of what a student's function returned, for a FAIL message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__} {value!r:.60}"
