"""``Input`` and ``InputLayer``: where a functional model's graph starts.

    from fastrnn import Input, Model
    from fastrnn.layers import LSTM, Dense

    x = Input(shape=(None, 8))          # (batch, timesteps, features); batch implied
    model = Model(x, Dense(1)(LSTM(16)(x)))

``Input`` returns a :class:`~fastrnn.layers._graph.KerasTensor`, the output
of a new ``InputLayer``. ``Sequential([Input(shape=...), ...])`` takes one
as its first entry (Keras 3's way to give a Sequential model its input shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ._graph import KerasTensor, Node, _CallArguments
from .base import Layer, check_positive_int, check_shape, unique_name

__all__ = ["Input", "InputLayer"]


def _check_input_dtype(dtype: object) -> str:
    """An input's dtype name: any NumPy numeric or bool dtype (token ids are ints)."""
    if dtype is None:
        return "float32"
    try:
        name = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        name = None
    if name is None or not (np.issubdtype(np.dtype(name), np.number) or np.dtype(name) == np.bool_):
        raise ValueError(
            f"`dtype` of an Input must be a numeric dtype name such as 'float32' or "
            f"'int32'; got {dtype!r}"
        )
    return name


class InputLayer(Layer):
    """The layer behind :func:`Input`: no weights, its output is the model's input.

    Parameters
    ----------
    shape : tuple of int or None
        The shape of one sample (no batch dimension); None for a size that
        varies, e.g. ``(None, 8)`` for sequences of any length.
    batch_size : int, optional
        A fixed batch size.
    dtype : str, default "float32"
        Any numeric dtype (``"int32"`` for token ids).
    batch_shape : tuple, optional
        The shape with the batch dimension, instead of ``shape``.
    name : str, optional
        Default ``"input_layer"``, numbered when taken.
    input_shape : tuple, optional
        Keras 2's spelling of ``shape``.
    """

    def __init__(
        self,
        shape: tuple[int | None, ...] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: tuple[int | None, ...] | None = None,
        name: str | None = None,
        input_shape: tuple[int | None, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse:
            raise ValueError("`sparse=True` inputs are not supported by fastrnn")
        if kwargs.pop("input_tensor", None) is not None:
            raise ValueError("`input_tensor=` is not supported; call layers on the Input instead")
        kwargs.pop("optional", None)
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        if kwargs:
            raise TypeError(f"InputLayer got unexpected arguments {sorted(kwargs)}")
        if shape is None:
            shape = input_shape
        if batch_shape is not None:
            full = check_shape(batch_shape, "batch_shape")
        elif shape is not None:
            sample = check_shape(shape, "shape")
            batch = None if batch_size is None else check_positive_int(batch_size, "batch_size")
            full = (batch, *sample)
        else:
            raise ValueError(
                "An Input needs `shape` (the shape of one sample, e.g. shape=(None, 8)) "
                "or `batch_shape`; got neither"
            )
        super().__init__(name=name if name is not None else unique_name("input_layer"))
        self.dtype = _check_input_dtype(dtype)
        self.batch_shape = full
        self._batch_input_shape = full
        self.built = True
        node = Node(self, _CallArguments(None), [], False)
        node.outputs = [KerasTensor(full, self.dtype, self.name, node, 0)]
        self.__dict__["_inbound_nodes"] = [node]

    @property
    def output(self) -> KerasTensor:
        """The symbolic tensor this input layer makes."""
        return self.__dict__["_inbound_nodes"][0].outputs[0]

    def __call__(self, inputs: npt.ArrayLike, training: bool = False) -> Any:
        """The input itself (an input layer passes its input on)."""
        return inputs

    def backward(self, dy: Any) -> Any:
        self.gradients = []
        return dy

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return self.batch_shape

    _call_attributes = ()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "batch_shape": list(self.batch_shape)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InputLayer:
        config = dict(config)
        if config.get("batch_shape") is not None:
            config["batch_shape"] = tuple(config["batch_shape"])
        return cls(**config)


def Input(
    shape: tuple[int | None, ...] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    batch_shape: tuple[int | None, ...] | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> KerasTensor:
    """A symbolic input tensor: the start of a functional model (Keras 3's ``keras.Input``).

    Parameters
    ----------
    shape : tuple of int or None
        The shape of one sample, without the batch dimension: ``(timesteps,)``
        for token ids, ``(timesteps, features)`` for sequences; None where any
        size goes.
    batch_size, dtype, sparse, batch_shape, name
        As :class:`InputLayer`.

    Returns
    -------
    KerasTensor
        Call layers on it; pass it to ``Model(inputs=...)``.
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        name=name,
        **kwargs,
    )
    return layer.output
