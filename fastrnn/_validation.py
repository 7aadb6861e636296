"""Argument checks shared by modules that cannot import the layers (initializers)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_bool", "check_int", "check_seed", "check_real", "check_rate"]


def check_bool(value: object, argument: str) -> bool:
    """``value`` as a bool, if it is one (TypeError otherwise)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{argument}` must be True or False, got {value!r}")
    return bool(value)


def check_seed(seed: object, argument: str = "seed") -> int | None:
    """A random seed: None or a non-negative integer (what NumPy's generators take)."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`{argument}` must be a non-negative integer or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"`{argument}` must be a non-negative integer or None, got {seed}")
    return int(seed)


def check_real(value: object, argument: str, finite: bool = True) -> float:
    """A real number (int or float, not bool, not a string) as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"`{argument}` must be a real number, got {value!r}")
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"`{argument}` must be a real number, got {value!r}")
    number = float(value)
    if finite and not math.isfinite(number):
        raise ValueError(f"`{argument}` must be finite, got {value!r}")
    return number


def check_int(value: object, argument: str, minimum: int, allow_none: bool = False) -> int | None:
    """An integer of at least ``minimum`` (None too with ``allow_none``):
    TypeError for another type, ValueError for a smaller value."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{argument} must be an integer >= {minimum}"
            + (" or None" if allow_none else "")
            + f", got {type(value).__name__}: {value!r}"
        )
    if value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_rate(value: object, argument: str) -> float:
    """A dropout rate, the fraction of units to drop: a real number in [0, 1)
    (TypeError for another type, ValueError outside the range), as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"`{argument}` must be a number in [0, 1) (the fraction to drop), got {value!r} "
            f"of type {type(value).__name__}"
        )
    if not 0 <= value < 1:
        raise ValueError(
            f"`{argument}` must be a number in [0, 1) (the fraction to drop), got {value!r}"
        )
    return float(value)
