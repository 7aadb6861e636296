"""Layers without weights that reshape, repeat, pool or activate (Keras 3 semantics).

``RepeatVector``, ``Flatten``, ``Reshape``, ``Activation``,
``GlobalAveragePooling1D`` and ``GlobalMaxPooling1D``: each a forward that
mirrors Keras's and a ``backward`` that returns ``d loss / d inputs``
(``gradients`` is always the empty list).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import activations
from ..reference import core as kernels
from .base import (
    FloatArray,
    Layer,
    Shape,
    ShapeTuple,
    as_float_array,
    check_bool,
    check_positive_int,
)

__all__ = [
    "RepeatVector",
    "Flatten",
    "Reshape",
    "Activation",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
]


class _Stateless(Layer):
    """A layer without weights: built from the start, ``gradients`` empty."""

    def __init__(self, **kwargs: Any) -> None:
        """``kwargs``: the base layer's ``name``, ``dtype``, ``input_shape``,
        ``batch_input_shape``."""
        super().__init__(**kwargs)
        self.built = True
        self._cache = None

    def compute_mask(self, inputs, mask=None):
        """None: the output's steps are not the input's (Activation passes the mask on)."""
        return None

    def _inputs(self, inputs, ndim=None, at_least=None):
        x = as_float_array(inputs, self.dtype, argument="inputs", ndim=ndim)
        if at_least is not None and x.ndim < at_least:
            raise ValueError(
                f"Layer {self.name!r} expects inputs of at least {at_least} dimensions "
                f"(batch first); got shape {x.shape}"
            )
        return x


class RepeatVector(_Stateless):
    """``(batch, features)`` -> ``(batch, n, features)``: the input repeated ``n`` times.

    Backward: the ``n`` steps' gradients summed. The output has no mask.
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        self.n = check_positive_int(n, "n")
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        batch, features = tuple(input_shape)
        return (batch, self.n, features)

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = self._inputs(inputs, ndim=2)
        self._cache = x.shape if training else None
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        batch, features = self._require_training_call()
        return self._input_gradient(dy, (batch, self.n, features)).sum(axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Flatten(_Stateless):
    """``(batch, d1, d2, ...)`` -> ``(batch, d1 * d2 * ...)``. The output has no mask."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"`data_format` must be 'channels_last', 'channels_first' or None, "
                f"got {data_format!r}"
            )
        self.data_format = data_format
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        batch, *rest = tuple(input_shape)
        return (batch, None if None in rest else math.prod(rest))

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = self._inputs(inputs, at_least=1)
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)  # Keras flattens channels-first input channels last
        self._cache = np.shape(inputs) if training else None
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        shape = self._require_training_call()
        d = self._input_gradient(dy, (shape[0], math.prod(shape[1:])))
        if self.data_format == "channels_first" and len(shape) > 2:
            moved = (shape[0], *shape[2:], shape[1])
            return np.moveaxis(d.reshape(moved), -1, 1)
        return d.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(_Stateless):
    """``(batch, ...)`` -> ``(batch, *target_shape)``; one entry may be -1 (inferred)."""

    def __init__(self, target_shape: Shape, **kwargs: Any) -> None:
        if isinstance(target_shape, (str, bytes)) or not isinstance(target_shape, (tuple, list)):
            raise TypeError(f"`target_shape` must be a tuple of integers, got {target_shape!r}")
        target = []
        for i, n in enumerate(target_shape):
            if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n == -1:
                target.append(-1)
            else:
                target.append(check_positive_int(n, f"target_shape[{i}]"))
        if target.count(-1) > 1:
            raise ValueError(f"`target_shape` may hold one -1 at most, got {tuple(target_shape)}")
        self.target_shape = tuple(target)
        super().__init__(**kwargs)

    def _resolved(self, rest):
        """The target shape for a sample of shape ``rest``; ValueError if sizes differ."""
        size = math.prod(rest)
        known = math.prod(n for n in self.target_shape if n != -1)
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(
                    f"Layer {self.name!r}: cannot reshape a sample of shape {tuple(rest)} "
                    f"({size} values) to {self.target_shape}"
                )
            return tuple(size // known if n == -1 else n for n in self.target_shape)
        if known != size:
            raise ValueError(
                f"Layer {self.name!r}: cannot reshape a sample of shape {tuple(rest)} "
                f"({size} values) to {self.target_shape} ({known} values)"
            )
        return self.target_shape

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        batch, *rest = tuple(input_shape)
        if None in rest:
            return (batch, *(None if n == -1 else n for n in self.target_shape))
        return (batch, *self._resolved(rest))

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = self._inputs(inputs, at_least=1)
        target = self._resolved(x.shape[1:])
        self._cache = (x.shape, target) if training else None
        return x.reshape(x.shape[0], *target)

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        shape, target = self._require_training_call()
        return self._input_gradient(dy, (shape[0], *target)).reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Activation(_Stateless):
    """``activation(inputs)`` elementwise (softmax: over the last axis); passes masks on."""

    supports_masking = True
    compute_mask = Layer.compute_mask

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        self.activation = activations.canonical_name(activation)
        super().__init__(**kwargs)

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = self._inputs(inputs)
        y = activations.get(self.activation)(x).astype(self.dtype, copy=False)
        self._cache = y if training else None
        return y

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        y = self._require_training_call()
        return kernels.activation_backward(y, self._input_gradient(dy, y.shape), self.activation)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}


class _GlobalPooling1D(_Stateless):
    """Pooling over the steps axis of ``(batch, steps, features)`` input
    (``(batch, features, steps)`` with ``data_format="channels_first"``)."""

    def __init__(
        self, data_format: str = "channels_last", keepdims: bool = False, **kwargs: Any
    ) -> None:
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                f"`data_format` must be 'channels_last' or 'channels_first', got {data_format!r}"
            )
        self.data_format = data_format
        self.keepdims = check_bool(keepdims, "keepdims")
        super().__init__(**kwargs)

    @property
    def _steps_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        shape = list(input_shape)
        if self.keepdims:
            shape[self._steps_axis] = 1
        else:
            del shape[self._steps_axis]
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over the steps, of the unmasked steps only when a mask is given.

    A row whose steps are all masked gives 0 (Keras divides 0 by 0 and gives NaN).
    """

    supports_masking = True

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = self._inputs(inputs, ndim=3)
        axis = self._steps_axis
        steps = x.shape[axis]
        if mask is None:
            weights = np.full((x.shape[0], steps), 1.0 / steps if steps else 0.0, x.dtype)
        else:
            m = np.asarray(mask)
            if m.shape != (x.shape[0], steps):
                raise ValueError(
                    f"`mask` must have shape (batch, steps) = ({x.shape[0]}, {steps}); "
                    f"got {m.shape}"
                )
            m = (m != 0).astype(x.dtype)
            counts = m.sum(axis=1, keepdims=True)
            weights = np.divide(m, counts, out=np.zeros_like(m), where=counts > 0)
        w = weights[:, :, None] if axis == 1 else weights[:, None, :]
        self._cache = (w, x.shape) if training else None
        return np.sum(x * w, axis=axis, keepdims=self.keepdims)

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        w, shape = self._require_training_call()
        out_shape = self.compute_output_shape(shape)
        d = self._input_gradient(dy, out_shape)
        if not self.keepdims:
            d = np.expand_dims(d, self._steps_axis)
        return d * w


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over the steps (masks are ignored, as in Keras). Backward: the
    gradient goes to the first step that holds the maximum."""

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = self._inputs(inputs, ndim=3)
        if x.shape[self._steps_axis] == 0:
            raise ValueError(f"Layer {self.name!r}: cannot take the maximum over 0 steps")
        where = np.argmax(x, axis=self._steps_axis)
        self._cache = (where, x.shape) if training else None
        return np.max(x, axis=self._steps_axis, keepdims=self.keepdims)

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        where, shape = self._require_training_call()
        d = self._input_gradient(dy, self.compute_output_shape(shape))
        if self.keepdims:
            d = np.squeeze(d, axis=self._steps_axis)
        dx = np.zeros(shape, d.dtype)
        axis = self._steps_axis
        np.put_along_axis(dx, np.expand_dims(where, axis), np.expand_dims(d, axis), axis=axis)
        return dx
