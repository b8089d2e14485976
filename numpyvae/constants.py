"""Numbers that several modules share, each defined once."""

from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))  # the normal density's constant, log(2 pi)
