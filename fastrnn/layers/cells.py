"""Recurrent cells and the generic ``RNN`` layer (Keras 3's API).

* ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``: one time step,
  ``cell(inputs, states, training=False) -> (output, new_states)`` on
  ``(batch, features)`` inputs, with ``backward(d_output, d_states) ->
  (d_inputs, d_states)``. Their weights are those of ``SimpleRNN`` /
  ``LSTM`` / ``GRU`` (same names, shapes and initializers).
* ``StackedRNNCells(cells)``: cells one after another within a step.
* ``RNN(cell)``: the cell over a sequence, with ``return_sequences``,
  ``return_state``, ``go_backwards``, masks and initial states. A built-in
  cell runs as the matching layer, in the compiled kernels. Any other cell
  (a list becomes a ``StackedRNNCells``; a user's cell is a ``Layer`` with a
  ``state_size``, a ``call(inputs, states, training=False)`` returning
  ``(output, new_states)`` and a ``backward(d_output, d_states)`` returning
  ``(d_inputs, d_states)``, its ``gradients`` set) runs through the
  reference's loop over the steps; its gradients are summed over the steps.

Masking (Keras 3): at a masked step the states are carried over and the
output is the previous step's (zeros with ``zero_output_for_mask``).

Dropout (Keras 3's ``DropoutRNNCell``): a built-in cell made with
``dropout`` / ``recurrent_dropout`` draws its masks at its first training
call and reuses them at every call after, until ``reset_dropout_mask()`` /
``reset_recurrent_dropout_mask()``; ``RNN`` resets them after each call, so
that one sequence shares one set of masks, as the recurrent layers do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .base import FloatArray, Layer, Shape, ShapeTuple, as_float_array, check_bool, check_gradient
from .recurrent import GRU, LSTM, SimpleRNN

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN"]

_LAYER_ONLY = ("return_sequences", "return_state", "go_backwards", "stateful")


def _state_count(cell) -> int:
    size = cell.state_size
    return len(size) if isinstance(size, (list, tuple)) else 1


def _state_sizes(cell) -> list[int]:
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


class _BuiltinCell(Layer):
    """One step of a built-in layer: the cell holds that layer (``self.layer``,
    called on one-step sequences) and its weights are the layer's."""

    layer_class: type = LSTM

    def __init__(self, units: int, **kwargs: Any) -> None:
        given = sorted(set(kwargs) & set(_LAYER_ONLY))
        if given:
            raise TypeError(f"{type(self).__name__} has no argument {given[0]!r} (RNN has)")
        name = kwargs.pop("name", None)
        self._config = dict(kwargs)
        self.layer = self.layer_class(units, return_state=True, **kwargs)
        super().__init__(name=name, dtype=self.layer.dtype)
        self.units = self.layer.units
        self._cache = None
        # [input masks, recurrent masks] held over the steps (see the module docstring)
        self._dropout_masks: list[FloatArray | None] = [None, None]

    @property
    def dropout(self) -> float:
        return self.layer.dropout

    @property
    def recurrent_dropout(self) -> float:
        return self.layer.recurrent_dropout

    def reset_dropout_mask(self) -> None:
        """Draw new input dropout masks at the next training call (Keras's name)."""
        self._dropout_masks[0] = None

    def reset_recurrent_dropout_mask(self) -> None:
        """Draw new recurrent dropout masks at the next training call (Keras's name)."""
        self._dropout_masks[1] = None

    def _step_masks(self, batch: int, features: int):
        """The dropout masks of a training call: the held ones, those missing (or
        of another batch size) drawn anew; None without dropout."""
        held = self._dropout_masks
        if any(m is None or m.shape[1] != batch for m in held):
            drawn = self.layer._dropout_masks(batch, features)
            if drawn is None:
                return None
            for i, m in enumerate(held):
                if m is None or m.shape[1] != batch:
                    held[i] = drawn[i]
        return tuple(held)

    @property
    def state_size(self) -> int | list[int]:
        n = self.layer.state_size
        return self.units if n == 1 else [self.units] * n

    @property
    def built(self) -> bool:  # type: ignore[override]
        return self.layer.built

    @built.setter
    def built(self, value: bool) -> None:
        pass  # the layer's

    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        shape = tuple(input_shape)
        self.layer.build((shape[0], 1, shape[-1]))

    @property
    def weights(self) -> list[FloatArray]:
        return self.layer.weights

    def set_weights(self, weights) -> None:
        self.layer.set_weights(weights)

    def __call__(self, inputs: npt.ArrayLike, states, training: bool = False):
        x = as_float_array(inputs, self.dtype, argument="inputs", ndim=2)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        layer = self.layer
        if training and (layer.dropout or layer.recurrent_dropout):
            layer._held_dropout_masks = self._step_masks(*x.shape)
        try:
            out, *new = layer(x[:, None, :], initial_state=states, training=training)
        finally:
            layer._held_dropout_masks = None
        return out, new

    call = __call__

    def backward(self, d_output, d_states):
        d_states = list(d_states) if isinstance(d_states, (list, tuple)) else [d_states]
        dx, d_prev = self.layer.backward([d_output, *d_states])
        self.gradients = self.layer.gradients
        return dx[:, 0], list(d_prev)

    def _call_state(self) -> Any:
        return self.layer._call_state()

    def _restore_call_state(self, state: Any) -> None:
        self.layer._restore_call_state(state)

    def _sequence_layer(self, **options) -> Layer:
        """A layer of this cell's class running whole sequences with ``options``,
        sharing this cell's weight arrays (built already)."""
        twin = self.layer_class(self.units, **{**self._config, **options})
        for name in self.layer._weight_names:
            object.__setattr__(twin, name, getattr(self.layer, name))
        twin._weight_names = list(self.layer._weight_names)
        twin.input_dim = self.layer.input_dim
        twin.built = True
        return twin

    def get_config(self) -> dict[str, Any]:
        config = self.layer.get_config()
        for key in ("return_sequences", "return_state", "go_backwards", "stateful"):
            config.pop(key, None)
        config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("batch_input_shape", None)
        return cls(**config)


class SimpleRNNCell(_BuiltinCell):
    """One step of ``SimpleRNN``: ``h = act(x @ kernel + h_prev @ recurrent_kernel + bias)``."""

    layer_class = SimpleRNN


class LSTMCell(_BuiltinCell):
    """One step of ``LSTM``; states ``[h, c]``."""

    layer_class = LSTM


class GRUCell(_BuiltinCell):
    """One step of ``GRU``; state ``h``."""

    layer_class = GRU


class StackedRNNCells(Layer):
    """Cells applied one after another within each step; the states are every
    cell's, in order."""

    def __init__(self, cells, **kwargs: Any) -> None:
        if isinstance(cells, Layer) or not isinstance(cells, (list, tuple)) or not cells:
            raise TypeError(f"`cells` must be a non-empty list of cells, got {cells!r}")
        for i, cell in enumerate(cells):
            if not (hasattr(cell, "state_size") and callable(getattr(cell, "call", None))):
                raise TypeError(
                    f"`cells[{i}]` must be a cell (a state_size and a call(inputs, states)), "
                    f"got {cell!r}"
                )
        self.cells = list(cells)
        kwargs.setdefault("dtype", getattr(cells[0], "dtype", "float32"))
        super().__init__(**kwargs)
        self._cache = None

    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        """Build each cell on what the one before it outputs."""
        batch, features = tuple(input_shape)
        for cell in self.cells:
            if not getattr(cell, "built", False):
                cell.build((batch, features))
            features = _state_sizes(cell)[0]
        self.built = True

    @property
    def state_size(self) -> list[int]:
        return [n for cell in self.cells for n in _state_sizes(cell)]

    @property
    def weights(self) -> list[FloatArray]:
        return [w for cell in self.cells for w in cell.weights]

    def set_weights(self, weights) -> None:
        """Every cell's weights, in order; all or none."""
        counts = [len(cell.weights) for cell in self.cells]
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise TypeError(f"`weights` must be a list of {sum(counts)} arrays")
        if len(weights) != sum(counts):
            raise ValueError(
                f"Layer {self.name!r} expects {sum(counts)} weights "
                f"{[w.shape for w in self.weights]}, got {len(weights)}"
            )
        saved = [w.copy() for w in self.weights]
        try:
            k = 0
            for cell, n in zip(self.cells, counts):
                cell.set_weights(list(weights[k : k + n]))
                k += n
        except (TypeError, ValueError):
            for old, value in zip(self.weights, saved):
                old[...] = value
            raise

    def _split(self, states):
        out, k = [], 0
        for cell in self.cells:
            n = _state_count(cell)
            out.append(list(states[k : k + n]))
            k += n
        return out

    def call(self, inputs, states, training: bool = False):
        new_states = []
        x = inputs
        for cell, cell_states in zip(self.cells, self._split(list(states))):
            x, new = cell.call(x, cell_states, training=training)
            new_states.extend(new if isinstance(new, (list, tuple)) else [new])
        return x, new_states

    __call__ = call

    def backward(self, d_output, d_states):
        per_cell = self._split(list(d_states))
        d_prev_all: list[list] = [None] * len(self.cells)  # type: ignore[list-item]
        d = d_output
        for i in reversed(range(len(self.cells))):
            d, d_prev = self.cells[i].backward(d, per_cell[i])
            d_prev_all[i] = list(d_prev) if isinstance(d_prev, (list, tuple)) else [d_prev]
        self.gradients = [g for cell in self.cells for g in (cell.gradients or [])]
        return d, [g for cell_grads in d_prev_all for g in cell_grads]

    def reset_dropout_mask(self) -> None:
        """Every cell's :meth:`_BuiltinCell.reset_dropout_mask`, where it has one."""
        for cell in self.cells:
            getattr(cell, "reset_dropout_mask", lambda: None)()

    def reset_recurrent_dropout_mask(self) -> None:
        """Every cell's :meth:`_BuiltinCell.reset_recurrent_dropout_mask`, where it has one."""
        for cell in self.cells:
            getattr(cell, "reset_recurrent_dropout_mask", lambda: None)()

    def _call_state(self) -> Any:
        return tuple(cell._call_state() for cell in self.cells)

    def _restore_call_state(self, state: Any) -> None:
        for cell, s in zip(self.cells, state):
            cell._restore_call_state(s)


class RNN(Layer):
    """A cell over a sequence, ``keras.layers.RNN``.

    Parameters
    ----------
    cell : cell or list of cells
        A built-in cell runs as its layer (compiled kernels); a list becomes
        :class:`StackedRNNCells`; a user's cell runs step by step.
    return_sequences, return_state, go_backwards, zero_output_for_mask : bool
        As in the recurrent layers.
    """

    supports_masking = True

    def __init__(
        self,
        cell,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not (hasattr(cell, "state_size") and callable(getattr(cell, "call", None))):
            raise TypeError(
                f"`cell` must be a cell (a state_size and a call(inputs, states)) or a list "
                f"of cells, got {cell!r}"
            )
        self.cell = cell
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        self.return_state = check_bool(return_state, "return_state")
        self.go_backwards = check_bool(go_backwards, "go_backwards")
        self.zero_output_for_mask = check_bool(zero_output_for_mask, "zero_output_for_mask")
        super().__init__(dtype=getattr(cell, "dtype", "float32"), **kwargs)
        self._fast = None  # the built-in cell's sequence layer
        self._cache = None
        self.built = False

    @property
    def weights(self) -> list[FloatArray]:
        return self.cell.weights

    def set_weights(self, weights) -> None:
        self.cell.set_weights(weights)

    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        shape = tuple(input_shape)
        if not getattr(self.cell, "built", False):
            self.cell.build((shape[0], shape[-1]))
        if isinstance(self.cell, _BuiltinCell):
            self._fast = self.cell._sequence_layer(
                return_sequences=self.return_sequences,
                return_state=self.return_state,
                go_backwards=self.go_backwards,
                zero_output_for_mask=self.zero_output_for_mask,
            )
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple | list[ShapeTuple]:
        batch, steps = tuple(input_shape)[:2]
        sizes = _state_sizes(self.cell)
        units = (
            sizes[0]
            if not isinstance(self.cell, StackedRNNCells)
            else (_state_sizes(self.cell.cells[-1])[0])
        )
        out = (batch, steps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [out] + [(batch, n) for n in sizes]
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def __call__(self, inputs, training: bool = False, mask=None, initial_state=None):
        x = as_float_array(inputs, self.dtype, argument="inputs", ndim=3)
        if not self.built:
            self.build(x.shape)
        if self._fast is not None:
            result = self._fast(x, training=training, mask=mask, initial_state=initial_state)
            self.gradients = None
            return result
        try:
            return self._loop(x, training, mask, initial_state)
        finally:
            # One call, one set of dropout masks (Keras's RNN resets them after each call).
            for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
                getattr(self.cell, reset, lambda: None)()

    # -- the reference loop, for any cell ------------------------------------
    def _loop(self, x, training, mask, initial_state):
        batch, steps, _ = x.shape
        sizes = _state_sizes(self.cell)
        if initial_state is None:
            states = [np.zeros((batch, n), self.dtype) for n in sizes]
        else:
            given = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            if len(given) != len(sizes):
                raise ValueError(
                    f"Layer {self.name!r} expects `initial_state` as a list of {len(sizes)} "
                    f"arrays; got {len(given)}"
                )
            states = []
            for i, (s, n) in enumerate(zip(given, sizes)):
                s = as_float_array(s, self.dtype, argument=f"initial_state[{i}]")
                if s.shape != (batch, n):
                    raise ValueError(
                        f"`initial_state[{i}]` must have shape ({batch}, {n}); got {s.shape}"
                    )
                states.append(s)
        m = None
        if mask is not None:
            m = np.asarray(mask, bool)
            if m.shape != (batch, steps):
                raise ValueError(f"`mask` must have shape ({batch}, {steps}); got {m.shape}")
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs, step_states, masks = [], [], []
        prev_out = None
        for t in order:
            out, new = self.cell.call(x[:, t], states, training=training)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            keep = None if m is None else m[:, t][:, None]
            if keep is not None:
                carried = (
                    np.zeros_like(out)
                    if self.zero_output_for_mask or prev_out is None
                    else prev_out
                )
                out = np.where(keep, out, carried)
                new = [np.where(keep, n, s) for n, s in zip(new, states)]
            if training:
                step_states.append(self.cell._call_state())
                masks.append(keep)
            outputs.append(out)
            prev_out, states = out, new
        sequence = np.stack(outputs, axis=1) if outputs else np.zeros((batch, 0, sizes[0]))
        if training:
            self._cache = (
                x.shape,
                list(order),
                step_states,
                masks,
                sequence.shape,
                initial_state is not None,
            )
        else:
            self._cache = None
        result = sequence if self.return_sequences else outputs[-1]
        return [result, *states] if self.return_state else result

    def backward(self, dy):
        if self._fast is not None:
            grads = self._fast.backward(dy)
            self.gradients = self._fast.gradients
            return grads
        x_shape, order, step_states, masks, seq_shape, had_state = self._require_training_call()
        batch, steps, features = x_shape
        sizes = _state_sizes(self.cell)
        if self.return_state:
            if not isinstance(dy, (list, tuple)) or len(dy) != 1 + len(sizes):
                raise ValueError(f"`dy` must be a list of {1 + len(sizes)} gradients")
            d_out, d_states = dy[0], list(dy[1:])
        else:
            d_out, d_states = dy, [None] * len(sizes)
        d_states = [
            np.zeros((batch, n), self.dtype) if d is None else check_gradient(d, (batch, n))
            for d, n in zip(d_states, sizes)
        ]
        if self.return_sequences:
            d_seq = check_gradient(d_out, seq_shape, dtype=self.dtype)
        else:
            d_seq = np.zeros(seq_shape, self.dtype)
            if d_out is not None:
                d_seq[:, -1] = check_gradient(d_out, (batch, seq_shape[-1]), dtype=self.dtype)
        dx = np.zeros(x_shape, self.dtype)
        carry_out = np.zeros((batch, seq_shape[-1]), self.dtype)
        totals = None
        final = self.cell._call_state()
        for k in range(len(order) - 1, -1, -1):
            t, keep = order[k], masks[k]
            g_out = d_seq[:, k] + carry_out
            if keep is None:
                cell_out, cell_states = g_out, d_states
                carry_out = np.zeros_like(carry_out)
                passed = [np.zeros_like(d) for d in d_states]
            else:
                cell_out = g_out * keep
                cell_states = [d * keep for d in d_states]
                carry_out = np.zeros_like(carry_out) if self.zero_output_for_mask else g_out * ~keep
                passed = [d * ~keep for d in d_states]
            self.cell._restore_call_state(step_states[k])
            dx_t, d_prev = self.cell.backward(cell_out, cell_states)
            d_prev = list(d_prev) if isinstance(d_prev, (list, tuple)) else [d_prev]
            dx[:, t] = dx_t
            d_states = [a + b for a, b in zip(d_prev, passed)]
            grads = self.cell.gradients or []
            totals = (
                [np.array(g) for g in grads]
                if totals is None
                else [a + g for a, g in zip(totals, grads)]
            )
        self.cell._restore_call_state(final)
        self.gradients = totals if totals is not None else [np.zeros_like(w) for w in self.weights]
        if had_state:
            return dx, d_states
        return dx

    def get_config(self) -> dict[str, Any]:
        from . import serialize

        config = super().get_config()
        config.pop("dtype", None)
        config.update(
            cell=serialize(self.cell),
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        return config

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("cell")), **config)
