"""fastrnn: Keras-compatible recurrent layers for the CPU, fast.

    from fastrnn.models import Sequential
    from fastrnn.layers import SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense
"""
import importlib

__version__ = "0.1.0"

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
