"""The options a training run records: the model's (VAEConfig's, under their command-line
names) and the run's own, their defaults, and the rules for resuming a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from numpyvae.checkpoint import Checkpoint, optimizer_name
from numpyvae.cli.data import N_DIGITS
from numpyvae.cli.options import PROG, CommandError, in_option_words, model_dest
from numpyvae.config import VAEConfig
from numpyvae.config import options as model_options
from numpyvae.validation import ConfigError

# The defaults of the run's own options. With the model's (VAEConfig's) defaults, the default
# run on the embedded subset takes under a minute on 2 cores and gives recognisable digits:
# 784-400-20 in float64 trains at about 1.0 s an epoch there on an idle machine; 25 epochs
# took 27 s in all and reached a test loss of 108.50 nats per image.
TRAINING_DEFAULTS: dict[str, Any] = {
    "data": "auto",
    "data_dir": None,
    "limit": None,
    "batch_size": 128,
    "lr": 1e-3,
    "optimizer": "adam",
    "kl_warmup_epochs": 0,
    "conditional": False,
    "binarize": None,  # "dynamic" for the Bernoulli likelihood, "none" for the Gaussian
    "noise": None,  # 0.1 for the Fisher objective on unbinarized data, else 0
}
# Every option a run records, by destination, with its default.
RUN_DEFAULTS: dict[str, Any] = {
    **{
        model_dest(name): field.default
        for name, field in model_options().items()
        if field.metadata.get("cli", True)
    },
    **TRAINING_DEFAULTS,
}
# The options a resumed run must share with the run it continues (a different value would
# not continue the same computation); --data-dir may change because it is only a location,
# and --lr because a diverging run is continued with a lower one (the change is recorded).
RESUME_FIXED = tuple(k for k in RUN_DEFAULTS if k not in ("data_dir", "lr"))


def model_config(config: dict[str, Any], data_dim: int) -> VAEConfig:
    """The VAEConfig of a run's options; a bad combination is said in the options' words."""
    fields = {
        name: config[model_dest(name)]
        for name, field in model_options().items()
        if field.metadata.get("cli", True)
    }
    try:
        return VAEConfig(
            data_dim=data_dim, n_classes=N_DIGITS if config["conditional"] else None, **fields
        )
    except ConfigError as exc:
        raise CommandError(in_option_words(str(exc))) from exc


def resumed_config(checkpoint: Checkpoint, path: Path) -> dict[str, Any]:
    """The options of the run saved at `path`: the model's from the checkpoint's model, the
    training's from what `train` saved with it (or from the trainer, where that is missing)."""
    saved = checkpoint.metadata.get("config")
    if not isinstance(saved, dict):
        raise CommandError(
            f"{path}: no training options saved with it (not written by `{PROG} train`), so "
            "it cannot be resumed from the command line"
        )
    trainer = checkpoint.trainer
    model = trainer.model
    from_trainer = {
        "batch_size": trainer.batch_size,
        "lr": trainer.optimizer.lr,
        "optimizer": optimizer_name(trainer.optimizer),
        "conditional": model.n_classes is not None,
    }
    from_model = {
        model_dest(name): getattr(model.config, name)
        for name, field in model_options().items()
        if field.metadata.get("cli", True)
    }
    # Options added since the checkpoint was written take their defaults: the plain VAE.
    return {**RUN_DEFAULTS, **from_trainer, **saved, **from_model}


def check_resume_options(given: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """Refuse options that would make a resumed run differ from the run it continues."""
    for key in RESUME_FIXED:
        if key == "data" and given.get(key) == "auto":
            continue  # "auto" was resolved when the run started; it matches either
        if key in given and given[key] != config[key]:
            option = "--" + key.replace("_", "-")
            shown = ",".join(map(str, given[key])) if key == "hidden" else given[key]
            was = ",".join(map(str, config[key])) if key == "hidden" else config[key]
            if key == "conditional":  # a flag: it can only have been given to a plain run
                raise CommandError(
                    f"{option} was given, but the run in {path} is not conditional; a resumed "
                    f"run keeps its options: leave {option} out"
                )
            raise CommandError(
                f"{option} {shown} differs from the run in {path} ({option} {was}); a resumed "
                f"run keeps its options: leave {option} out"
            )


# Intensities lie in [0, 1]: noise of a larger standard deviation leaves no digit to learn, and
# the loss then grows with the noise (1e8 gives a test loss of 4e18), not with the learning rate.
MAX_NOISE = 1.0


def check_noise(config: dict[str, Any]) -> None:
    """Refuse --noise where it cannot work: with the Bernoulli likelihood, whose targets must
    stay in [0, 1], and above MAX_NOISE."""
    noise = config["noise"] or 0.0
    if noise and config["likelihood"] == "bernoulli":
        raise CommandError(
            f"--noise {noise:g} takes the intensities out of [0, 1], where the Bernoulli "
            "likelihood is defined: use it with --likelihood gaussian or gaussian_shared_var, "
            "or leave --noise out"
        )
    if noise > MAX_NOISE:
        raise CommandError(
            f"--noise {noise:g} is larger than the whole range [0, 1] of the intensities, so "
            f"the digits would drown in it: use a standard deviation of at most {MAX_NOISE:g} "
            "(the Fisher objective's default is 0.1)"
        )
