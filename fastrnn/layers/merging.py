"""Layers that merge a list of inputs (Keras 3 semantics): ``Concatenate``,
``Add``, ``Multiply``, ``Average`` and ``Dot``.

Called on a list of arrays, ``layer([a, b, ...])``, with an optional list of
masks (one per input, None for an unmasked one); ``backward(dy)`` returns the
list of the inputs' gradients. The output mask is the logical AND of the
inputs' masks (None when no input has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .base import FloatArray, Layer, Shape, ShapeTuple, as_float_array, check_bool

__all__ = ["Concatenate", "Add", "Multiply", "Average", "Dot"]


class _Merge(Layer):
    """Base: checks the list of inputs; subclasses define the forward and backward."""

    supports_masking = True
    _takes_lists = True
    #: Fewest inputs the layer takes.
    _min_inputs = 2

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True
        self._cache = None

    def _inputs(self, inputs) -> list[FloatArray]:
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"Layer {self.name!r} must be called on a list of at least "
                f"{self._min_inputs} arrays; got {type(inputs).__name__}"
            )
        if len(inputs) < self._min_inputs:
            raise ValueError(
                f"Layer {self.name!r} must be called on a list of at least "
                f"{self._min_inputs} arrays; got {len(inputs)}"
            )
        return [
            as_float_array(x, self.dtype, argument=f"inputs[{i}]") for i, x in enumerate(inputs)
        ]

    def _same_shapes(self, arrays):
        shapes = [a.shape for a in arrays]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"Layer {self.name!r} needs inputs of one shape; got shapes {shapes}")

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(
                f"Layer {self.name!r}: `mask` must be a list of one mask (or None) per input"
            )
        given = [np.asarray(m, bool) for m in mask if m is not None]
        if not given:
            return None
        return np.logical_and.reduce(given)

    def _input_shapes(self, input_shape) -> list[ShapeTuple]:
        """The input shapes of a symbolic call, checked: a list of enough shapes of one rank."""
        if not isinstance(input_shape, list) or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise TypeError(
                f"Layer {self.name!r} must be called on a list of at least "
                f"{self._min_inputs} tensors; got one"
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < self._min_inputs:
            raise ValueError(
                f"Layer {self.name!r} must be called on a list of at least "
                f"{self._min_inputs} tensors; got {len(shapes)}"
            )
        if len({len(s) for s in shapes}) > 1:
            raise ValueError(f"Layer {self.name!r} needs inputs of one rank; got shapes {shapes}")
        return shapes

    def compute_output_shape(self, input_shape: list[Shape]) -> ShapeTuple:
        shapes = self._input_shapes(input_shape)
        if not all(_agree(s, shapes[0]) for s in shapes):
            raise ValueError(f"Layer {self.name!r} needs inputs of one shape; got shapes {shapes}")
        return tuple(n if n is not None else m for n, m in zip(shapes[0], shapes[-1]))


def _agree(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Whether two shapes can be the same (None agrees with any size)."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default -1, the features); the other
    dimensions must agree."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"`axis` must be an integer, got {axis!r}")
        self.axis = int(axis)
        super().__init__(**kwargs)

    def _axis(self, ndim):
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(
                f"Layer {self.name!r}: `axis` {self.axis} is not an axis of the samples of "
                f"{ndim}-D inputs (the batch axis cannot be joined)"
            )
        return axis

    def __call__(self, inputs, training: bool = False, mask=None) -> FloatArray:
        arrays = self._inputs(inputs)
        ndims = {a.ndim for a in arrays}
        if len(ndims) > 1:
            raise ValueError(
                f"Layer {self.name!r} needs inputs of one rank; got shapes "
                f"{[a.shape for a in arrays]}"
            )
        axis = self._axis(arrays[0].ndim)
        others = [a.shape[:axis] + a.shape[axis + 1 :] for a in arrays]
        if any(o != others[0] for o in others):
            raise ValueError(
                f"Layer {self.name!r} joins along axis {self.axis}; the other dimensions "
                f"must match, got shapes {[a.shape for a in arrays]}"
            )
        self._cache = ([a.shape for a in arrays], axis) if training else None
        return np.concatenate(arrays, axis=axis)

    def backward(self, dy: npt.ArrayLike) -> list[FloatArray]:
        shapes, axis = self._require_training_call()
        total = list(shapes[0])
        total[axis] = sum(s[axis] for s in shapes)
        d = self._input_gradient(dy, tuple(total))
        bounds = np.cumsum([s[axis] for s in shapes])[:-1]
        return np.split(d, bounds, axis=axis)

    def compute_output_shape(self, input_shape: list[Shape]) -> ShapeTuple:
        shapes = self._input_shapes(input_shape)
        axis = self._axis(len(shapes[0]))
        others = [s[:axis] + s[axis + 1 :] for s in shapes]
        if not all(_agree(o, others[0]) for o in others):
            raise ValueError(
                f"Layer {self.name!r} joins along axis {self.axis}; the other dimensions "
                f"must match, got shapes {shapes}"
            )
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Add(_Merge):
    """The elementwise sum of the inputs (of one shape)."""

    def __call__(self, inputs, training: bool = False, mask=None) -> FloatArray:
        arrays = self._inputs(inputs)
        self._same_shapes(arrays)
        self._cache = (len(arrays), arrays[0].shape) if training else None
        return np.sum(arrays, axis=0)

    def backward(self, dy: npt.ArrayLike) -> list[FloatArray]:
        count, shape = self._require_training_call()
        d = self._input_gradient(dy, shape)
        return [d.copy() for _ in range(count)]


class Average(_Merge):
    """The elementwise mean of the inputs (of one shape)."""

    def __call__(self, inputs, training: bool = False, mask=None) -> FloatArray:
        arrays = self._inputs(inputs)
        self._same_shapes(arrays)
        self._cache = (len(arrays), arrays[0].shape) if training else None
        return np.mean(arrays, axis=0).astype(self.dtype, copy=False)

    def backward(self, dy: npt.ArrayLike) -> list[FloatArray]:
        count, shape = self._require_training_call()
        d = self._input_gradient(dy, shape) / count
        return [d.copy() for _ in range(count)]


class Multiply(_Merge):
    """The elementwise product of the inputs (of one shape)."""

    def __call__(self, inputs, training: bool = False, mask=None) -> FloatArray:
        arrays = self._inputs(inputs)
        self._same_shapes(arrays)
        self._cache = arrays if training else None
        return np.prod(arrays, axis=0)

    def backward(self, dy: npt.ArrayLike) -> list[FloatArray]:
        arrays = self._require_training_call()
        d = self._input_gradient(dy, arrays[0].shape)
        grads = []
        for i in range(len(arrays)):
            others = [a for j, a in enumerate(arrays) if j != i]
            grads.append(d * np.prod(others, axis=0))
        return grads


class Dot(_Merge):
    """The dot product of two inputs along ``axes``, sample by sample.

    ``axes`` is an int (the same axis of both) or a pair; with
    ``normalize=True`` both are L2-normalized along those axes first (the
    cosine). ``(batch, d) . (batch, d)`` gives ``(batch, 1)``; ``(batch, t1,
    d) . (batch, t2, d)`` with ``axes=2`` gives ``(batch, t1, t2)``.
    """

    _min_inputs = 2

    def __init__(self, axes: int | tuple[int, int], normalize: bool = False, **kwargs: Any) -> None:
        pair = (axes, axes) if isinstance(axes, (int, np.integer)) else axes
        if (
            isinstance(axes, bool)
            or not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in pair)
        ):
            raise TypeError(f"`axes` must be an integer or a pair of integers, got {axes!r}")
        self.axes = tuple(int(a) for a in pair)
        self.normalize = check_bool(normalize, "normalize")
        super().__init__(**kwargs)

    def _resolved_axes(self, a, b):
        axes = []
        for axis, x in zip(self.axes, (a, b)):
            axis = axis + x.ndim if axis < 0 else axis
            if not 1 <= axis < x.ndim:
                raise ValueError(
                    f"Layer {self.name!r}: axes {self.axes} are not sample axes of inputs of "
                    f"shapes {a.shape} and {b.shape}"
                )
            axes.append(axis)
        if a.shape[axes[0]] != b.shape[axes[1]]:
            raise ValueError(
                f"Layer {self.name!r}: the dotted axes must have one size; got shapes "
                f"{a.shape} and {b.shape} along axes {tuple(axes)}"
            )
        return axes

    @staticmethod
    def _l2_normalized(x, axis):
        norm = np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), 1e-12))
        return x / norm, norm

    def __call__(self, inputs, training: bool = False, mask=None) -> FloatArray:
        arrays = self._inputs(inputs)
        if len(arrays) != 2:
            raise ValueError(f"Layer {self.name!r} takes exactly 2 inputs; got {len(arrays)}")
        a, b = arrays
        if a.shape[0] != b.shape[0]:
            raise ValueError(
                f"Layer {self.name!r}: the inputs' batch sizes differ: {a.shape} and {b.shape}"
            )
        ax, bx = self._resolved_axes(a, b)
        na = nb = None
        if self.normalize:
            (a, na), (b, nb) = self._l2_normalized(a, ax), self._l2_normalized(b, bx)
        # Move the dotted axis last in a and first (after batch) in b, then batch-matmul.
        am = np.moveaxis(a, ax, -1).reshape(a.shape[0], -1, a.shape[ax])
        bm = np.moveaxis(b, bx, 1).reshape(b.shape[0], b.shape[bx], -1)
        out_shape = (
            a.shape[0],
            *[n for i, n in enumerate(a.shape) if i not in (0, ax)],
            *[n for i, n in enumerate(b.shape) if i not in (0, bx)],
        )
        y = np.matmul(am, bm).reshape(out_shape)
        if y.ndim == 1:
            y = y[:, None]
        self._cache = (a, b, ax, bx, na, nb, y.shape) if training else None
        return y

    def backward(self, dy: npt.ArrayLike) -> list[FloatArray]:
        a, b, ax, bx, na, nb, shape = self._require_training_call()
        d = self._input_gradient(dy, shape)
        am = np.moveaxis(a, ax, -1)
        bm = np.moveaxis(b, bx, 1)
        rows, cols = am.shape[1:-1], bm.shape[2:]
        dm = d.reshape(a.shape[0], int(np.prod(rows)), int(np.prod(cols)))
        a2 = am.reshape(a.shape[0], -1, a.shape[ax])
        b2 = bm.reshape(b.shape[0], b.shape[bx], -1)
        da = np.moveaxis(np.matmul(dm, np.swapaxes(b2, 1, 2)).reshape(am.shape), -1, ax)
        db = np.moveaxis(np.matmul(np.swapaxes(a2, 1, 2), dm).reshape(bm.shape), 1, bx)
        if self.normalize:
            # y = x / |x|: dx = (dy - y * sum(y * dy)) / |x| along the axis.
            da = (da - a * np.sum(a * da, axis=ax, keepdims=True)) / na
            db = (db - b * np.sum(b * db, axis=bx, keepdims=True)) / nb
        return [da, db]

    def compute_output_shape(self, input_shape: list[Shape]) -> ShapeTuple:
        shapes = self._input_shapes(input_shape)
        if len(shapes) != 2:
            raise ValueError(f"Layer {self.name!r} takes exactly 2 inputs; got {len(shapes)}")
        sa, sb = shapes
        ax, bx = (axis + len(s) if axis < 0 else axis for axis, s in zip(self.axes, (sa, sb)))
        if not (1 <= ax < len(sa) and 1 <= bx < len(sb)):
            raise ValueError(
                f"Layer {self.name!r}: axes {self.axes} are not sample axes of inputs of "
                f"shapes {sa} and {sb}"
            )
        if sa[ax] is not None and sb[bx] is not None and sa[ax] != sb[bx]:
            raise ValueError(
                f"Layer {self.name!r}: the dotted axes must have one size; got shapes "
                f"{sa} and {sb} along axes {(ax, bx)}"
            )
        out = (
            sa[0],
            *[n for i, n in enumerate(sa) if i not in (0, ax)],
            *[n for i, n in enumerate(sb) if i not in (0, bx)],
        )
        return out if len(out) > 1 else (sa[0], 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}
