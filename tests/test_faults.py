"""Nothing lost, nothing silently wrong: what the command line and the API do with outputs,
run folders, the choice of data, faults (kill -9, SIGTERM, disk full, permissions) and
divergence. Each test asserts the words of the message that matter and, where files are
involved, that the bytes on disk are what they were (or the documented new state).
tests/README.md lists each case with what the user sees."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import TINY, one_line_error, run

import numpyvae.cli.folder as folder_module
import numpyvae.datasets.mnist as mnist_module
from numpyvae import VAE, cli
from numpyvae.atomic import atomic_write, temporaries_of
from numpyvae.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from numpyvae.cli.folder import LOCK_NAME
from numpyvae.datasets import MNIST_FILES, two_moons, write_idx
from numpyvae.optim import SGD, Adam
from numpyvae.train import DivergenceError, Trainer
from numpyvae.validation import InputError

ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below `folder` by relative path, with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One tiny finished run (1 epoch) that the tests below must leave as it is."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


# =========================================================================== outputs


@pytest.mark.parametrize(
    ("command", "target", "words"),
    [
        ("sample", "checkpoint.npz", ["must end in .png"]),
        ("reconstruct", "history.json", ["must end in .png"]),
        ("encode", "checkpoint.npz", ["a training run's file", "only `numpyvae train`"]),
        ("encode", "history.json", ["must end in .npz or .npy"]),
    ],
)
def test_no_command_writes_over_a_runs_files(trained, capsys, command, target, words):
    before = snapshot(trained)
    argv = [command, "--checkpoint", trained / "checkpoint.npz", "--out", trained / target]
    for extra in ([], ["--overwrite"]):
        err = one_line_error(*run(capsys, *argv, *extra)[::2])
        assert all(word in err for word in words), err
    assert snapshot(trained) == before


def test_a_checkpoint_renamed_is_still_protected(trained, tmp_path, capsys):
    copy = tmp_path / "model.npz"
    copy.write_bytes((trained / "checkpoint.npz").read_bytes())
    argv = ["encode", "--checkpoint", trained, "--out", copy, "--overwrite"]
    err = one_line_error(*run(capsys, *argv)[::2])
    assert "a training run's file" in err
    assert copy.read_bytes() == (trained / "checkpoint.npz").read_bytes()


def test_an_existing_output_is_kept_unless_overwrite(trained, tmp_path, capsys):
    target = tmp_path / "grid.png"
    target.write_bytes(b"my own picture")
    argv = ["sample", "--checkpoint", trained / "checkpoint.npz", "--n", "4", "--out", target]
    err = one_line_error(*run(capsys, *argv)[::2])
    assert "exists" in err and "--overwrite" in err and str(target) in err
    assert target.read_bytes() == b"my own picture"
    code, out, _ = run(capsys, *argv, "--overwrite")
    assert code == 0 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_default_output_is_not_replaced_either(trained, capsys):
    argv = ["sample", "--checkpoint", trained, "--n", "4", "--method", "sample"]
    assert run(capsys, *argv)[0] == 0  # --checkpoint DIR: the run's checkpoint.npz
    written = trained / "samples_sample.png"
    before = written.read_bytes()
    err = one_line_error(*run(capsys, *argv)[::2])
    assert "samples_sample.png exists" in err
    assert written.read_bytes() == before
    written.unlink()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "--out", ""], ["--out", "must be a directory path", "''"]),
        (["sample", "--out", ""], ["--out", "must be a file path", "''"]),
    ],
)
def test_an_empty_out_is_refused(capsys, argv, words):
    code, _, err = run(capsys, *argv)
    assert code == 2 and all(word in err for word in words), err


def test_out_that_is_a_directory_is_refused(trained, tmp_path, capsys):
    argv = ["reconstruct", "--checkpoint", trained, "--out", tmp_path]
    err = one_line_error(*run(capsys, *argv)[::2])
    assert "is a directory" in err


def test_reconstruct_refuses_more_images_than_there_are(trained, tmp_path, capsys):
    argv = ["reconstruct", "--checkpoint", trained, "--n", "5000", "--out", tmp_path / "r.png"]
    err = one_line_error(*run(capsys, *argv)[::2])
    assert "--n 5000" in err and "200" in err and not (tmp_path / "r.png").exists()


# =========================================================================== run folders


def test_a_live_training_owns_its_folder(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / LOCK_NAME
        host = folder_module.socket.gethostname()
        lock.write_text(json.dumps({"host": host, "pid": holder.pid, "started": time.time()}))
        before = snapshot(tmp_path)
        err = one_line_error(*run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)[::2])
        assert f"process {holder.pid}" in err and "another --out" in err
        assert snapshot(tmp_path) == before  # no checkpoint, no figure, the lock untouched
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_trainings_lock_is_taken_over_and_said(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "", "pid": dead.pid}))
    (tmp_path / LOCK_NAME).write_text(
        json.dumps({"host": folder_module.socket.gethostname(), "pid": dead.pid})
    )
    code, out, err = run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)
    assert code == 0, err
    assert f"taking over the lock of process {dead.pid}, which no longer runs" in out
    assert (tmp_path / "checkpoint.npz").is_file() and not (tmp_path / LOCK_NAME).exists()


def test_overwrite_removes_the_old_runs_files_and_nothing_else(tmp_path, capsys):
    assert run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)[0] == 0
    assert (tmp_path / "manifold.png").is_file()  # k = 2 draws the manifold
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["--limit", "200", "--hidden", "16", "--latent-dim", "3", "--no-progress"]
    code, _, err = run(capsys, "train", *argv, "--epochs", "1", "--out", tmp_path, "--overwrite")
    assert code == 0, err
    assert (
        not (tmp_path / "manifold.png").exists() and not (tmp_path / "latent_scatter.png").exists()
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert load_checkpoint(tmp_path / "checkpoint.npz").model.latent_dim == 3


# =========================================================================== data


def fake_mnist(directory: Path, monkeypatch, files=MNIST_FILES) -> None:
    """Small IDX files named like MNIST's, their checksums made the expected ones."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    shapes = {0: (40, 28, 28), 1: (40,), 2: (20, 28, 28), 3: (20,)}
    sums = dict(mnist_module.MNIST_SHA256)
    for i, name in enumerate(MNIST_FILES):
        array = rng.integers(0, 10 if i % 2 else 256, size=shapes[i], dtype=np.uint8)
        raw = write_idx(directory / f".{name}.raw", array).read_bytes()
        (directory / f".{name}.raw").unlink()
        sums[name] = hashlib.sha256(raw).hexdigest()
        if name in files:
            write_idx(directory / f"{name}.gz", array, gzip=True)
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", sums)


@pytest.mark.parametrize("how", ["--data-dir", "environment"])
def test_a_named_data_folder_that_is_missing_is_an_error_not_the_subset(
    tmp_path, capsys, monkeypatch, how
):
    missing = tmp_path / "no" / "such" / "dir"
    argv = ["--data-dir", missing] if how == "--data-dir" else []
    if how == "environment":
        monkeypatch.setenv("NUMPYVAE_MNIST_DIR", str(missing))
    out = tmp_path / "run"
    err = one_line_error(*run(capsys, "train", *TINY, *argv, "--out", out)[::2])
    assert str(missing) in err and "train-images-idx3-ubyte" in err
    assert not out.exists()


def test_a_data_folder_with_two_of_the_four_files_names_the_missing_two(
    tmp_path, capsys, monkeypatch
):
    fake_mnist(tmp_path / "half", monkeypatch, files=MNIST_FILES[:2])
    err = one_line_error(*run(capsys, "train", *TINY, "--data-dir", tmp_path / "half")[::2])
    assert f"lacks {MNIST_FILES[2]}, {MNIST_FILES[3]} (as NAME.gz or NAME)" in err


def test_auto_says_first_that_it_falls_back_to_the_subset(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NUMPYVAE_MNIST_DIR", raising=False)
    monkeypatch.setenv("NUMPYVAE_CACHE_DIR", str(tmp_path / "empty-cache"))
    code, out, _ = run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path / "run")
    assert code == 0
    assert out.splitlines()[0].startswith("no full MNIST named")
    assert "embedded 10,000-image subset" in out.splitlines()[0]


def test_a_relative_data_dir_is_stored_absolute(tmp_path, capsys, monkeypatch):
    fake_mnist(tmp_path / "data", monkeypatch)
    monkeypatch.chdir(tmp_path)
    argv = ["--data-dir", "data", "--hidden", "8", "--latent-dim", "2", "--no-progress"]
    assert run(capsys, "train", *argv, "--epochs", "1", "--out", "run")[0] == 0
    config = read_checkpoint(tmp_path / "run" / "checkpoint.npz").metadata["config"]
    assert config["data_dir"] == str(tmp_path / "data") and config["data"] == "mnist"
    monkeypatch.chdir(tmp_path / "run")  # evaluate from another folder finds the data
    code, out, err = run(capsys, "evaluate", "--checkpoint", "checkpoint.npz")
    assert code == 0, err
    assert "20 test images of mnist" in out


def test_evaluate_data_dir_on_a_subset_run_is_not_ignored(trained, tmp_path, capsys):
    argv = ["evaluate", "--checkpoint", trained, "--data-dir", tmp_path]
    err = one_line_error(*run(capsys, *argv)[::2])
    assert "embedded subset" in err and "--data mnist" in err


def test_a_one_image_run_draws_its_figures(tmp_path, capsys):
    argv = ["--data", "embedded", "--limit", "1", "--epochs", "1", "--no-progress"]
    code, _, err = run(capsys, "train", *argv, "--out", tmp_path)
    assert code == 0, err
    assert (tmp_path / "embeddings.png").is_file()


# =========================================================================== resume


def test_resume_of_an_api_checkpoint_with_partial_metadata(tmp_path, capsys):
    model = VAE(784, 2, hidden=(8,))
    trainer = Trainer(model, Adam(model.params), batch_size=32)
    save_checkpoint(tmp_path / "checkpoint.npz", trainer, {"config": {"limit": 100}})
    code, out, err = run(capsys, "train", "--resume", "--epochs", "1", "--out", tmp_path)
    assert code == 0, err
    assert "epochs 1..1, batch size 32" in out and "hidden=(8,)" in out


def test_resume_may_lower_the_learning_rate_and_records_it(tmp_path, capsys):
    assert run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)[0] == 0
    argv = ["train", "--resume", "--epochs", "1", "--lr", "0.0001", "--out", tmp_path]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "lr 0.0001" in out
    assert load_checkpoint(tmp_path / "checkpoint.npz").optimizer.lr == 1e-4
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["config"]["changes"] == [{"epoch": 1, "lr": [0.001, 0.0001]}]


# =========================================================================== faults


def test_a_killed_writers_temporary_files_go_at_the_next_write(tmp_path):
    path = tmp_path / "checkpoint.npz"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".checkpoint.npz.{dead.pid}.x1y2z3.tmp"
    legacy = tmp_path / ".checkpoint.npz.abcdefgh.tmp"  # written before the process id was
    live = tmp_path / f".checkpoint.npz.{os.getppid()}.a1b2c3.tmp"
    other = tmp_path / ".history.json.abcdefgh.tmp"
    for p in (stale, legacy, live, other):
        p.write_bytes(b"x" * 1000)
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert temporaries_of(path) == [live]  # a live writer's file is left alone
    assert other.exists()  # another file's writes are not this write's business


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failed_write_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch, error):
    path = tmp_path / "history.json"
    path.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError) as info, atomic_write(path) as f:
        f.write(b"new")
    assert info.value.errno == error
    assert f"cannot write {path}" in str(info.value) and "previous content" in str(info.value)
    assert path.read_bytes() == b"old" and not temporaries_of(path)


def test_disk_full_during_training_says_what_is_intact_and_how_to_continue(
    tmp_path, capsys, monkeypatch
):
    import numpyvae.checkpoint as checkpoint_module

    real_savez = np.savez
    calls = {"n": 0}

    def savez_then_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savez(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.np, "savez", savez_then_fail)
    code, _, err = run(capsys, "train", *TINY, "--epochs", "3", "--out", tmp_path)
    one_line_error(code, err, expected_code=1)
    assert f"cannot write {tmp_path / 'checkpoint.npz'}" in err and "No space left" in err
    assert "checkpoint of epoch 1 is intact" in err and "--resume --epochs 2" in err
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 1
    assert not temporaries_of(tmp_path / "checkpoint.npz")


def test_an_unwritable_out_is_found_before_the_first_epoch(tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(folder_module.tempfile, "mkstemp", refuse)
    code, out, err = run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)
    one_line_error(code, err)
    assert "cannot write in --out" in err and "Permission denied" in err
    assert "nothing was trained" in err and "epoch" not in out


def test_a_disk_too_full_for_two_checkpoints_is_found_before_the_first_epoch(
    tmp_path, capsys, monkeypatch
):
    usage = folder_module.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(folder_module.shutil, "disk_usage", lambda p: usage._replace(free=1000))
    err = one_line_error(*run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)[::2])
    assert "MiB free" in err and "two checkpoints" in err
    assert not (tmp_path / "checkpoint.npz").exists()


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
def test_sigterm_stops_like_ctrl_c_with_the_resume_hint(tmp_path):
    argv = [sys.executable, "-m", "numpyvae", "train", "--limit", "2000", "--hidden", "64"]
    argv += ["--latent-dim", "2", "--epochs", "200", "--out", str(tmp_path)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.startswith("epoch   1/"):
                break
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "is intact" in err and "--resume" in err
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch >= 1
    assert not (tmp_path / LOCK_NAME).exists()


# =========================================================================== divergence


def test_divergence_stops_with_one_message_and_keeps_the_last_good_epoch(tmp_path, capsys):
    assert run(capsys, "train", *TINY, "--epochs", "1", "--out", tmp_path)[0] == 0
    before = (tmp_path / "checkpoint.npz").read_bytes()
    argv = ["train", "--resume", "--epochs", "2", "--lr", "100", "--out", tmp_path]
    code, _, err = run(capsys, *argv)
    one_line_error(code, err, expected_code=1)
    assert "diverged" in err and "RuntimeWarning" not in err
    assert "checkpoint of epoch 1 is intact" in err and "--resume --lr 10" in err
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_a_loss_that_explodes_without_overflowing_is_a_divergence():
    x = (np.random.default_rng(0).random((64, 6)) > 0.5).astype(float)
    model = VAE(6, 2, (5,))
    trainer = Trainer(model, SGD(model.params, lr=50.0, momentum=0.0), batch_size=8)
    with pytest.raises(DivergenceError, match=r"diverged \(the loss started at"):
        trainer.fit(x, epochs=5)


# =========================================================================== arguments


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: VAE(784, 2, hidden=400), ["hidden", "400", "(400,)"]),
        (lambda: VAE(784, 2, seed=-1), ["seed", "-1", ">= 0"]),
        (lambda: VAE(784, 2, seed="0"), ["seed", "'0'", "integer"]),
        (lambda: VAE(784, 2, n_samples=0), ["n_samples", "0", ">= 1"]),
        (lambda: VAE(784, 2, beta=-0.5), ["beta", "-0.5", ">= 0"]),
        (lambda: VAE(784, 2, dtype="float16"), ["dtype", "float16", "float32 or float64"]),
        (lambda: VAE(784, 2, config=3), ["config", "VAEConfig"]),
        (lambda: Trainer(VAE(4, 2, (3,)), None), ["optimizer", "NoneType"]),
        (lambda: Trainer("model", None), ["model", "str"]),
        (
            lambda: Trainer(VAE(4, 2, (3,)), Adam(VAE(4, 2, (3,)).params)),
            ["optimizer", "this model's parameters"],
        ),
        (lambda: _trainer(seed=-1), ["seed", "-1", ">= 0"]),
        (lambda: _trainer(transform=3), ["transform", "3", "function"]),
    ],
)
def test_api_arguments_are_named_with_their_value_and_what_is_accepted(build, words):
    with pytest.raises(InputError) as info:
        build()
    message = str(info.value)
    assert all(word in message for word in words), message


def _trainer(**options) -> Trainer:
    model = VAE(4, 2, (3,))
    return Trainer(model, Adam(model.params), **options)


def test_a_numpy_integer_seed_is_an_integer_everywhere(tmp_path):
    model = VAE(4, 2, (3,), seed=np.int64(7))
    trainer = Trainer(model, Adam(model.params), seed=np.int32(3))
    save_checkpoint(tmp_path / "c.npz", trainer)
    restored = load_checkpoint(tmp_path / "c.npz")
    assert restored.model.config.seed == 7 and restored.seed == 3


def test_errors_about_the_test_set_call_it_x_test():
    model = VAE(4, 2, (3,))
    trainer = Trainer(model, Adam(model.params))
    x = np.random.default_rng(0).random((8, 4))
    with pytest.raises(InputError, match=r"x_test must have shape \(batch, 4\)"):
        trainer.fit(x, 1, x_test=np.zeros((3, 5)))


def test_a_pickled_file_is_refused_without_numpys_pickle_advice(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"a": 1}], dtype=object), format_version=np.array(2))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "allow_pickle" not in str(info.value) and "pickled Python objects" in str(info.value)


def test_the_synthetic_data_runs_with_its_defaults():
    x, labels = two_moons(256)
    assert x.shape == (256, 2) and set(np.unique(labels)) == {0, 1}


# =========================================================================== the terminal


def test_no_progress_bar_goes_to_a_log_that_is_not_a_terminal(tmp_path, capsys):
    argv = ["--limit", "200", "--hidden", "16", "--latent-dim", "2"]  # no --no-progress
    code, out, err = run(capsys, "train", *argv, "--epochs", "1", "--out", tmp_path)
    assert code == 0 and err == "" and "it/s" not in out


def test_the_command_runs_from_the_folder_that_holds_a_checkout_named_numpyvae(tmp_path):
    (tmp_path / "numpyvae").symlink_to(ROOT, target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "-m", "numpyvae", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("numpyvae ")


def test_the_readmes_virtual_environment_is_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".venv/" in ignored
    assert "notebooks/models/" in ignored  # what notebook 04 writes
