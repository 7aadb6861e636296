"""Dense, Embedding, Masking and Dropout."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .. import activations, initializers
from .._row_gradients import RowGradient
from .._validation import check_rate, check_real
from ..reference import core as kernels
from .base import (
    ActivationSpec,
    BoolArray,
    DTypeSpec,
    FloatArray,
    InitializerSpec,
    Layer,
    Shape,
    ShapeTuple,
    as_float_array,
    check_bool,
    check_gradient,
    check_positive_int,
)

__all__ = ["Dense", "Embedding", "Masking", "Dropout"]


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis of 2-D or 3-D input.

    On 3-D input ``(batch, timesteps, features)`` it applies to every time
    step and passes the mask on (many-to-many tagging).
    """

    supports_masking = True
    kernel: FloatArray
    bias: FloatArray

    _size_arguments = ("units",)

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = None,
        use_bias: bool = True,
        kernel_initializer: InitializerSpec = "glorot_uniform",
        bias_initializer: InitializerSpec = "zeros",
        input_shape: Shape | None = None,
        input_dim: int | None = None,
        dtype: DTypeSpec = "float32",
        seed: int | np.integer | None = None,
        name: str | None = None,
        batch_input_shape: Shape | None = None,
    ) -> None:
        self.units = check_positive_int(units, "units")
        self.activation: str = activations.canonical_name(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer: initializers.Initializer = initializers.get(
            kernel_initializer, "kernel_initializer"
        )
        self.bias_initializer: initializers.Initializer = initializers.get(
            bias_initializer, "bias_initializer"
        )
        if input_dim is not None and input_shape is None:
            input_shape = (check_positive_int(input_dim, "input_dim"),)
        super().__init__(
            name=name,
            dtype=dtype,
            input_shape=input_shape,
            batch_input_shape=batch_input_shape,
            seed=seed,
        )
        self._cache = None
        if self._batch_input_shape is not None and self._batch_input_shape[-1] is not None:
            self.build(self._batch_input_shape)

    # Layer.build's shape is optional for the layers without weights only.
    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known last dimension; got input "
                f"shape {tuple(input_shape)}"
            )
        features = check_positive_int(int(features), "input_shape[-1]")
        if self.built:
            if features != self.kernel.shape[0]:
                raise ValueError(
                    f"Layer {self.name!r} was built for {self.kernel.shape[0]} "
                    f"input features; got input shape {tuple(input_shape)}"
                )
            return
        self._weight_names = []
        self._add_weight("kernel", (features, self.units), self.kernel_initializer)
        if self.use_bias:
            self._add_weight("bias", (self.units,), self.bias_initializer)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        return (*tuple(input_shape)[:-1], self.units)

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = as_float_array(inputs, self.dtype, argument="inputs")
        if x.ndim not in (2, 3):
            raise ValueError(
                f"Layer {self.name!r} expects 2-D (batch, features) or 3-D "
                f"(batch, timesteps, features) input; got shape {x.shape}"
            )
        if self.built and x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Layer {self.name!r} expects {self.kernel.shape[0]} input "
                f"features; got input of shape {x.shape}"
            )
        self.build(x.shape)
        y = kernels.dense_forward(
            x, self.kernel, self.bias if self.use_bias else None, self.activation
        ).astype(self.dtype, copy=False)
        self._cache = (x, y) if training else None
        return y

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        x, y = self._require_training_call()
        dy = check_gradient(dy, y.shape, dtype=self.dtype)
        dx, d_kernel, d_bias = kernels.dense_backward(x, self.kernel, y, dy, self.activation)
        self.gradients = [d_kernel, d_bias] if self.use_bias else [d_kernel]
        return dx

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            seed=self.seed,
        )
        return config


class Embedding(Layer):
    """Turn integer indices in ``[0, input_dim)`` into dense vectors.

    With ``mask_zero=True`` index 0 is padding: the layer produces a mask
    (``ids != 0``) that the next layer in a Sequential model receives.
    """

    supports_masking = True
    embeddings: FloatArray

    _size_arguments = ("input_dim", "output_dim")

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: InitializerSpec = "uniform",
        mask_zero: bool = False,
        input_length: int | None = None,
        dtype: DTypeSpec = "float32",
        seed: int | np.integer | None = None,
        name: str | None = None,
        input_shape: Shape | None = None,
        batch_input_shape: Shape | None = None,
    ) -> None:
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        self.embeddings_initializer: initializers.Initializer = initializers.get(
            embeddings_initializer, "embeddings_initializer"
        )
        self.mask_zero = check_bool(mask_zero, "mask_zero")
        if input_length is not None:
            input_length = check_positive_int(input_length, "input_length")
        self.input_length = input_length
        if input_shape is None and batch_input_shape is None and input_length is not None:
            input_shape = (input_length,)
        super().__init__(
            name=name,
            dtype=dtype,
            input_shape=input_shape,
            batch_input_shape=batch_input_shape,
            seed=seed,
        )
        self._cache = None
        self.build()

    def build(self, input_shape: Shape | None = None) -> None:
        if not self.built:
            self._weight_names = []
            self._add_weight(
                "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer
            )
            self.built = True

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        return (*tuple(input_shape), self.output_dim)

    def _check_ids(self, inputs):
        try:
            ids = np.asarray(inputs)
        except ValueError as exc:
            raise ValueError(f"`inputs` must be a rectangular array of indices ({exc})") from None
        if ids.dtype == object or not (
            np.issubdtype(ids.dtype, np.integer) or np.issubdtype(ids.dtype, np.floating)
        ):
            raise TypeError(f"Layer {self.name!r} expects integer indices; got dtype {ids.dtype}")
        if np.issubdtype(ids.dtype, np.floating):
            bad = ids[~np.isfinite(ids) | (ids != np.floor(ids))]
            if bad.size:
                raise ValueError(
                    f"Layer {self.name!r} expects integer indices; got "
                    f"non-integer value {bad.flat[0].item()!r}"
                )
        if ids.size:
            # The range is checked in the given dtype, before the cast to
            # int64, so that uint64 2**64-1 or float 1e30 is reported as it is.
            low, high = ids.min().item(), ids.max().item()
            if low < 0 or high >= self.input_dim:
                value = int(low if low < 0 else high)
                raise ValueError(
                    f"Layer {self.name!r}: index {value} is outside [0, "
                    f"{self.input_dim}) (input_dim={self.input_dim})"
                )
        return ids.astype(np.int64, copy=False)

    def _check_dataset(self, x: Any, argument: str) -> None:
        try:
            self._check_ids(x)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{argument}: {exc}") from None

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        ids = self._check_ids(inputs)
        self._cache = ids if training else None
        return self.embeddings[ids]

    def compute_mask(
        self, inputs: npt.ArrayLike, mask: npt.ArrayLike | None = None
    ) -> BoolArray | None:
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def backward(self, dy: npt.ArrayLike) -> None:
        ids = self._require_training_call()
        dy = check_gradient(dy, (*ids.shape, self.output_dim), dtype=self.dtype)
        dense = kernels.embedding_backward(ids, dy, self.input_dim)
        # The occurrences let Adam and RMSprop update rows as Keras on TensorFlow does.
        self.gradients = [RowGradient(dense, ids, dy.reshape(-1, self.output_dim))]
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=initializers.serialize(self.embeddings_initializer),
            mask_zero=self.mask_zero,
            input_length=self.input_length,
            seed=self.seed,
        )
        return config


class Masking(Layer):
    """Mask the time steps whose features all equal ``mask_value``.

    The output is the input with masked steps zeroed, and the mask
    ``any(x != mask_value, axis=-1)`` goes to the next layer.
    """

    supports_masking = True

    def __init__(
        self,
        mask_value: float = 0.0,
        input_shape: Shape | None = None,
        dtype: DTypeSpec = "float32",
        name: str | None = None,
        batch_input_shape: Shape | None = None,
    ) -> None:
        self.mask_value = check_real(mask_value, "mask_value", finite=False)
        super().__init__(
            name=name, dtype=dtype, input_shape=input_shape, batch_input_shape=batch_input_shape
        )
        self.built = True
        self._cache = None

    def _mask(self, x):
        return np.any(x != self.mask_value, axis=-1)

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = as_float_array(inputs, self.dtype, argument="inputs", ndim=3)
        keep = self._mask(x)
        self._cache = (keep, x.shape) if training else None
        return x * keep[..., None]

    def compute_mask(self, inputs: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> BoolArray:
        return self._mask(np.asarray(inputs))

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        keep, shape = self._require_training_call()
        dy = check_gradient(dy, shape, dtype=self.dtype)
        self.gradients = []
        return dy * keep[..., None]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs in training (scaling the rest by
    ``1 / (1 - rate)``); the identity at inference."""

    supports_masking = True

    def __init__(
        self,
        rate: float,
        seed: int | np.integer | None = None,
        name: str | None = None,
        dtype: DTypeSpec = "float32",
        input_shape: Shape | None = None,
    ) -> None:
        self.rate = check_rate(rate, "rate")
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, seed=seed)
        self.built = True
        self._cache = None

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = as_float_array(inputs, self.dtype, argument="inputs")
        if not training or self.rate == 0:
            self._cache = (np.ones((), x.dtype), x.shape) if training else None
            return x
        keep = (self._rng.random(x.shape) >= self.rate).astype(x.dtype) / (1 - self.rate)
        self._cache = (keep, x.shape)
        return x * keep

    def backward(self, dy: npt.ArrayLike) -> FloatArray:
        keep, shape = self._require_training_call()
        dy = check_gradient(dy, shape, dtype=self.dtype)
        self.gradients = []
        return dy * keep

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
