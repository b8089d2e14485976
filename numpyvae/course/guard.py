"""What a submission may not do while the grader runs its code.

`LibraryBlock` replaces, for the duration of a `with` block, the library's own implementations
of the graded backward passes by functions that refuse to run: every function numpyvae defines
(wherever a module re-exports it, or a registry dict holds it) and every method of its classes,
the finite differences of numpyvae.gradcheck and the forward passes of numpyvae.exercises
included. Only the element-wise helpers an answer may use, `sigmoid` and `softplus`, stay
usable. A blocked call raises `Blocked`, which derives from BaseException so that an answer's
`except Exception` cannot swallow it, and is remembered in `LibraryBlock.calls`.

`ModuleSnapshot` notices (and undoes) a submission that rebinds a name inside a numpyvae module
or one of its classes, or in NumPy's namespace, e.g. `numpyvae.exercises.check_kl_backward =
...`, `DiagonalGaussian.kl = ...` or `np.sum = ...`: the grader's finite differences use them.
"""

from __future__ import annotations

import inspect
import signal
import sys
from types import FunctionType, ModuleType

# Never touched: the grader itself.
GRADER = "numpyvae.course"
# What an answer may call: element-wise functions with no gradient in them.
ALLOWED = {"numpyvae.layers.activations.sigmoid", "numpyvae.layers.activations.softplus"}


def _library_function(value: object) -> bool:
    """Whether `value` is a function numpyvae defines, outside the grader and ALLOWED."""
    if not isinstance(value, FunctionType):
        return False
    module = getattr(value, "__module__", None) or ""
    return (
        module.startswith("numpyvae.")
        and not module.startswith(GRADER)
        and f"{module}.{value.__qualname__}" not in ALLOWED
    )


class Blocked(BaseException):  # noqa: N818 (it is not an error of the grader)
    """Raised by a library function that a submission called while it was blocked."""


def _numpyvae_modules() -> list[ModuleType]:
    return [
        module
        for name, module in sorted(sys.modules.items())
        if (name == "numpyvae" or name.startswith("numpyvae."))
        and not name.startswith(GRADER)
        and isinstance(module, ModuleType)
    ]


def _refuser(qualname: str, owner: type | None = None):
    # Not functools.wraps: its __wrapped__ would hand the original back to the submission.
    def refuse(*args, **kwargs):
        name = qualname
        if owner is not None and args and isinstance(args[0], owner):
            # An inherited method: name the class the submission used (ReLU, not Layer).
            name = f"{type(args[0]).__qualname__}.{qualname.rsplit('.', 1)[-1]}"
        LibraryBlock.calls.append(name)
        raise Blocked(
            f"{name} is numpyvae's own implementation; the grader does not let an answer "
            "call it: write the gradient by hand"
        )

    refuse.__qualname__ = refuse.__name__ = qualname.rsplit(".", 1)[-1]
    return refuse


def _set(owner, name, value) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


class LibraryBlock:
    """Context manager: the library's gradient code refuses to run inside the block.

    `LibraryBlock.calls` lists the qualified names of the blocked functions called, in order,
    since it was last cleared.
    """

    calls: list[str] = []

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []

    def _targets(self):
        """(owner, key, qualified name) of everything to block; owner a namespace or a dict."""
        for module in _numpyvae_modules():
            for name, value in list(vars(module).items()):
                if _library_function(value):
                    yield module, name, f"{value.__module__}.{value.__qualname__}"
                elif isinstance(value, dict):  # a registry of functions, e.g. by name
                    for key, item in list(value.items()):
                        if _library_function(item):
                            yield value, key, f"{item.__module__}.{item.__qualname__}"
                elif (
                    inspect.isclass(value)
                    and value.__module__ == module.__name__
                    and not issubclass(value, BaseException)
                ):
                    for attr, member in list(vars(value).items()):
                        public = not attr.startswith("_") or attr in ("__init__", "__call__")
                        if public and isinstance(member, (FunctionType, staticmethod)):
                            yield value, attr, f"{value.__qualname__}.{attr}"

    def __enter__(self) -> LibraryBlock:
        # No time-limit alarm may interrupt the patching half-way (numpyvae.course.grade).
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            self._patch()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return self

    def _patch(self) -> None:
        seen = set()
        for owner, name, qualname in self._targets():
            if (id(owner), name) in seen:
                continue
            seen.add((id(owner), name))
            original = owner[name] if isinstance(owner, dict) else vars(owner)[name]
            self._saved.append((owner, name, original))
            _set(owner, name, _refuser(qualname, owner if isinstance(owner, type) else None))

    def __exit__(self, *exc) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            for owner, name, original in reversed(self._saved):
                _set(owner, name, original)
            self._saved.clear()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ModuleSnapshot:
    """The names bound now in every numpyvae module and class, and in NumPy's namespace.

    `changes()` reports and undoes what was rebound since.
    """

    def __init__(self) -> None:
        owners: dict[str, object] = {"numpy": sys.modules["numpy"]}
        for module in _numpyvae_modules():
            owners[module.__name__] = module
            for value in list(vars(module).values()):
                if inspect.isclass(value) and value.__module__ == module.__name__:
                    owners[f"{module.__name__}.{value.__qualname__}"] = value
        self._owners = {name: (owner, dict(vars(owner))) for name, owner in owners.items()}

    def changes(self) -> list[str]:
        """'owner.name' for each name rebound, added or deleted since the snapshot, restored."""
        changed = []
        for owner_name, (owner, saved) in self._owners.items():
            now = vars(owner)
            for name in set(saved) | set(now):
                if name in saved and name in now and now[name] is saved[name]:
                    continue
                if name.startswith("__") or (
                    name not in saved and isinstance(now.get(name), ModuleType)
                ):
                    continue  # a submodule imported later, or the import machinery's own
                changed.append(f"{owner_name}.{name}")
                if name in saved:
                    setattr(owner, name, saved[name])
                else:
                    delattr(owner, name)
        return sorted(changed)
