"""The run folder of `numpyvae train`: a new run only into an empty folder, --overwrite removing
only what the previous run recorded writing (and only once every check has passed), locks and
unwritable folders named with the way out. tests/README.md lists each case."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import TINY, one_line_error, run

import numpyvae.cli.folder as folder_module
from numpyvae.checkpoint import load_checkpoint
from numpyvae.cli.folder import LOCK_NAME, process_start_time


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def train(capsys, out: Path, *extra: object) -> tuple[int, str, str]:
    return run(capsys, "train", *TINY, "--epochs", "1", "--out", out, *extra)


def users_folder(tmp_path: Path) -> Path:
    """A folder holding the user's own files under the names a run writes, and no run."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "samples.png").write_bytes(b"my drawing")
    (folder / "losses.png").write_bytes(b"my plot")
    (folder / "history.json").write_text('{"my": "notes"}')
    return folder


def test_a_folder_of_the_users_files_is_refused_without_overwrite(tmp_path, capsys):
    folder = users_folder(tmp_path)
    before = snapshot(folder)
    err = one_line_error(*train(capsys, folder)[::2])
    assert f"--out {folder} is not empty" in err and "samples.png" in err
    assert "choose another --out" in err
    assert snapshot(folder) == before


def test_overwrite_never_replaces_a_file_no_run_recorded(tmp_path, capsys):
    folder = users_folder(tmp_path)
    before = snapshot(folder)
    code, out, err = train(capsys, folder, "--overwrite")
    one_line_error(code, err)
    assert "history.json, losses.png, samples.png" in err
    assert "no previous run there recorded writing" in err and "nothing was trained" in err
    assert snapshot(folder) == before and "epoch" not in out


def test_overwrite_in_a_folder_without_a_run_keeps_every_file(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    err = one_line_error(*train(capsys, folder)[::2])
    assert "is not empty (it holds notes.txt)" in err and "--overwrite" in err
    code, _, err = train(capsys, folder, "--overwrite")
    assert code == 0, err
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "checkpoint.npz").is_file()


def test_the_history_lists_the_runs_files_and_overwrite_removes_only_those(tmp_path, capsys):
    folder = tmp_path / "run"
    assert train(capsys, folder)[0] == 0
    record = json.loads((folder / "history.json").read_text())
    written = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert set(record["files"]) == written  # every file the run wrote, and only those
    # A record naming a file outside the run's names, or outside the folder, removes neither.
    (tmp_path / "outside.txt").write_text("keep")
    (folder / "notes.txt").write_text("keep")
    record["files"] += ["../outside.txt", "notes.txt"]
    (folder / "history.json").write_text(json.dumps(record))
    code, _, err = train(capsys, folder, "--overwrite")
    assert code == 0, err
    assert (tmp_path / "outside.txt").read_text() == "keep"
    assert (folder / "notes.txt").read_text() == "keep"


def test_overwrite_on_a_disk_too_small_keeps_the_old_run(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "run"
    assert train(capsys, folder)[0] == 0
    before = snapshot(folder)
    monkeypatch.setattr(folder_module, "checkpoint_bytes", lambda trainer: 10**15)
    code, out, err = train(capsys, folder, "--overwrite")
    one_line_error(code, err)
    assert "MiB free" in err and "nothing was trained and nothing removed" in err
    assert snapshot(folder) == before and "epoch" not in out


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    folder = tmp_path / "run"
    assert train(capsys, folder)[0] == 0
    before = snapshot(folder)
    err = one_line_error(*train(capsys, folder, "--resume", "--overwrite")[::2])
    assert "--resume and --overwrite contradict each other" in err and "give one" in err
    assert snapshot(folder) == before


def test_a_read_only_folder_is_named_and_nothing_was_trained(tmp_path, capsys, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if Path(path).parent == tmp_path and flags & os.O_CREAT:
            raise PermissionError(13, "Read-only file system")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(folder_module.os, "open", read_only)
    code, out, err = train(capsys, tmp_path)
    one_line_error(code, err)
    assert f"cannot write in --out {tmp_path}: Read-only file system" in err
    assert "nothing was trained" in err and LOCK_NAME not in err and "epoch" not in out


def test_a_lock_of_another_host_names_whose_it_is_and_how_to_remove_it(tmp_path, capsys):
    lock = tmp_path / LOCK_NAME
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 4242, "started": time.time()}))
    before = snapshot(tmp_path)
    err = one_line_error(*train(capsys, tmp_path)[::2])
    assert f"{tmp_path} is being written by another training (process 4242 on elsewhere" in err
    assert "nothing was trained" in err
    assert "check on elsewhere with `ps -p 4242 -o args`" in err
    assert f"`rm {shlex.quote(str(lock))}`" in err
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="needs Linux's /proc")
def test_a_lock_whose_process_id_was_reused_after_a_reboot_is_taken_over(tmp_path, capsys):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = folder_module.socket.gethostname()
        written = time.time() - 3600  # the lock is older than the process now holding its id
        (tmp_path / LOCK_NAME).write_text(
            json.dumps({"host": host, "pid": stranger.pid, "started": written})
        )
        code, out, err = train(capsys, tmp_path)
        assert code == 0, err
        assert f"taking over the lock of process {stranger.pid}" in out
        assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 1
    finally:
        stranger.kill()
        stranger.wait()


def test_a_live_trainings_refusal_gives_the_way_out(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        host = folder_module.socket.gethostname()
        lock = tmp_path / LOCK_NAME
        lock.write_text(json.dumps({"host": host, "pid": holder.pid, "started": time.time()}))
        err = one_line_error(*train(capsys, tmp_path)[::2])
        assert "wait for it to end or train into another --out" in err.lower()
        assert f"`ps -p {holder.pid} -o args`" in err and f"`rm {shlex.quote(str(lock))}`" in err
    finally:
        holder.kill()
        holder.wait()
