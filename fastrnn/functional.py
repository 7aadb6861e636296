"""``Model``: functional models (a graph of layer calls) and subclassed models.

Functional, as in Keras 3::

    from fastrnn import Input, Model
    from fastrnn.layers import LSTM, Dense

    encoder_inputs = Input(shape=(None, 71))
    _, h, c = LSTM(256, return_state=True)(encoder_inputs)
    decoder_inputs = Input(shape=(None, 93))
    decoder_lstm = LSTM(256, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[h, c])
    outputs = Dense(93, activation="softmax")(decoder_outputs)
    model = Model([encoder_inputs, decoder_inputs], outputs)

Calling a layer on symbolic tensors records a node (:mod:`fastrnn.layers._graph`);
``Model(inputs, outputs)`` takes the nodes between them, in an order where
every node comes after the nodes it depends on. A run calls the layers in
that order; a training run keeps each call's record (the layer's cache for
that call), and :meth:`Model.backward` runs the records in reverse, adding
up the gradients of a layer called more than once. A model can be made from
any part of a graph: ``Model(encoder_inputs, [h, c])`` shares the trained
layers.

Subclassed::

    class Classifier(Model):
        def __init__(self):
            super().__init__()
            self.embedding = Embedding(1000, 16, mask_zero=True)
            self.lstm = LSTM(32)
            self.head = Dense(1, activation="sigmoid")

        def call(self, inputs, training=False):
            return self.head(self.lstm(self.embedding(inputs), training=training))

Layers assigned as attributes (or in lists) are the model's. A call runs
``call`` with a :class:`~fastrnn.layers._graph.Tape` recording each layer
call; ``backward`` runs the recorded calls in reverse. What ``call`` may do
between layer calls is in :meth:`Model.call`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .layers import InputLayer, Layer, deserialize, serialize
from .layers._graph import (
    CallRecord,
    KerasTensor,
    Tape,
    _assign_masks,
    _flat,
    backpropagate,
    is_symbolic,
    map_structure,
    recording,
    takes_mask,
)
from .layers.base import _snake_case, check_name, check_shape, unique_name
from .models import _ModelBase, _shape_str, summary_table
from .training import _as_data

__all__ = ["Model"]


class _Structure:
    """How a model's inputs or outputs were given: one tensor, a list, or a dict."""

    def __init__(self, value: Any, argument: str) -> None:
        if isinstance(value, Mapping):
            self.kind = "dict"
            self.keys = list(value)
            tensors = [value[k] for k in self.keys]
        elif isinstance(value, (list, tuple)):
            self.kind = "list"
            self.keys = None
            tensors = list(value)
        else:
            self.kind = "single"
            self.keys = None
            tensors = [value]
        if not tensors:
            raise ValueError(f"`{argument}` is empty; a model needs at least one")
        for i, t in enumerate(tensors):
            if type(t) is not KerasTensor:
                raise TypeError(
                    f"`{argument}` must hold symbolic tensors (fastrnn.Input(...) and what "
                    f"layers return when called on them); {argument}[{i}] is "
                    f"{type(t).__name__}"
                )
        self.tensors: list[KerasTensor] = tensors

    def pack(self, values: list) -> Any:
        """Values (one per tensor) in the structure the tensors were given in."""
        if self.kind == "single":
            return values[0]
        if self.kind == "dict":
            return dict(zip(self.keys, values))
        return list(values)

    def config(self) -> Any:
        return {"kind": self.kind, "keys": self.keys}


def _node_order(inputs: list[KerasTensor], outputs: list[KerasTensor]):
    """The nodes between ``inputs`` and ``outputs``, each after those it depends on.

    Raises ValueError when an output depends on an input layer that is not
    among ``inputs`` (the graph is disconnected).
    """
    leaves = {id(t) for t in inputs}
    order, done, active = [], set(), set()

    def visit(tensor, path):
        if id(tensor) in leaves:
            return
        node = tensor.node
        if node is None or isinstance(node.layer, InputLayer):
            raise ValueError(
                f"Graph disconnected: output {path} depends on {tensor!r} "
                f"(of layer {tensor.name!r}), which is not among the model's inputs "
                f"{[t.name for t in inputs]}"
            )
        if id(node) in done:
            return
        if id(node) in active:  # a graph built by calls cannot have a cycle
            raise ValueError(f"The graph has a cycle through layer {node.layer.name!r}")
        active.add(id(node))
        for t in node.input_tensors:
            visit(t, path)
        active.discard(id(node))
        done.add(id(node))
        order.append(node)

    for i, t in enumerate(outputs):
        visit(t, f"outputs[{i}] ({t.name})")
    return order


class Model(_ModelBase):
    """A model of layers: functional (``Model(inputs, outputs)``) or subclassed.

    Parameters
    ----------
    inputs : KerasTensor, list or dict of them
        Where the graph starts: :func:`fastrnn.Input` tensors, or any tensors
        of a graph (a model of part of a graph).
    outputs : KerasTensor, list or dict of them
        What the model returns, computed from ``inputs``.
    name : str, optional
        Default ``"functional"`` (numbered when taken); for a subclass, its
        name in snake case.

    Notes
    -----
    Calling, ``fit``, ``evaluate`` and ``predict`` take one array per input:
    one array, a list in ``inputs`` order, or a dict keyed by the input
    layers' names; outputs and targets come the same way as ``outputs``.
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("trainable", None)
        if kwargs:
            raise TypeError(f"Model got unexpected arguments {sorted(kwargs)}")
        functional = inputs is not None or outputs is not None
        default = "functional" if functional or type(self) is Model else None
        if name is None:
            name = unique_name(default or _snake_case(type(self).__name__))
        object.__setattr__(self, "name", check_name(name))
        object.__setattr__(self, "_tracked", [])
        self.output_mask = None
        self._trained_call = False
        self._records: list[CallRecord] | None = None
        self._record_outputs: list[Any] = []
        self._record_inputs: list[Any] = []
        self._weight_gradients: dict[Layer, list] | None = None
        self._input_shape = None
        self._graph = False
        if functional:
            if inputs is None or outputs is None:
                raise TypeError(
                    "Model(inputs, outputs): give both `inputs` and `outputs` (symbolic "
                    "tensors), or subclass Model and define call()"
                )
            self._init_graph(inputs, outputs)
        elif type(self).call is Model.call:
            raise TypeError(
                "Model() needs `inputs` and `outputs` (the functional API: "
                "Model(inputs=Input(...), outputs=...)), or subclass Model and define call()"
            )

    # ------------------------------------------------------------- the graph
    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        self._graph = True
        self._inputs = _Structure(inputs, "inputs")
        self._outputs = _Structure(outputs, "outputs")
        self._nodes = _node_order(self._inputs.tensors, self._outputs.tensors)
        used = {id(t) for node in self._nodes for t in node.input_tensors}
        used |= {id(t) for t in self._outputs.tensors}
        for t in self._inputs.tensors:
            if id(t) not in used:
                warnings.warn(
                    f"Model {self.name!r}: input {t.name!r} is not used by any output",
                    stacklevel=3,
                )
        layers: list[Layer] = []
        for t in self._inputs.tensors:
            if isinstance(t.node.layer, InputLayer) and t.node.layer not in layers:
                layers.append(t.node.layer)
        for node in self._nodes:
            if not any(node.layer is known for known in layers):
                layers.append(node.layer)
        self._layers = layers
        self._input_shape = [t.shape for t in self._inputs.tensors]

    @property
    def layers(self) -> list[Layer]:
        """The model's layers: a graph's in the order they first run (input
        layers first); a subclass's in the order they were assigned."""
        if self._graph:
            return list(self._layers)
        return _tracked_layers(self._tracked)

    @property
    def inputs(self) -> list[KerasTensor]:
        """The input tensors, as a list."""
        self._require_graph("inputs")
        return list(self._inputs.tensors)

    @property
    def outputs(self) -> list[KerasTensor]:
        """The output tensors, as a list."""
        self._require_graph("outputs")
        return list(self._outputs.tensors)

    @property
    def input(self) -> Any:
        """The input tensors as the model was given them (one, a list or a dict)."""
        self._require_graph("input")
        return self._inputs.pack(self._inputs.tensors)

    @property
    def output(self) -> Any:
        """The output tensors as the model was given them (one, a list or a dict)."""
        self._require_graph("output")
        return self._outputs.pack(self._outputs.tensors)

    @property
    def input_shape(self) -> Any:
        """The input shape (a list of them for several inputs), batch dimension first."""
        if self._graph:
            shapes = [t.shape for t in self._inputs.tensors]
            return shapes[0] if self._inputs.kind == "single" else shapes
        return self._input_shape

    @property
    def built(self) -> bool:
        if self._graph:
            return all(layer.built for layer in self._layers)
        layers = self.layers
        return bool(layers) and all(layer.built for layer in layers)

    def _require_graph(self, what: str) -> None:
        if not self._graph:
            raise AttributeError(
                f"Model {self.name!r} is a subclassed model: it has no symbolic `{what}` "
                f"(only functional models, Model(inputs, outputs), do)"
            )

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name`` (or at ``index`` of :attr:`layers`).

        Raises
        ------
        ValueError
            If no layer has that name, or neither or both are given.
        """
        if (name is None) == (index is None):
            raise ValueError("get_layer: give `name` or `index`, exactly one")
        layers = self.layers
        if index is not None:
            if not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"get_layer: index {index!r} is out of range for {len(layers)} layers"
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name!r}. Existing layers are: {[layer.name for layer in layers]}"
        )

    # ----------------------------------------------------------- subclassing
    def __setattr__(self, name: str, value: Any) -> None:
        """A subclass's layers (and lists of layers, and models) become the model's."""
        if not name.startswith("_") and _holds_layers(value):
            tracked = self.__dict__.get("_tracked")
            if tracked is None:
                raise AttributeError(
                    f"{type(self).__name__}.__init__ must call super().__init__() before "
                    f"assigning layers (self.{name} = ...)"
                )
            previous = self.__dict__.get(name)
            if previous is not None:
                tracked[:] = [t for t in tracked if t is not previous]
            tracked.append(value)
        object.__setattr__(self, name, value)

    def call(self, inputs: Any, training: bool = False) -> Any:
        """What a subclassed model computes: override it (Keras 3's ``call``).

        ``call`` composes the model's layers. Between layer calls it may pass
        arrays along, pick entries of lists (a layer's ``[output, *states]``),
        branch on Python values, and call a layer more than once (its weights
        are shared and their gradients add up). For a training call (``fit``,
        or ``model(x, training=True)`` before ``backward``) everything that
        reaches a layer or the result must come from the model's inputs or
        from layers: NumPy arithmetic on a layer's output (``h * 2``,
        ``x[:, -1]``, ``np.concatenate``) cannot be differentiated, so a
        training call that passes such an array on raises a ValueError
        naming the layer; use the layers ``Add``, ``Multiply``,
        ``Concatenate``, ``Reshape``, ``Activation``, ... instead. Layer
        outputs are read-only in a training call, so an in-place change
        raises too. Masks follow the arrays as in Keras.
        """
        raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs, training)")

    # --------------------------------------------------------------- calling
    def __call__(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        """Run the model on arrays (one per input, as :class:`Model` describes).

        Returns
        -------
        numpy.ndarray, list or dict
            One array per output, in the structure of ``outputs``.
        """
        if is_symbolic(inputs) or (
            isinstance(inputs, Mapping) and is_symbolic(list(inputs.values()))
        ):
            raise TypeError(
                f"Model {self.name!r} was called on symbolic tensors: calling a model as a "
                f"layer of another graph is not supported; call its layers on the tensors "
                f"(they keep their weights), or make one Model of the whole graph"
            )
        out, self.output_mask = self._call_with_mask(inputs, training=training, mask=mask)
        return out

    def _call_with_mask(self, inputs, training=False, mask=None):
        if self._graph:
            return self._run_graph(inputs, training, mask)
        return self._run_subclass(inputs, training)

    def _input_arrays(self, inputs: Any, argument: str = "inputs") -> list:
        """One array per model input, from one array, a list or a dict; checked."""
        tensors = self._inputs.tensors
        if isinstance(inputs, Mapping):
            names = [t.node.layer.name if t.node is not None else t.name for t in tensors]
            keys = self._inputs.keys if self._inputs.kind == "dict" else names
            missing = [k for k in keys if k not in inputs]
            extra = [k for k in inputs if k not in keys]
            if missing or extra:
                raise ValueError(
                    f"Model {self.name!r}: `{argument}` as a dict must have the keys {keys}; "
                    f"missing {missing}, unexpected {extra}"
                )
            values = [inputs[k] for k in keys]
        elif isinstance(inputs, (list, tuple)) and len(tensors) > 1:
            values = list(inputs)
        else:
            values = [inputs]
        if len(values) != len(tensors):
            raise ValueError(
                f"Model {self.name!r} has {len(tensors)} inputs "
                f"{[t.name for t in tensors]}; `{argument}` gives {len(values)}"
            )
        arrays = []
        for i, (tensor, value) in enumerate(zip(tensors, values)):
            if value is None:
                raise TypeError(f"`{argument}[{i}]` ({tensor.name}) is None; an array is needed")
            array = value if isinstance(value, np.ndarray) else np.asarray(value)
            shape = tensor.shape
            where = f"`{argument}`" if len(tensors) == 1 else f"`{argument}[{i}]` ({tensor.name})"
            if array.ndim != len(shape) or any(
                d is not None and d != n for d, n in zip(shape[1:], array.shape[1:])
            ):
                raise ValueError(
                    f"Model {self.name!r}: {where} must have shape {_shape_str(shape)}; got an "
                    f"array of shape {array.shape}"
                )
            arrays.append(array)
        batch = {a.shape[0] for a in arrays}
        if len(batch) > 1:
            raise ValueError(
                f"Model {self.name!r}: the inputs' batch sizes differ: "
                f"{[a.shape[0] for a in arrays]}"
            )
        return arrays

    def _run_graph(self, inputs, training, mask):
        arrays = self._input_arrays(inputs)
        values: dict[int, Any] = {id(t): a for t, a in zip(self._inputs.tensors, arrays)}
        masks: dict[int, Any] = {}
        if mask is not None:
            given = list(mask) if isinstance(mask, (list, tuple)) else [mask]
            for t, m in zip(self._inputs.tensors, given):
                if m is not None:
                    masks[id(t)] = m
        records: list[CallRecord] = []
        layers = [node.layer for node in self._nodes]
        before = [layer._call_state() for layer in layers]
        try:
            for node in self._nodes:
                layer = node.layer
                arguments = node.arguments

                def value(t):
                    return values[id(t)] if type(t) is KerasTensor else t

                def structure(v):
                    return map_structure(value, v)

                layer_inputs = structure(arguments.inputs)
                kwargs = dict(arguments.others)
                if arguments.initial_state is not None:
                    kwargs["initial_state"] = structure(arguments.initial_state)
                call = type(layer).__call__
                layer_mask = None
                if takes_mask(getattr(call, "__wrapped__", call)):
                    if arguments.mask is not None:
                        layer_mask = structure(arguments.mask)
                    else:
                        flat = [masks.get(id(t)) for t in _flat(arguments.inputs)]
                        if any(m is not None for m in flat):
                            is_list = isinstance(arguments.inputs, (list, tuple))
                            layer_mask = flat if is_list else flat[0]
                    if layer_mask is not None:
                        kwargs["mask"] = layer_mask
                result = layer(layer_inputs, training=training, **kwargs)
                results = result if node.returns_list else [result]
                if len(results) != len(node.outputs):
                    raise ValueError(
                        f"Layer {layer.name!r} returned {len(results)} arrays where its "
                        f"symbolic call returned {len(node.outputs)}"
                    )
                for t, v in zip(node.outputs, results):
                    values[id(t)] = v
                out_mask = layer.compute_mask(layer_inputs, layer_mask)
                _assign_masks(masks, node.outputs, out_mask)
                if training:
                    input_keys, state_keys = arguments.keys(_tensor_key)
                    records.append(
                        CallRecord(
                            layer,
                            input_keys,
                            state_keys,
                            [id(t) for t in node.outputs],
                            node.returns_list,
                            layer._call_state(),
                        )
                    )
        except BaseException:
            for layer, state in zip(layers, before):
                layer._restore_call_state(state)
            raise
        outputs = [values[id(t)] for t in self._outputs.tensors]
        out_masks = [masks.get(id(t)) for t in self._outputs.tensors]
        if training:
            self._records = records
            self._record_outputs = [id(t) for t in self._outputs.tensors]
            self._record_inputs = [id(t) for t in self._inputs.tensors]
        self._trained_call = bool(training)
        return self._outputs.pack(outputs), self._outputs.pack(out_masks)

    def _run_subclass(self, inputs, training):
        tape = Tape(training)
        tape.leaf(inputs)
        kwargs = {"training": training} if _accepts(type(self).call, "training") else {}
        with recording(tape):
            result = self.call(inputs, **kwargs)
        if self._input_shape is None and isinstance(inputs, np.ndarray):
            self._input_shape = (None, *inputs.shape[1:])
            self._input_dtype = inputs.dtype.name
        flat = result if isinstance(result, (list, tuple)) else [result]
        if training:
            self._check_tape(tape, inputs, flat)
            self._records = tape.records
            self._record_outputs = [id(v) for v in flat]
            self._record_inputs = [id(v) for v in _flat(inputs)]
        self._trained_call = bool(training)
        masks = [tape.masks.get(id(v)) for v in flat]
        if isinstance(result, (list, tuple)):
            return list(result), masks
        return result, masks[0]

    def _check_tape(self, tape: Tape, inputs: Any, outputs: list) -> None:
        """A ValueError if what ``call`` did between layers cannot be differentiated."""
        made = set(tape.makers)
        leaves = {id(v) for v in _flat(inputs)}
        for record in tape.records:
            for kind, keys in (("input", record.input_keys), ("initial state", record.state_keys)):
                for key in _flat(keys):
                    if key not in made and key not in leaves:
                        raise ValueError(
                            f"{type(self).__name__}.call passes layer {record.layer.name!r} an "
                            f"{kind} that neither the model's inputs nor a layer made: NumPy "
                            f"code between layers cannot be differentiated. Compute it with "
                            f"layers (Add, Multiply, Concatenate, Reshape, Activation, ...) "
                            f"or pass the arrays on as they are"
                        )
        for i, value in enumerate(outputs):
            if id(value) not in made:
                raise ValueError(
                    f"{type(self).__name__}.call returns an array (output {i}) that no layer "
                    f"made, so it cannot be differentiated; return a layer's output"
                )

    # ------------------------------------------------------- training hooks
    def _output_names(self) -> list[str]:
        if not self._graph:
            return ["output"]
        if self._outputs.kind == "dict":
            return list(self._outputs.keys)
        names = [t.name for t in self._outputs.tensors]
        # two outputs of one layer (its states) are told apart by index
        return [
            name if names.count(name) == 1 else f"{name}_{t.index}"
            for name, t in zip(names, self._outputs.tensors)
        ]

    def _output_keys(self) -> list[str]:
        return list(self._outputs.keys)

    def _x_arrays(self, x, argument="x"):
        if not self._graph:
            if isinstance(x, (list, tuple)):
                return [_as_data(v, f"{argument}[{i}]") for i, v in enumerate(x)]
            return [_as_data(x, argument)]
        arrays = self._input_arrays(x, argument)
        return [
            _as_data(a, argument if len(arrays) == 1 else f"{argument}[{i}]")
            for i, a in enumerate(arrays)
        ]

    def _pack_x(self, arrays):
        if not self._graph:
            return arrays[0] if len(arrays) == 1 else list(arrays)
        return arrays if len(arrays) > 1 else arrays[0]

    def _y_arrays(self, y, argument="y"):
        names = self._output_names()
        if len(names) == 1:
            return [_as_data(y, argument)]
        if isinstance(y, Mapping):
            missing = [k for k in names if k not in y]
            if missing:
                raise ValueError(
                    f"`{argument}` as a dict must have one entry per output {names}; "
                    f"missing {missing}"
                )
            values = [y[k] for k in names]
        elif isinstance(y, (list, tuple)) and len(y) == len(names):
            values = list(y)
        else:
            given = f"a list of {len(y)}" if isinstance(y, (list, tuple)) else type(y).__name__
            raise ValueError(
                f"Model {self.name!r} has {len(names)} outputs {names}, so `{argument}` must "
                f"be a list (or dict) of {len(names)} arrays; got {given}"
            )
        return [_as_data(v, f"{argument}[{i}]") for i, v in enumerate(values)]

    # --------------------------------------------------------------- backward
    def backward(self, dy: Any) -> Any:
        """Backpropagate ``dy`` (d loss / d outputs of the last training call).

        Parameters
        ----------
        dy : array_like, list or dict
            One gradient per output, in the outputs' structure (None: zero).

        Returns
        -------
        numpy.ndarray, list or None
            d loss / d inputs (None for inputs that feed an Embedding). Then
            :attr:`gradients` lines up with :attr:`trainable_weights`.
        """
        if not self._trained_call or self._records is None:
            raise ValueError(
                f"Model {self.name!r}: backward needs a preceding call with training=True; "
                f"none was made"
            )
        keys = self._record_outputs
        if isinstance(dy, Mapping) and self._graph and self._outputs.kind == "dict":
            given = [dy.get(k) for k in self._outputs.keys]
        elif len(keys) > 1:
            if not isinstance(dy, (list, tuple)) or len(dy) != len(keys):
                raise ValueError(
                    f"Model {self.name!r} has {len(keys)} outputs, so `dy` must be a list "
                    f"of {len(keys)} gradients (None for zero)"
                )
            given = list(dy)
        else:
            given = [dy]
        gradients: dict[int, Any] = {}
        for key, d in zip(keys, given):
            if d is not None:
                gradients[key] = d if key not in gradients else gradients[key] + d
        states = [layer._call_state() for layer in self._weight_layers()]
        try:
            self._weight_gradients = backpropagate(self._records, gradients)
        finally:
            # the last call's caches stay what they were after it
            last = {}
            for record in self._records:
                last[record.layer] = record.call_state
            for layer, state in zip(self._weight_layers(), states):
                if layer in last:
                    layer._restore_call_state(last[layer])
                else:
                    layer._restore_call_state(state)
        d_inputs = [gradients.get(key) for key in self._record_inputs]
        if self._graph:
            return self._inputs.pack(d_inputs)
        return d_inputs[0] if len(d_inputs) == 1 else d_inputs

    # ---------------------------------------------------------------- weights
    def _weight_layers(self) -> list[Layer]:
        return _leaf_layers(self.layers)

    @property
    def gradients(self) -> list[np.ndarray]:
        """Gradients of the last backward, aligned with ``trainable_weights``."""
        if self._weight_gradients is None:
            raise ValueError(
                f"Model {self.name!r} has no gradients: run a training call and backward() first"
            )
        grads = []
        for layer in self._weight_layers():
            mine = self._weight_gradients.get(layer)
            if mine is None:
                mine = [np.zeros_like(w) for w in layer.weights]
            grads.extend(mine)
        return grads

    def _check_dataset(self, x, argument="x"):
        """Each input's checks by the layers that take it directly (an Embedding's
        index range). A subclassed model's ``call`` decides which layer sees
        which array only when it runs: its layers check each batch instead."""
        if not self._graph:
            return
        arrays = x if isinstance(x, list) else [x]
        for tensor, array in zip(self._inputs.tensors, arrays):
            for node in self._nodes:
                if any(t is tensor for t in _flat(node.arguments.inputs)) and not isinstance(
                    node.arguments.inputs, (list, tuple)
                ):
                    node.layer._check_dataset(array, argument)

    def build(self, input_shape: Any, dtype: Any = None) -> None:
        """Build the layers: a functional model is built already; a subclassed
        model runs ``call`` once on zeros of ``input_shape`` (batch first,
        None for 1) and ``dtype`` (default float32; ints for token ids)."""
        if self._graph:
            return
        shape = tuple(1 if d is None else d for d in check_shape(input_shape, "input_shape"))
        self(np.zeros(shape, np.dtype(dtype or "float32")))
        self._input_shape = tuple(input_shape)

    # ------------------------------------------------------------ description
    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """Print Keras 3's table: layer (type), output shape, param # and, for a
        functional model, what each layer call is connected to."""
        rows = []
        if self._graph:
            node_index = _local_node_indices(self)
            input_nodes = [
                t.node for t in self._inputs.tensors if isinstance(t.node.layer, InputLayer)
            ]
            for node in input_nodes + self._nodes:
                shapes = [t.shape for t in node.outputs]
                connected = [
                    f"{t.name}[{node_index.get(id(t.node), 0)}][{t.index}]"
                    for t in node.input_tensors
                    if t.node is not None
                ] or ["-"]
                params = node.layer.count_params() if node.layer.built else 0
                shape = shapes if node.returns_list else shapes[0]
                rows.append((node.layer, shape, f"{params:,}", connected))
        else:
            for layer in self.layers:
                params = layer.count_params() if layer.built else 0
                rows.append((layer, None, f"{params:,}", None))
        text = summary_table(self.name, rows, self.weights)
        if print_fn is not None:
            print_fn(text)
        return text

    # ------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """A functional model's graph, JSON-able: its layers, each layer call
        (node) in run order with what it was given, the inputs and outputs."""
        if not self._graph:
            return {"name": self.name}
        node_index = _local_node_indices(self)

        def ref(t):
            if type(t) is not KerasTensor:
                raise ValueError(
                    f"Model {self.name!r} cannot be described: a layer call was given "
                    f"{type(t).__name__} besides symbolic tensors"
                )
            if t.node is None or id(t.node) not in node_index:
                return {"input": [i for i, s in enumerate(self._inputs.tensors) if s is t][0]}
            return [t.node.layer.name, node_index[id(t.node)], t.index]

        def refs(v):
            return map_structure(ref, v)

        inputs = []
        for t in self._inputs.tensors:
            if isinstance(t.node.layer, InputLayer):
                inputs.append(ref(t))
            else:
                inputs.append({"shape": list(t.shape), "dtype": t.dtype, "name": t.name})
        nodes = [
            {
                "layer": node.layer.name,
                "inputs": refs(node.arguments.inputs),
                "initial_state": refs(node.arguments.initial_state),
                "mask": refs(node.arguments.mask),
                "kwargs": dict(node.arguments.others),
            }
            for node in self._nodes
        ]
        return {
            "name": self.name,
            "layers": [serialize(layer) for layer in self._layers],
            "inputs": inputs,
            "input_structure": self._inputs.config(),
            "nodes": nodes,
            "outputs": [ref(t) for t in self._outputs.tensors],
            "output_structure": self._outputs.config(),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Model:
        """A new functional model (fresh weights) from :meth:`get_config`'s output."""
        if "nodes" not in config:
            if cls is Model:
                raise ValueError(
                    "This config describes a subclassed model; load it with its class "
                    "(load_model(path, custom_objects={'MyModel': MyModel}))"
                )
            try:
                return cls(**config)
            except TypeError:  # an __init__ that takes no name
                return cls()
        descriptions = {}
        for description in config["layers"]:
            layer_config = description.get("config") if isinstance(description, dict) else None
            if not isinstance(layer_config, dict) or not isinstance(layer_config.get("name"), str):
                raise ValueError(f"a layer description without a name: {description!r:.100}")
            descriptions[layer_config["name"]] = description
        made_layers: dict[str, Layer] = {}

        class _Layers(dict):
            # Each layer is made at its first use, in the order the model
            # runs them, which is the order of its weights (load_model
            # builds under weights_from).
            def __missing__(self, name):
                if name not in descriptions:
                    raise ValueError(f"the graph names a layer {name!r} it does not describe")
                layer = made_layers[name] = deserialize(descriptions[name])
                return layer

        layers = _Layers()
        made: dict[tuple[str, int], list[KerasTensor]] = {}
        inputs: list[KerasTensor] = []
        for spec in config["inputs"]:
            if isinstance(spec, dict):
                from .layers import Input

                tensor = Input(batch_shape=tuple(spec["shape"]), dtype=spec["dtype"])
            else:
                name, index, tensor_index = spec
                tensor = layers[name].output
                made[(name, 0)] = [tensor]
            inputs.append(tensor)
        counts: dict[str, int] = {
            name: 1 for name, layer in made_layers.items() if isinstance(layer, InputLayer)
        }

        def resolve(r):
            if r is None:
                return None
            if isinstance(r, dict):
                return inputs[r["input"]]
            if isinstance(r, list) and r and isinstance(r[0], (list, dict)):
                return [resolve(x) for x in r]
            name, index, tensor_index = r
            return made[(name, index)][tensor_index]

        for spec in config["nodes"]:
            layer = layers[spec["layer"]]
            kwargs = dict(spec.get("kwargs") or {})
            if spec.get("initial_state") is not None:
                kwargs["initial_state"] = resolve(spec["initial_state"])
            if spec.get("mask") is not None:
                kwargs["mask"] = resolve(spec["mask"])
            result = layer(resolve(spec["inputs"]), **kwargs)
            index = counts.get(layer.name, 0)
            counts[layer.name] = index + 1
            made[(layer.name, index)] = result if isinstance(result, list) else [result]
        outputs = [resolve(r) for r in config["outputs"]]

        def pack(values, structure):
            if structure["kind"] == "single":
                return values[0]
            if structure["kind"] == "dict":
                return dict(zip(structure["keys"], values))
            return values

        return cls(
            pack(inputs, config["input_structure"]),
            pack(outputs, config["output_structure"]),
            name=config.get("name"),
        )

    def __repr__(self) -> str:
        kind = "functional" if self._graph else "subclassed"
        return f"<Model name={self.name!r} {kind} layers={len(self.layers)}>"


def _tensor_key(t: Any) -> Any:
    return id(t) if type(t) is KerasTensor else None


def _accepts(function: Callable, argument: str) -> bool:
    import inspect

    parameters = inspect.signature(function).parameters
    return argument in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _holds_layers(value: Any) -> bool:
    if isinstance(value, (Layer, _ModelBase)):
        return True
    return isinstance(value, (list, tuple)) and any(
        isinstance(v, (Layer, _ModelBase)) for v in value
    )


def _tracked_layers(tracked: list) -> list:
    layers: list = []
    for value in tracked:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (Layer, _ModelBase)) and not any(item is known for known in layers):
                layers.append(item)
    return layers


def _leaf_layers(layers: Sequence[Any]) -> list[Layer]:
    """The layers that hold weights, models opened up, each once, in order."""
    leaves: list[Layer] = []
    for item in layers:
        inner = item._weight_layers() if isinstance(item, _ModelBase) else [item]
        for layer in inner:
            if not any(layer is known for known in leaves):
                leaves.append(layer)
    return leaves


def _local_node_indices(model: Model) -> dict[int, int]:
    """id(node) -> its index among the calls of its layer in this model (input
    layers' own node first), as the model's config and summary number them."""
    counts: dict[int, int] = {}
    indices: dict[int, int] = {}
    input_nodes = [t.node for t in model._inputs.tensors if isinstance(t.node.layer, InputLayer)]
    for node in input_nodes + model._nodes:
        if id(node) in indices:
            continue
        key = id(node.layer)
        indices[id(node)] = counts.get(key, 0)
        counts[key] = indices[id(node)] + 1
    return indices
