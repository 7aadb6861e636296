"""fastrnn as a fast CPU backend for PyTorch models.

``import fastrnn.torch as ft`` (it imports torch; ``import fastrnn`` alone
never does)::

    ft.RNN, ft.LSTM, ft.GRU      # torch.nn's modules: same constructor,
                                 # parameters and forward (PackedSequence too),
                                 # run on fastrnn's compiled kernels
    ft.convert(model)            # a copy of model with every nn.RNN/LSTM/GRU swapped
    ft.to_torch(model)           # and back

See docs/pytorch.md.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        f"fastrnn.torch needs PyTorch, which is not importable ({exc}); install it, "
        "e.g. `pip install torch==2.13.0`"
    ) from None

from .convert import convert, to_torch
from .modules import GRU, LSTM, RNN, ArgumentError

__all__ = ["ArgumentError", "GRU", "LSTM", "RNN", "convert", "to_torch"]
