"""BLAS thread policy for whole training and inference loops.

fastrnn's kernels call two OpenBLAS builds: NumPy's (Dense, Embedding, the
reference) and SciPy's (``np.dot`` inside the Numba kernels). Each has
its own thread pool, and each pool's threads keep spinning for a while after
a call; alternating between the two on a machine with few cores
oversubscribes it (docs/benchmarks.md, "BLAS threads in training loops").

So ``fit``, ``evaluate`` and ``predict`` run with the BLAS pools limited to
``FASTRNN_LOOP_BLAS_THREADS`` threads (default 1) through threadpoolctl.
Single layer calls (and the benchmark) are left alone: set the variable to
0 to leave the loops alone too.

The limit is process-wide (BLAS pools are), so loops that overlap, from
several threads or nested (``fit`` runs ``evaluate`` on validation data),
do not each set and restore it: the first loop to start sets it, and the
same loop restores what the pools had when it ends. Loops that start while
it runs leave the pools alone. (threadpoolctl lets one thread at a time
change OpenBLAS's limits, so the thread that set them is the one that can
put them back.)
"""

import functools
import threading

from .config import loop_blas_threads

_lock = threading.Lock()
_limit_owned = False


def _take_limit(limit):
    """The limiter if this call sets the loops' limit, or None if a running loop owns it."""
    global _limit_owned
    with _lock:
        if _limit_owned:
            return None
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it, BLAS keeps its defaults
            return None
        limiter = threadpool_limits(limits=limit, user_api="blas")
        _limit_owned = True
        return limiter


def _release_limit(limiter):
    global _limit_owned
    with _lock:
        limiter.restore_original_limits()
        _limit_owned = False


def limit_blas_threads_in_loops(method):
    """Decorator: run ``method`` with the BLAS pools limited (see module docstring)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        limit = loop_blas_threads()
        limiter = _take_limit(limit) if limit > 0 else None
        try:
            return method(*args, **kwargs)
        finally:
            if limiter is not None:
                _release_limit(limiter)

    return wrapper
