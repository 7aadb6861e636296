"""The Numba backend: the kernel contract of :mod:`fastrnn.reference`, compiled.

Importing this module fails with ImportError when Numba is not installed,
which makes the backend registry report it as unavailable. Flags live in
:mod:`fastrnn.numba_kernels.config`.
"""
import numba  # noqa: F401  (ImportError here means: backend unavailable)

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

__all__ = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
]
