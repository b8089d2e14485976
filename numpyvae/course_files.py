"""The course's notebooks, shipped inside the package: from `pip install` to a running course.

The wheel carries the student notebooks (notebooks/*.ipynb of the repository, without the
solutions) in `numpyvae/notebooks/`, with derivations.md beside them, since the notebooks link
to its sections; a source checkout reads both from the checkout. The notebooks import only the
installed package and use its embedded MNIST subset, so a copy runs from any folder, and its
links to derivations.md open there:

    numpyvae notebooks course/        # or, in Python: copy_notebooks("course")
    jupyter lab course/
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from numpyvae.validation import InputError, InvalidTypeError, InvalidValueError

__all__ = ["NotebooksExistError", "copy_notebooks", "derivations_source", "notebook_sources"]

DERIVATIONS = "derivations.md"


class NotebooksExistError(InputError, FileExistsError):
    """copy_notebooks would replace files that already exist (and was not told to)."""

    def __init__(self, folder: Path, existing: list[Path]) -> None:
        self.folder = folder
        self.existing = existing
        super().__init__(
            self.explain("pass overwrite=True to replace them, or choose another dest")
        )

    def explain(self, remedy: str) -> str:
        """One line: which files are in the way, then `remedy`."""
        more = f" and {len(self.existing) - 1} more" if len(self.existing) > 1 else ""
        return f"{str(self.folder)!r} already holds {self.existing[0].name}{more}: {remedy}"


def notebook_sources() -> list[Path]:
    """The course notebooks (NN_name.ipynb, in reading order) that this installation carries.

    An installed wheel has them in the package; an editable install of a checkout reads the
    checkout's notebooks/ folder. Raises FileNotFoundError when neither holds any.
    """
    packaged, checkout = _packaged_and_checkout()
    for folder in (packaged, checkout):
        found = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        if found:
            return found
    raise FileNotFoundError(
        f"no course notebooks in this installation of numpyvae (looked in {packaged} and "
        f"{checkout}); reinstall it from a wheel or a full checkout"
    )


def _packaged_and_checkout() -> tuple[Path, Path]:
    """Where a wheel puts the course files, and where a checkout keeps the notebooks."""
    packaged = Path(str(resources.files("numpyvae").joinpath("notebooks")))
    return packaged, Path(__file__).resolve().parents[1] / "notebooks"


def derivations_source() -> Path:
    """derivations.md, the derivation of every formula, as this installation carries it.

    An installed wheel has it beside the notebooks in the package; a checkout (an editable
    install) has it at its top level, beside notebooks/. Raises FileNotFoundError when neither
    holds it.
    """
    packaged, checkout = _packaged_and_checkout()
    for path in (packaged / DERIVATIONS, checkout.parent / DERIVATIONS):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no {DERIVATIONS} in this installation of numpyvae (looked in {packaged} and "
        f"{checkout.parent}); reinstall it from a wheel or a full checkout"
    )


def copy_notebooks(dest: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Copy the course notebooks and derivations.md into the folder `dest` (created if needed).

    Returns the copies (n_notebooks + 1,): the notebooks in reading order, then derivations.md,
    which the notebooks' links open. Refuses, before writing anything, when a file of the same
    name is already in `dest`, unless `overwrite=True`; other files in `dest` are left alone.
    """
    if not isinstance(dest, (str, os.PathLike)):
        raise InvalidTypeError(f"dest must be a path (str or os.PathLike), got {dest!r}")
    if not isinstance(overwrite, bool):
        raise InvalidTypeError(f"overwrite must be True or False, got {overwrite!r}")
    if not str(dest).strip():  # Path("") is the current folder: surely not what was meant
        raise InvalidValueError(
            f"dest must be a folder path, got {str(dest)!r} (for the current folder, pass '.')"
        )
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise InvalidValueError(f"dest must be a folder, but {str(folder)!r} is a file")
    sources = [*notebook_sources(), derivations_source()]
    targets = [folder / source.name for source in sources]
    existing = [target for target in targets if target.exists()]
    if existing and not overwrite:
        raise NotebooksExistError(folder, existing)
    folder.mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, targets, strict=True):
        shutil.copyfile(source, target)
    return targets
