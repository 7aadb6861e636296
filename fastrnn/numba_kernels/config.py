"""The one place where the Numba compilation flags of fastrnn's kernels are set.

Every kernel and helper in :mod:`fastrnn.numba_kernels` is compiled with
``JIT_OPTIONS``. Numba's on-disk cache is keyed on the source file of each
kernel, not on this file: after changing a flag or a threshold here, delete
the ``__pycache__/*.nbi``/``*.nbc`` files of this package (or touch the kernel
modules) so the kernels are recompiled.

Choices
-------
* ``cache=True``: compile once per machine; later processes load the cache.
* ``error_model="numpy"``: no ZeroDivisionError checks inside loops, which
  would keep LLVM from vectorizing the rational tanh.
* ``fastmath``: only the flags that cannot change a finite result beyond
  rounding (contraction into FMA, reciprocal, signed zeros); not ``nnan`` /
  ``ninf`` (the activations rely on inf arithmetic for large inputs) and not
  ``reassoc`` (summation order stays that of the loops, so results do not
  depend on the vector width).
* ``parallel=False``: no ``prange``. Mid-size calls run disjoint batch
  slices of the time loop on Python threads instead (the kernels are
  ``nogil``; see ``_threads.py``), with hand-written recurrent products, so
  BLAS is never called inside those threads. The big GEMMs outside the time
  loop use BLAS's own threads.
"""

JIT_OPTIONS = dict(
    cache=True,
    nogil=True,
    error_model="numpy",
    fastmath={"contract", "arcp", "nsz"},
    parallel=False,
    boundscheck=False,
)

#: A matrix product of m*k*n multiply-adds at most this size runs as a
#: hand-written loop (no BLAS call overhead); larger ones call BLAS
#: through ``np.dot``. Measured on the 2-core benchmark machine: the hand
#: loop (about 50 GFLOP/s on one core with AVX-512) is on par with BLAS up to
#: about 0.5M, and BLAS's two threads stall for tens of ms when the machine
#: is loaded (measured: the "small" LSTM's train step went from 0.4 ms to
#: 24 ms on its 1.6M weight-gradient GEMM), so every GEMM of the "small"
#: shape stays on one core.
SMALL_GEMM = 1 << 21

#: The time loop runs as independent batch slices on threads when the batch
#: has at least 2 * PARALLEL_MIN_BATCH rows (slices of at least
#: PARALLEL_MIN_BATCH), the per-step recurrent product (batch * units *
#: G*units multiply-adds) is at most PARALLEL_MAX_GEMM (beyond that BLAS
#: beats the hand loop) and the whole loop is worth a thread hand-off
#: (timesteps * per-step >= PARALLEL_MIN_WORK).
PARALLEL_MIN_BATCH = 8
PARALLEL_MAX_GEMM = 1 << 23
PARALLEL_MIN_WORK = 1 << 22
