"""`numpyvae train --objective fisher` (derivations.md §12): trains on noisy grayscale digits,
checkpoints, resumes bit for bit, draws its figures; refuses Bernoulli and binarized data in
one line each."""

import numpy as np
import pytest

from numpyvae import cli
from numpyvae.checkpoint import load_checkpoint

FISHER = [
    "--objective",
    "fisher",
    "--likelihood",
    "gaussian_shared_var",
    "--data",
    "embedded",
    "--limit",
    "200",
    "--hidden",
    "16",
    "--latent-dim",
    "2",
    "--no-progress",
    "--dtype",
    "float64",
]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def off_screen(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_train_checkpoints_resumes_bitwise_and_draws(tmp_path, capsys):
    code, out, err = run(capsys, "train", *FISHER, "--epochs", "3", "--out", tmp_path / "straight")
    assert code == 0, err
    assert "N(0, 0.1^2) noise" in out and "objective='fisher'" in out
    for name in ("checkpoint.npz", "history.json", "losses.png", "samples.png"):
        assert (tmp_path / "straight" / name).is_file(), name
    assert run(capsys, "train", *FISHER, "--epochs", "2", "--out", tmp_path / "split")[0] == 0
    code, out, err = run(capsys, "train", "--out", tmp_path / "split", "--resume", "--epochs", "1")
    assert code == 0, err
    straight = load_checkpoint(tmp_path / "straight/checkpoint.npz")
    resumed = load_checkpoint(tmp_path / "split/checkpoint.npz")
    assert resumed.epoch == 3
    for name, value in straight.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name
    assert straight.history == resumed.history
    # The loss fell: training did something (the Fisher loss is not in nats and goes negative).
    assert straight.history.loss[-1] < straight.history.loss[0]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--likelihood", "bernoulli"], "--likelihood bernoulli"),
        (["--binarize", "dynamic"], "continuous data"),
        (["--binarize", "threshold"], "continuous data"),
    ],
)
def test_bernoulli_and_binarized_data_are_refused_in_one_line(tmp_path, capsys, extra, words):
    code, _, err = run(capsys, "train", *FISHER, *extra, "--epochs", "1", "--out", tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and words in err and "fisher" in err


def test_evaluate_reads_the_noisy_test_set_and_names_the_objective(tmp_path, capsys):
    assert run(capsys, "train", *FISHER, "--epochs", "1", "--out", tmp_path)[0] == 0
    code, out, err = run(capsys, "evaluate", "--checkpoint", tmp_path)
    assert code == 0, err
    assert out.startswith("test Fisher objective J ") and "x-score" in out
    assert "not in nats" in out and "N(0, 0.1^2) noise" in out


def test_the_noise_option_and_the_kl_warmup(tmp_path, capsys):
    code, out, err = run(
        capsys, "train", *FISHER, "--noise", "0.2", "--epochs", "1", "--out", tmp_path
    )
    assert code == 0, err
    assert "N(0, 0.2^2) noise" in out
    argv = ["train", *FISHER, "--kl-warmup-epochs", "1", "--out", tmp_path / "warm"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1
    assert "--kl-warmup-epochs 1 does not apply to --objective fisher" in err
