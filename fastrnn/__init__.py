"""fastrnn: Keras-compatible recurrent layers for the CPU, fast.

    from fastrnn.models import Sequential
    from fastrnn.layers import SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense
"""
__version__ = "0.1.0"

from .backends import available_backends, get_backend, set_backend, use_backend

__all__ = ["__version__", "available_backends", "get_backend", "set_backend", "use_backend"]
