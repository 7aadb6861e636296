"""Limit every framework to the same number of threads.

The environment variables only take effect if they are set before the
library that reads them is imported, so :func:`limit_thread_env` is called
by the command line before NumPy, Numba or any peer is imported; the
runtime calls (``fastrnn.set_num_threads``, ``torch.set_num_threads`` ...)
are made by :func:`limit_runtime_threads` and by each system.
"""

import os
import sys

THREADS = 2

#: (environment variable, module that reads it at import time). fastrnn reads
#: ``FASTRNN_NUM_THREADS`` when it is imported, before the bench runs, so in this
#: process the count comes from ``fastrnn.set_num_threads``; the variable reaches
#: the bench's child processes (the cold-start runs).
_ENV = (
    ("OMP_NUM_THREADS", None),
    ("MKL_NUM_THREADS", None),
    ("OPENBLAS_NUM_THREADS", "numpy"),
    ("VECLIB_MAXIMUM_THREADS", "numpy"),
    ("NUMEXPR_NUM_THREADS", None),
    ("NUMBA_NUM_THREADS", "numba"),
    ("FASTRNN_NUM_THREADS", None),
    ("TF_NUM_INTRAOP_THREADS", "tensorflow"),
    ("TF_NUM_INTEROP_THREADS", "tensorflow"),
)
#: (environment variable, default value, module that reads it at import time);
#: a value the user set is kept.
#:
#: NUMBA_THREADING_LAYER: Numba's default layer is OpenMP, and launching it
#: (``numba.set_num_threads()`` or a ``parallel=True`` function; fastrnn does
#: neither) loads the system's ``libgomp.so.1``. PyTorch, imported after it,
#: then binds to that library instead of the ``libgomp.so.1`` it ships (same
#: soname), and its threads spin against each other, which slows its calls
#: by orders of magnitude. fastrnn never uses Numba's parallel layer (its
#: threads are plain Python threads), so the layer does not change its
#: timings; ``workqueue`` loads no OpenMP at all.
_DEFAULTS = (
    ("KERAS_BACKEND", "tensorflow", None),
    ("TF_CPP_MIN_LOG_LEVEL", "2", None),
    ("JAX_PLATFORMS", "cpu", None),
    ("NUMBA_THREADING_LAYER", "workqueue", "numba"),
)


def limit_thread_env(threads=THREADS):
    """Set the thread-count variables and the defaults in ``_DEFAULTS``.

    A variable read by a module that is already imported is left alone (it
    would have no effect, and changing ``NUMBA_NUM_THREADS`` after Numba
    started its threads is an error); the note says so.

    Returns
    -------
    previous : dict
        The previous value (or None) of every variable set, for ``restore_env``.
    notes : list of str
        The variables that could not be set, and why.
    """
    previous, notes = {}, []
    for var, module in _ENV:
        if module is not None and module in sys.modules:
            if os.environ.get(var) != str(threads):
                notes.append(f"{var} not set: {module} was already imported")
            continue
        previous[var] = os.environ.get(var)
        os.environ[var] = str(threads)
    for var, value, module in _DEFAULTS:
        if module is not None and module in sys.modules and var not in os.environ:
            notes.append(f"{var} not set: {module} was already imported")
            continue
        previous[var] = os.environ.get(var)
        os.environ.setdefault(var, value)
    return previous, notes


def restore_env(previous):
    for var, value in previous.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


def limit_runtime_threads(threads=THREADS):
    """Limit fastrnn's kernels and the loaded BLAS pools to ``threads``; return notes."""
    import fastrnn

    notes = []
    fastrnn.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception as exc:  # the bench runs without the limit
        notes.append(f"BLAS threads not limited: {type(exc).__name__}: {exc}")
    return notes
