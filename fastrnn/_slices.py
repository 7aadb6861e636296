"""Worker threads for the batch-sliced time loops of the compiled backends.

Both compiled backends run calls with enough rows as disjoint slices of the
batch, one time loop per slice, on plain Python threads: the recurrence
couples time steps, never batch rows, so the slices need no synchronisation
until the end, and the compiled code releases the GIL, so the threads truly
run in parallel. This module holds what the backends share: one small,
persistent thread pool (threads are started once, not per call) and the
driver that runs a fixed set of slices on it.

Users: the Numba driver (``fastrnn/numba_kernels/_dispatch.py``) and the
Cython one (``kernels/_runtime.pxi``), each running as many slices as the
slicing rule of :mod:`fastrnn.config` gives, one per thread.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

_pool = None
_pool_size = 0
_lock = threading.Lock()


def get_pool(workers):
    """The shared pool, grown to at least ``workers`` threads if needed."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            # A smaller pool is replaced, not shut down: a call on another thread
            # may still be submitting to it. Its idle threads end when it is
            # garbage-collected.
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastrnn-slices")
            _pool_size = workers
        return _pool


def _forget_pool_in_child():
    """After fork the child has none of the parent's threads: start afresh."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def slice_bounds(n, batch):
    """The n slices ``[c * batch // n, (c + 1) * batch // n)`` of the batch."""
    return [(c * batch // n, (c + 1) * batch // n) for c in range(n)]


def run_fixed_slices(n, batch, fn, threads):
    """Call ``fn(b0, b1)`` once for each of the n slices of ``slice_bounds(n, batch)``.

    Up to ``threads`` threads run them, the calling thread included: thread
    g takes a contiguous group of slices, in order. The slices themselves
    depend on ``n`` and ``batch`` only, so a kernel whose rows are computed
    the same way in any slice gives the same bits whatever ``threads`` is.
    Returns once every slice has finished (even if one raised), then
    re-raises the first error: callers may free shared buffers at once.
    """
    bounds = slice_bounds(n, batch)
    threads = max(1, min(threads, n))
    if threads == 1:
        for b0, b1 in bounds:
            fn(b0, b1)
        return
    groups = [bounds[g * n // threads : (g + 1) * n // threads] for g in range(threads)]

    def run(group):
        for b0, b1 in group:
            fn(b0, b1)

    pool = get_pool(threads - 1)
    futures = [pool.submit(run, group) for group in groups[1:]]
    try:
        run(groups[0])
    finally:
        wait(futures)
    for f in futures:
        f.result()
