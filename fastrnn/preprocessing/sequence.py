"""``keras.preprocessing.sequence``'s layout: :func:`pad_sequences`
(defined in :mod:`fastrnn.preprocessing`)."""

from . import pad_sequences

__all__ = ["pad_sequences"]
