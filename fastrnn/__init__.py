"""fastrnn: Keras-compatible recurrent layers for the CPU, fast.

    from fastrnn.models import Sequential
    from fastrnn.layers import SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense
"""
import importlib
import os

__version__ = "0.1.0"

# The compiled kernels call BLAS through SciPy's OpenBLAS, whose worker
# threads by default busy-wait ~0.1 s after each threaded call. The kernels
# run their own threads (batch slices of the time loop) right after such a
# call (the input projection), and a spinning BLAS worker then takes a core
# from them: measured on 2 cores, the LSTM forward of batch 32, 50 steps,
# 128 units went from 3.4 to 6.0 ms. Idle BLAS workers sleep at once with
# this; the per-call wake-up costs nothing measurable at the sizes where BLAS
# is threaded. It only reaches an OpenBLAS loaded after this import (SciPy's,
# normally) and never overrides a value the user set.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .backends import available_backends, get_backend, set_backend, use_backend  # noqa: E402

__all__ = ["__version__", "available_backends", "get_backend", "set_backend", "use_backend"]

_SUBMODULES = {"activations", "callbacks", "initializers", "interop", "layers", "losses",
               "metrics", "models", "ops", "optimizers", "preprocessing", "reference",
               "saving", "training"}


def __getattr__(name):
    """``fastrnn.layers``, ``fastrnn.interop``, ... imported on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
