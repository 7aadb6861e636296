"""Wrappers: Bidirectional (one recurrent layer reading forwards, one
backwards) and TimeDistributed (one layer applied at every time step)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .base import (
    FloatArray,
    Layer,
    Shape,
    ShapeTuple,
    check_gradient,
    input_shape_from_args,
)
from .recurrent import RNNBase

__all__ = ["Bidirectional", "TimeDistributed"]

_BidirectionalT = TypeVar("_BidirectionalT", bound="Bidirectional")

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Run ``layer`` forwards and a copy of it backwards, and merge the outputs.

    Parameters
    ----------
    layer : SimpleRNN, LSTM or GRU
        Its configuration is copied into ``forward_layer`` and, with
        ``go_backwards`` flipped, into ``backward_layer`` (fresh weights, as
        in Keras).
    merge_mode : {"concat", "sum", "mul", "ave", None}
        None returns ``[forward_output, backward_output]``.
    backward_layer : recurrent layer, optional
        Used as is instead of the copy; must differ in ``go_backwards`` and
        agree in ``return_sequences``, ``return_state`` and ``stateful``.

    With ``return_sequences=True`` the backward output is flipped back so
    that each time step holds both directions' states for that position,
    and masked steps output zeros (Keras forces ``zero_output_for_mask``).
    With ``return_state=True`` the call returns
    ``[output, *forward_states, *backward_states]``. Weights: the forward
    layer's, then the backward layer's.
    """

    supports_masking = True

    def __init__(
        self,
        layer: RNNBase,
        merge_mode: str | None = "concat",
        backward_layer: RNNBase | None = None,
        input_shape: Shape | None = None,
        name: str | None = None,
        batch_input_shape: Shape | None = None,
    ) -> None:
        if not isinstance(layer, RNNBase):
            raise TypeError(
                f"`layer` must be a SimpleRNN, LSTM or GRU layer; got {type(layer).__name__}"
            )
        if backward_layer is not None and not isinstance(backward_layer, RNNBase):
            raise TypeError(
                f"`backward_layer` must be a SimpleRNN, LSTM or GRU layer; got "
                f"{type(backward_layer).__name__}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Unknown value for `merge_mode`: expected one of "
                f"{list(MERGE_MODES)}, got {merge_mode!r}"
            )
        config = layer.get_config()
        config.pop("batch_input_shape", None)
        forward = type(layer).from_config({**config, "name": "forward_" + layer.name})
        if backward_layer is None:
            backward = type(layer).from_config(
                {**config, "name": "backward_" + layer.name, "go_backwards": not layer.go_backwards}
            )
        else:
            backward = backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                "`backward_layer` must have a different `go_backwards` from "
                f"`layer`; both have go_backwards={forward.go_backwards}"
            )
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(forward, attr) != getattr(backward, attr):
                raise ValueError(
                    f"`layer` and `backward_layer` must agree on `{attr}`; got "
                    f"{getattr(forward, attr)} and {getattr(backward, attr)}"
                )
        for sub in (forward, backward):
            sub.zero_output_for_mask = sub.return_sequences
        self.forward_layer, self.backward_layer = forward, backward
        self.merge_mode = merge_mode
        self.return_sequences = forward.return_sequences
        self.return_state = forward.return_state
        self.stateful = forward.stateful
        super().__init__(name=name, dtype=forward.dtype)
        self._batch_input_shape = input_shape_from_args(input_shape, batch_input_shape) or (
            layer._batch_input_shape
        )
        self._cache = None
        if self._batch_input_shape is not None and self._batch_input_shape[-1] is not None:
            self.build(self._batch_input_shape)

    # -- weights -------------------------------------------------------------
    # Layer.build's shape is optional for the layers without weights only.
    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self.built = True

    @property
    def weights(self) -> list[FloatArray]:
        return self.forward_layer.weights + self.backward_layer.weights

    def set_weights(self, weights: Sequence[npt.ArrayLike]) -> None:
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} has no weights yet: call it on an input "
                f"or call build(input_shape) before set_weights"
            )
        n = len(self.forward_layer.weights)
        total = n + len(self.backward_layer.weights)
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise TypeError(f"`weights` must be a list of {total} arrays")
        if len(weights) != total:
            raise ValueError(
                f"Layer {self.name!r} expects {total} weights "
                f"{[w.shape for w in self.weights]}, got {len(weights)}"
            )
        # Check both halves before changing either.
        saved = self.get_weights()
        try:
            self.forward_layer.set_weights(list(weights[:n]))
            self.backward_layer.set_weights(list(weights[n:]))
        except (TypeError, ValueError):
            for old, value in zip(self.weights, saved):
                old[...] = value
            raise

    # -- shapes and masks ----------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple | list[ShapeTuple]:
        shape: Any = self.forward_layer.compute_output_shape(input_shape)
        backward: Any = self.backward_layer.compute_output_shape(input_shape)
        states: list[ShapeTuple] = []
        if self.return_state:
            shape, backward, states = shape[0], backward[0], shape[1:] + backward[1:]
        if self.merge_mode == "concat":
            # the two directions' units, which a backward_layer given may set apart
            shape = (*shape[:-1], shape[-1] + backward[-1])
        out = [shape, backward] if self.merge_mode is None else [shape]
        if self.return_state or self.merge_mode is None:
            return out + states
        return shape

    def compute_mask(
        self, inputs: npt.ArrayLike, mask: npt.ArrayLike | None = None
    ) -> npt.ArrayLike | None:
        return mask if self.return_sequences else None

    # -- calling -------------------------------------------------------------
    def __call__(
        self,
        inputs: npt.ArrayLike,
        initial_state: Sequence[npt.ArrayLike] | None = None,
        mask: npt.ArrayLike | None = None,
        training: bool = False,
    ) -> FloatArray | list[FloatArray]:
        forward_state = backward_state = None
        n_forward = self.forward_layer.state_size
        n_states = n_forward + self.backward_layer.state_size
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n_states:
                given = (
                    f"a list of {len(initial_state)}"
                    if isinstance(initial_state, (list, tuple))
                    else type(initial_state).__name__
                )
                raise ValueError(
                    f"Layer {self.name!r} expects `initial_state` as a list of "
                    f"{n_states} arrays (the forward layer's {n_forward} states, then "
                    f"the backward layer's {n_states - n_forward}); got {given}"
                )
            forward_state = list(initial_state[:n_forward])
            backward_state = list(initial_state[n_forward:])
            if np.ndim(inputs) == 3:
                # Both halves' states are checked before either half runs
                # (or builds), numbered as the caller gave them.
                batch = np.shape(inputs)[0]
                self.forward_layer._check_states(forward_state, batch)
                self.backward_layer._check_states(backward_state, batch, first_index=n_forward)
        before = self._call_state()
        try:
            y: Any = self.forward_layer(
                inputs, initial_state=forward_state, mask=mask, training=training
            )
            y_rev: Any = self.backward_layer(
                inputs, initial_state=backward_state, mask=mask, training=training
            )
        except BaseException:
            # The backward half failing leaves the forward half as it was
            # (a stateful forward half does not advance).
            self._restore_call_state(before)
            raise
        self.built = True
        states: list[FloatArray] = []
        if self.return_state:
            states = y[1:] + y_rev[1:]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        if self.merge_mode == "concat":
            output: Any = np.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = [y, y_rev]
        self._cache = (y, y_rev, initial_state is not None) if training else None
        if self.merge_mode is None:
            return output + states
        return [output, *states] if self.return_state else output

    def backward(
        self, dy: npt.ArrayLike | Sequence[npt.ArrayLike | None] | None
    ) -> FloatArray | tuple[FloatArray, list[FloatArray]]:
        """Backpropagate through both layers; see ``RNNBase.backward``."""
        y, y_rev, had_state = self._require_training_call()
        n_out = 2 if self.merge_mode is None else 1
        n_forward = self.forward_layer.state_size if self.return_state else 0
        n_states = n_forward + (self.backward_layer.state_size if self.return_state else 0)
        if n_out + n_states > 1:
            if not isinstance(dy, (list, tuple)) or len(dy) != n_out + n_states:
                raise ValueError(
                    f"Layer {self.name!r} returned {n_out + n_states} "
                    f"arrays, so `dy` must be a list of that many gradients"
                )
            dy_list = list(dy)
        else:
            dy_list = [dy]
        d_outputs, d_states = dy_list[:n_out], dy_list[n_out:]
        if self.merge_mode is None:
            dy_f, dy_b = d_outputs
        else:
            merged_shape = (
                (*y.shape[:-1], 2 * y.shape[-1]) if self.merge_mode == "concat" else y.shape
            )
            d = d_outputs[0]
            d = None if d is None else check_gradient(d, merged_shape, dtype=self.dtype)
            if d is None:
                dy_f = dy_b = None
            elif self.merge_mode == "concat":
                dy_f, dy_b = d[..., : y.shape[-1]], d[..., y.shape[-1] :]
            elif self.merge_mode == "sum":
                dy_f = dy_b = d
            elif self.merge_mode == "ave":
                dy_f = dy_b = d / 2
            else:
                dy_f, dy_b = d * y_rev, d * y
        if dy_b is not None and self.return_sequences:
            dy_b = np.asarray(dy_b)[:, ::-1]
        if self.return_state:
            grads_f: Any = self.forward_layer.backward([dy_f, *d_states[:n_forward]])
            grads_b: Any = self.backward_layer.backward([dy_b, *d_states[n_forward:]])
        else:
            grads_f = self.forward_layer.backward(dy_f)
            grads_b = self.backward_layer.backward(dy_b)
        # Both are lists: the backward calls above have just set them.
        self.gradients = (
            self.forward_layer.gradients + self.backward_layer.gradients  # type: ignore[operator]
        )
        if had_state:
            (dx_f, ds_f), (dx_b, ds_b) = grads_f, grads_b
            return dx_f + dx_b, list(ds_f) + list(ds_b)
        return grads_f + grads_b

    def _call_state(self) -> Any:
        return (
            super()._call_state(),
            self.forward_layer._call_state(),
            self.backward_layer._call_state(),
        )

    def _restore_call_state(self, state: Any) -> None:
        own, forward, backward = state
        super()._restore_call_state(own)
        self.forward_layer._restore_call_state(forward)
        self.backward_layer._restore_call_state(backward)

    def reset_states(self) -> None:
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def get_config(self) -> dict[str, Any]:
        from . import serialize

        config = super().get_config()
        config.pop("dtype", None)
        config.update(
            layer=serialize(self.forward_layer),
            backward_layer=serialize(self.backward_layer),
            merge_mode=self.merge_mode,
        )
        return config

    @classmethod
    def from_config(cls: type[_BidirectionalT], config: Mapping[str, Any]) -> _BidirectionalT:
        from . import deserialize

        config = dict(config)
        layer = deserialize(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize(backward)
        # deserialize() gives a Layer; the constructor checks that it is a recurrent one.
        obj = cls(layer, backward_layer=backward, **config)  # type: ignore[arg-type]
        obj.forward_layer.name = layer.name
        return obj


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step of ``(batch, timesteps, ...)`` input.

    The steps are folded into the batch, ``(batch * timesteps, ...)``, for
    one call of ``layer``, and unfolded after; so the weights are shared by
    every step and their gradients sum over the steps. Weights and
    gradients are ``layer``'s. The input mask, if any, passes on unchanged.
    """

    supports_masking = True

    def __init__(self, layer: Layer, name: str | None = None, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(
                f"`layer` must be a fastrnn layer instance, got {type(layer).__name__}: {layer!r}"
            )
        self.layer = layer
        super().__init__(name=name, dtype=layer.dtype, **kwargs)
        self._cache = None
        if self._batch_input_shape is not None:
            self.build(self._batch_input_shape)

    @staticmethod
    def _step_shape(input_shape):
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(
                "TimeDistributed expects inputs of at least 3 dimensions "
                f"(batch, timesteps, ...); got shape {shape}"
            )
        batch, steps = shape[:2]
        folded = None if batch is None or steps is None else batch * steps
        return (folded, *shape[2:])

    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        self.layer.build(self._step_shape(input_shape))
        self.built = True

    @property
    def weights(self) -> list[FloatArray]:
        return self.layer.weights

    def set_weights(self, weights: Sequence[npt.ArrayLike]) -> None:
        self.layer.set_weights(weights)

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple:
        shape = tuple(input_shape)
        inner = self.layer.compute_output_shape(self._step_shape(shape))
        if isinstance(inner, list):
            raise ValueError("TimeDistributed needs a layer with one output")
        return (shape[0], shape[1], *tuple(inner)[1:])

    def __call__(
        self, inputs: npt.ArrayLike, training: bool = False, mask: npt.ArrayLike | None = None
    ) -> FloatArray:
        x = np.asarray(inputs)
        self._step_shape(x.shape)  # at least 3-D
        batch, steps = x.shape[:2]
        before = self.layer._call_state()
        y = self.layer(x.reshape(batch * steps, *x.shape[2:]), training=training)
        if isinstance(y, list):
            self.layer._restore_call_state(before)
            raise ValueError("TimeDistributed needs a layer with one output")
        self.built = True
        self._cache = (batch, steps) if training else None
        return y.reshape(batch, steps, *y.shape[1:])

    def backward(self, dy: npt.ArrayLike) -> FloatArray | None:
        batch, steps = self._require_training_call()
        d = np.asarray(dy)
        if d.shape[:2] != (batch, steps):
            raise ValueError(
                f"Layer {self.name!r}: `dy` must start with (batch, timesteps) = "
                f"({batch}, {steps}); got shape {d.shape}"
            )
        dx = self.layer.backward(d.reshape(batch * steps, *d.shape[2:]))
        self.gradients = self.layer.gradients
        return None if dx is None else dx.reshape(batch, steps, *dx.shape[1:])

    def _call_state(self) -> Any:
        return (super()._call_state(), self.layer._call_state())

    def _restore_call_state(self, state: Any) -> None:
        own, inner = state
        super()._restore_call_state(own)
        self.layer._restore_call_state(inner)

    def get_config(self) -> dict[str, Any]:
        from . import serialize

        config = super().get_config()
        config.pop("dtype", None)
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TimeDistributed:
        from . import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
