"""The global random seed (``fastrnn.utils.set_random_seed``) and the
generators drawn from it.

Every random generator fastrnn makes without an explicit seed (a layer's,
for its initializers and Dropout masks; ``fit``'s, for shuffling; an
initializer's without a layer) comes from :func:`new_generator`. Before any
``set_random_seed`` call it is seeded from fresh entropy; after
``set_random_seed(s)`` the generators are spawned, one after another, from
``numpy.random.SeedSequence(s)``, so a program that sets the seed first
builds the same weights, masks and batch orders at every run.
"""

from __future__ import annotations

import random
import threading

import numpy as np

from ._validation import check_seed

__all__ = ["set_random_seed", "new_generator"]

_lock = threading.Lock()
_sequence: np.random.SeedSequence | None = None


def set_random_seed(seed: int) -> None:
    """Seed every generator fastrnn makes from now on, and Python's ``random``
    and NumPy's global generator (as ``keras.utils.set_random_seed`` does)."""
    global _sequence
    seed = check_seed(seed)
    if seed is None:
        raise TypeError("`seed` must be a non-negative integer, got None")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (code that draws from the global one, as Keras seeds it)
    with _lock:
        _sequence = np.random.SeedSequence(seed)


def new_generator(seed: int | None = None) -> np.random.Generator:
    """``default_rng(seed)`` for a given seed; otherwise the next generator of
    the global seed, or fresh entropy when none was set."""
    if seed is not None:
        return np.random.default_rng(seed)
    with _lock:
        if _sequence is None:
            return np.random.default_rng()
        return np.random.default_rng(_sequence.spawn(1)[0])
