"""The runtime configuration of fastrnn's compiled backends, in one place.

Both compiled backends (Numba and Cython) read these settings at every
kernel call, so a change takes effect at the next call: nothing is baked
into compiled code, and no cache needs clearing.

========================  ===========  ==========================================
setting                   default      meaning
========================  ===========  ==========================================
``num_threads``           CPUs here    threads a sliced call may use, the calling
                                       thread included (``FASTRNN_NUM_THREADS``;
                                       :func:`set_num_threads`)
``slice_min_batch``       16           calls of fewer batch rows run on the
                                       calling thread
``slice_min_rows``        8            rows per batch slice at least: a call runs
                                       as ``max(1, min(num_threads, batch //
                                       slice_min_rows))`` slices
``slice_min_work``        ``1 << 22``  calls with fewer multiply-adds (timesteps x
                                       batch x G*units x (units + features)) run on
                                       the calling thread: a thread hand-off costs
                                       tens of microseconds
``hand_product_max``      ``1 << 21``  Numba: a product of at most this many
                                       multiply-adds runs as a hand loop, a larger
                                       one calls BLAS (``np.dot``); the Cython
                                       backend never calls BLAS
``keep_workers_apart``    True         Linux: before a sliced call hands slices to
                                       the worker threads, they are kept off the
                                       calling thread's CPU (their affinity is the
                                       process's CPUs but that one), so that a
                                       worker woken after an idle spell does not
                                       wait behind the calling thread; a no-op with
                                       one CPU or where the OS has no affinity
========================  ===========  ==========================================

Results never depend on ``num_threads`` or on how a call is sliced: every
batch row is computed by the same code whatever slice it falls in.

float32 ``tanh`` and ``sigmoid`` use one rational approximation in both
compiled backends (``kernels/_fastmath.h`` and
``fastrnn/numba_kernels/_math.py``), exactly +-1 (0, 1) when saturated;
float64 uses the exact functions. Both compiled backends flush subnormal
numbers to zero for their own work (x86-64 FTZ and DAZ, AArch64 FZ), on
each thread a call runs on, and restore the thread's mode after
(``kernels/_fpmode.h``, ``fastrnn/numba_kernels/_fpmode.py``). See
``docs/building.md`` for every environment variable fastrnn reads.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import NamedTuple

__all__ = [
    "KernelSettings",
    "available_cpus",
    "get_num_threads",
    "set_num_threads",
    "use_num_threads",
    "get_settings",
    "set_settings",
    "use_settings",
    "loop_blas_threads",
]


class KernelSettings(NamedTuple):
    """What a compiled kernel call reads from the configuration (see the module table)."""

    num_threads: int
    slice_min_batch: int
    slice_min_rows: int
    slice_min_work: int
    hand_product_max: int
    keep_workers_apart: bool


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _positive_int(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
        except ImportError:  # pragma: no cover - NumPy is a dependency
            pass
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{argument}` must be a positive integer; got {value!r}")
    if value < 1:
        raise ValueError(f"`{argument}` must be a positive integer (at least 1); got {value}")
    return value


def _checked(name: str, value: object) -> object:
    """``value`` as setting ``name`` takes it: a bool for the switches, else a
    positive integer."""
    if name in _SWITCHES:
        if not isinstance(value, bool):
            raise TypeError(f"`{name}` must be True or False; got {value!r}")
        return value
    return _positive_int(value, name)


def _threads_from_environment() -> int:
    value = os.environ.get("FASTRNN_NUM_THREADS", "").strip()
    if not value:
        return available_cpus()
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"FASTRNN_NUM_THREADS must be a positive integer; got {value!r}") from None
    if threads < 1:
        raise ValueError(f"FASTRNN_NUM_THREADS must be a positive integer; got {value!r}")
    return threads


def _defaults() -> KernelSettings:
    return KernelSettings(
        num_threads=_threads_from_environment(),
        slice_min_batch=16,
        slice_min_rows=8,
        slice_min_work=1 << 22,
        hand_product_max=1 << 21,
        keep_workers_apart=True,
    )


#: The settings in force. The backends read this one attribute at every call;
#: it is replaced whole (never mutated) by the setters below, so a call sees
#: either the old settings or the new ones.
settings: KernelSettings = _defaults()

#: The settings that are switches (a bool by default), not counts.
_SWITCHES = frozenset(name for name, value in settings._asdict().items() if isinstance(value, bool))

_lock = threading.Lock()


def get_settings() -> KernelSettings:
    """The settings in force, as a :class:`KernelSettings`."""
    return settings


def set_settings(**changes: int | bool) -> None:
    """Change one or more settings, e.g. ``set_settings(slice_min_work=1 << 20)``.

    Raises
    ------
    TypeError
        For an unknown setting name, a count that is not an integer or a
        switch that is not a bool.
    ValueError
        For a count below 1. Nothing changes when a call raises.
    """
    global settings
    unknown = sorted(set(changes) - set(KernelSettings._fields))
    if unknown:
        raise TypeError(
            f"Unknown fastrnn setting(s) {unknown}; the settings are {list(KernelSettings._fields)}"
        )
    checked = {name: _checked(name, value) for name, value in changes.items()}
    with _lock:
        settings = settings._replace(**checked)


@contextlib.contextmanager
def use_settings(**changes: int | bool) -> Iterator[KernelSettings]:
    """Context manager: :func:`set_settings` inside the block; afterwards the
    settings it changed are back to their previous values (the others keep
    whatever was set meanwhile)."""
    global settings
    unknown = sorted(set(changes) - set(KernelSettings._fields))
    if unknown:
        raise TypeError(
            f"Unknown fastrnn setting(s) {unknown}; the settings are {list(KernelSettings._fields)}"
        )
    checked = {name: _checked(name, value) for name, value in changes.items()}
    with _lock:
        previous = {name: getattr(settings, name) for name in checked}
        settings = settings._replace(**checked)
    try:
        yield settings
    finally:
        with _lock:
            settings = settings._replace(**previous)


def get_num_threads() -> int:
    """Threads a sliced kernel call may use (the calling thread included)."""
    return settings.num_threads


def set_num_threads(n: int) -> None:
    """Let the compiled kernels use up to ``n`` threads per call (both backends).

    The default is the number of CPUs this process may run on, or the
    ``FASTRNN_NUM_THREADS`` environment variable. Results do not depend on it.
    BLAS's own thread pools (NumPy's, SciPy's) are left alone: see
    ``FASTRNN_LOOP_BLAS_THREADS`` in ``docs/building.md``.

    Raises
    ------
    TypeError, ValueError
        If ``n`` is not an integer of at least 1.
    """
    set_settings(num_threads=n)


@contextlib.contextmanager
def use_num_threads(n: int) -> Iterator[int]:
    """Context manager: ``set_num_threads(n)`` inside the block, the previous count after."""
    with use_settings(num_threads=n):
        yield n


def loop_blas_threads() -> int:
    """The BLAS thread limit that ``fit``, ``evaluate`` and ``predict`` run with.

    ``FASTRNN_LOOP_BLAS_THREADS`` (default 1; 0 or less: no limit), read at
    each call.
    """
    value = os.environ.get("FASTRNN_LOOP_BLAS_THREADS", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"FASTRNN_LOOP_BLAS_THREADS must be an integer; got {value!r}") from None
