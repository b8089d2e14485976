"""What the command line says about the remaining bad inputs of tests/README.md: in its own
words (options, not API arguments), with advice that works, and with caps that keep an output
readable. Also the API's epoch count after a divergence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import TINY

from numpyvae import VAE, cli
from numpyvae.cli.sample import MAX_COLUMNS, check_grid_size
from numpyvae.config import VAEConfig
from numpyvae.optim import Adam
from numpyvae.train import DivergenceError, Trainer
from numpyvae.validation import ConfigError

API_WORDS = ("name=", "data_dir", "dest", "n_classes", "--n-classes", "download=")


def error_line(capsys, *argv: object) -> str:
    """The one error line of a command that must fail with exit code 2."""
    code = cli.main([str(a) for a in argv])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("numpyvae"), err
    assert not any(word in err for word in API_WORDS), err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_notebooks_into_an_empty_path_is_refused(capsys):
    err = error_line(capsys, "notebooks", "")
    assert "argument DIR: must be a directory path" in err
    assert list(Path.cwd().iterdir()) == []  # nothing copied into the current folder


def test_notebooks_into_a_file_says_dir(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    err = error_line(capsys, "notebooks", tmp_path / "afile")
    assert "DIR must be a folder" in err


def test_sample_caps_the_grid_at_a_readable_width(trained, tmp_path, capsys):
    err = error_line(capsys, "sample", "--checkpoint", trained, "--n", 100000, "--out", "s.png")
    assert "--n 100000" in err and f"use --n {MAX_COLUMNS**2} or fewer" in err
    assert "600 x 640-pixel" in err and not Path("s.png").exists()
    check_grid_size(MAX_COLUMNS**2, rows_of_digits=False)  # the limit itself is allowed
    with pytest.raises(cli.options.CommandError, match=f"use --n {MAX_COLUMNS * 10} or fewer"):
        check_grid_size(MAX_COLUMNS * 10 + 1, rows_of_digits=True)


def test_fisher_refuses_the_sampled_kl_estimator(capsys):
    gaussian = ["--likelihood", "gaussian", "--objective", "fisher"]
    err = error_line(capsys, "train", *TINY, *gaussian, "--kl-estimator", "sampled")
    assert "--kl-estimator sampled applies to --objective elbo only" in err
    with pytest.raises(ConfigError, match="no KL term"):
        VAEConfig(4, 2, likelihood="gaussian", objective="fisher", kl_estimator="sampled")
    assert list(Path.cwd().iterdir()) == []  # no run folder made


def test_fisher_conditional_names_the_option_that_exists(capsys):
    gaussian = ["--likelihood", "gaussian", "--objective", "fisher"]
    err = error_line(capsys, "train", *TINY, *gaussian, "--conditional")
    assert "does not support conditional models (got --conditional)" in err
    assert "leave --conditional out" in err


def test_the_data_options_are_named_as_options(tmp_path, capsys):
    err = error_line(capsys, "train", *TINY, "--data", "embedded", "--data-dir", tmp_path)
    assert f"--data-dir {tmp_path} was given with --data embedded" in err
    assert "use --data mnist" in err


def test_a_missing_data_dir_says_data_dir_as_an_option(tmp_path, capsys):
    code = cli.main(["train", *TINY, "--data-dir", str(tmp_path / "none")])
    _, err = capsys.readouterr()
    assert code == 2 and "(from --data-dir)" in err and "point --data-dir or" in err


def test_resume_with_data_dir_on_an_embedded_run_gives_advice_that_works(trained, capsys):
    before = (trained / "checkpoint.npz").read_bytes()
    err = error_line(capsys, "train", "--resume", "--out", trained, "--data-dir", "/tmp")
    assert "trained on the embedded subset" in err and "leave --data-dir out" in err
    assert "--data mnist" not in err  # which --resume would refuse
    assert (trained / "checkpoint.npz").read_bytes() == before


def test_noise_with_the_bernoulli_likelihood_is_named_not_blamed_on_pixels(capsys):
    err = error_line(capsys, "train", *TINY, "--noise", "0.1")
    assert "--noise 0.1 takes the intensities out of [0, 1]" in err
    assert "--likelihood gaussian" in err and "0..255" not in err


def test_absurd_noise_is_refused_before_it_can_look_like_a_learning_rate_problem(capsys):
    err = error_line(capsys, "train", *TINY, "--likelihood", "gaussian", "--noise", "1e6")
    assert "--noise 1e+06 is larger than the whole range [0, 1]" in err
    assert "learning rate" not in err


def test_the_epoch_counts_finished_epochs_after_a_divergence():
    model = VAE(4, 2, (3,), likelihood="gaussian", seed=0)
    trainer = Trainer(model, Adam(model.params, lr=1e6), batch_size=2)
    x = np.random.default_rng(0).random((64, 4))
    with pytest.raises(DivergenceError, match="epoch 1"):
        trainer.fit(x, 3)
    assert trainer.epoch == len(trainer.history) == 0


def test_a_damaged_checkpoint_is_one_line_for_every_command(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    path = run / "checkpoint.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param/decoder.0.W"] = np.full_like(arrays["param/decoder.0.W"], np.nan)
    np.savez(path, **arrays)
    damaged = path.read_bytes()
    for argv in (
        ["evaluate", "--checkpoint", run],
        ["sample", "--checkpoint", run, "--out", tmp_path / "s.png"],
        ["reconstruct", "--checkpoint", run, "--out", tmp_path / "r.png"],
        ["train", "--resume", "--out", run, "--epochs", "1"],
    ):
        err = error_line(capsys, *argv)
        assert "the checkpoint of epoch 1 is damaged: param/decoder.0.W" in err, argv
        assert "learning rate" not in err and "the data" not in err
    assert path.read_bytes() == damaged
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "r.png").exists()
