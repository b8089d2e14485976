"""Shared test settings: figures render off-screen, NumPy errors are loud."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
