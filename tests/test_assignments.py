"""The four assignments' exercises (numpyvae.exercises.EXERCISES): each check passes the
solution on hidden inputs, fails on each typical mistake named for it and names that mistake,
and its judge decides from arrays alone, whatever it is handed.

The solutions and the students' wrong answers are the fixture submissions of
tests/fixtures/assignments.py, built from the solution and exercise notebooks.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from numpyvae.exercises import ASSIGNMENTS, CHECKS, EXERCISES, ExerciseResult, check

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from assignments import (  # noqa: E402
    MISTAKES,
    NOT_IMPLEMENTED,
    exercise_notebook,
    fixtures,
    right_answers,
    solutions_notebook,
    wrong_answer,
)

NAMES = list(EXERCISES)


def defined(source: str) -> dict:
    """What an answer cell defines, run with what the notebooks' setup cells import."""
    from numpyvae.layers import sigmoid

    namespace = {"np": np, "sigmoid": sigmoid}
    namespace["wavy"] = lambda x, A, c: float(np.sum(c * np.tanh(A @ x)))  # notebook 12's
    exec(compile(source, "<answer>", "exec"), namespace)
    return namespace


SOLVED = {
    name: defined(source)[name]
    for stem in ASSIGNMENTS
    for name, source in right_answers(stem).items()
}


# ------------------------------------------------------------------ the registry's contract


def test_at_least_fifteen_exercises_in_at_least_three_assignments_in_reading_order():
    assert len(EXERCISES) >= 15 and len(ASSIGNMENTS) >= 3
    numbers = [int(stem[:2]) for stem in ASSIGNMENTS]
    assert numbers == sorted(numbers)
    # the registry's order is the notebooks' order, exercise by exercise
    in_notebooks = [name for stem in ASSIGNMENTS for name in right_answers(stem)]
    assert in_notebooks == NAMES
    # the five of the first release keep their named checks
    assert set(CHECKS) < set(EXERCISES)


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_is_tied_to_its_notebook_section_and_lecture(name):
    exercise = EXERCISES[name]
    derivations = (ROOT / "derivations.md").read_text(encoding="utf-8")
    number = exercise.section.removeprefix("§")
    assert re.search(rf"^### {re.escape(number)} ", derivations, flags=re.MULTILINE), number
    assert re.fullmatch(r"lecture 00[0-4]", exercise.lecture)
    assert exercise_notebook(exercise.notebook).exists()
    assert solutions_notebook(exercise.notebook).exists()
    # the notebook's heading of the exercise cites its section and lecture, and it is checked
    text = exercise_notebook(exercise.notebook).read_text(encoding="utf-8")
    headings = re.findall(r"## Exercise \d+: [^\n]*", text)
    heading = headings[right_answers_order(exercise.notebook).index(name)]
    assert exercise.section in heading and f"; {exercise.lecture})" in heading, heading
    assert f'check(\\"{name}\\")' in text or f"check_{name}()" in text


def right_answers_order(stem: str) -> list[str]:
    return list(right_answers(stem))


def test_the_table_of_exercises_is_the_registry():
    """derivations.md §6.6 lists every exercise with its section, lecture and mistakes."""
    text = (ROOT / "derivations.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d\d) \| `(\w+)` \| [^|]+ \| (§[\d.]+) \| (lecture \d+) \| (.*) \|$",
                      text, flags=re.MULTILINE)  # fmt: skip
    expected = [
        (e.notebook[:2], e.name, e.section, e.lecture, "; ".join(m.key for m in e.mistakes))
        for e in EXERCISES.values()
    ]
    assert rows == expected


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_float64_arrays_in_argument_order_and_hidden_sizes_differ(name):
    exercise = EXERCISES[name]
    assert len(exercise.hidden_sizes) >= 3
    for sizes in exercise.hidden_sizes:
        assert set(sizes) == set(exercise.sizes) and dict(sizes) != dict(exercise.sizes)
        inputs = exercise.make_inputs(sizes, np.random.default_rng(1))
        assert list(inputs) == list(exercise.arguments)
        assert all(type(a) is np.ndarray and a.dtype == np.float64 for a in inputs.values())
    assert len(set(map(lambda s: tuple(sorted(s.items())), exercise.hidden_sizes))) == len(
        exercise.hidden_sizes
    )
    with pytest.raises(ValueError, match="unknown sizes"):
        exercise.make_inputs({"nope": 3}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="must be a positive integer"):
        exercise.make_inputs({next(iter(exercise.sizes)): 0}, np.random.default_rng(0))


# ------------------------------------------------------------------ right answers pass


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes_on_100_hidden_seeds(name):
    exercise = EXERCISES[name]
    for seed in range(100):
        sizes = exercise.hidden_sizes[seed % len(exercise.hidden_sizes)]
        result = check(name, SOLVED[name], sizes=sizes, seed=1000 + seed, verbose=False)
        assert result.passed, (seed, sizes, result.message)
        assert result.mistake is None and result.worst.error < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_the_notebooks_check_passes_the_solution(name, capsys):
    result = check(name, SOLVED[name])
    assert result.passed and capsys.readouterr().out.startswith(f"PASS ({name})")


# ------------------------------------------------------------------ typical mistakes named

MISTAKE_CASES = [(name, m.key) for name in NAMES for m in EXERCISES[name].mistakes]


@pytest.mark.parametrize("name, key", MISTAKE_CASES, ids=[f"{n}:{k}" for n, k in MISTAKE_CASES])
def test_each_typical_mistake_fails_and_is_named_on_every_size(name, key):
    """The judge's own list: each wrong answer, on the notebook's and every hidden size."""
    exercise = EXERCISES[name]
    mistake = next(m for m in exercise.mistakes if m.key == key)
    for seed, sizes in enumerate([exercise.sizes, *exercise.hidden_sizes]):
        result = check(name, mistake.answer, sizes=sizes, seed=seed, verbose=False)
        assert not result.passed, (sizes, result.message)
        assert result.mistake == key, (sizes, result.message)
        assert "hint: " in result.message and "{" + "M}" not in result.message


FIXTURE_CASES = [(name, key) for name in MISTAKES for key in MISTAKES[name]]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow fixture divides by zero
@pytest.mark.parametrize("name, key", FIXTURE_CASES, ids=[f"{n}:{k}" for n, k in FIXTURE_CASES])
def test_a_students_wrong_answer_is_named(name, key):
    """The fixtures' wrong answers, written as student code apart from the judge's list."""
    source = wrong_answer(EXERCISES[name].notebook, name, key)
    answer = defined(source)[name]
    exercise = EXERCISES[name]
    for seed, sizes in enumerate(exercise.hidden_sizes):
        result = check(name, answer, sizes=sizes, seed=seed, verbose=False)
        assert not result.passed and result.mistake == key, (sizes, result.message)


def test_every_listed_mistake_has_a_fixture_or_needs_whole_new_code():
    listed = {(name, m.key) for name in NAMES for m in EXERCISES[name].mistakes}
    written = {(name, key) for name in MISTAKES for key in MISTAKES[name]}
    assert written - listed == {("iwae_bound", "not finite")}  # the overflow, named by the judge
    # the two mistakes without a fixture replace the whole answer, not a term of it
    assert listed - written == {
        ("centred_difference", "exact gradient"),
        ("iwae_bound", "softmax over the batch"),
    }


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("stem", ASSIGNMENTS)
def test_fixture_submissions_say_what_each_exercise_deserves(stem):
    cases = fixtures(stem)
    assert {"right", "blank"} <= set(cases)
    for fixture, (answers, expected) in cases.items():
        for name, (points, mistake) in expected.items():
            namespace = defined(answers[name])
            result = check(name, namespace[name], sizes=EXERCISES[name].hidden_sizes[0], seed=7,
                           verbose=False)  # fmt: skip
            assert int(result.passed) == points, (fixture, name, result.message)
            if mistake == NOT_IMPLEMENTED:
                assert "not implemented yet" in result.message
            else:
                assert result.mistake == mistake, (fixture, name, result.message)


# ------------------------------------------------------------------ the wording of the hints


def _hints(name: str) -> str:
    return " ".join(m.hint for m in EXERCISES[name].mistakes)


def test_hints_are_worded_for_their_exercise():
    """The wording bugs of the first release: no likelihood where there is none, the right
    derivative cited, no 1/M where 1/M cannot be made."""
    for name in ("relu_backward", "kl_backward", "dense_backward", "reparam_backward"):
        assert "log-likelihood" not in _hints(name), name
    assert "log-likelihood" in _hints("bernoulli_backward")
    kl_twice = next(m.hint for m in EXERCISES["kl_backward"].mistakes if m.key == "twice")
    assert "sigma / d" not in kl_twice and "(sigma^2 - 1)/2" in kl_twice
    for name, exercise in EXERCISES.items():
        if "M" not in exercise.factors:
            assert "1/M" not in _hints(name), name
    # An unexplained constant factor is named without a guessed cause.
    result = check("relu_backward", lambda dout, x: -2.5 * dout * (x > 0), verbose=False)
    assert "exactly -2.5 times the right values: one constant factor is wrong" in result.message


# ------------------------------------------------------------------ the judge alone

HUGE = np.broadcast_to(np.float64(0.0), (10**6, 10**6))  # 8 TB if it were ever materialised


def hostile_outputs(exercise):
    right = exercise.reference(exercise.make_inputs(None, np.random.default_rng(0)))
    n = len(exercise.outputs)
    first = right[0]
    rest = tuple(right[1:])
    return {
        "object array": (np.array([object()] * first.size).reshape(first.shape), *rest),
        "strings": (np.full(first.shape, "x"), *rest),
        "complex": (first.astype(complex), *rest),
        "huge": (HUGE, *rest),
        "nan": (np.full(first.shape, np.nan), *rest),
        "inf": (np.full(first.shape, np.inf), *rest),
        "none": (None, *rest),
        "too many": (*right, first),
        "too few": tuple(right[:-1]) if n > 1 else (),
        "not a tuple": first,
        "nested": ((first,), *rest),
        "a dict": ({"a": 1}, *rest),
        "transposed": (first.T, *rest) if first.ndim == 2 else (first[..., None], *rest),
        "float32": (first.astype(np.float32), *rest),
        "near overflow": (np.full(first.shape, 1e308), *rest),
        "bools": (np.ones(first.shape, dtype=bool), *rest),
    }


@pytest.mark.parametrize("name", NAMES)
def test_the_judge_holds_against_hostile_outputs(name):
    exercise = EXERCISES[name]
    inputs = exercise.make_inputs(exercise.hidden_sizes[0], np.random.default_rng(3))
    before = {k: v.copy() for k, v in inputs.items()}
    for what, outputs in hostile_outputs(exercise).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # not even a RuntimeWarning reaches the student
            result = exercise.judge(inputs, outputs)
        assert isinstance(result, ExerciseResult), what
        if what != "float32":
            assert not result.passed, (what, result.message)
        assert result.message.startswith(("FAIL (", "PASS (")), (what, result.message)
        assert "\n" not in result.message.split("\n")[0]
    for key in before:
        np.testing.assert_array_equal(inputs[key], before[key])  # the judge changes no input


@pytest.mark.parametrize("name", NAMES)
def test_the_judge_decides_from_arrays_alone(name):
    """The grader's path: make_inputs in one place, the answer's arrays, judge in another."""
    exercise = EXERCISES[name]
    inputs = exercise.make_inputs(exercise.hidden_sizes[1], np.random.default_rng(5))
    returned = SOLVED[name](*(inputs[a].copy() for a in exercise.arguments))
    returned = returned if len(exercise.outputs) > 1 else (returned,)
    arrays = tuple(np.array(r, dtype=np.float64) for r in returned)
    verdict = exercise.judge(inputs, arrays)
    assert verdict.passed and verdict == exercise.judge(inputs, arrays)  # pure
    wrong = (arrays[0] + 1.0, *arrays[1:])
    assert not exercise.judge(inputs, wrong).passed


# ------------------------------------------------------------------ the notebooks, run

NEW = [stem for stem in ASSIGNMENTS if not stem.startswith("06")]  # 06: tests/test_notebooks.py


def _run(path, monkeypatch, tmp_path, nb=None):
    pytest.importorskip("nbclient")
    from test_notebooks import _outputs_text, execute

    nb, _ = execute(path, monkeypatch, tmp_path, nb=nb)
    outputs = {c.source: _outputs_text(c) for c in nb.cells if c.cell_type == "code"}
    return nb, outputs


@pytest.mark.notebook
@pytest.mark.parametrize("stem", NEW)
def test_the_exercise_notebook_as_shipped_says_what_is_missing(stem, monkeypatch, tmp_path):
    names = list(right_answers(stem))
    _, outputs = _run(exercise_notebook(stem), monkeypatch, tmp_path)
    for name in names:
        said = outputs[f'result = check("{name}")']
        assert said.startswith(f"FAIL ({name}): not implemented yet"), said
    assert f"0 of {len(names)} exercises pass" in "".join(outputs.values())


@pytest.mark.notebook
@pytest.mark.parametrize("stem", NEW)
def test_run_all_with_one_syntax_error_and_one_mistake(stem, monkeypatch, tmp_path):
    """The solutions pasted in, the first answer broken and the second wrong the typical way:
    "Run All" reaches the end, the two say what is wrong, the others pass."""
    nbformat = pytest.importorskip("nbformat")
    names = list(right_answers(stem))
    broken, wrong = names[0], names[1]
    key = next(iter(MISTAKES[wrong]))
    nb = nbformat.read(exercise_notebook(stem), as_version=4)
    for cell in nb.cells:
        if "answer" in cell.metadata.get("tags", []):
            name = re.search(r"^def (\w+)\(", cell.source, flags=re.MULTILINE)[1]
            cell.source = right_answers(stem)[name]
            if name == broken:
                cell.source = cell.source.replace("):\n", ":\n", 1)  # def f(a, b:
            elif name == wrong:
                cell.source = wrong_answer(stem, wrong, key)
    _, outputs = _run(exercise_notebook(stem), monkeypatch, tmp_path, nb=nb)
    said = "".join(outputs.values())
    assert f"FAIL: the cell defining {broken} has a SyntaxError" in said
    assert outputs[f'result = check("{broken}")'].startswith(f"FAIL ({broken}): {broken} is not")
    assert outputs[f'result = check("{wrong}")'].startswith(f"FAIL ({wrong})")
    assert "hint: " in outputs[f'result = check("{wrong}")']
    for name in names[2:]:
        assert outputs[f'result = check("{name}")'].startswith(f"PASS ({name})")
    assert f"{len(names) - 2} of {len(names)} exercises pass" in said


@pytest.mark.notebook
@pytest.mark.parametrize("stem", NEW)
def test_the_solutions_notebook_passes_every_check(stem, monkeypatch, tmp_path):
    names = list(right_answers(stem))
    _, outputs = _run(solutions_notebook(stem), monkeypatch, tmp_path)
    for name in names:
        assert outputs[f'result = check("{name}")'].startswith(f"PASS ({name})")
    assert f"{len(names)} of {len(names)} exercises pass" in "".join(outputs.values())


def test_the_release_ships_every_assignment_without_a_solution_line(tmp_path):
    import subprocess

    from numpyvae.course.source import read_source

    out = tmp_path / "release"
    done = subprocess.run(
        [sys.executable, "-m", "numpyvae.course.release"]
        + ["--source", str(ROOT / "notebooks" / "src"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for stem in ASSIGNMENTS:
        shipped = (out / f"{stem}.ipynb").read_text(encoding="utf-8")
        assert shipped.count('raise NotImplementedError(\\"') == len(right_answers(stem))
        source = "\n".join(c.text for c in read_source(ROOT / "notebooks" / "src" / f"{stem}.py"))
        solution = source.split("### BEGIN SOLUTION")[1:]
        for block in solution:
            for line in block.split("### END SOLUTION")[0].splitlines():
                code = line.split("#", 1)[0].strip()
                if code:
                    assert json.dumps(code)[1:-1] not in shipped, (stem, code)


def test_summary_checks_every_exercise_of_an_assignment(capsys):
    from numpyvae.exercises import summary

    stem = "13_vae_exercises"
    names = list(right_answers(stem))
    namespace = {"summary": summary, **{name: SOLVED[name] for name in names[1:]}}
    exec(f"results = summary({stem!r})", namespace)  # the first answer is not defined
    printed = capsys.readouterr().out
    assert list(namespace["results"]) == names
    assert f"{names[0]}: FAIL" in printed and f"{names[1]}: PASS" in printed
    assert f"{len(names) - 1} of {len(names)} exercises pass" in printed
    with pytest.raises(ValueError, match="no assignment 'nope'"):
        summary("nope")


def test_an_exact_match_means_copied_finite_differences_only_where_they_are_the_reference():
    """A grader may flag an answer equal to its reference to the last bit only when that
    reference is finite differences: a formula reference is matched exactly by a right answer."""
    for name, exercise in EXERCISES.items():
        inputs = exercise.make_inputs(None, np.random.default_rng(2))
        right = exercise.reference(dict(inputs))
        result = exercise.judge(inputs, tuple(right))
        assert result.passed and result.worst.error == 0.0
        got = SOLVED[name](*(inputs[a].copy() for a in exercise.arguments))
        got = got if len(exercise.outputs) > 1 else (got,)
        if exercise.numerical_reference:
            assert exercise.judge(inputs, tuple(got)).worst.error > 0.0, name


def test_formula_references_agree_with_independent_implementations():
    """The exercises judged by a formula: their references against the library's own code (the
    paper's arrangement of Adam, log-sum-exp, rel_error, numerical_gradient)."""
    from numpyvae.gradcheck import numerical_gradient
    from numpyvae.gradcheck import rel_error as library_rel_error
    from numpyvae.objectives.iwae import log_sum_exp
    from numpyvae.optim import adam_reference

    rng = np.random.default_rng(4)
    for sizes in EXERCISES["adam_step"].hidden_sizes:
        inputs = EXERCISES["adam_step"].make_inputs(sizes, rng)
        new_param, new_m, new_v = EXERCISES["adam_step"].reference(dict(inputs))
        p, m, v = inputs["param"].copy(), inputs["m"].copy(), inputs["v"].copy()
        hyper = [float(inputs[k]) for k in ("lr", "beta1", "beta2", "eps")]
        adam_reference(p, inputs["grad"], m, v, int(inputs["t"]), *hyper)
        np.testing.assert_allclose(new_param, p, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(new_m, m, rtol=1e-13)
        np.testing.assert_allclose(new_v, v, rtol=1e-13)

    for sizes in EXERCISES["iwae_bound"].hidden_sizes:
        inputs = EXERCISES["iwae_bound"].make_inputs(sizes, rng)
        bound, weights = EXERCISES["iwae_bound"].reference(dict(inputs))
        logw = inputs["logw"]
        total = log_sum_exp(logw, axis=1)
        np.testing.assert_allclose(bound, total - np.log(logw.shape[1]), rtol=1e-14)
        np.testing.assert_allclose(weights, np.exp(logw - total[:, None]), rtol=1e-12)

    for sizes in EXERCISES["rel_error"].hidden_sizes:
        inputs = EXERCISES["rel_error"].make_inputs(sizes, rng)
        (error,) = EXERCISES["rel_error"].reference(dict(inputs))
        assert float(error) == library_rel_error(inputs["a"], inputs["b"])

    for sizes in EXERCISES["centred_difference"].hidden_sizes:
        i = EXERCISES["centred_difference"].make_inputs(sizes, rng)
        (grad,) = EXERCISES["centred_difference"].reference(dict(i))
        x, A, c = i["x"].copy(), i["A"], i["c"]

        def wavy(x=x, A=A, c=c):
            return np.sum(c * np.tanh(A @ x))

        expected = numerical_gradient(wavy, x, h=float(i["h"]))
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-14)
