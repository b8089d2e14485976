"""The exercise checks of numpyvae.exercises: FAIL clearly on wrong, missing, misshapen or crashing
answers (never raise), and PASS on the answers of the solutions notebook.

The solutions are read from notebooks/solutions/06_gradient_check_solutions.ipynb (cells tagged
"setup" and "solution") and the placeholders from the exercise notebook (tag "exercise"), so
these tests judge exactly what students and CI run.
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
