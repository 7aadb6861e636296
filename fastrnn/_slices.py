"""Worker threads for the batch-sliced time loops of the compiled backends.

Both compiled backends run calls with enough rows as disjoint slices of the
batch, one time loop per slice, on plain Python threads: the recurrence
couples time steps, never batch rows, so the slices need no synchronisation
until the end, and the compiled code releases the GIL, so the threads truly
run in parallel. This module holds what the backends share: one small,
persistent thread pool (threads are started once, not per call) and the
driver that runs a fixed set of slices on it, cut where the rows' work
(under the call's mask) is shared evenly, with the workers kept off the
calling thread's CPU (``keep_apart``).

Users: the Numba driver (``fastrnn/numba_kernels/_dispatch.py``) and the
Cython one (``kernels/_runtime.pxi``), each running as many slices as the
slicing rule of :mod:`fastrnn.config` gives, one per thread.
"""

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from . import config as _config

_pool = None
_pool_size = 0
_lock = threading.Lock()


class _Pool(ThreadPoolExecutor):
    """The thread pool, knowing its workers' native thread ids (for their affinity)."""

    def __init__(self, workers):
        self.worker_ids = []
        self.apart_from = None  # (cpu, allowed CPUs, workers) of the last keep_apart
        super().__init__(
            max_workers=workers,
            thread_name_prefix="fastrnn-slices",
            initializer=self._started,
        )

    def _started(self):
        # list.append is atomic; a reader sees the workers started so far
        self.worker_ids.append(threading.get_native_id())


def _cpu_getter():
    """``sched_getcpu`` of the C library (the calling thread's CPU), or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        getcpu = ctypes.CDLL(None).sched_getcpu
    except (AttributeError, OSError):
        return None
    getcpu.restype, getcpu.argtypes = ctypes.c_int, []
    return getcpu


_current_cpu = _cpu_getter()


def keep_apart(pool):
    """Keep ``pool``'s workers off the calling thread's CPU (``keep_workers_apart``).

    On Linux a thread woken while the other CPUs look busy or asleep (a
    virtual machine's idle virtual CPUs do, once the host has descheduled
    them) is queued on the CPU of the thread that woke it, here the calling
    thread, which is about to run a slice of its own; the worker then waits
    for it, and the call takes as long as on one thread. Restricting the
    workers to the process's other CPUs makes the kernel wake them there.
    The affinity is set again only when the calling thread's CPU, its CPUs
    or the pool's workers change. Where the OS has no affinity, or the
    process one CPU, this does nothing.
    """
    if _current_cpu is None:
        return
    if not _config.settings.keep_workers_apart:
        if pool.apart_from is not None:  # switched off: give the workers all CPUs back
            _set_affinity(pool.worker_ids, os.sched_getaffinity(0))
            pool.apart_from = None
        return
    allowed = os.sched_getaffinity(0)
    workers = list(pool.worker_ids)
    cpu = _current_cpu()
    key = (cpu, allowed, len(workers))
    if cpu < 0 or key == pool.apart_from:
        return
    _set_affinity(workers, allowed - {cpu} or allowed)
    pool.apart_from = key


def _set_affinity(thread_ids, cpus):
    for tid in thread_ids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # a worker that has ended, or a stricter sandbox
            pass


def get_pool(workers):
    """The shared pool, grown to at least ``workers`` threads if needed."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            # A smaller pool is replaced, not shut down: a call on another thread
            # may still be submitting to it. Its idle threads end when it is
            # garbage-collected.
            _pool = _Pool(workers)
            _pool_size = workers
        return _pool


def _forget_pool_in_child():
    """After fork the child has none of the parent's threads: start afresh."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def slice_bounds(n, batch, mask=None):
    """The n contiguous slices ``[(b0, b1), ...]`` of the batch.

    Without ``mask``, ``[c * batch // n, (c + 1) * batch // n)``. With it,
    the slices share the rows' work (:func:`row_work`) as evenly as
    contiguous slices can, each of at least one row: slice c ends at the
    last row where the work before it is at most ``c / n`` of the whole.
    Equal work per row gives the slices without a mask.

    Parameters
    ----------
    n : int
        1 <= n <= batch.
    batch : int
    mask : ndarray of bool, shape (batch, timesteps), optional
        The call's mask.
    """
    if mask is None or n == 1 or np.all(mask):
        return [(c * batch // n, (c + 1) * batch // n) for c in range(n)]
    before = np.zeros(batch + 1, np.int64)  # before[k]: the work of rows [0, k)
    np.cumsum(row_work(mask), out=before[1:])
    total = int(before[-1])
    if total == 0:
        return slice_bounds(n, batch)
    ends = np.searchsorted(before * n, np.arange(1, n) * total, side="right") - 1
    cuts = [0]
    for c, end in enumerate(ends.tolist(), start=1):
        cuts.append(min(max(end, cuts[-1] + 1), batch - (n - c)))
    cuts.append(batch)
    return list(zip(cuts[:-1], cuts[1:]))


def row_work(mask):
    """The steps at which each row of a slice is computed, ``(batch,)`` int64.

    A time loop computes, at each step, the rows of its slice up to the last
    one valid there (the kernels' ``computed_end``), so row b is computed at
    the steps where it or a later row is valid (exactly so in the last slice,
    at most so in the others). In a batch sorted by length (a
    ``PackedSequence``) that is the row's length.
    """
    valid = np.asarray(mask, dtype=bool)
    batch = valid.shape[0]
    valid_somewhere = valid.any(axis=0)
    # each step's last valid row, then per row the steps whose last is at or after it
    last = batch - 1 - np.argmax(valid[::-1], axis=0)
    steps_ending_at = np.bincount(last[valid_somewhere], minlength=batch)
    return np.cumsum(steps_ending_at[::-1])[::-1]


def run_fixed_slices(n, batch, fn, threads, mask=None):
    """Call ``fn(b0, b1)`` once for each of the n slices of ``slice_bounds(n, batch, mask)``.

    Up to ``threads`` threads run them, the calling thread included: thread
    g takes a contiguous group of slices, in order. The slices themselves
    depend on ``n``, ``batch`` and ``mask`` only, so a kernel whose rows are
    computed the same way in any slice gives the same bits whatever
    ``threads`` is, and whatever the slices are.
    Returns once every slice has finished (even if one raised), then
    re-raises the first error: callers may free shared buffers at once.
    """
    bounds = slice_bounds(n, batch, mask)
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
    keep_apart(pool)
    futures = [pool.submit(run, group) for group in groups[1:]]
    try:
        run(groups[0])
    finally:
        wait(futures)
    for f in futures:
        f.result()
