"""ONNX export: a fastrnn model as one ONNX graph of standard operators.

:func:`to_onnx` (``fastrnn.interop.to_onnx``, ``model.export(path,
format="onnx")``) writes a ``Sequential`` or a functional ``Model`` as an
ONNX file of opset :data:`OPSET` (IR version :data:`IR_VERSION`) that ONNX
Runtime runs with the outputs of ``model.predict``. The recurrent layers
become ONNX's ``RNN``, ``LSTM`` and ``GRU`` operators; everything else is
elementwise arithmetic, ``MatMul``, ``Gather`` and shape operators.

Layouts. Keras keeps ``kernel (features, G*units)`` with gate blocks i, f,
c, o (LSTM) or z, r, h (GRU); ONNX takes ``W (directions, G*units,
features)``, ``R (directions, G*units, units)`` and ``B (directions,
2*G*units)`` (input bias, then recurrent bias) with LSTM's blocks in the
order i, o, f, c and GRU's z, r, h. The operators read time-major input
``(timesteps, batch, features)``, so the graph transposes to and from the
batch-major arrays a model takes and returns. ``reset_after=True`` is
ONNX's ``linear_before_reset=1``; ``reset_after=False`` is
``linear_before_reset=0`` with a zero recurrent bias. Keras's ``linear``
activation is ONNX's ``Affine`` with alpha 1 and beta 0.

Masks. With ``Embedding(mask_zero=True)`` or ``Masking`` a recurrent layer
skips the masked steps: the state carries over, the output repeats the
previous one (zeros before the first valid step; zeros at every masked step
with ``zero_output_for_mask``, which ``Bidirectional`` sets when it returns
sequences). The graph computes the mask from the data and, per row, gathers
the valid steps to the front in the order the layer reads them
(``TopK`` of a sort key), runs the operator with ``sequence_lens`` = the
count of valid steps, and gathers each step's output back: the output at a
step is the operator's output after the valid steps read so far
(``CumSum`` of the mask). This is exact for any mask: pre-padding,
post-padding, both, and masked steps in the middle.

onnx is optional: it is imported only when a model is exported.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

__all__ = ["to_onnx", "OnnxExportError", "OPSET", "IR_VERSION", "SUPPORTED_LAYERS"]

#: The ONNX operator set the exported graphs import (ONNX Runtime >= 1.11 runs it).
OPSET = 17
#: The ONNX IR version of the exported files (the lowest that opset 17 allows,
#: so that older runtimes read them).
IR_VERSION = 8

#: The layer classes :func:`to_onnx` exports (exactly these classes, not subclasses).
SUPPORTED_LAYERS = (
    "InputLayer",
    "Embedding",
    "Masking",
    "Dropout",
    "Dense",
    "Activation",
    "RepeatVector",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "Concatenate",
    "Add",
    "Average",
    "Multiply",
)

_INSTALL_HINT = 'pip install "fastrnn[onnx]"'

#: Keras's gate blocks in ONNX's order: LSTM i, o, f, c from Keras's i, f, c, o;
#: GRU z, r, h and RNN as in Keras.
_GATE_BLOCKS = {"simple_rnn": (0,), "lstm": (0, 3, 1, 2), "gru": (0, 1, 2)}
_OPERATORS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "linear": "Affine"}
_ELEMENTWISE = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
_INT64_MIN = int(np.iinfo(np.int64).min)


class OnnxExportError(ValueError):
    """A model, layer or option that ONNX export does not support."""


def _require_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            f"ONNX export needs the optional package 'onnx', which is not installed ({exc}). "
            f"Install it (and onnxruntime, to run the file) with `{_INSTALL_HINT}`."
        ) from None
    return onnx


class _Value:
    """A tensor of the graph being built: its name, dtype, shape and the name of
    its mask tensor (bool, ``(batch, timesteps)``), or None."""

    __slots__ = ("name", "dtype", "shape", "mask")

    def __init__(self, name: str, dtype: str, shape: tuple, mask: str | None = None) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = tuple(shape)
        self.mask = mask


class _Graph:
    """The nodes and initializers of one ONNX graph, with unique names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.initializers: list = []
        self._taken: set[str] = set()
        self._constants: dict[tuple, str] = {}
        self.memo: dict[tuple, Any] = {}

    def fresh(self, hint: str) -> str:
        base = hint.replace(" ", "_")
        name, k = base, 1
        while name in self._taken:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        return name

    def reserve(self, name: str) -> None:
        if name in self._taken:
            raise OnnxExportError(f"to_onnx: the name {name!r} is used twice in the graph")
        self._taken.add(name)

    def op(self, op_type: str, inputs: list[str], hint: str, outputs: int = 1, **attrs):
        """Add a node; returns its output name (a list of them when ``outputs > 1``)."""
        names = [
            self.fresh(f"{hint}/{op_type}" + (f"_{i}" if outputs > 1 else ""))
            for i in range(outputs)
        ]
        self.nodes.append(
            self.helper.make_node(
                op_type, inputs, names, name=self.fresh(f"{hint}/{op_type}_node"), **attrs
            )
        )
        return names if outputs > 1 else names[0]

    def op_outputs(self, op_type: str, inputs: list[str], outputs: list[str], hint: str, **attrs):
        """Add a node whose outputs are named (an empty name omits an optional output)."""
        self.nodes.append(
            self.helper.make_node(
                op_type, inputs, outputs, name=self.fresh(f"{hint}/{op_type}_node"), **attrs
            )
        )

    def weight(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(
            self.onnx.numpy_helper.from_array(np.array(array, order="C"), name)
        )
        return name

    def const(self, value: Any, dtype: str) -> str:
        """A constant tensor (one initializer per distinct value)."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        name = self._constants.get(key)
        if name is None:
            name = self._constants[key] = self.weight(array, f"const/{array.dtype.name}")
        return name


# --------------------------------------------------------------------- helpers
def _tensor_type(onnx: Any, dtype: str) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _flip_time(g: _Graph, name: str, hint: str) -> str:
    """``x[:, ::-1]``: the time axis of a batch-major tensor reversed."""
    return g.op(
        "Slice",
        [
            name,
            g.const([-1], "int64"),
            g.const([_INT64_MIN], "int64"),
            g.const([1], "int64"),
            g.const([-1], "int64"),
        ],
        hint,
    )


def _cast(g: _Graph, value: _Value, dtype: str, hint: str) -> _Value:
    if value.dtype == dtype:
        return value
    name = g.op("Cast", [value.name], hint, to=_tensor_type(g.onnx, dtype))
    return _Value(name, dtype, value.shape, value.mask)


def _activation(g: _Graph, name: str, activation: str, hint: str) -> str:
    if activation == "linear":
        return name
    if activation == "softmax":
        return g.op("Softmax", [name], hint, axis=-1)
    return g.op(_ELEMENTWISE[activation], [name], hint)


def _and_masks(g: _Graph, masks: list[str | None], hint: str) -> str | None:
    given = [m for m in masks if m is not None]
    if not given:
        return None
    out = given[0]
    for m in given[1:]:
        out = g.op("And", [out, m], hint)
    return out


def _refuse(layer: Any, what: str) -> OnnxExportError:
    return OnnxExportError(f"to_onnx: layer {layer.name!r} ({type(layer).__name__}) {what}")


# ------------------------------------------------------------ recurrent layers
def _check_recurrent(layer: Any, owner: Any = None) -> None:
    from .layers import GRU, LSTM, SimpleRNN

    where = owner if owner is not None else layer
    inner = f" (inside {owner.name!r})" if owner is not None else ""
    if type(layer) not in (SimpleRNN, LSTM, GRU):
        raise _refuse(
            where,
            f"wraps {layer.name!r} of class {type(layer).__name__}{inner}; ONNX export supports "
            f"SimpleRNN, LSTM and GRU layers",
        )
    if layer.stateful:
        raise _refuse(
            layer,
            f"has stateful=True{inner}: an ONNX graph keeps no state between runs; supported: "
            f"stateful=False (make a stateful=False copy with the same weights to export)",
        )
    if layer.dtype != "float32":
        raise _refuse(
            layer,
            f"has dtype {layer.dtype}{inner}; ONNX Runtime implements the RNN, LSTM and GRU "
            f"operators for float32 only, so the supported dtype is float32 (make a float32 "
            f"copy of the model and set_weights it to export)",
        )
    if not layer.built:
        raise _refuse(layer, f"is not built{inner}: it has no weights to export")


def _onnx_weights(layer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """W (1, G*H, D), R (1, G*H, H) and B (1, 2*G*H) or None, in ONNX's gate order."""
    units = layer.units
    blocks = _GATE_BLOCKS[layer.cell]

    def reorder(matrix: np.ndarray) -> np.ndarray:  # (rows, G*H) -> (G*H, rows)
        return np.concatenate([matrix[:, k * units : (k + 1) * units] for k in blocks], axis=1).T

    w = reorder(np.asarray(layer.kernel))[None]
    r = reorder(np.asarray(layer.recurrent_kernel))[None]
    if not layer.use_bias:
        return w, r, None
    bias = np.asarray(layer.bias)
    if layer.cell == "gru" and layer.reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros_like(bias)
    b = np.concatenate([reorder(input_bias[None])[:, 0], reorder(recurrent_bias[None])[:, 0]])
    return w, r, b[None]


def _attributes(layers: list, direction: str) -> dict[str, Any]:
    """The operator's attributes for one direction (one layer) or both (two)."""
    first = layers[0]
    activations = []
    for layer in layers:
        act, rec = layer.activation, layer.recurrent_activation
        names = {"simple_rnn": [act], "lstm": [rec, act, act], "gru": [rec, act]}[layer.cell]
        activations += [_ACTIVATIONS[n] for n in names]
    attrs: dict[str, Any] = {
        "hidden_size": first.units,
        "direction": direction,
        "activations": activations,
    }
    affine = activations.count("Affine")
    if affine:
        # Consumed by the Affine entries only, in order: y = 1 * x + 0.
        attrs["activation_alpha"] = [1.0] * affine
        attrs["activation_beta"] = [0.0] * affine
    if first.cell == "gru":
        attrs["linear_before_reset"] = int(first.reset_after)
    return attrs


def _same_cell(a: Any, b: Any) -> bool:
    """Whether two layers fit one bidirectional operator."""
    keys = ("units", "activation", "recurrent_activation", "use_bias")
    return (
        type(a) is type(b)
        and all(getattr(a, k) == getattr(b, k) for k in keys)
        and getattr(a, "reset_after", None) == getattr(b, "reset_after", None)
    )


class _Run:
    """What one recurrent layer computed: ``sequence`` (batch, timesteps, units)
    holds at position t the output of the step that read position t (None when
    not asked for), ``last`` the output of the last step processed (Keras's
    ``outputs[:, -1]``), ``states`` the final states ([h] or [h, c])."""

    def __init__(self, sequence: str | None, last: str, states: list[str]) -> None:
        self.sequence, self.last, self.states = sequence, last, states


def _time_major(g: _Graph, x: _Value) -> str:
    key = ("time_major", x.name)
    if key not in g.memo:
        g.memo[key] = g.op("Transpose", [x.name], f"{x.name}/time_major", perm=[1, 0, 2])
    return g.memo[key]


def _operator(g, layers, x_time_major, direction, hint, need_y, sequence_lens="", states=None):
    """One ONNX RNN/LSTM/GRU node over ``layers`` (one, or two for both directions).

    ``states``: None, or per layer the list of its initial states, each
    (batch, units). Returns ``(Y, finals)``: Y (timesteps, directions, batch,
    units), or None unless ``need_y``; ``finals`` per direction ``(h, c)``,
    each (batch, units), c None but for LSTM.
    """
    first = layers[0]
    weights = [_onnx_weights(layer) for layer in layers]
    w = g.weight(np.concatenate([wrb[0] for wrb in weights]), f"{hint}/W")
    r = g.weight(np.concatenate([wrb[1] for wrb in weights]), f"{hint}/R")
    b = ""
    if weights[0][2] is not None:
        b = g.weight(np.concatenate([wrb[2] for wrb in weights]), f"{hint}/B")
    lstm = first.cell == "lstm"
    initial = ["", ""]
    if states is not None and states[0] is not None:
        for k in range(2 if lstm else 1):
            parts = [g.op("Unsqueeze", [given[k], g.const([0], "int64")], hint) for given in states]
            initial[k] = parts[0] if len(parts) == 1 else g.op("Concat", parts, hint, axis=0)
    inputs = [x_time_major, w, r, b, sequence_lens, initial[0]]
    if lstm:
        inputs.append(initial[1])
    while inputs[-1] == "":
        inputs.pop()
    y = g.fresh(f"{hint}/Y") if need_y else ""
    outputs = [y, g.fresh(f"{hint}/Y_h")]
    if lstm:
        outputs.append(g.fresh(f"{hint}/Y_c"))
    g.op_outputs(_OPERATORS[first.cell], inputs, outputs, hint, **_attributes(layers, direction))
    finals = []
    for d in range(len(layers)):
        index = g.const(d, "int64")
        h = g.op("Gather", [outputs[1], index], hint, axis=0)
        c = g.op("Gather", [outputs[2], index], hint, axis=0) if lstm else None
        finals.append((h, c))
    return (y or None), finals


def _sequence_of(g: _Graph, y: str, direction_index: int, hint: str) -> str:
    """Y (timesteps, directions, batch, units) -> one direction (batch, timesteps, units)."""
    one = g.op("Gather", [y, g.const(direction_index, "int64")], hint, axis=1)
    return g.op("Transpose", [one], hint, perm=[1, 0, 2])


def _run_unmasked(g, layers, x, hint, states, need_sequence) -> list[_Run]:
    """One operator: forward/reverse for one layer, bidirectional for a pair
    (the first reading forwards)."""
    if len(layers) == 1:
        direction = "reverse" if layers[0].go_backwards else "forward"
    else:
        direction = "bidirectional"
    y, finals = _operator(
        g, layers, _time_major(g, x), direction, hint, need_sequence, states=states
    )
    runs = []
    for d, (h, c) in enumerate(finals):
        sequence = _sequence_of(g, y, d, hint) if need_sequence else None
        runs.append(_Run(sequence, h, [h] if c is None else [h, c]))
    return runs


def _mask_plan(g: _Graph, mask: str, go_backwards: bool) -> dict[str, str]:
    """The tensors that compact the valid steps of ``mask`` (batch, timesteps),
    for one reading order (memoized: stacked layers share them).

    ``lengths`` (batch,) int64 the valid steps per row, ``sequence_lens`` the same
    as int32 and at least 1 (a row with none runs one ignored step), ``order``
    (batch, timesteps) the positions of the valid steps in reading order, then
    the masked ones, ``counts`` (batch, timesteps) the valid steps read up to
    and including each position.
    """
    key = ("mask_plan", mask, go_backwards)
    if key in g.memo:
        return g.memo[key]
    hint = f"{mask}/{'backward' if go_backwards else 'forward'}"
    valid = g.op("Cast", [mask], hint, to=g.onnx.TensorProto.INT64)
    lengths = g.op("ReduceSum", [valid, g.const([1], "int64")], hint, keepdims=0)
    at_least_one = g.op("Max", [lengths, g.const(1, "int64")], hint)
    sequence_lens = g.op("Cast", [at_least_one], hint, to=g.onnx.TensorProto.INT32)
    shape = g.op("Shape", [mask], hint)
    steps_1d = g.op("Slice", [shape, g.const([1], "int64"), g.const([2], "int64")], hint)
    steps = g.op("Squeeze", [steps_1d, g.const([0], "int64")], hint)
    positions = g.op("Range", [g.const(0, "int64"), steps, g.const(1, "int64")], hint)
    if go_backwards:  # read last position first
        last = g.op("Sub", [steps, g.const(1, "int64")], hint)
        positions = g.op("Sub", [last, positions], hint)
    # key = position in reading order for valid steps, timesteps + that for masked ones
    masked = g.op("Sub", [g.const(1, "int64"), valid], hint)
    sort_key = g.op("Add", [g.op("Mul", [masked, steps], hint), positions], hint)
    _, order = g.op("TopK", [sort_key, steps_1d], hint, outputs=2, axis=1, largest=0, sorted=1)
    counts = g.op("CumSum", [valid, g.const(1, "int64")], hint, reverse=int(go_backwards))
    plan = {
        "lengths": lengths,
        "sequence_lens": sequence_lens,
        "order": order,
        "counts": counts,
        "any_valid": g.op("Greater", [lengths, g.const(0, "int64")], hint),
    }
    g.memo[key] = plan
    return plan


def _run_masked(g, layer, x, hint, states, need_sequence) -> _Run:
    """One layer over a masked input: the valid steps gathered to the front in
    reading order, the operator run forward over them with ``sequence_lens``,
    and each step's output gathered back (see the module docstring)."""
    plan = _mask_plan(g, x.mask, layer.go_backwards)
    index = g.op("Unsqueeze", [plan["order"], g.const([2], "int64")], hint)
    compact = g.op("GatherND", [x.name, index], hint, batch_dims=1)
    compact_tm = g.op("Transpose", [compact], hint, perm=[1, 0, 2])
    y, finals = _operator(
        g, [layer], compact_tm, "forward", hint, need_sequence, plan["sequence_lens"], [states]
    )
    h, c = finals[0]
    any_valid = g.op("Unsqueeze", [plan["any_valid"], g.const([1], "int64")], hint)
    zero = g.const(0, "float32")
    final_states = []
    for k, s in enumerate([h] if c is None else [h, c]):
        initial = zero if states is None else states[k]
        final_states.append(g.op("Where", [any_valid, s, initial], hint))
    if layer.zero_output_for_mask:
        last_position = g.const(0 if layer.go_backwards else -1, "int64")
        last_valid = g.op("Gather", [x.mask, last_position], hint, axis=1)
        last_valid = g.op("Unsqueeze", [last_valid, g.const([1], "int64")], hint)
    else:
        last_valid = any_valid
    last = g.op("Where", [last_valid, h, zero], hint)
    sequence = None
    if need_sequence:
        outputs = _sequence_of(g, y, 0, hint)  # outputs[:, j]: after the j+1-th valid step
        step = g.op(
            "Max",
            [g.op("Sub", [plan["counts"], g.const(1, "int64")], hint), g.const(0, "int64")],
            hint,
        )
        step = g.op("Unsqueeze", [step, g.const([2], "int64")], hint)
        gathered = g.op("GatherND", [outputs, step], hint, batch_dims=1)
        if layer.zero_output_for_mask:
            keep = x.mask
        else:
            keep = g.op("Greater", [plan["counts"], g.const(0, "int64")], hint)
        keep = g.op("Unsqueeze", [keep, g.const([2], "int64")], hint)
        sequence = g.op("Where", [keep, gathered, zero], hint)
    return _Run(sequence, last, final_states)


def _run_layers(g, layers, x, hint, states, need_sequence) -> list[_Run]:
    """Run one layer, or a Bidirectional's two, over ``x``."""
    if x.mask is None:
        if (
            len(layers) == 2
            and _same_cell(*layers)
            and layers[0].go_backwards != layers[1].go_backwards
        ):
            pair = layers if not layers[0].go_backwards else layers[::-1]
            pair_states = states if not layers[0].go_backwards else states[::-1]
            runs = _run_unmasked(g, pair, x, hint, pair_states, need_sequence)
            return runs if not layers[0].go_backwards else runs[::-1]
    runs = []
    for layer, s in zip(layers, states):
        sub_hint = hint if len(layers) == 1 else f"{hint}/{layer.name}"
        if x.mask is None:
            runs += _run_unmasked(g, [layer], x, sub_hint, [s], need_sequence)
        else:
            runs.append(_run_masked(g, layer, x, sub_hint, s, need_sequence))
    return runs


def _keras_sequence(g: _Graph, layer: Any, run: _Run, hint: str) -> str:
    """A layer's ``return_sequences`` output: in reading order (reversed for go_backwards)."""
    return _flip_time(g, run.sequence, hint) if layer.go_backwards else run.sequence


def _recurrent_states(initial_state: list[_Value] | None, count: int, layer: Any) -> list | None:
    if initial_state is None:
        return None
    if len(initial_state) != count:
        raise _refuse(layer, f"is given {len(initial_state)} initial states; it takes {count}")
    return [s.name for s in initial_state]


def _convert_recurrent(g, layer, x, initial_state):
    _check_recurrent(layer)
    x = _cast(g, x, layer.dtype, layer.name)
    states = _recurrent_states(initial_state, layer.state_size, layer)
    (run,) = _run_layers(g, [layer], x, layer.name, [states], layer.return_sequences)
    batch, steps = x.shape[0], x.shape[1]
    if layer.return_sequences:
        out = _Value(
            _keras_sequence(g, layer, run, layer.name),
            "float32",
            (batch, steps, layer.units),
            x.mask,
        )
    else:
        out = _Value(run.last, "float32", (batch, layer.units))
    if not layer.return_state:
        return [out]
    return [out] + [_Value(s, "float32", (batch, layer.units)) for s in run.states]


def _convert_bidirectional(g, layer, x, initial_state):
    forward, backward = layer.forward_layer, layer.backward_layer
    _check_recurrent(forward, layer)
    _check_recurrent(backward, layer)
    x = _cast(g, x, forward.dtype, layer.name)
    states_f = states_b = None
    if initial_state is not None:
        n = forward.state_size
        if len(initial_state) != n + backward.state_size:
            raise _refuse(
                layer,
                f"is given {len(initial_state)} initial states; it takes {n + backward.state_size}",
            )
        states_f = [s.name for s in initial_state[:n]]
        states_b = [s.name for s in initial_state[n:]]
    run_f, run_b = _run_layers(
        g, [forward, backward], x, layer.name, [states_f, states_b], layer.return_sequences
    )
    batch, steps = x.shape[0], x.shape[1]
    if layer.return_sequences:
        y = _keras_sequence(g, forward, run_f, layer.name)
        y_rev = _flip_time(g, _keras_sequence(g, backward, run_b, layer.name), layer.name)
        shape_f = (batch, steps, forward.units)
        shape_b = (batch, steps, backward.units)
    else:
        y, y_rev = run_f.last, run_b.last
        shape_f, shape_b = (batch, forward.units), (batch, backward.units)
    mask = x.mask if layer.return_sequences else None
    mode = layer.merge_mode
    if mode is None:
        outputs = [_Value(y, "float32", shape_f, mask), _Value(y_rev, "float32", shape_b, mask)]
    else:
        if mode == "concat":
            merged = g.op("Concat", [y, y_rev], layer.name, axis=-1)
            shape = (*shape_f[:-1], forward.units + backward.units)
        else:
            op = {"sum": "Add", "mul": "Mul", "ave": "Add"}[mode]
            merged = g.op(op, [y, y_rev], layer.name)
            if mode == "ave":
                merged = g.op("Div", [merged, g.const(2, "float32")], layer.name)
            shape = shape_f
        outputs = [_Value(merged, "float32", shape, mask)]
    if layer.return_state:
        for run, sub in ((run_f, forward), (run_b, backward)):
            outputs += [_Value(s, "float32", (batch, sub.units)) for s in run.states]
    return outputs


# -------------------------------------------------------------- other layers
def _convert_embedding(g, layer, ids, initial_state):
    if ids.dtype not in ("int32", "int64"):
        ids = _cast(g, ids, "int64", layer.name)
    table = g.weight(np.asarray(layer.embeddings), f"{layer.name}/embeddings")
    out = g.op("Gather", [table, ids.name], layer.name, axis=0)
    mask = None
    if layer.mask_zero:
        is_pad = g.op("Equal", [ids.name, g.const(0, ids.dtype)], layer.name)
        mask = g.op("Not", [is_pad], layer.name)
    return [_Value(out, layer.dtype, (*ids.shape, layer.output_dim), mask)]


def _convert_masking(g, layer, x, initial_state):
    x = _cast(g, x, layer.dtype, layer.name)
    if len(x.shape) != 3:
        raise _refuse(layer, f"takes 3-D input (batch, timesteps, features); got shape {x.shape}")
    equal = g.op("Equal", [x.name, g.const(layer.mask_value, layer.dtype)], layer.name)
    differs = g.op(
        "Cast", [g.op("Not", [equal], layer.name)], layer.name, to=g.onnx.TensorProto.INT32
    )
    any_differs = g.op("ReduceMax", [differs], layer.name, axes=[-1], keepdims=0)
    mask = g.op("Cast", [any_differs], layer.name, to=g.onnx.TensorProto.BOOL)
    keep = g.op(
        "Cast",
        [g.op("Unsqueeze", [mask, g.const([2], "int64")], layer.name)],
        layer.name,
        to=_tensor_type(g.onnx, layer.dtype),
    )
    out = g.op("Mul", [x.name, keep], layer.name)
    return [_Value(out, layer.dtype, x.shape, mask)]


def _convert_dropout(g, layer, x, initial_state):
    return [_cast(g, x, layer.dtype, layer.name)]


def _convert_dense(g, layer, x, initial_state):
    x = _cast(g, x, layer.dtype, layer.name)
    if len(x.shape) not in (2, 3):
        raise _refuse(layer, f"takes 2-D or 3-D input; got shape {x.shape}")
    out = g.op(
        "MatMul", [x.name, g.weight(np.asarray(layer.kernel), f"{layer.name}/kernel")], layer.name
    )
    if layer.use_bias:
        out = g.op("Add", [out, g.weight(np.asarray(layer.bias), f"{layer.name}/bias")], layer.name)
    out = _activation(g, out, layer.activation, layer.name)
    return [_Value(out, layer.dtype, (*x.shape[:-1], layer.units), x.mask)]


def _convert_activation(g, layer, x, initial_state):
    x = _cast(g, x, layer.dtype, layer.name)
    out = _activation(g, x.name, layer.activation, layer.name)
    if out == x.name:
        out = g.op("Identity", [x.name], layer.name)
    return [_Value(out, layer.dtype, x.shape, x.mask)]


def _convert_repeat_vector(g, layer, x, initial_state):
    x = _cast(g, x, layer.dtype, layer.name)
    if len(x.shape) != 2:
        raise _refuse(layer, f"takes 2-D input (batch, features); got shape {x.shape}")
    expanded = g.op("Unsqueeze", [x.name, g.const([1], "int64")], layer.name)
    out = g.op("Tile", [expanded, g.const([1, layer.n, 1], "int64")], layer.name)
    return [_Value(out, layer.dtype, (x.shape[0], layer.n, x.shape[1]))]


def _convert_merge(g, layer, xs, initial_state):
    from .layers import Average, Concatenate, Multiply

    if not isinstance(xs, list):
        raise _refuse(layer, "must be called on a list of tensors")
    xs = [_cast(g, x, layer.dtype, layer.name) for x in xs]
    names = [x.name for x in xs]
    shape = xs[0].shape
    if type(layer) is Concatenate:
        axis = layer._axis(len(shape))
        out = g.op("Concat", names, layer.name, axis=axis)
        sizes = [x.shape[axis] for x in xs]
        shape = (*shape[:axis], None if None in sizes else sum(sizes), *shape[axis + 1 :])
    elif type(layer) is Multiply:
        out = names[0]
        for name in names[1:]:
            out = g.op("Mul", [out, name], layer.name)
    else:
        out = g.op("Sum", names, layer.name)
        if type(layer) is Average:
            out = g.op("Div", [out, g.const(len(names), layer.dtype)], layer.name)
    mask = _and_masks(g, [x.mask for x in xs], layer.name)
    return [_Value(out, layer.dtype, shape, mask)]


def _converters() -> dict[type, Any]:
    from . import layers as fl

    return {
        fl.Embedding: _convert_embedding,
        fl.Masking: _convert_masking,
        fl.Dropout: _convert_dropout,
        fl.Dense: _convert_dense,
        fl.Activation: _convert_activation,
        fl.RepeatVector: _convert_repeat_vector,
        fl.SimpleRNN: _convert_recurrent,
        fl.LSTM: _convert_recurrent,
        fl.GRU: _convert_recurrent,
        fl.Bidirectional: _convert_bidirectional,
        fl.Concatenate: _convert_merge,
        fl.Add: _convert_merge,
        fl.Average: _convert_merge,
        fl.Multiply: _convert_merge,
    }


def _converter(layer: Any, converters: dict) -> Any:
    converter = converters.get(type(layer))
    if converter is None:
        raise OnnxExportError(
            f"to_onnx: layer {layer.name!r} of class {type(layer).__name__} cannot be exported "
            f"to ONNX; supported layers: {', '.join(SUPPORTED_LAYERS)}"
        )
    return converter


# -------------------------------------------------------------------- models
def _value_info(onnx: Any, name: str, dtype: str, shape: tuple) -> Any:
    """A graph input's or output's type: the batch dimension the symbolic ``"batch"``,
    the others as the model knows them (None: any size)."""
    dims = ["batch", *shape[1:]]
    return onnx.helper.make_tensor_value_info(name, _tensor_type(onnx, dtype), dims)


def _sequential_graph(g: _Graph, model: Any) -> tuple[list, list]:
    from .layers import Embedding

    if not model.layers:
        raise OnnxExportError("to_onnx: the Sequential model has no layers; add some first")
    shape = model.input_shape
    if shape is None or not model.built:
        raise OnnxExportError(
            f"to_onnx: model {model.name!r} is not built, so its input shape and weights are "
            f"unknown; call it on data, fit it, or call model.build(input_shape) first"
        )
    converters = {layer: _converter(layer, _converters()) for layer in model.layers}
    first = model.layers[0]
    input_layer = getattr(model, "_input_layer", None)
    if input_layer is not None:
        dtype = input_layer.dtype
    else:
        dtype = "int64" if type(first) is Embedding else first.dtype
    g.reserve("input")
    inputs = [("input", dtype, tuple(shape))]
    value = _Value("input", dtype, tuple(shape))
    outputs: list[_Value] = []
    for layer in model.layers:
        outputs = converters[layer](g, layer, value, None)
        value = outputs[0]
    names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    return inputs, list(zip(names, outputs))


def _functional_graph(g: _Graph, model: Any) -> tuple[list, list]:
    from .layers import InputLayer
    from .layers._graph import KerasTensor

    if not model.built:
        raise OnnxExportError(
            f"to_onnx: model {model.name!r} is not built: some layers have no weights yet"
        )
    converters = _converters()
    values: dict[int, _Value] = {}
    inputs = []
    for t in model._inputs.tensors:
        name = t.node.layer.name if t.node is not None else t.name
        g.reserve(name)
        values[id(t)] = _Value(name, t.dtype, t.shape)
        inputs.append((name, t.dtype, t.shape))

    def value(t: Any) -> _Value:
        if type(t) is not KerasTensor:
            raise _refuse(
                node.layer,
                f"is called on a constant ({type(t).__name__}); ONNX export supports calls "
                f"on tensors of the graph only",
            )
        return values[id(t)]

    for node in model._nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        convert = _converter(layer, converters)
        arguments = node.arguments
        if arguments.others:
            raise _refuse(
                layer,
                f"is called with {sorted(arguments.others)}, which ONNX export does not support",
            )
        if isinstance(arguments.inputs, (list, tuple)):
            given = [value(t) for t in arguments.inputs]
            layer_inputs: Any = [_Value(v.name, v.dtype, v.shape, v.mask) for v in given]
        else:
            v = value(arguments.inputs)
            layer_inputs = _Value(v.name, v.dtype, v.shape, v.mask)
        if arguments.mask is not None:
            masks = (
                arguments.mask if isinstance(arguments.mask, (list, tuple)) else [arguments.mask]
            )
            targets = layer_inputs if isinstance(layer_inputs, list) else [layer_inputs]
            for target, m in zip(targets, masks):
                target.mask = (
                    None
                    if m is None
                    else g.op("Cast", [value(m).name], layer.name, to=g.onnx.TensorProto.BOOL)
                )
        initial_state = None
        if arguments.initial_state is not None:
            states = arguments.initial_state
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            initial_state = [_cast(g, value(s), "float32", layer.name) for s in states]
        outputs = convert(g, layer, layer_inputs, initial_state)
        if len(outputs) != len(node.outputs):
            raise _refuse(
                layer,
                f"makes {len(outputs)} outputs in ONNX where the model has {len(node.outputs)}",
            )
        for t, out in zip(node.outputs, outputs):
            values[id(t)] = out
    names = model._output_names()
    return inputs, [(name, values[id(t)]) for name, t in zip(names, model._outputs.tensors)]


def _model_proto(model: Any) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (checked with ``onnx.checker``)."""
    onnx = _require_onnx()
    from .functional import Model
    from .models import Sequential

    g = _Graph(onnx)
    if isinstance(model, Sequential):
        inputs, outputs = _sequential_graph(g, model)
    elif isinstance(model, Model):
        if not model._graph:
            raise OnnxExportError(
                f"to_onnx: model {model.name!r} is a subclassed Model ({type(model).__name__}), "
                f"whose call() is Python code and has no graph to export; supported: Sequential "
                f"and functional Model(inputs, outputs) models (rebuild it functionally)"
            )
        inputs, outputs = _functional_graph(g, model)
    else:
        raise TypeError(
            f"to_onnx: `model` must be a fastrnn Sequential or functional Model; got "
            f"{type(model).__name__}"
        )
    graph_outputs = []
    for name, out in outputs:
        name = g.fresh(name)  # an output named like an input (or another output) gets a suffix
        g.nodes.append(
            onnx.helper.make_node("Identity", [out.name], [name], name=g.fresh(f"{name}/Identity"))
        )
        graph_outputs.append(_value_info(onnx, name, out.dtype, out.shape))
    graph = onnx.helper.make_graph(
        g.nodes,
        model.name,
        [_value_info(onnx, name, dtype, shape) for name, dtype, shape in inputs],
        graph_outputs,
        initializer=g.initializers,
    )
    from . import __version__

    proto = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="fastrnn",
        producer_version=__version__,
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _check_path(filepath: Any) -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(
            f"to_onnx: `filepath` must be a str or os.PathLike naming the file to write; got "
            f"{type(filepath).__name__}: {filepath!r:.80}"
        )
    path = os.fspath(filepath)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"to_onnx: `filepath` must name a file; {path!r} is a directory")
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"to_onnx: `filepath` must be in an existing directory; the directory "
            f"{directory!r} of filepath={path!r} does not exist"
        )
    return path


def to_onnx(model: Any, filepath: str | os.PathLike[str] | None = None) -> Any:
    """Export ``model`` as an ONNX file that ONNX Runtime runs like ``model.predict``.

    Parameters
    ----------
    model : Sequential or functional Model
        Built (it has its weights), made of the layers in
        :data:`SUPPORTED_LAYERS`; recurrent layers float32 and not stateful.
    filepath : str or os.PathLike, optional
        The file to write (exactly this name), in an existing directory; it
        appears only when complete. None writes nothing (the returned model
        is all).

    Returns
    -------
    onnx.ModelProto
        Opset :data:`OPSET`, checked with ``onnx.checker.check_model(...,
        full_check=True)``. Inputs: a Sequential's is ``"input"``, a
        functional model's are named after its input layers; token ids for an
        Embedding are int64 (or the ``Input``'s dtype). Outputs: a
        Sequential's ``"output"`` (``"output_0"``, ``"output_1"``, ... for a
        list), a functional model's named as ``predict`` names them (the
        output layers' names, or the keys of a dict of outputs). Every
        batch dimension is the symbolic ``"batch"``; the other dimensions are
        the model's input shape (None: any size).

    Raises
    ------
    OnnxExportError
        A ValueError naming the layer or model that cannot be exported, what
        is supported and what was given.
    TypeError
        If ``model`` is not a fastrnn model or ``filepath`` not a path.
    FileNotFoundError
        If the directory of ``filepath`` does not exist.
    ImportError
        If ``onnx`` is not installed (``pip install "fastrnn[onnx]"``).
    """
    path = None if filepath is None else _check_path(filepath)
    proto = _model_proto(model)
    if path is not None:
        directory = os.path.dirname(os.path.abspath(path))
        fd, temporary = tempfile.mkstemp(prefix=".onnx-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(proto.SerializeToString())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
    return proto
