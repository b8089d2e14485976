"""What a submission may not do while the grader runs its code.

`LibraryBlock` replaces, for the duration of a `with` block, the library's own implementations
of the graded backward passes by functions that refuse to run: every method of the model's
classes (layers, posteriors, likelihoods, the model, the objectives), every function whose name
says it computes a gradient, and the finite-difference and checking helpers of
numpyvae.gradcheck and numpyvae.exercises. Forward helpers such as `numpyvae.layers.sigmoid`
stay usable. A blocked call raises `Blocked`, which derives from BaseException so that an
answer's `except Exception` cannot swallow it, and is remembered in `LibraryBlock.calls`.

`ModuleSnapshot` notices (and undoes) a submission that rebinds a name inside a numpyvae module
or one of its classes, or in NumPy's namespace, e.g. `numpyvae.exercises.check_kl_backward =
...`, `DiagonalGaussian.kl = ...` or `np.sum = ...`: the grader's finite differences use them.
"""

from __future__ import annotations

import inspect
import re
import signal
import sys
from types import FunctionType, ModuleType

# Modules whose every function is blocked: they compute or judge gradients numerically.
NUMERICAL = ("numpyvae.gradcheck", "numpyvae.exercises")
# Modules never touched: the grader itself.
GRADER = "numpyvae.course"
GRADIENT_NAME = re.compile(r"grad|backward|vjp", re.IGNORECASE)


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


def _refuser(qualname: str):
    # Not functools.wraps: its __wrapped__ would hand the original back to the submission.
    def refuse(*args, **kwargs):
        LibraryBlock.calls.append(qualname)
        raise Blocked(
            f"{qualname} is numpyvae's own implementation; the grader does not let an answer "
            "call it: write the gradient by hand"
        )

    refuse.__qualname__ = refuse.__name__ = qualname.rsplit(".", 1)[-1]
    return refuse


class LibraryBlock:
    """Context manager: the library's gradient code refuses to run inside the block.

    `LibraryBlock.calls` lists the qualified names of the blocked functions called, in order,
    since it was last cleared.
    """

    calls: list[str] = []

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []

    def _targets(self):
        """(owner, attribute name, qualified name) of everything to block."""
        for module in _numpyvae_modules():
            numerical = module.__name__ in NUMERICAL
            for name, value in list(vars(module).items()):
                if isinstance(value, FunctionType) and value.__module__ == module.__name__:
                    if numerical or GRADIENT_NAME.search(name):
                        yield module, name, f"{module.__name__}.{name}"
                elif (
                    inspect.isclass(value)
                    and value.__module__ == module.__name__
                    and not numerical
                    and not issubclass(value, BaseException)
                ):
                    for attr, member in list(vars(value).items()):
                        public = not attr.startswith("_") or attr == "__call__"
                        if public and isinstance(member, FunctionType):
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
            original = vars(owner)[name]
            self._saved.append((owner, name, original))
            setattr(owner, name, _refuser(qualname))

    def __exit__(self, *exc) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            for owner, name, original in reversed(self._saved):
                setattr(owner, name, original)
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
