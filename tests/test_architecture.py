"""The shape of the package: no import cycle, no reaching into another class's private
members, small command-line modules, each public constant defined once, and the model's
options listed once (VAEConfig) and followed everywhere."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.checkpoint import architecture
from numpyvae.cli import build_parser
from numpyvae.cli.options import model_flag
from numpyvae.config import VAEConfig, options
from numpyvae.objectives import OBJECTIVES, Objective
from numpyvae.validation import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "numpyvae"
# Where code that uses the package lives, besides the package itself.
USERS = [*ROOT.glob("benchmarks/*.py"), *ROOT.glob("scripts/*.py"), *ROOT.glob("notebooks/**/*.py")]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The numpyvae modules `path` imports, anywhere but under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known and name != this)
    return found


def test_the_package_has_no_import_cycle():
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imported_modules(path, set(paths)) for name, path in paths.items()}
    # A parent package imports its submodules when they are imported: not a dependency here.
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def private_members_of_the_package() -> set[str]:
    """Every `_name` that a numpyvae class defines (a method, or self._name = ...)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name.startswith("_") and not node.name.startswith("__"):
                    names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                private = node.attr.startswith("_") and not node.attr.startswith("__")
                if private and node.value.id == "self" and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
    return names


def test_no_code_reaches_into_another_objects_private_members():
    private = private_members_of_the_package()
    offences = []
    for path in [*PACKAGE.rglob("*.py"), *USERS]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Attribute) and node.attr in private):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offences, "private members used from outside:\n" + "\n".join(offences)


def test_no_module_of_the_command_line_is_over_400_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / "cli").glob("*.py")}
    assert max(sizes.values()) <= 400, sizes


def test_each_public_constant_is_defined_once():
    where: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                name = getattr(target, "id", "_")
                if name.isupper() and not name.startswith("_"):
                    where.setdefault(name, []).append(str(path.relative_to(ROOT)))
    repeated = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not repeated, repeated


# ----------------------------------------------------------------------------- the options


def test_the_keyword_form_and_the_config_build_the_same_model():
    keywords = VAE(10, 3, hidden=(7, 5), likelihood="gaussian", n_samples=2, seed=4, beta=0.5)
    config = VAEConfig(
        data_dim=10, latent_dim=3, hidden=(7, 5), likelihood="gaussian", n_samples=2, seed=4,
        beta=0.5,
    )  # fmt: skip
    built = VAE(config=config)
    assert keywords.config == config and built.config == config
    for name, value in keywords.params.items():
        assert np.array_equal(value, built.params[name]), name


def test_every_option_is_in_the_repr_the_checkpoint_and_the_command_line():
    changed = VAEConfig(
        data_dim=6, latent_dim=2, hidden=(4,), likelihood="gaussian_shared_var",
        activation="tanh", posterior="planar", n_samples=3, seed=9, dtype="float32", init="he",
        objective="elbo", kl_estimator="sampled", beta=0.25, n_classes=4,
        flow_length=2,
    )  # fmt: skip
    defaults = {f.name: f.default for f in dataclasses.fields(VAEConfig)}
    # The sampled KL needs the ELBO: the objective is the one option left at its default here.
    assert [name for name in defaults if getattr(changed, name) == defaults[name]] == ["objective"]
    assert "objective='iwae'" in repr(VAE(4, 2, (3,), objective="iwae"))
    model = VAE(config=changed)
    shown = repr(model)
    record = architecture(model)
    flags = {o for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
             for o in a.option_strings}  # fmt: skip
    for name, option in options().items():
        assert f"{name}=" in shown or name == "objective", name  # the repr omits defaults
        assert VAEConfig.from_dict(record) == changed
        if option.metadata.get("cli", True):
            assert model_flag(name) in flags, name


def test_options_are_normalised_so_equal_options_compare_equal():
    assert VAEConfig(hidden=[400], dtype=np.float32) == VAEConfig(hidden=(400,), dtype="float32")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"hidden": 400}, ["hidden", "400", "(400,)"]),
        ({"seed": -1}, ["seed", "-1", ">= 0"]),
        ({"seed": np.int64(3), "n_samples": 0}, ["n_samples", "0", ">= 1"]),
        ({"likelihood": "poisson"}, ["likelihood", "'poisson'", "'bernoulli'"]),
        ({"beta": float("nan")}, ["beta", "nan", ">= 0"]),
        ({"objective": "iwae", "kl_estimator": "sampled"}, ["kl_estimator", "objective='elbo'"]),
        ({"n_classes": 0}, ["n_classes", "0"]),
    ],
)
def test_a_bad_option_names_itself_its_value_and_what_is_accepted(options, words):
    with pytest.raises(InputError) as info:
        VAEConfig(**options)
    message = str(info.value)
    assert all(word in message for word in words), message


def test_an_unknown_option_is_refused_with_the_list_of_options():
    with pytest.raises(TypeError, match="unknown option.*hiden.*the options are data_dim"):
        VAE(4, 2, hiden=(3,))
    with pytest.raises(ConfigError, match="unknown model option"):
        VAEConfig.from_dict({"data_dim": 4, "color": "red"})


def test_every_registered_objective_has_a_name_a_summary_and_the_two_methods():
    for name, cls in OBJECTIVES.items():
        assert issubclass(cls, Objective) and cls.name == name
        assert "derivations.md §" in cls.summary, name
        assert not getattr(cls, "__abstractmethods__", None), name
