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
"""

import functools

from .config import loop_blas_threads


def limit_blas_threads_in_loops(method):
    """Decorator: run ``method`` with the BLAS pools limited (see module docstring)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        limit = loop_blas_threads()
        if limit <= 0:
            return method(*args, **kwargs)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it, BLAS keeps its defaults
            return method(*args, **kwargs)
        with threadpool_limits(limits=limit, user_api="blas"):
            return method(*args, **kwargs)

    return wrapper
