"""Gradients of Embedding tables that remember their per-occurrence rows.

An Embedding's gradient is the sum, per row of the table, of the upstream
gradients of every position that looked the row up. TensorFlow keeps it
unsummed (an ``IndexedSlices``: the row indices and one gradient per
occurrence), and Keras 3's Adam and RMSprop on TensorFlow square *each
occurrence* before adding them into the second moment: a row seen ``n``
times in a batch moves about ``sqrt(n)`` times as far as the dense update
would move it. :class:`RowGradient` is the dense gradient (an ndarray, so
everything else sees an array) with the occurrences attached, which the
optimizers use to reproduce that update (``fastrnn.optimizers``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RowGradient", "segment_sum"]


def segment_sum(indices: np.ndarray, values: np.ndarray, rows: int) -> np.ndarray:
    """``out[r] = sum(values[k] for k where indices[k] == r)``, shape ``(rows, dim)``."""
    out = np.zeros((rows, values.shape[-1]), values.dtype)
    np.add.at(out, indices, values)
    return out


class RowGradient(np.ndarray):
    """A dense ``(rows, dim)`` gradient with ``occurrences = (indices, values)``:
    the row of each occurrence ``(n,)`` and its gradient ``(n, dim)``.

    Arrays computed from it (``g * 2``, slices) are plain data: they do not
    carry the occurrences, which describe this exact gradient only.
    """

    occurrences: tuple[np.ndarray, np.ndarray] | None

    def __new__(cls, dense: np.ndarray, indices: np.ndarray, values: np.ndarray) -> RowGradient:
        obj = np.asarray(dense).view(cls)
        obj.occurrences = (np.asarray(indices).reshape(-1), np.asarray(values))
        return obj

    def __array_finalize__(self, obj) -> None:
        self.occurrences = None

    def __reduce__(self):  # pickles as the plain dense array
        return np.asarray(self).__reduce__()
