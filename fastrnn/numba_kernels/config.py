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
* ``cache=True``: compile once per machine; later processes load the cache
  (where: see the end of this docstring).
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

Where the cache goes (:func:`cache_location`): Numba's default, the
package's ``__pycache__``, when it is writable or ``NUMBA_CACHE_DIR`` is
set; else (a read-only install: a system package, a container image) the
first writable of ``$FASTRNN_CACHE_DIR/numba``, ``$XDG_CACHE_HOME`` or
``~/.cache`` + ``/fastrnn/numba``, and a directory under the temporary
directory, set as ``numba.config.CACHE_DIR`` (for every cached function of
the process; ``NUMBA_CACHE_DIR`` overrides it); else no cache (each process
compiles, seconds). One warning says which.
"""

import os
import tempfile
import warnings


def _writable(directory: str) -> bool:
    """Whether files can be created in ``directory`` (made if missing)."""
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def cache_location() -> tuple[bool, str | None, str]:
    """(cache or not, the directory to set as Numba's cache or None for its own
    choice, a note for the user or "")."""
    if os.environ.get("NUMBA_CACHE_DIR", "").strip():
        return True, None, ""
    if _writable(os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")):
        return True, None, ""
    user = os.environ.get("FASTRNN_CACHE_DIR", "").strip()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates = [os.path.join(user, "numba")] if user else []
    candidates.append(os.path.join(base, "fastrnn", "numba"))
    try:
        candidates.append(os.path.join(tempfile.gettempdir(), f"fastrnn-numba-{uid}"))
    except OSError:  # no usable temporary directory either
        pass
    for directory in candidates:
        if _writable(directory):
            return (
                True,
                directory,
                (
                    "fastrnn: the Numba kernels' package directory is not writable; their "
                    f"compiled code is cached in {directory} (set NUMBA_CACHE_DIR to choose)"
                ),
            )
    return (
        False,
        None,
        (
            "fastrnn: no writable directory for Numba's cache (the package, "
            f"{', '.join(candidates)}): each process compiles the kernels it uses "
            "(seconds); set NUMBA_CACHE_DIR to a writable directory"
        ),
    )


def _configure_cache() -> bool:
    cache, directory, note = cache_location()
    if directory is not None:
        import numba

        numba.config.CACHE_DIR = directory
    if note:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return cache


JIT_OPTIONS = dict(
    cache=_configure_cache(),
    nogil=True,
    error_model="numpy",
    fastmath={"contract", "arcp", "nsz"},
    parallel=False,
    boundscheck=False,
)
