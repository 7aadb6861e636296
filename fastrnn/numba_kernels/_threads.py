"""Python-thread driver for the batch-sliced time loops.

Calls of 16 rows or more (with enough work) run the time loop as disjoint
slices of the batch, one per thread. The recurrence couples time steps,
never batch rows, so the slices need no synchronisation until the end; each
thread owns its rows of every output. The slice kernels are
``@njit(nogil=True)``, so plain Python threads run them truly in parallel;
this avoids Numba's ``parallel=True`` (slow to compile, and its OpenMP layer
stalls badly on a loaded machine) and never puts BLAS calls inside these
threads (the slices use hand-written products).

The thread count follows ``numba.get_num_threads()`` once Numba's threading
layer runs (``numba.set_num_threads`` starts it), and is
``numba.config.NUMBA_NUM_THREADS`` until then: fastrnn never starts the
layer itself. Starting Numba's default (OpenMP) layer loads the system's
``libgomp.so.1``, and a PyTorch imported after that binds to it instead of
its own copy; measured on 2 cores, PyTorch's SimpleRNN forward then went
from 1.2 ms to 150-400 ms. Results do not depend on the thread count
(every row is computed by the same code whatever slice it is in).
The threads come from the pool shared with the Cython backend
(``fastrnn/_slices.py``).
"""
import inspect

import numba
from numba.np.ufunc import parallel as _numba_parallel

from .._slices import get_pool as _get_pool
from .config import PARALLEL_MIN_BATCH, PARALLEL_MIN_WORK

#: Calls with a smaller batch always run serially (checked before anything else).
MIN_BATCH = 2 * PARALLEL_MIN_BATCH


def numba_threads():
    """Numba's thread count, without starting its threading layer."""
    if getattr(_numba_parallel, "_is_initialized", True):
        return numba.get_num_threads()
    return numba.config.NUMBA_NUM_THREADS


def slices(batch, timesteps, units, width):
    """Number of batch slices to run on threads; 0 means: run serially with
    products chosen by size. A sliced call (even with one slice, when Numba
    runs one thread) uses the hand-written products, so that the results do
    not depend on the thread count."""
    if batch < MIN_BATCH or timesteps * batch * units * width < PARALLEL_MIN_WORK:
        return 0
    return max(1, min(numba_threads(), batch // PARALLEL_MIN_BATCH))


def run_slices(n, batch, kernel, *args):
    """Call ``kernel(b0, b1, True, *args)`` for n slices of the batch, in parallel."""
    if n == 1:
        kernel(0, batch, True, *args)
        return
    bounds = [(c * batch // n, (c + 1) * batch // n) for c in range(n)]
    pool = _get_pool(n - 1)
    futures = [pool.submit(kernel, b0, b1, True, *args) for b0, b1 in bounds[1:]]
    try:
        kernel(bounds[0][0], bounds[0][1], True, *args)
    finally:
        for f in futures:
            f.result()


def bind(signature, args, kwargs):
    """Positional arguments of a keyword call of a public kernel.

    The public kernels take ``*args`` because forwarding the tuple to a
    Numba dispatcher is about 2 us cheaper than re-passing 15 named
    parameters (measured); keyword calls are bound to the contract first.
    """
    return signature.bind(*args, **kwargs).args


def public_kernel(reference_function, serial, sliced):
    """The public kernel of one contract function.

    It has the reference function's name and signature and takes ``*args``
    (forwarding the tuple to a Numba dispatcher is about 2 us cheaper than
    re-passing 15 named parameters, measured); keyword calls are bound to
    the contract first. Batches under ``MIN_BATCH`` rows run ``serial``,
    larger ones ``sliced`` (row slices on threads).
    """
    signature = inspect.signature(reference_function)

    def kernel(*args, **kwargs):
        if kwargs:
            args = bind(signature, args, kwargs)
        if args[1].shape[0] < MIN_BATCH:   # mask (batch, timesteps): small batch, serial
            return serial(*args)
        return sliced(*args)

    kernel.__name__ = kernel.__qualname__ = reference_function.__name__
    kernel.__doc__ = (f"The Numba ``{reference_function.__name__}``; contract and signature: "
                      f"``fastrnn.reference.{reference_function.__name__}``.")
    kernel.__signature__ = signature
    return kernel
