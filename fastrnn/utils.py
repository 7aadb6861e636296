"""``keras.utils``'s helpers that the RNN tutorials use: ``to_categorical``,
``pad_sequences`` (both from :mod:`fastrnn.preprocessing`) and
``set_random_seed`` (:mod:`fastrnn._random`)."""

from ._random import set_random_seed
from .preprocessing import pad_sequences, to_categorical

__all__ = ["to_categorical", "pad_sequences", "set_random_seed"]
