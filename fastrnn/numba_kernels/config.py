"""The one place where the Numba compilation flags of fastrnn's kernels are set.

Every kernel and helper in :mod:`fastrnn.numba_kernels` is compiled with
``JIT_OPTIONS``. Numba's on-disk cache is keyed on the source file of each
kernel, not on this file: after changing a flag here, delete the
``__pycache__/*.nbi``/``*.nbc`` files of this package (or touch the kernel
modules) so the kernels are recompiled. The run-time settings (thread count,
slicing thresholds, hand-product size) are not compiled in: they come from
:data:`fastrnn.config.settings` at every call.

Choices
-------
* ``cache=True``: compile once per machine; later processes load the cache.
* ``nogil=True``: the batch slices of one call run the compiled time loop on
  several Python threads at once (``_dispatch.py``).
* ``error_model="numpy"``: no ZeroDivisionError checks inside loops, which
  would keep LLVM from vectorizing the rational tanh.
* ``fastmath``: only the flags that cannot change a finite result beyond
  rounding (contraction into FMA, reciprocal, signed zeros); not ``nnan`` /
  ``ninf`` (the activations rely on inf arithmetic for large inputs) and not
  ``reassoc`` (summation order stays that of the loops, so results do not
  depend on the vector width).
* ``parallel=False``: no ``prange``, and Numba's threading layer is never
  started (its default OpenMP layer loads the system ``libgomp``, which a
  PyTorch imported afterwards binds to instead of its own copy). Batch slices
  run on fastrnn's own threads (``fastrnn/_slices.py``) with hand-written
  products, so BLAS is never called inside those threads; the bulk GEMMs
  outside the time loop use BLAS's own threads.
* ``boundscheck=False``: no index checks in the loops.
"""

JIT_OPTIONS = dict(
    cache=True,
    nogil=True,
    error_model="numpy",
    fastmath={"contract", "arcp", "nsz"},
    parallel=False,
    boundscheck=False,
)
