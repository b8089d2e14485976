"""`VAEConfig`: the one list of a model's options, their defaults, checks and rules.

Everything that needs the list of options reads it from here: the model is built from a
`VAEConfig`; its `__repr__`, the checkpoint's architecture record and the command line's
`train` options (their flags, types, choices, defaults and help) are derived from the fields
below. Adding an option is one field here (with its `help`) plus the code that implements it.

A field's metadata says how the command line shows it:
- `help`: the option's help text (the default is appended);
- `flag`: the option's name where it is not the field's name with dashes;
- `cli`: False for the fields the command line sets itself (data_dim comes from the data);
- `metavar`: the placeholder of the option's value in the help;
- `check(name, value)`: the field's check, which returns the value in its normal form; the
  command line applies it to what the user typed, so both say the same thing of a bad value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numpyvae.layers.activations import ACTIVATIONS
from numpyvae.layers.dense import INITS
from numpyvae.likelihoods import LIKELIHOODS
from numpyvae.objectives import KL_ESTIMATORS, OBJECTIVES
from numpyvae.posteriors import POSTERIORS
from numpyvae.validation import (
    ConfigError,
    check_choice,
    check_dtype,
    check_non_negative_float,
    check_non_negative_int,
    check_positive_int,
)

DTYPES = ("float64", "float32")


def check_hidden(name: str, value: Any) -> tuple[int, ...]:
    """Hidden layer sizes as a tuple of positive integers; one size alone is refused, since
    hidden=400 is a common slip for hidden=(400,)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(
            f"{name} must be a sequence of layer sizes such as (400,) or (512, 256), got {value!r}"
        )
    return tuple(check_positive_int(f"{name}[{i}]", h) for i, h in enumerate(value))


def check_dtype_name(name: str, value: Any) -> str:
    """ "float32" or "float64", from a name, a NumPy dtype or a type such as np.float32."""
    return check_dtype(name, value).name


def check_optional_classes(name: str, value: Any) -> int | None:
    """None (a plain VAE) or the number of classes, a positive integer."""
    return None if value is None else check_positive_int(name, value)


def _option(default: Any, help: str, check: Any = None, **metadata: Any) -> Any:
    return field(default=default, metadata={"help": help, "check": check, **metadata})


@dataclass(frozen=True)
class VAEConfig:
    """The options of a VAE (derivations.md §2.4 for the loss they define).

    data_dim d and latent_dim k; hidden: the encoder's hidden layer sizes (the decoder mirrors
    them). The defaults give the plain VAE of the lectures: a diagonal Gaussian posterior, a
    Bernoulli decoder, the analytic-KL ELBO with one sample of z per point.
    """

    data_dim: int = _option(784, "data dimension d", check_positive_int, cli=False)
    latent_dim: int = _option(
        20, "dimension k of z; 2 also draws the latent manifold", check_positive_int, metavar="K"
    )
    hidden: tuple[int, ...] = _option(
        (400,),
        "hidden layer sizes of the encoder, comma-separated (the decoder mirrors them), "
        "e.g. 400 or 512,256",
        check_hidden,
        metavar="SIZES",
    )
    likelihood: str = _option(
        "bernoulli", "decoder likelihood p(x|z) (derivations.md §5)", choices=tuple(LIKELIHOODS)
    )
    activation: str = _option("relu", "hidden-layer activation", choices=tuple(ACTIVATIONS))
    posterior: str = _option(
        "diagonal",
        "approximate posterior q(z|x): a Gaussian with 'diagonal' covariance, or 'full' "
        "covariance through a Cholesky factor L (derivations.md §4.4), or that diagonal "
        "Gaussian bent by --flow-length 'planar' or 'radial' normalizing-flow steps, with "
        "the sampled KL or the IWAE (derivations.md §14)",
        choices=tuple(POSTERIORS),
    )
    flow_length: int = _option(
        1,
        "K, the number of flow steps of a 'planar' or 'radial' posterior; 0 is the diagonal "
        "posterior (derivations.md §14)",
        check_non_negative_int,
        metavar="K",
    )
    n_samples: int = _option(
        1,
        "Monte Carlo samples of z per image in the loss; with --objective iwae, the K of the bound",
        check_positive_int,
        flag="samples",
        metavar="M",
    )
    seed: int = _option(
        0,
        "seed of the initial weights, the shuffling and the noise; the same seed and options "
        "give the same run, bit for bit",
        check_non_negative_int,
        metavar="S",
    )
    dtype: str = _option(
        "float64", "floating-point precision; float32 is faster", check_dtype_name, choices=DTYPES
    )
    init: str = _option("uniform", "weight initialisation", choices=INITS)
    objective: str = _option(
        "elbo",
        "what training optimises: "
        + "; ".join(f"'{name}', {cls.summary}" for name, cls in OBJECTIVES.items()),
        choices=tuple(OBJECTIVES),
    )
    kl_estimator: str = _option(
        "analytic",
        "the ELBO's KL term: 'analytic', in closed form (AEVB's estimator B), or 'sampled', "
        "log q(z|x) - log p(z) at the samples of z (estimator A) (derivations.md §7.2); "
        "--objective elbo only",
        choices=KL_ESTIMATORS,
    )
    beta: float = _option(
        1.0,
        "weight of the KL term: loss = reconstruction + BETA * KL, 1 being the ELBO; with "
        "--objective iwae it weights log p(z) - log q(z|x) in each log-weight "
        "(derivations.md §9.4); test losses always use 1",
        check_non_negative_float,
    )
    n_classes: int | None = _option(
        None,
        "a conditional VAE on N class labels c: q(z|x,c) and p(x|z,c), c one-hot "
        "(derivations.md §9.2)",
        check_optional_classes,
        cli=False,
    )

    def __post_init__(self) -> None:
        # Each value is checked by its field's `check` (or against its `choices`) and stored in
        # its normal form (the dataclass is frozen, hence object.__setattr__), so that equal
        # options compare equal whatever form they were given in: [400] and (400,), np.float32
        # and "float32". Then the objective's rules across fields.
        for name, option in options().items():
            value = getattr(self, name)
            if option.metadata["check"] is not None:
                value = option.metadata["check"](name, value)
            elif "choices" in option.metadata:
                value = check_choice(name, value, option.metadata["choices"])
            object.__setattr__(self, name, value)
        POSTERIORS[self.posterior].check_config(self)
        OBJECTIVES[self.objective].check_config(self)

    @property
    def np_dtype(self) -> np.dtype:
        """`dtype` as a NumPy dtype."""
        return np.dtype(self.dtype)

    def replace(self, **changes: Any) -> VAEConfig:
        """A copy with `changes` applied, checked again."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (hidden as a list): the checkpoint's record."""
        return {f.name: list(v) if f.name == "hidden" else v for f, v in self._items()}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> VAEConfig:
        """The configuration of a record written by `as_dict`; options it lacks (written by
        an older version) take their defaults. Unknown names are refused."""
        unknown = sorted(set(record) - set(options()))
        if unknown:
            raise ConfigError(
                f"unknown model option(s) {', '.join(unknown)}; this numpyvae knows "
                f"{', '.join(options())}"
            )
        return cls(**record)

    def _items(self):
        return ((f, getattr(self, f.name)) for f in dataclasses.fields(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={v!r}" for f, v in self._items())
        return f"VAEConfig({shown})"


def options() -> dict[str, dataclasses.Field]:
    """The fields of VAEConfig by name, in order: each option's default and metadata."""
    return {f.name: f for f in dataclasses.fields(VAEConfig)}
