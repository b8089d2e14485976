"""Checkpoints: exact round trip, bitwise resume, atomic writes, and clear errors on bad files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from numpyvae.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    atomic_write,
    load_checkpoint,
    load_model,
    read_checkpoint,
    read_metadata,
    save_checkpoint,
)
from numpyvae.optim import SGD, Adam
from numpyvae.train import Trainer
from numpyvae.vae import VAE

D = 12  # data dimension of the tiny test model


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((40, D)), rng.random((9, D))


def make_trainer(
    dtype=np.float64, optimizer: str = "adam", warmup: int = 0, **model_options
) -> Trainer:
    model = VAE(D, 2, (6,), seed=3, dtype=dtype, **model_options)
    opt = Adam(model.params, lr=1e-2) if optimizer == "adam" else SGD(model.params, lr=1e-2)
    extra = {"kl_warmup_steps": warmup} if warmup else {}
    return Trainer(model, opt, batch_size=8, seed=5, **extra)


def binarize_dynamic(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(x.shape) < x).astype(x.dtype)


def same_state(a: Trainer, b: Trainer) -> bool:
    """True if two trainers are identical bit for bit in everything a checkpoint holds."""
    return (
        a.model.params.keys() == b.model.params.keys()
        and all(np.array_equal(a.model.params[n], b.model.params[n]) for n in a.model.params)
        and all(
            np.array_equal(u, v)
            for u, v in zip(
                a.optimizer.state_dict().values(), b.optimizer.state_dict().values(), strict=True
            )
        )
        and a.history == b.history
        and a.epoch == b.epoch
        and a.batch_size == b.batch_size
        and a.rng.bit_generator.state == b.rng.bit_generator.state
        and a.model.rng.bit_generator.state == b.model.rng.bit_generator.state
    )


@pytest.fixture
def saved(tmp_path, data) -> tuple[Path, Trainer]:
    trainer = make_trainer()
    trainer.fit(data[0], 2, x_test=data[1])
    path = save_checkpoint(tmp_path / "checkpoint.npz", trainer, metadata={"note": "hello"})
    return path, trainer


# --------------------------------------------------------------------------- round trip


def test_round_trip_restores_everything(saved):
    path, trainer = saved
    checkpoint = read_checkpoint(path)
    restored = checkpoint.trainer
    assert same_state(trainer, restored)
    assert restored is not trainer and restored.model is not trainer.model
    assert restored.optimizer.lr == trainer.optimizer.lr
    assert (restored.optimizer.beta1, restored.optimizer.beta2) == (0.9, 0.999)
    assert restored.model.hidden == (6,) and restored.model.latent_dim == 2
    assert restored.model.dtype == np.float64
    assert checkpoint.metadata == {"note": "hello"}
    assert read_metadata(path) == {"note": "hello"}
    assert restored.epoch == 2 and len(restored.history) == 2


def test_the_layers_use_the_restored_weights(saved, data):
    # The weights must be copied into the arrays the layers hold, not merely rebound in a dict.
    path, trainer = saved
    model = load_model(path)
    eps = np.random.default_rng(1).standard_normal((1, 9, 2))
    assert model.loss(data[1], eps) == trainer.model.loss(data[1], eps)


def test_the_file_is_a_plain_npz_with_the_architecture_as_json(saved):
    path, _ = saved
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["format_version"]) == FORMAT_VERSION
        meta = json.loads(str(npz["meta"]))
        assert "param/encoder.0.W" in npz.files and "optimizer/m/decoder.1.b" in npz.files
    arch = meta["architecture"]
    assert arch["data_dim"] == D and arch["hidden"] == [6] and arch["dtype"] == "float64"
    assert arch["likelihood"] == "bernoulli" and arch["posterior"] == "diagonal"
    assert meta["optimizer"]["name"] == "adam"
    assert meta["optimizer"]["hyperparameters"]["lr"] == 1e-2
    assert meta["trainer"]["batch_size"] == 8 and meta["trainer"]["epoch"] == 2


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"optimizer": "sgd"},
        {"dtype": np.float32},
        # A checkpoint in the middle of a KL warm-up (5 steps an epoch, 12 steps of warm-up).
        {"warmup": 12, "beta": 0.5},
        {"likelihood": "gaussian_shared_var", "posterior": "full", "n_samples": 2},
    ],
    ids=["adam", "sgd", "float32", "kl-warmup", "learned-variance-full-covariance"],
)
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, data, options):
    x_train, x_test = data
    straight = make_trainer(**options)
    straight.transform = binarize_dynamic  # draws from the trainer's generator too
    straight.fit(x_train, 4, x_test=x_test)

    first = make_trainer(**options)
    first.transform = binarize_dynamic
    first.fit(x_train, 2, x_test=x_test)
    save_checkpoint(tmp_path / "c.npz", first)
    resumed = load_checkpoint(tmp_path / "c.npz", transform=binarize_dynamic)
    resumed.fit(x_train, 2, x_test=x_test)

    assert same_state(straight, resumed)
    assert straight.model.beta == resumed.model.beta


def test_a_resume_without_the_saved_generator_states_would_differ(tmp_path, data):
    # Guards the test above: it must be the restored RNG states that make the runs agree.
    x_train, x_test = data
    straight = make_trainer()
    straight.fit(x_train, 4, x_test=x_test)
    first = make_trainer()
    first.fit(x_train, 2, x_test=x_test)
    save_checkpoint(tmp_path / "c.npz", first)
    resumed = load_checkpoint(tmp_path / "c.npz")
    resumed.rng = np.random.default_rng(5)  # a fresh shuffle generator
    resumed.fit(x_train, 2, x_test=x_test)
    assert not np.array_equal(
        straight.model.params["encoder.0.W"], resumed.model.params["encoder.0.W"]
    )


# --------------------------------------------------------------------------- bad files


def rewrite(path: Path, change) -> None:
    """Rewrite the npz at `path` after `change(arrays)` edits its dict of arrays."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_another_format_version_is_refused_by_name(saved):
    path, _ = saved
    rewrite(path, lambda a: a.update(format_version=np.array(FORMAT_VERSION + 1)))
    with pytest.raises(CheckpointError, match=f"version {FORMAT_VERSION + 1}") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "key", ["param/decoder.0.W", "optimizer/v/encoder.1.b", "history/test_kl", "meta"]
)
def test_a_missing_entry_is_named(saved, key):
    path, _ = saved
    rewrite(path, lambda a: a.pop(key))
    with pytest.raises(CheckpointError, match=str(path)) as info:
        load_checkpoint(path)
    assert key in str(info.value) or (key == "meta" and "meta" in str(info.value))


def test_a_weight_of_the_wrong_shape_is_refused(saved):
    path, _ = saved
    rewrite(path, lambda a: a.update({"param/decoder.0.W": np.zeros((3, 3))}))
    with pytest.raises(CheckpointError, match=r"param/decoder\.0\.W has shape \(3, 3\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_file_raises_and_is_left_unchanged(saved, fraction):
    path, _ = saved
    data = path.read_bytes()
    truncated = data[: int(len(data) * fraction)]
    path.write_bytes(truncated)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)
    assert path.read_bytes() == truncated


def test_a_bit_flip_in_the_weights_raises_and_leaves_the_file_unchanged(saved):
    path, trainer = saved
    data = bytearray(path.read_bytes())
    # A byte inside the stored bytes of the first encoder weight.
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("param/encoder.0.W.npy")
    header = 30 + len(info.filename) + len(info.extra)
    position = info.header_offset + header + info.compress_size - 5
    data[position] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    assert path.read_bytes() == bytes(data)


def test_no_single_bit_flip_loads_different_values(saved):
    # Every flip is either detected (the zip CRCs, the checks) or harmless (e.g. a timestamp).
    path, trainer = saved
    original = path.read_bytes()
    flipped_path = path.with_name("flipped.npz")
    detected = 0
    for position in range(3, len(original), 97):
        data = bytearray(original)
        data[position] ^= 1 << (position % 8)
        flipped_path.write_bytes(bytes(data))
        try:
            restored = load_checkpoint(flipped_path)
        except CheckpointError:
            detected += 1
            continue
        assert same_state(trainer, restored), f"a flip at byte {position} went unnoticed"
    assert detected > 0


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_a_file_of_another_kind_raises(tmp_path, content):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_a_npy_array_or_a_foreign_npz_raises(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(CheckpointError, match="single .npy array"):
        load_checkpoint(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", x=np.arange(3))
    with pytest.raises(CheckpointError, match="no format_version"):
        load_checkpoint(tmp_path / "b.npz")


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_checkpoint(tmp_path / "nothing.npz")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("interruption", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failure_mid_write_keeps_the_previous_checkpoint(saved, data, monkeypatch, interruption):
    path, trainer = saved
    before = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")  # some bytes are out before the failure
        raise interruption

    trainer.fit(data[0], 1)  # something new to save
    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(type(interruption)):
        save_checkpoint(path, trainer)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.npz"]
    monkeypatch.undo()
    assert load_checkpoint(path).epoch == 2  # still the old, complete checkpoint


def test_metadata_that_is_not_json_writes_nothing(tmp_path, data):
    trainer = make_trainer()
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "c.npz", trainer, metadata={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(ValueError), atomic_write(path) as f:
        f.write(b"new but unfinished")
        raise ValueError("stop")
    assert path.read_bytes() == b"old"
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_saving_again_overwrites_with_the_newer_state(saved, data):
    path, trainer = saved
    trainer.fit(data[0], 1, x_test=data[1])
    save_checkpoint(path, trainer)
    assert load_checkpoint(path).epoch == 3
    assert same_state(trainer, load_checkpoint(path))


def test_a_conditional_model_resumes_bitwise(tmp_path, data):
    x_train, x_test = data
    y_train, y_test = np.arange(len(x_train)) % 3, np.arange(len(x_test)) % 3

    def fit(trainer: Trainer, epochs: int) -> None:
        trainer.fit(x_train, epochs, y_train=y_train, x_test=x_test, y_test=y_test)

    straight = make_trainer(n_classes=3)
    fit(straight, 4)
    first = make_trainer(n_classes=3)
    fit(first, 2)
    save_checkpoint(tmp_path / "c.npz", first)
    resumed = load_checkpoint(tmp_path / "c.npz")
    assert resumed.model.n_classes == 3
    fit(resumed, 2)
    assert same_state(straight, resumed)


def to_format_2(arrays: dict[str, np.ndarray]) -> None:
    """Rewrite a checkpoint's arrays as format 2 wrote them: the same record, and Adam's
    moments of the formula, (1 - b1) m and (1 - b2) v, where format 3 stores m and v
    pre-scaled (what the code before format 3 held for this state, to rounding)."""
    meta = json.loads(str(arrays["meta"]))
    meta["format_version"] = 2
    arrays.update(format_version=np.array(2), meta=np.array(json.dumps(meta)))
    if meta["optimizer"]["name"] == "adam":
        beta1, beta2 = meta["optimizer"]["hyperparameters"]["betas"]
        for key in arrays:
            if key.startswith("optimizer/m/"):
                arrays[key] = arrays[key] * (1 - beta1)
            elif key.startswith("optimizer/v/"):
                arrays[key] = arrays[key] * (1 - beta2)


@pytest.mark.parametrize(
    ("options", "rtol"),
    [({}, 1e-13), ({"dtype": np.float32}, 1e-6), ({"optimizer": "sgd"}, 0.0)],
    ids=["adam", "adam-float32", "sgd"],
)
def test_a_format_2_checkpoint_loads_migrated_and_trains_on(tmp_path, data, options, rtol):
    """Format 2 stored Adam's moments of the formula; they load divided by (1 - b1) and
    (1 - b2), and training on agrees with the uninterrupted run to rounding, not bit for bit
    (the conversion rounds): to `rtol` of each parameter's largest entry (measured: 2e-16 in
    float64, 2e-8 in float32). SGD's state did not change meaning: it resumes bit for bit."""
    x_train, x_test = data
    straight = make_trainer(**options)
    straight.fit(x_train, 4, x_test=x_test)
    first = make_trainer(**options)
    first.fit(x_train, 2, x_test=x_test)
    path = save_checkpoint(tmp_path / "c.npz", first)
    rewrite(path, to_format_2)
    with np.load(path) as npz:
        assert int(npz["format_version"]) == 2
        old_state = {k.removeprefix("optimizer/"): npz[k] for k in npz.files if "optimizer/" in k}

    resumed = load_checkpoint(path)
    state = resumed.optimizer.state_dict()
    dtype = options.get("dtype", np.float64)
    for key, value in first.optimizer.state_dict().items():
        assert state[key].dtype == value.dtype
        # the moments are back to the pre-scaled ones to a unit or two of the last place
        np.testing.assert_allclose(state[key], value, rtol=2 * np.finfo(dtype).eps, atol=0)
        if key.startswith(("m/", "v/")):  # ... which the stored ones were not
            assert not np.allclose(old_state[key], value, rtol=0.5, atol=0), key
    resumed.fit(x_train, 2, x_test=x_test)
    assert resumed.epoch == 4
    for name, p in straight.model.params.items():
        scale = np.max(np.abs(p))
        assert np.max(np.abs(resumed.model.params[name] - p)) <= rtol * scale, name
    if rtol == 0.0:
        assert same_state(straight, resumed)


def test_a_format_1_checkpoint_loads_migrated(tmp_path, data):
    """Format 1 (before VAEConfig) kept the KL weight of the moment in the architecture and the
    configured one with the trainer; it loads as the same model, trainer and weight."""
    trainer = make_trainer(warmup=12, beta=0.5)
    trainer.fit(data[0], 1, x_test=data[1])  # 5 steps: beta was last set at step 4 of 12
    path = save_checkpoint(tmp_path / "checkpoint.npz", trainer)

    def to_format_1(arrays):
        to_format_2(arrays)  # the moments of the formula, as formats 1 and 2 stored them
        meta = json.loads(str(arrays["meta"]))
        meta["format_version"] = 1
        meta["architecture"]["beta"] = meta["trainer"].pop("beta_now")
        arrays.update(format_version=np.array(1), meta=np.array(json.dumps(meta)))

    rewrite(path, to_format_1)
    restored = load_checkpoint(path)
    assert restored.model.config == trainer.model.config and restored.model.config.beta == 0.5
    assert restored.model.beta == trainer.model.beta == pytest.approx(4 / 12 * 0.5)
    assert restored.final_beta == 0.5 and restored.kl_warmup_steps == 12
    for name, p in trainer.model.params.items():
        assert np.array_equal(restored.model.params[name], p), name
    for ours, theirs in (
        (restored.optimizer.m, trainer.optimizer.m),
        (restored.optimizer.v, trainer.optimizer.v),
    ):
        np.testing.assert_allclose(ours.flat, theirs.flat, rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- damage and kinds


@pytest.mark.parametrize("where", ["param/decoder.0.W", "optimizer/m/encoder.0.b"])
def test_weights_or_state_holding_nan_are_refused_as_damaged(tmp_path, where):
    trainer = make_trainer()
    trainer.epoch = 7
    path = save_checkpoint(tmp_path / "checkpoint.npz", trainer)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[where] = arrays[where].copy()
    arrays[where].flat[0] = np.nan
    np.savez(path, **arrays)  # a file whose CRCs are right: the damage is in the values
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert f"the checkpoint of epoch 7 is damaged: {where}" in message
    assert "NaN or infinity" in message and "saved before the damage" in message
    assert "learning rate" not in message


PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PNG, "a PNG image"),
        (b'{"epoch": [1], "loss": [3.0]}', "a JSON file"),
        (b"epoch 1 loss 3.0\n", "a text file"),
        (bytes(range(7, 256)) * 3, "binary data of an unknown kind"),
        (b"", "an empty file"),
        (b"\x80\x04\x95", "a Python pickle"),
    ],
)
def test_a_file_that_is_not_a_checkpoint_is_called_what_it_is(tmp_path, content, kind):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert f"not a numpyvae checkpoint: {kind}, not an .npz archive" in message
    assert "pickled Python objects" not in message


def test_a_zip_that_is_not_an_npz_and_an_npz_without_the_record_are_named(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="a zip archive that is not an .npz"):
        load_checkpoint(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", weights=np.arange(3))
    with pytest.raises(CheckpointError, match="an .npz without numpyvae's record"):
        load_checkpoint(tmp_path / "b.npz")
