"""The exercise checks of numpyvae.exercises: FAIL clearly on wrong, missing, misshapen or crashing
answers (never raise), and PASS on the answers of the solutions notebook.

The solutions are read from notebooks/solutions/06_gradient_check_solutions.ipynb (cells tagged
"setup" and "answer") and the placeholders from the exercise notebook (the same tags), so these
tests judge exactly what students and CI run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from numpyvae.exercises import (
    CHECKS,
    ExerciseResult,
    bernoulli_nll,
    check_dense_backward,
    kl_forward,
    reparam_forward,
)
from numpyvae.layers import sigmoid

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions" / "06_gradient_check_solutions.ipynb"
EXERCISES = NOTEBOOKS / "06_gradient_check_exercises.ipynb"


def functions_from_notebook(path: Path, tag: str) -> dict:
    """Run the notebook's "setup" cell and its cells tagged `tag`; return what they define."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {}
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and ("setup" in tags or tag in tags):
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    return namespace


SOLVED = functions_from_notebook(SOLUTIONS, "answer")
PLACEHOLDERS = functions_from_notebook(EXERCISES, "answer")


def _sigma(logvar):
    return np.exp(0.5 * logvar)


# For each exercise: a wrong answer (right shapes, wrong numbers) with the array it gets wrong,
# and an answer of the wrong shape. Each mistake is one a student plausibly makes.
WRONG = {
    "dense_backward": (
        lambda dout, x, W, b: (dout @ W.T, x.T @ dout / len(x), dout.sum(axis=0)),  # mean, not sum
        "dW",
    ),
    "relu_backward": (lambda dout, x: dout * (x < 0), "dx"),  # the wrong side of the kink
    "reparam_backward": (
        lambda dz, mu, logvar, eps: (dz.sum(0), (dz * eps).sum(0) * _sigma(logvar)),  # no 1/2
        "dlogvar",
    ),
    "kl_backward": (lambda mu, logvar: (mu, 0.5 * np.exp(logvar)), "dlogvar"),  # forgot the -1
    "bernoulli_backward": (lambda x, logits: x - sigmoid(logits), "dlogits"),  # sign of log p
}
WRONG_SHAPE = {
    "dense_backward": lambda dout, x, W, b: (dout @ W.T, x.T @ dout, dout.sum(axis=1)),
    "relu_backward": lambda dout, x: (dout * (x > 0)).sum(axis=0),
    "reparam_backward": lambda dz, mu, logvar, eps: (dz, dz * eps * _sigma(logvar) / 2),  # no sum
    "kl_backward": lambda mu, logvar: (mu.sum(axis=1), 0.5 * np.expm1(logvar)),
    "bernoulli_backward": lambda x, logits: (sigmoid(logits) - x).T,
}
CRASHING = {
    "dense_backward": lambda dout, x, W, b: (dout @ W, x.T @ dout, dout.sum(axis=0)),
    "relu_backward": lambda dout, x: dout[x > 0].reshape(dout.shape),
    "reparam_backward": lambda dz, mu, logvar, eps: (dz.sum(0), eps @ logvar),
    "kl_backward": lambda mu, logvar: (mu @ mu, logvar),
    "bernoulli_backward": lambda x, logits: logits @ x,
}


def test_every_exercise_has_a_solution_a_placeholder_and_test_cases():
    assert set(CHECKS) == set(WRONG) == set(WRONG_SHAPE) == set(CRASHING)
    for name in CHECKS:
        assert callable(SOLVED[name]) and callable(PLACEHOLDERS[name]), name


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_passes_on_the_solution(name, capsys):
    result = CHECKS[name](SOLVED[name])
    printed = capsys.readouterr().out
    assert isinstance(result, ExerciseResult) and result.passed and bool(result)
    assert printed.startswith(f"PASS ({name})") and "FAIL" not in printed and "WRONG" not in printed
    assert result.worst is not None and result.worst.error < 1e-6


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_wrong_answer_fails_naming_the_worst_entry(name, capsys):
    wrong, bad_array = WRONG[name]
    result = CHECKS[name](wrong)
    printed = capsys.readouterr().out
    assert not result.passed and not bool(result)
    assert printed == result.message + "\n"
    assert result.message.startswith(f"FAIL ({name})")
    assert result.worst.name == bad_array and result.worst.error > 1e-3
    # the worst entry: the array, its index, the student's value and the numerical one
    index = ", ".join(map(str, result.worst.index))
    assert f"WRONG {bad_array}" in result.message
    assert f"worst entry {bad_array}[{index}]" in result.message
    assert f"backward gave {result.worst.analytic:.10g}" in result.message
    assert f"finite differences {result.worst.numeric:.10g}" in result.message


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_missing_answer_fails_clearly(name, capsys):
    result = CHECKS[name](PLACEHOLDERS[name])  # the shipped cell: raise NotImplementedError
    assert not result.passed and result.worst is None
    assert result.message.startswith(f"FAIL ({name}): not implemented yet")
    assert "NotImplementedError" in result.message
    assert capsys.readouterr().out.startswith("FAIL")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_wrong_shape_fails_clearly(name):
    result = CHECKS[name](WRONG_SHAPE[name], verbose=False)
    assert not result.passed
    assert result.message.startswith(f"FAIL ({name})") and "shape" in result.message


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_crash_inside_the_answer_fails_clearly(name):
    result = CHECKS[name](CRASHING[name], verbose=False)
    assert not result.passed
    assert result.message.startswith(f"FAIL ({name}): your function raised")
    assert "The inputs were" in result.message


@pytest.mark.parametrize(
    "answer, expected",
    [
        (lambda dout, x, W, b: None, "return 3 arrays"),
        (lambda dout, x, W, b: (dout @ W.T, x.T @ dout), "return 3 arrays"),
        (lambda dout, x, W, b: (dout @ W.T, None, dout.sum(0)), "dW is None"),
        (lambda dout, x, W, b: (dout @ W.T, "dW", dout.sum(0)), "dW must be a NumPy array"),
        (lambda dout, x, W, b: (dout @ W.T, x.T @ dout * np.nan, dout.sum(0)), "NaN"),
        ("not a function", "expected your function"),
    ],
    ids=["none", "too-few", "one-none", "string", "nan", "not-callable"],
)
def test_malformed_returns_fail_clearly(answer, expected):
    result = check_dense_backward(answer, verbose=False)
    assert not result.passed and result.message.startswith("FAIL (dense_backward)")
    assert expected in result.message


def test_student_cannot_corrupt_the_check_by_writing_into_its_inputs():
    def destructive(dout, x, W, b):
        dx, dW, db = dout @ W.T, x.T @ dout, dout.sum(axis=0)
        x[...] = 0.0
        W[...] = 0.0
        return dx, dW, db

    assert check_dense_backward(destructive, verbose=False).passed


def test_checks_are_deterministic_and_seeded():
    wrong, _ = WRONG["kl_backward"]
    first = CHECKS["kl_backward"](wrong, verbose=False)
    again = CHECKS["kl_backward"](wrong, verbose=False)
    other = CHECKS["kl_backward"](wrong, seed=1, verbose=False)
    assert first.message == again.message and first.message != other.message


def test_forward_helpers_match_their_formulas():
    rng = np.random.default_rng(0)
    mu, logvar, eps = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(4, 3, 2))
    np.testing.assert_allclose(reparam_forward(mu, logvar, eps), mu + np.exp(logvar / 2) * eps)
    np.testing.assert_allclose(
        kl_forward(mu, logvar), 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=1)
    )
    x = (rng.random((3, 5)) < 0.5).astype(float)
    logits = rng.normal(size=(3, 5))
    p = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(
        bernoulli_nll(x, logits), -np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)
    )


# ------------------------------------------------------------------ the typical mistakes named


def _reparam(dz, mu, logvar, eps):
    return dz.sum(0), (dz * eps).sum(0) * _sigma(logvar) / 2


@pytest.mark.parametrize(
    "name, answer, sizes, words",
    [
        (
            "kl_backward",
            lambda mu, lv: (0.5 * mu, 0.5 * np.expm1(lv)),
            None,
            "a factor 2 is missing",
        ),
        ("kl_backward", lambda mu, lv: (mu, np.expm1(lv)), None, "a factor 1/2 is missing"),
        ("bernoulli_backward", lambda x, logits: x - sigmoid(logits), None, "exactly -1 times"),
        (
            "reparam_backward",
            lambda dz, mu, lv, eps: (3 * dz.sum(0), _reparam(dz, mu, lv, eps)[1]),
            None,
            "M = 3: you multiplied by M",
        ),
        (
            "reparam_backward",
            lambda dz, mu, lv, eps: (dz.mean(0), _reparam(dz, mu, lv, eps)[1]),
            {"M": 5, "B": 6, "k": 3},
            "1/M with M = 5",
        ),
        (
            "dense_backward",
            lambda dout, x, W, b: (dout @ W.T, 3.7 * x.T @ dout, dout.sum(0)),
            None,
            "exactly 3.7 times the right values: one constant factor is wrong",
        ),
        (
            "dense_backward",
            lambda dout, x, W, b: (dout @ W.T, (x.T @ dout).T, dout.sum(0)),
            {"N": 5, "D_in": 4, "D_out": 4},  # a square W: the transpose has the right shape
            "your dW is the transpose of the right one",
        ),
        (
            "dense_backward",
            lambda dout, x, W, b: (dout @ W.T, dout.T @ x, dout.sum(0)),
            None,
            "It is the transpose of the right dW",
        ),
    ],
    ids=[
        "half",
        "twice",
        "sign",
        "times-M",
        "one-over-M",
        "factor",
        "square-transpose",
        "transpose",
    ],
)
def test_feedback_names_the_typical_mistake(name, answer, sizes, words):
    result = CHECKS[name](answer, sizes=sizes, verbose=False)
    assert not result.passed and words in result.message, result.message


def test_no_hint_when_the_error_is_no_typical_mistake():
    def wrong(dout, x):  # a kink moved to 0.5: neither a constant factor nor a listed mistake
        return dout * (x > 0.5)

    result = CHECKS["relu_backward"](wrong, verbose=False)
    assert not result.passed and "hint" not in result.message and result.mistake is None


def test_check_without_a_function_looks_up_the_answer_by_name():
    namespace = {"check_kl_backward": CHECKS["kl_backward"]}
    exec("early = check_kl_backward(verbose=False)", namespace)
    assert namespace["early"].message.startswith("FAIL (kl_backward): kl_backward is not defined")
    namespace["kl_backward"] = SOLVED["kl_backward"]
    exec("later = check_kl_backward(verbose=False)", namespace)
    assert namespace["later"].passed


def test_sizes_are_checked_and_change_the_inputs():
    with pytest.raises(ValueError, match=r"unknown sizes \['K'\]"):
        CHECKS["kl_backward"](SOLVED["kl_backward"], sizes={"K": 3}, verbose=False)
    result = CHECKS["dense_backward"](
        lambda dout, x, W, b: (dout @ W.T, x.T @ dout, dout.sum(0)),
        sizes={"N": 2, "D_in": 6, "D_out": 7},
        verbose=False,
    )
    assert result.passed and "dW[" in result.message


def test_a_cell_with_a_syntax_error_becomes_code_that_says_so(capsys):
    from numpyvae.exercises import report_syntax_errors, syntax_guard

    assert report_syntax_errors() is None  # outside IPython: nothing to install
    cell = ["def relu_backward(dout, x):\n", "    return dout * (x > 0\n"]
    namespace = {"relu_backward": "an older answer"}
    exec("".join(syntax_guard(cell)), namespace)
    printed = capsys.readouterr().out
    assert (
        printed.startswith("FAIL: the cell defining relu_backward has a SyntaxError")
        and "line 2" in printed
    )
    assert "relu_backward is not defined until then" in printed
    assert "relu_backward" not in namespace  # its check will say so, not use the old answer
    good = ["x = 1\n"]
    assert syntax_guard(good) is good
