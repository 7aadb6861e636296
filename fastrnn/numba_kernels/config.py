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
* ``parallel=False``: no ``prange``. Calls of 16 rows or more run disjoint batch
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
#: PARALLEL_MIN_BATCH) and the whole loop is worth a thread hand-off
#: (timesteps * batch * units * G*units multiply-adds >= PARALLEL_MIN_WORK),
#: however big the per-step product: measured on the 2-core benchmark
#: machine (float32, interleaved), the slices' hand products beat one BLAS
#: call per step at every size tried, up to the "large" grid shape (LSTM
#: 64x100x256x512 forward 116 -> 94 ms, GRU 84 -> 50 ms, SimpleRNN 32 ->
#: 14 ms) and 16x50x256x1024 (LSTM 70 -> 41 ms); with BLAS, the gate math
#: between two per-step calls ran on one core.
PARALLEL_MIN_BATCH = 8
PARALLEL_MIN_WORK = 1 << 22
