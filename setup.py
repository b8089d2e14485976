"""Puts the course notebooks into the wheel; everything else is configured in pyproject.toml.

The student notebooks live in notebooks/ beside the package (that is where the course is read
and edited), so no package-data pattern reaches them. The sdist carries them (MANIFEST.in), and
this build step copies notebooks/*.ipynb (not notebooks/solutions/) into the built package as
numpyvae/notebooks/, with derivations.md beside them (the notebooks link to its sections), where
numpyvae.course_files finds them. An editable install skips it: the package then reads the
checkout's notebooks/ folder and derivations.md directly.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
DERIVATIONS = Path(__file__).resolve().parent / "derivations.md"


class BuildPyWithNotebooks(build_py):
    """build_py, then the notebooks and derivations.md into <build_lib>/numpyvae/notebooks/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
        if not notebooks:
            raise FileNotFoundError(f"no notebooks to package in {NOTEBOOKS}")
        target = Path(self.build_lib) / "numpyvae" / "notebooks"
        target.mkdir(parents=True, exist_ok=True)
        for source in [*notebooks, DERIVATIONS]:
            shutil.copyfile(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithNotebooks})
