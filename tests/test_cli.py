"""The command line end to end on tiny runs: files, figures, resume, Ctrl-C, and option errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import TINY, run

from numpyvae import cli, plots
from numpyvae.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from numpyvae.cli.data import load_data
from numpyvae.train import Trainer

FIGURES = {
    "losses.png": "losses",
    "reconstructions.png": "reconstructions",
    "samples.png": "generation",
    "embeddings.png": "embeddings",
    "manifold.png": "manifold",
    "latent_scatter.png": "latent_scatter",
}


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the 8-byte signature."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pixels(kind: str) -> tuple[int, int]:
    width, height = plots.FIGURE_SIZES[kind]
    return round(width * plots.DPI), round(height * plots.DPI)


def params_of(path: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(path).model.params


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The output directory of one tiny training run (1 epoch), shared by several tests."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


# --------------------------------------------------------------------------- train


def test_train_writes_the_checkpoint_history_and_every_figure(trained):
    out = trained
    assert (out / "checkpoint.npz").is_file()
    for name, kind in FIGURES.items():
        assert png_size(out / name) == pixels(kind), name
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1] and len(history["test_loss"]) == 1
    assert history["units"] == "nats per image"
    assert history["config"]["limit"] == 200 and history["config"]["hidden"] == [16]
    trainer = load_checkpoint(out / "checkpoint.npz")
    assert trainer.epoch == 1 and trainer.model.latent_dim == 2 and trainer.model.hidden == (16,)
    assert trainer.history.test_loss == history["test_loss"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_train_prints_a_summary_with_both_loss_terms_and_the_paths(tmp_path, capsys):
    code, out, err = run(
        capsys, "train", *TINY, "--latent-dim", "3", "--epochs", "1", "--out", tmp_path
    )
    assert code == 0, err
    assert "trained epochs 1..1 in" in out
    assert "final test loss" in out and "reconstruction" in out and "KL" in out
    for name in ["checkpoint.npz", "history.json", "losses.png", "embeddings.png"]:
        assert str(tmp_path / name) in out
    # k = 3: no manifold figures, and the embedding is a PCA projection.
    assert not (tmp_path / "manifold.png").exists()
    assert not (tmp_path / "latent_scatter.png").exists()
    assert png_size(tmp_path / "embeddings.png") == pixels("embeddings")


def test_the_same_options_give_the_same_run(tmp_path, capsys):
    for name in ("a", "b"):
        assert run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path / name)[0] == 0
    a, b = params_of(tmp_path / "a/checkpoint.npz"), params_of(tmp_path / "b/checkpoint.npz")
    assert all(np.array_equal(a[n], b[n]) for n in a)


# --------------------------------------------------------------------------- other commands


def test_sample_writes_a_grid_of_digits(trained, capsys, tmp_path):
    out = trained
    checkpoint = out / "checkpoint.npz"
    for method in ("mean", "sample"):
        target = tmp_path / f"s_{method}.png"
        code, stdout, err = run(
            capsys,
            "sample",
            "--checkpoint",
            checkpoint,
            "--method",
            method,
            "--n",
            "9",
            "--seed",
            "1",
            "--out",
            target,
        )
        assert code == 0, err
        assert str(target) in stdout
        assert png_size(target) == pixels("samples")
    code, stdout, _ = run(capsys, "sample", "--checkpoint", checkpoint, "--n", "4")
    assert code == 0 and png_size(out / "samples_mean.png") == pixels("samples")


def test_encode_writes_embeddings_with_labels(trained, capsys, tmp_path):
    out = trained
    checkpoint = out / "checkpoint.npz"
    code, stdout, err = run(
        capsys, "encode", "--checkpoint", checkpoint, "--out", tmp_path / "z.npz"
    )
    assert code == 0, err
    with np.load(tmp_path / "z.npz") as npz:
        z, labels = npz["z"], npz["labels"]
    assert z.shape == (200, 2) and labels.shape == (200,)  # the 200 test images of --limit
    assert set(np.unique(labels)) <= set(range(10))
    # The posterior means of the test set exactly as training prepared it.
    config = json.loads((out / "history.json").read_text())["config"]
    data = load_data(config)
    assert np.array_equal(labels, data.y_test)
    assert np.array_equal(z, load_checkpoint(checkpoint).model.encode(data.x_test, "mean"))
    code, _, err = run(
        capsys,
        "encode",
        "--checkpoint",
        checkpoint,
        "--method",
        "sample",
        "--seed",
        "0",
        "--out",
        tmp_path / "z.npy",
    )
    assert code == 0, err
    sampled = np.load(tmp_path / "z.npy")
    assert sampled.shape == (200, 2) and not np.array_equal(sampled, z)


def test_reconstruct_writes_originals_and_reconstructions(trained, capsys, tmp_path):
    out = trained
    target = tmp_path / "rec.png"
    code, stdout, err = run(
        capsys, "reconstruct", "--checkpoint", out / "checkpoint.npz", "--n", "6", "--out", target
    )
    assert code == 0, err
    assert png_size(target) == pixels("reconstructions")


def test_evaluate_prints_the_test_loss_and_its_two_terms(trained, capsys):
    out = trained
    code, stdout, err = run(
        capsys, "evaluate", "--checkpoint", out / "checkpoint.npz", "--samples", "3", "--seed", "0"
    )
    assert code == 0, err
    found = re.search(r"negative ELBO ([\d.]+) = reconstruction ([\d.]+) \+ KL ([\d.]+)", stdout)
    loss, reconstruction, kl = map(float, found.groups())
    assert abs(loss - (reconstruction + kl)) < 0.02
    assert "200 test images" in stdout and "M = 3" in stdout
    history = json.loads((out / "history.json").read_text())
    assert abs(loss - history["test_loss"][-1]) < 0.1 * loss  # the same test set, other noise


def test_a_missing_checkpoint_is_one_line_with_exit_code_2(tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", "--checkpoint", tmp_path / "none.npz")
    assert code == 2
    assert err.count("\n") == 1 and "none.npz" in err and err.startswith("numpyvae: error:")


def test_a_corrupt_checkpoint_is_one_line_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    code, _, err = run(capsys, "sample", "--checkpoint", path)
    assert code == 2 and err.count("\n") == 1 and str(path) in err


# --------------------------------------------------------------------------- resume


def test_resume_reproduces_the_uninterrupted_run_bitwise(tmp_path, capsys):
    options = [*TINY, "--latent-dim", "3", "--seed", "7", "--dtype", "float64"]
    assert run(capsys, "train", *options, "--epochs", "4", "--out", tmp_path / "straight")[0] == 0
    assert run(capsys, "train", *options, "--epochs", "2", "--out", tmp_path / "split")[0] == 0
    # Resuming takes the options from the checkpoint; repeating them (same values) is allowed.
    code, out, err = run(
        capsys,
        "train",
        "--out",
        tmp_path / "split",
        "--resume",
        "--epochs",
        "2",
        "--no-progress",
        "--hidden",
        "16",
    )
    assert code == 0, err
    assert "epochs 3..4" in out
    straight = load_checkpoint(tmp_path / "straight/checkpoint.npz")
    resumed = load_checkpoint(tmp_path / "split/checkpoint.npz")
    assert resumed.epoch == 4 and resumed.model.dtype == np.float64
    for name, value in straight.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name
    assert straight.history == resumed.history


def test_resume_refuses_options_that_change_the_run(trained, capsys):
    out = trained
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = run(capsys, "train", "--out", out, "--resume", "--latent-dim", "5")
    assert code == 2 and err.count("\n") == 1
    assert "--latent-dim 5" in err and "--latent-dim 2" in err
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_without_a_checkpoint_says_how_to_start(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out", tmp_path, "--resume")
    assert code == 2 and "no checkpoint" in err and "numpyvae train --out" in err


def test_ctrl_c_keeps_the_last_epoch_and_prints_the_resume_command(tmp_path, capsys, monkeypatch):
    options = [*TINY, "--seed", "3"]
    assert run(capsys, "train", *options, "--epochs", "4", "--out", tmp_path / "straight")[0] == 0

    original = Trainer._train_epoch

    def interrupted_in_epoch_3(self, *args, **kwargs):
        if self.epoch == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted_in_epoch_3)
    out = tmp_path / "cut"
    code, _, err = run(capsys, "train", *options, "--epochs", "4", "--out", out)
    assert code == 130
    assert "interrupted during epoch 3" in err and "epoch 2 is intact" in err
    assert "Traceback" not in err
    command = err.split("Resume with: ")[1].strip()
    assert command == f"numpyvae train --out {shlex.quote(str(out))} --resume --epochs 2"
    assert load_checkpoint(out / "checkpoint.npz").epoch == 2
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    monkeypatch.undo()
    argv = shlex.split(command)[1:] + ["--no-progress"]
    assert run(capsys, *argv)[0] == 0
    straight = params_of(tmp_path / "straight/checkpoint.npz")
    resumed = params_of(out / "checkpoint.npz")
    assert all(np.array_equal(straight[n], resumed[n]) for n in straight)


# --------------------------------------------------------------------------- model options


def float_after(label: str, text: str) -> float:
    """The number printed right after `label` in `text`."""
    found = re.search(re.escape(label) + r" (-?[\d.]+)", text)
    assert found, f"{label!r} not in {text!r}"
    return float(found.group(1))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--posterior", "full"], {"posterior.name": "full"}),
        (["--objective", "iwae", "--samples", "3"], {"objective": "iwae", "n_samples": 3}),
        (["--kl-estimator", "sampled"], {"kl_estimator": "sampled", "objective": "elbo"}),
        (["--beta", "0.5"], {"beta": 0.5}),
        (["--conditional"], {"n_classes": 10}),
        # 200 images in batches of 64: 4 steps an epoch, so 2 epochs of warm-up are 8 steps;
        # after the 4 steps of epoch 1 the weight was last set at step 3: 3/8 of beta = 1.
        (["--kl-warmup-epochs", "2", "--batch-size", "64"], {"beta": 3 / 8}),
    ],
)
def test_each_model_option_trains_and_its_checkpoint_rebuilds_the_model(
    tmp_path, capsys, options, expected
):
    code, out, err = run(capsys, "train", *TINY, "--epochs", "1", *options, "--out", tmp_path)
    assert code == 0, err
    trainer = load_checkpoint(tmp_path / "checkpoint.npz")
    model = trainer.model
    for attribute, value in expected.items():
        owner, _, name = attribute.rpartition(".")
        assert getattr(getattr(model, owner) if owner else model, name) == value, attribute
    plain = {"posterior.name": "diagonal", "objective": "elbo", "kl_estimator": "analytic"}
    plain.update({"beta": 1.0, "n_classes": None, "n_samples": 1})
    for attribute, value in plain.items():  # every other option keeps its default
        if attribute not in expected:
            owner, _, name = attribute.rpartition(".")
            assert getattr(getattr(model, owner) if owner else model, name) == value, attribute
    config = json.loads((tmp_path / "history.json").read_text())["config"]
    assert config["kl_warmup_epochs"] == (2 if "--kl-warmup-epochs" in options else 0)
    assert trainer.kl_warmup_steps == (8 if "--kl-warmup-epochs" in options else 0)
    assert trainer.final_beta == (0.5 if "--beta" in options else 1.0)
    assert np.isfinite(trainer.history.test_loss[-1])
    rest = "rest" if "iwae" in options else "KL"
    assert f"final test loss  {trainer.history.test_loss[-1]:.2f}" in out and f"+ {rest}" in out


def test_iwae_with_the_sampled_kl_is_refused_in_one_line(tmp_path, capsys):
    argv = ["--objective", "iwae", "--kl-estimator", "sampled", "--out", tmp_path / "run"]
    code, _, err = run(capsys, "train", *TINY, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "--kl-estimator sampled" in err and "--objective elbo" in err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> tuple[Path, str]:
    """A tiny conditional run (k = 2, full covariance, KL warm-up, log p(x|c) at the end):
    its output directory and what it printed."""
    out = tmp_path_factory.mktemp("conditional")
    argv = ["train", *TINY, "--epochs", "2", "--conditional", "--posterior", "full"]
    argv += ["--kl-warmup-epochs", "1", "--eval-log-likelihood", "20", "--out", str(out)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(argv) == 0
    return out, printed.getvalue()


def test_a_conditional_run_writes_one_row_per_digit_and_its_log_likelihood(conditional):
    out, printed = conditional
    model = load_checkpoint(out / "checkpoint.npz").model
    assert model.n_classes == 10 and model.posterior.name == "full"
    assert png_size(out / "samples.png") == pixels("samples")  # the digit rows, one panel
    assert png_size(out / "latent_scatter.png") == pixels("latent_scatter")
    assert not (out / "manifold.png").exists()  # a manifold would need a digit to decode with
    log_p = float_after("test log p(x|c) estimate", printed)
    assert np.isfinite(log_p) and log_p < 0  # a probability of binary images
    assert "K = 20 samples of z per image, 200 images" in printed
    assert "KL weight beta from 0 to 1 over the first 1 epoch(s) (2 steps)" in printed


def test_sample_draws_a_chosen_digit_or_a_row_per_digit(conditional, capsys, tmp_path):
    out, _ = conditional
    checkpoint = out / "checkpoint.npz"
    code, stdout, err = run(capsys, "sample", "--checkpoint", checkpoint, "--label", "3")
    assert code == 0, err
    assert stdout.strip() == str(out / "samples_digit3_mean.png")
    assert png_size(out / "samples_digit3_mean.png") == pixels("samples")
    target = tmp_path / "rows.png"
    code, _, err = run(capsys, "sample", "--checkpoint", checkpoint, "--n", "20", "--out", target)
    assert code == 0, err
    assert png_size(target) == pixels("samples")
    code, _, err = run(capsys, "sample", "--checkpoint", checkpoint, "--label", "10")
    assert code == 2 and err.count("\n") == 1 and "--label must be a digit 0..9" in err


def test_label_needs_a_conditional_model(trained, capsys):
    code, _, err = run(capsys, "sample", "--checkpoint", trained / "checkpoint.npz", "--label", "3")
    assert code == 2 and err.count("\n") == 1
    assert "--label 3" in err and "--conditional" in err


def test_encode_reconstruct_and_evaluate_pass_the_labels(conditional, capsys, tmp_path):
    out, _ = conditional
    checkpoint = out / "checkpoint.npz"
    code, _, err = run(capsys, "encode", "--checkpoint", checkpoint, "--out", tmp_path / "z.npz")
    assert code == 0, err
    config = json.loads((out / "history.json").read_text())["config"]
    data = load_data(config)
    model = load_checkpoint(checkpoint).model
    with np.load(tmp_path / "z.npz") as npz:
        z = npz["z"]
    assert np.array_equal(z, model.encode(data.x_test, "mean", c=data.y_test))
    # The labels matter: the same images under other labels embed elsewhere.
    assert not np.allclose(z, model.encode(data.x_test, "mean", c=(data.y_test + 1) % 10))
    target = tmp_path / "rec.png"
    code, _, err = run(capsys, "reconstruct", "--checkpoint", checkpoint, "--out", target)
    assert code == 0 and png_size(target) == pixels("reconstructions"), err
    code, stdout, err = run(capsys, "evaluate", "--checkpoint", checkpoint, "--log-likelihood", "5")
    assert code == 0, err
    assert np.isfinite(float_after("negative ELBO", stdout))
    assert np.isfinite(float_after("test log p(x|c) estimate", stdout))


def test_evaluate_prints_a_log_likelihood_estimate_above_the_elbo(trained, capsys):
    checkpoint = trained / "checkpoint.npz"
    code, stdout, err = run(
        capsys, "evaluate", "--checkpoint", checkpoint, "--log-likelihood", "50", "--seed", "0"
    )
    assert code == 0, err
    log_p = float_after("test log p(x) estimate", stdout)
    standard_error = float_after("(standard error", stdout)
    assert np.isfinite(log_p) and log_p < 0 and 0 < standard_error < 10
    assert "K = 50 samples of z per image, 200 images" in stdout
    # On the same 100 images: E[L_K] >= ELBO (derivations.md §9.5), with 1 nat for the noise
    # of the two estimates (the ELBO's from 10 samples per image).
    code, stdout, err = run(
        capsys,
        "evaluate",
        "--checkpoint",
        checkpoint,
        "--log-likelihood",
        "200",
        "--samples",
        "10",
        "--limit",
        "100",
        "--seed",
        "1",
    )
    assert code == 0, err
    assert "K = 200 samples of z per image, 100 images" in stdout and "100 test images" in stdout
    negative_elbo = float_after("test negative ELBO", stdout)
    assert float_after("test log p(x) estimate", stdout) >= -negative_elbo - 1.0


def test_resume_with_the_new_options_reproduces_the_uninterrupted_run(tmp_path, capsys):
    options = [*TINY, "--conditional", "--posterior", "full", "--beta", "0.5"]
    options += ["--kl-warmup-epochs", "3", "--seed", "5"]
    assert run(capsys, "train", *options, "--epochs", "4", "--out", tmp_path / "straight")[0] == 0
    assert run(capsys, "train", *options, "--epochs", "2", "--out", tmp_path / "split")[0] == 0
    code, _, err = run(
        capsys, "train", "--out", tmp_path / "split", "--resume", "--epochs", "2", "--no-progress"
    )
    assert code == 0, err
    straight = load_checkpoint(tmp_path / "straight/checkpoint.npz")
    resumed = load_checkpoint(tmp_path / "split/checkpoint.npz")
    assert resumed.model.beta == straight.model.beta == 0.5  # the warm-up is over
    for name, value in straight.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name
    assert straight.history == resumed.history


def test_resume_refuses_a_new_option_and_accepts_a_checkpoint_from_before_them(
    trained, tmp_path, capsys
):
    code, _, err = run(capsys, "train", "--out", trained, "--resume", "--conditional")
    assert code == 2 and err.count("\n") == 1 and "not conditional" in err
    code, _, err = run(capsys, "train", "--out", trained, "--resume", "--objective", "iwae")
    assert code == 2 and "--objective iwae" in err and "--objective elbo" in err
    # A checkpoint whose saved options predate --posterior, --objective, ...: they default.
    checkpoint = read_checkpoint(trained / "checkpoint.npz")
    config = checkpoint.metadata["config"]
    for key in ("posterior", "objective", "kl_estimator", "beta", "kl_warmup_epochs"):
        del config[key]
    del config["conditional"]
    save_checkpoint(tmp_path / "checkpoint.npz", checkpoint.trainer, checkpoint.metadata)
    code, out, err = run(
        capsys, "train", "--out", tmp_path, "--resume", "--epochs", "1", "--no-progress"
    )
    assert code == 0, err
    assert "epochs 2..2" in out and load_checkpoint(tmp_path / "checkpoint.npz").epoch == 2


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        (["train", "--latent-dim", "0"], "--latent-dim", "'0'"),
        (["train", "--latent-dim", "two"], "--latent-dim", "'two'"),
        (["train", "--hidden", "400,x"], "--hidden", "'400,x'"),
        (["train", "--hidden", "0"], "--hidden", "'0'"),
        (["train", "--lr", "-0.1"], "--lr", "'-0.1'"),
        (["train", "--lr", "nan"], "--lr", "'nan'"),
        (["train", "--epochs", "0"], "--epochs", "'0'"),
        (["train", "--batch-size", "1.5"], "--batch-size", "'1.5'"),
        (["train", "--likelihood", "poisson"], "--likelihood", "'poisson'"),
        (["train", "--optimizer", "rmsprop"], "--optimizer", "'rmsprop'"),
        (["train", "--dtype", "float16"], "--dtype", "'float16'"),
        (["train", "--binarize", "maybe"], "--binarize", "'maybe'"),
        (["train", "--data", "cifar"], "--data", "'cifar'"),
        (["train", "--seed", "-1"], "--seed", "'-1'"),
        (["sample", "--method", "median"], "--method", "'median'"),
        (["sample", "--n", "0"], "--n", "'0'"),
        (["evaluate", "--samples", "0"], "--samples", "'0'"),
        (["train", "--beta", "-1"], "--beta", "'-1'"),
        (["train", "--beta", "inf"], "--beta", "'inf'"),
        (["train", "--kl-warmup-epochs", "-2"], "--kl-warmup-epochs", "'-2'"),
        (["train", "--posterior", "lowrank"], "--posterior", "'lowrank'"),
        (["train", "--objective", "vimco"], "--objective", "'vimco'"),
        (["train", "--kl-estimator", "exact"], "--kl-estimator", "'exact'"),
        (["train", "--eval-log-likelihood", "-1"], "--eval-log-likelihood", "'-1'"),
        (["evaluate", "--log-likelihood", "many"], "--log-likelihood", "'many'"),
        (["sample", "--label", "-3"], "--label", "'-3'"),
        (["frobnicate"], "command", "'frobnicate'"),
    ],
)
def test_a_bad_option_is_one_line_naming_it_with_exit_code_2(capsys, argv, option, value):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert option in err and value in err
    assert "must be" in err or "choose from" in err  # what is accepted


def test_a_value_error_from_the_package_is_one_line(tmp_path, capsys):
    code, _, err = run(
        capsys, "encode", "--checkpoint", tmp_path / "c.npz", "--out", tmp_path / "z.txt"
    )
    assert code == 2 and err.count("\n") == 1 and ".npz or .npy" in err


def test_every_option_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) == {"train", "sample", "encode", "reconstruct", "evaluate", "notebooks"}
    for name, sub in commands.items():
        text = sub.format_help()
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
            for option in action.option_strings:
                assert option in text
    train_help = commands["train"].format_help()
    assert "(default: 20)" in train_help and "(default: runs/latest)" in train_help
    helps = {o: a.help for a in commands["train"]._actions for o in a.option_strings}
    for option, section in [
        ("--posterior", "§4.4"),
        ("--objective", "§9.1"),
        ("--kl-estimator", "§7.2"),
        ("--beta", "§9.4"),
        ("--kl-warmup-epochs", "§9.4"),
        ("--conditional", "§9.2"),
        ("--eval-log-likelihood", "§9.5"),
    ]:
        assert f"derivations.md {section}" in helps[option], option
    evaluate_help = " ".join(commands["evaluate"].format_help().split())
    assert "§9.5" in evaluate_help and "(default: 0, off)" in evaluate_help


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "--resume" in out and "--limit" in out


def test_python_dash_m_runs_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "numpyvae", "evaluate", "--samples", "0"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    assert result.returncode == 2
    assert "--samples" in result.stderr and result.stderr.count("\n") == 1


def test_train_refuses_to_replace_an_existing_run(tmp_path, capsys):
    assert run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)[0] == 0
    checkpoint = tmp_path / "checkpoint.npz"
    before = checkpoint.read_bytes()
    code, _, err = run(capsys, "train", *TINY, "--epochs", "1", "--seed", "5", "--out", tmp_path)
    assert code == 2 and err.count("\n") == 1
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert checkpoint.read_bytes() == before  # nothing written
    code, _, _ = run(
        capsys, "train", *TINY, "--epochs", "1", "--seed", "5", "--out", tmp_path, "--overwrite"
    )
    assert code == 0 and checkpoint.read_bytes() != before
