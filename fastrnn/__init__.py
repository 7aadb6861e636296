"""fastrnn: Keras-compatible recurrent layers for the CPU, fast.

from fastrnn.models import Sequential
from fastrnn.layers import SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense

or, as Keras code spells it, ``import fastrnn as keras`` and then
``keras.Sequential``, ``keras.layers.LSTM``, ``keras.callbacks.EarlyStopping``,
``keras.utils.to_categorical``, ``keras.preprocessing.sequence.pad_sequences``,
``keras.models.load_model``.
"""

import importlib
import os

__version__ = "0.1.0"

# The compiled kernels' slice threads start right after BLAS calls (Dense and
# Embedding through NumPy, Numba's whole-batch products and weight gradients
# through SciPy); an OpenBLAS worker that keeps spinning after its call takes
# a core from them. With this, idle OpenBLAS workers sleep at once
# (docs/building.md, "Environment variables"). It reaches an OpenBLAS loaded
# after this import (SciPy's, normally) and never overrides the user's value.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .backends import (
    available_backends,
    get_backend,
    set_backend,
    use_backend,
)
from .config import get_num_threads, set_num_threads, use_num_threads

__all__ = [
    "__version__",
    "available_backends",
    "get_backend",
    "set_backend",
    "use_backend",
    "get_num_threads",
    "set_num_threads",
    "use_num_threads",
    "show_config",
    "Sequential",
    "Model",
    "Input",
]

_SUBMODULES = {
    "activations",
    "callbacks",
    "config",
    "initializers",
    "interop",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "preprocessing",
    "reference",
    "saving",
    "training",
    "utils",
}

#: Keras's top-level names: ``import fastrnn as keras`` then ``keras.Sequential``,
#: ``keras.Model`` (and ``keras.Input``, from the layers).
_MODEL_NAMES = {"Sequential", "Model"}


def __getattr__(name):
    """``fastrnn.layers``, ``fastrnn.interop``, ... imported on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _MODEL_NAMES:
        return getattr(importlib.import_module(f"{__name__}.models"), name)
    if name == "Input":
        return importlib.import_module(f"{__name__}.layers").Input
    if name == "show_config":
        from ._info import show_config

        return show_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
