"""Named arrays that are views of one flat buffer (the layout of parameters and gradients)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Layout = tuple[tuple[str, tuple[int, ...], int], ...]  # (name, shape, offset) for each array


class FlatArrays(dict):
    """A dict of named arrays, each a C-contiguous view of one 1-D buffer `flat`, in order.

    `flat` (n,) holds the arrays one after another; `self[name]` is the view of its slice,
    shaped like the array it was made from. Writing through either changes both, so one
    NumPy call on `flat` (an optimizer's update) reaches every array. Two FlatArrays with
    the same `layout` (a `copy`, or `zeros_like`) line up element by element.

    Pickling or deep-copying gives a plain dict of copies (the views could not stay views).
    """

    def __init__(self, flat: np.ndarray, layout: Layout) -> None:
        super().__init__()
        self.flat = flat
        self.layout = layout
        for name, shape, offset in layout:
            size = int(np.prod(shape, dtype=np.int64))
            self[name] = flat[offset : offset + size].reshape(shape)

    @classmethod
    def gather(cls, arrays: Mapping[str, np.ndarray], dtype: np.dtype | None = None) -> FlatArrays:
        """A new buffer holding copies of `arrays` (all of one dtype, or `dtype`), in order."""
        layout, offset = [], 0
        for name, a in arrays.items():
            layout.append((name, tuple(a.shape), offset))
            offset += a.size
        if dtype is None:
            dtypes = {a.dtype for a in arrays.values()}
            if len(dtypes) != 1:
                raise ValueError(f"the arrays must share one dtype, got {sorted(map(str, dtypes))}")
            dtype = dtypes.pop()
        out = cls(np.empty(offset, dtype=dtype), tuple(layout))
        for name, a in arrays.items():
            out[name][...] = a
        return out

    def zeros_like(self) -> FlatArrays:
        """A new zeroed buffer with the same layout and dtype."""
        return FlatArrays(np.zeros_like(self.flat), self.layout)

    def copy(self) -> FlatArrays:
        """A new buffer with the same layout holding a copy of the values (one pass)."""
        return FlatArrays(self.flat.copy(), self.layout)

    def __reduce__(self):
        return (dict, (dict(self),))

    def __deepcopy__(self, memo: dict) -> dict:
        import copy

        return {name: copy.deepcopy(a, memo) for name, a in self.items()}
