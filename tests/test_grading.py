"""The autograder (numpyvae.course.grade) and its guard: each fixture submission gets the score it
deserves, through the documented command, and the cheats score 0 on the exercise they cheat.

The fixtures are built from the exercise notebook by tests/fixtures/submissions.py.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpyvae import exercises
from numpyvae.course import grade
from numpyvae.course.guard import Blocked, LibraryBlock, ModuleSnapshot
from numpyvae.layers import sigmoid
from numpyvae.posteriors import DiagonalGaussian

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from submissions import FIXTURES, write_submissions  # noqa: E402

ALL = tuple(exercises.CHECKS)
TIMEOUT, CELL_TIMEOUT = 8, 2
# fixture -> {exercise: (points, words the feedback must contain)}; unlisted exercises pass.
EXPECTED = {
    "all_correct": {},
    "transposed_weight_gradient": {"dense_backward": (0, "transpose of the right dW")},
    "kl_missing_half": {"kl_backward": (0, "exactly 2 times the right values")},
    "reparam_one_over_m_twice": {"reparam_backward": (0, "1/M with M = 5")},
    "bernoulli_sign_flip": {"bernoulli_backward": (0, "exactly -1 times the right values")},
    "blank": dict.fromkeys(ALL, (0, "not implemented yet")),
    "syntax_error": {"relu_backward": (0, "SyntaxError")},
    "infinite_loop": {
        "kl_backward": (0, f"kl_backward did not finish within {CELL_TIMEOUT} s"),
        "bernoulli_backward": (0, f"did not finish within {CELL_TIMEOUT} s"),
    },
    "hangs_ignoring_the_alarm": dict.fromkeys(ALL, (0, f"did not finish within {TIMEOUT} s")),
    "crashes_the_process": dict.fromkeys(ALL, (0, "exit code 3")),
    "cheat_library_backward": {
        "dense_backward": (0, "calls numpyvae's own Dense."),
        "relu_backward": (0, "calls numpyvae's own ReLU."),
        "reparam_backward": (0, "calls numpyvae's own DiagonalGaussian."),
        "kl_backward": (0, "calls numpyvae's own DiagonalGaussian."),
        "bernoulli_backward": (0, "calls numpyvae's own Bernoulli."),
    },
    "cheat_finite_differences": dict.fromkeys(
        ALL, (0, "calls numpyvae's own numpyvae.gradcheck.numerical_gradient")
    ),
    "cheat_redefined_check": {"kl_backward": (0, "defines its own check_kl_backward")},
    "cheat_patches_the_checker": dict.fromkeys(
        ALL, (0, "assigns numpyvae.gradcheck.DEFAULT_TOLERANCE")
    ),
}


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> dict[tuple[str, str], dict]:
    """Grade every fixture with the documented command; the gradebook's rows by (student, ex)."""
    folder = tmp_path_factory.mktemp("submissions")
    write_submissions(folder)
    out = folder.parent / "gradebook.csv"
    done = subprocess.run(
        [sys.executable, "-m", "numpyvae.course.grade", str(folder), "--out", str(out)]
        + ["--seed", "11", "--timeout", str(TIMEOUT), "--cell-timeout", str(CELL_TIMEOUT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(FIXTURES)} submissions graded (hidden-input seed 11)" in done.stdout
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == ("student", "exercise", "points", "feedback")
        rows = list(reader)
    assert len(rows) == len(FIXTURES) * len(ALL)
    return {(row["student"], row["exercise"]): row for row in rows}


def test_every_fixture_has_an_expected_score():
    assert set(EXPECTED) == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_the_score_it_deserves(gradebook, name):
    for exercise in ALL:
        row = gradebook[(name, exercise)]
        points, words = EXPECTED[name].get(exercise, (1, f"PASS ({exercise})"))
        assert int(row["points"]) == points, (name, exercise, row["feedback"])
        assert words in row["feedback"], (name, exercise, row["feedback"])
        assert "\n" not in row["feedback"]  # one line per row


def test_answer_fitted_to_the_notebooks_inputs_fails_on_the_hidden_ones():
    """An answer that returns the right arrays for the notebook's inputs passes there only."""
    rng = np.random.default_rng(0)  # the inputs check_kl_backward draws with its default seed
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    fitted = (mu.copy(), 0.5 * np.expm1(logvar))

    def memorised(mu, logvar):
        return fitted

    assert exercises.check_kl_backward(memorised, verbose=False).passed
    hidden = exercises.check_kl_backward(
        memorised, seed=11, sizes=grade.HIDDEN_SIZES["kl_backward"], verbose=False
    )
    assert not hidden.passed and "shape" in hidden.message


def test_answer_equal_to_finite_differences_is_flagged_even_if_the_library_were_open(tmp_path):
    """With the guard off, finite differences of the forward pass match to the last bit: flagged."""
    [path] = write_submissions(tmp_path, ["cheat_finite_differences"])
    results = list(grade.grade_submission(path, seed=3, cell_timeout=10, block=False))
    assert [r[0] for r in results] == list(ALL)
    for exercise, points, feedback in results:
        assert points == 0, (exercise, feedback)
        assert "equals finite differences to the last bit" in feedback


def test_correct_answers_are_not_flagged_in_process(tmp_path):
    [path] = write_submissions(tmp_path, ["all_correct"])
    results = list(grade.grade_submission(path, seed=5, cell_timeout=10))
    assert [points for _, points, _ in results] == [1] * len(ALL), results
    # grading leaves the library as it found it
    assert DiagonalGaussian.kl_grad.__name__ == "kl_grad"
    assert not ModuleSnapshot().changes()


def test_library_block_reaches_re_exports_registries_and_inherited_methods():
    """What a submission could reach while its code runs (all of it runs inside the block)."""
    import numpyvae.likelihoods.bernoulli as bernoulli
    import numpyvae.objectives as objectives
    from numpyvae.layers import ReLU

    relu = ReLU()
    with LibraryBlock():
        LibraryBlock.calls.clear()
        for call in (
            lambda: objectives.log_likelihood(None, None, 1),  # re-exported by the package
            lambda: bernoulli.bernoulli_reference(np.zeros((1, 2)), np.zeros((1, 2))),
            lambda: relu.backward(np.ones((1, 2))),  # an instance made before the block
            lambda: exercises.CHECKS["kl_backward"](None),  # a function held in a dict
        ):
            with pytest.raises(Blocked):
                call()
        assert LibraryBlock.calls == [
            "numpyvae.objectives.iwae.log_likelihood",
            "numpyvae.likelihoods.bernoulli.bernoulli_reference",
            "ReLU.backward",
            "numpyvae.exercises.check_kl_backward",
        ]
    assert bernoulli.bernoulli_reference(np.zeros((1, 2)), np.zeros((1, 2)))[1].shape == (1, 2)
    assert not exercises.CHECKS["kl_backward"](None, verbose=False).passed


def test_library_block_refuses_inside_and_restores_after():
    q = DiagonalGaussian(2)
    h = np.zeros((1, 4))
    expected = q.kl_grad(h)
    with LibraryBlock():
        with pytest.raises(Blocked, match="DiagonalGaussian.kl_grad"):
            try:
                q.kl_grad(h)
            except Exception:  # an answer's own handler must not swallow the refusal
                pytest.fail("Blocked was caught as an Exception")
        assert not hasattr(DiagonalGaussian.kl_grad, "__wrapped__")
        assert sigmoid(np.array([0.0]))[0] == 0.5  # forward helpers stay usable
    np.testing.assert_array_equal(q.kl_grad(h), expected)


def test_module_snapshot_reports_and_undoes_rebinding():
    snapshot = ModuleSnapshot()
    original_sum, original_compare = np.sum, exercises.compare
    np.sum = lambda *a, **k: 0.0
    exercises.compare = None
    try:
        assert snapshot.changes() == ["numpy.sum", "numpyvae.exercises.compare"]
    finally:
        np.sum, exercises.compare = original_sum, original_compare
    assert np.sum is original_sum and exercises.compare is original_compare
    assert snapshot.changes() == []


@pytest.mark.parametrize(
    "source, flagged",
    [
        ("def check_kl_backward(f): pass", {"kl_backward"}),
        ("check_relu_backward = print", {"relu_backward"}),
        ("from math import floor as check_dense_backward", {"dense_backward"}),
        ("import numpyvae.gradcheck as g\ng.compare = len", set(ALL)),  # via an alias
        ("from numpyvae import exercises\nexercises.check_kl_backward = print", {"kl_backward"}),
        ("import numpy as np\nnp.sum = len", set(ALL)),
        ("import numpyvae\nsetattr(numpyvae.gradcheck, 'compare', len)", set(ALL)),
        ("def kl_backward(mu, logvar):\n    return mu, logvar", set()),
        ("result = check_kl_backward()", set()),  # calling a check is what students do
        ("def broken(:", set()),
    ],
)
def test_redefined_checks_are_found_in_the_source(source, flagged):
    assert set(grade.redefined_checks(source)) == flagged


def test_submissions_are_found_as_files_or_folders(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "ben").mkdir()
    (tmp_path / "ben" / "notes.ipynb").write_text("{}")
    (tmp_path / "ben" / "06_gradient_check_exercises.ipynb").write_text("{}")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "readme.txt").write_text("")
    found = grade.find_submissions(tmp_path)
    assert [(s, p.name) for s, p in found] == [
        ("ann", "ann.ipynb"),
        ("ben", "06_gradient_check_exercises.ipynb"),
    ]
