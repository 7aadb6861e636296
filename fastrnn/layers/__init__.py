"""Keras-compatible layers: change only the import line.

Examples
--------
>>> from fastrnn.layers import SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .attention import AdditiveAttention, Attention
from .base import Layer
from .cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .core import Dense, Dropout, Embedding, Masking
from .input_layer import Input, InputLayer
from .merging import Add, Average, Concatenate, Dot, Multiply
from .recurrent import GRU, LSTM, SimpleRNN
from .recurrent import RNNBase as RNNBase  # the base class of the recurrent layers
from .reshaping import (
    Activation,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    RepeatVector,
    Reshape,
)
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Layer",
    "Input",
    "InputLayer",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "Embedding",
    "Dense",
    "Masking",
    "Dropout",
    "TimeDistributed",
    "RepeatVector",
    "Flatten",
    "Reshape",
    "Activation",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Concatenate",
    "Add",
    "Multiply",
    "Average",
    "Dot",
    "Attention",
    "AdditiveAttention",
    "RNN",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "StackedRNNCells",
    "serialize",
    "deserialize",
]

_CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        InputLayer,
        SimpleRNN,
        LSTM,
        GRU,
        Bidirectional,
        TimeDistributed,
        Embedding,
        Dense,
        Masking,
        Dropout,
        RepeatVector,
        Flatten,
        Reshape,
        Activation,
        GlobalAveragePooling1D,
        GlobalMaxPooling1D,
        Concatenate,
        Add,
        Multiply,
        Average,
        Dot,
        Attention,
        AdditiveAttention,
        RNN,
        SimpleRNNCell,
        LSTMCell,
        GRUCell,
        StackedRNNCells,
    )
}


def serialize(layer: Layer) -> dict[str, Any]:
    """A JSON-able description of a layer: ``{"class_name": ..., "config": ...}``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from :func:`serialize`'s output."""
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(
            f"Not a fastrnn layer description: {config!r:.200}; expected a "
            f"dict with class_name in {sorted(_CLASSES)}"
        )
    layer_config = config.get("config", {})
    if not isinstance(layer_config, Mapping):
        raise ValueError(
            f"The config of a {config['class_name']} layer description must be a dict, "
            f"got {type(layer_config).__name__}"
        )
    return _CLASSES[config["class_name"]].from_config(dict(layer_config))
