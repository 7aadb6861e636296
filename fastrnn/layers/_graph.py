"""Symbolic tensors, layer calls on them, and the record of calls that backward runs.

Calling a layer on a :class:`KerasTensor` (what ``Input`` returns) runs no
computation: it builds the layer for the tensor's shape and returns new
symbolic tensors that remember the call (a :class:`Node`). ``Model(inputs,
outputs)`` walks the nodes back from its outputs to its inputs.

Running a model, each layer call is kept as a :class:`CallRecord`: the
layer, what it was given (keys of its inputs and initial states), the keys
of its outputs, and the layer's call state after the call (what its
``backward`` needs). A layer called twice has two records, each with its
own state, so that :func:`backpropagate` can restore one and run the
layer's ``backward`` for exactly that call. Keys are the ids of symbolic
tensors (functional models) or of the arrays themselves (subclassed
models, whose ``call`` passes arrays from layer to layer, see :class:`Tape`).

Every layer class's ``__call__`` goes through :func:`traced_call`
(installed by ``Layer.__init_subclass__``): a symbolic call makes a node, a
call while a :class:`Tape` records is recorded, any other call runs as it is.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._row_gradients import RowGradient

__all__ = [
    "KerasTensor",
    "Node",
    "CallRecord",
    "Tape",
    "traced_call",
    "backpropagate",
    "add_gradients",
]


class KerasTensor:
    """A symbolic tensor: the shape and dtype of an array a model will compute.

    Parameters
    ----------
    shape : tuple of int or None
        Batch dimension first; None where any size goes.
    dtype : str
    name : str
        The name of the layer that makes it.
    node : Node or None
        The layer call that makes it (for an ``Input``, the input layer's node).
    index : int
        Which of that call's outputs it is.

    A symbolic tensor has no values; arithmetic on it raises a TypeError
    that names the layer to use instead (``Add``, ``Multiply``, ...).
    """

    __slots__ = ("shape", "dtype", "name", "node", "index")

    def __init__(self, shape, dtype, name, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is symbolic: it has no values until a model runs. Build a "
            f"Model(inputs, outputs) and call it (or its predict) on arrays"
        )

    def _no_arithmetic(self, *args):
        raise TypeError(
            f"{self!r} is symbolic, so NumPy arithmetic cannot run on it; use the layers "
            f"fastrnn.layers.Add, Multiply, Average, Concatenate, Dot, Reshape or Activation"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_arithmetic
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = _no_arithmetic
    __getitem__ = _no_arithmetic
    __hash__ = object.__hash__


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` is a KerasTensor or a list/tuple holding one."""
    if type(value) is KerasTensor:
        return True
    return isinstance(value, (list, tuple)) and any(type(v) is KerasTensor for v in value)


def map_structure(function: Callable[[Any], Any], value: Any) -> Any:
    """``function`` of each leaf of one call argument (a value, a list, or None)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [function(v) for v in value]
    return function(value)


def _flat(value: Any) -> list[Any]:
    """The leaves of one call argument: a tensor, a list of them, or None."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


# --------------------------------------------------------------------------
# the call arguments a node or a record keeps
# --------------------------------------------------------------------------
class _CallArguments:
    """A layer call's arguments, split as :func:`backpropagate` needs them.

    ``inputs`` is the first argument (one value or a list), ``initial_state``
    the states given (None, one value or a list), ``mask`` the mask given
    explicitly, ``others`` every other keyword argument (``training`` is not
    kept: a model run sets it).
    """

    __slots__ = ("inputs", "initial_state", "mask", "others", "training_given")

    def __init__(self, inputs, initial_state=None, mask=None, others=None, training_given=False):
        self.inputs = inputs
        self.initial_state = initial_state
        self.mask = mask
        self.others = others or {}
        self.training_given = training_given

    @classmethod
    def bind(cls, call: Callable, layer, args, kwargs) -> _CallArguments:
        signature = _signature(call)
        try:
            bound = signature.bind(layer, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"Layer {layer.name!r}: {exc}") from None
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))  # self
        first = next(iter(arguments)) if arguments else None
        if first is None:
            raise TypeError(f"Layer {layer.name!r} was called without inputs")
        inputs = arguments.pop(first)
        training_given = "training" in arguments
        arguments.pop("training", None)
        initial_state = arguments.pop("initial_state", None)
        mask = arguments.pop("mask", None)
        return cls(inputs, initial_state, mask, arguments, training_given)

    def keys(self, key: Callable[[Any], int]) -> tuple[Any, Any]:
        """(the inputs' keys, the initial states' keys), in the arguments' structure."""

        return map_structure(key, self.inputs), map_structure(key, self.initial_state)


_signatures: dict[Callable, inspect.Signature] = {}


def _signature(call: Callable) -> inspect.Signature:
    signature = _signatures.get(call)
    if signature is None:
        signature = _signatures[call] = inspect.signature(call)
    return signature


def takes_mask(call: Callable) -> bool:
    """Whether a layer's ``__call__`` has a ``mask`` parameter."""
    return "mask" in _signature(call).parameters


# --------------------------------------------------------------------------
# symbolic calls
# --------------------------------------------------------------------------
class Node:
    """One call of a layer on symbolic tensors.

    Attributes
    ----------
    layer : Layer
    arguments : _CallArguments
        With KerasTensors where the call had them.
    input_tensors : list of KerasTensor
        Every tensor the call depends on: inputs, then initial states, then
        an explicit mask.
    outputs : list of KerasTensor
    returns_list : bool
        Whether the call returns a list (``return_state=True``, merges of None).
    """

    __slots__ = ("layer", "arguments", "input_tensors", "outputs", "returns_list")

    def __init__(self, layer, arguments, outputs, returns_list):
        self.layer = layer
        self.arguments = arguments
        self.input_tensors = [
            t
            for t in _flat(arguments.inputs)
            + _flat(arguments.initial_state)
            + _flat(arguments.mask)
            if type(t) is KerasTensor
        ]
        self.outputs = outputs
        self.returns_list = returns_list

    def result(self):
        """What the symbolic call returns: one tensor or the list."""
        return list(self.outputs) if self.returns_list else self.outputs[0]


def _shape_of(value: Any, argument: str):
    if type(value) is KerasTensor:
        return value.shape
    if isinstance(value, (list, tuple)):
        return [_shape_of(v, f"{argument}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"`{argument}` mixes symbolic tensors and arrays; call the layer on KerasTensors "
        f"only (made by fastrnn.Input and by layers called on them), got {type(value).__name__}"
    )


def symbolic_call(layer, call: Callable, args, kwargs):
    """A layer called on KerasTensors: build it, return its output tensors (a node)."""
    arguments = _CallArguments.bind(call, layer, args, kwargs)
    input_shape = _shape_of(arguments.inputs, "inputs")
    if isinstance(input_shape, list) and not layer._takes_lists:
        raise TypeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) takes one tensor; got a list of "
            f"{len(input_shape)} (join them first, e.g. with Concatenate)"
        )
    if arguments.initial_state is not None:
        _check_state_shapes(layer, input_shape, _shape_of(arguments.initial_state, "initial_state"))
    if not layer.built:
        layer.build(input_shape)
    shape_of_call = getattr(layer, "_call_output_shape", None)
    if shape_of_call is not None:
        output_shape = shape_of_call(input_shape, **arguments.others)
    else:
        output_shape = layer.compute_output_shape(input_shape)
    returns_list = isinstance(output_shape, list)
    shapes = output_shape if returns_list else [output_shape]
    node = Node(layer, arguments, [], returns_list)
    node.outputs = [
        KerasTensor(shape, layer.dtype, layer.name, node, i) for i, shape in enumerate(shapes)
    ]
    layer.__dict__.setdefault("_inbound_nodes", []).append(node)
    return node.result()


def _state_shapes(layer, batch):
    """The shapes of a recurrent layer's initial states, or None for other layers."""
    from .cells import RNN, _state_sizes
    from .recurrent import RNNBase
    from .wrappers import Bidirectional

    if isinstance(layer, RNNBase):
        return [(batch, layer.units)] * layer.state_size
    if isinstance(layer, Bidirectional):
        return _state_shapes(layer.forward_layer, batch) + _state_shapes(
            layer.backward_layer, batch
        )
    if isinstance(layer, RNN):
        return [(batch, n) for n in _state_sizes(layer.cell)]
    return None


def _check_state_shapes(layer, input_shape, state_shapes) -> None:
    """ValueError unless symbolic initial states fit the recurrent ``layer``:
    one ``(batch, size)`` tensor per state it has."""
    expected = _state_shapes(layer, input_shape[0] if input_shape else None)
    if expected is None:
        raise TypeError(f"Layer {layer.name!r} ({type(layer).__name__}) takes no initial_state")
    given = state_shapes if isinstance(state_shapes, list) else [state_shapes]
    if len(given) != len(expected) or not all(
        len(g) == len(e) and all(a is None or b is None or a == b for a, b in zip(g, e))
        for g, e in zip(given, expected)
    ):
        raise ValueError(
            f"Layer {layer.name!r} expects `initial_state` of shapes {expected}; got {given}"
        )


# --------------------------------------------------------------------------
# records of calls, and the backward pass over them
# --------------------------------------------------------------------------
class CallRecord:
    """One layer call of a training run: enough to run its ``backward`` later.

    Attributes
    ----------
    layer : Layer
    input_keys : key, list of keys, or None
        Of the call's inputs, in their structure (None entries: no gradient).
    state_keys : key, list of keys, or None
        Of the initial states given, in their structure; None when none was given.
    output_keys : list of keys
    returns_list : bool
    call_state : object
        ``layer._call_state()`` right after the call.
    """

    __slots__ = ("layer", "input_keys", "state_keys", "output_keys", "returns_list", "call_state")

    def __init__(self, layer, input_keys, state_keys, output_keys, returns_list, call_state):
        self.layer = layer
        self.input_keys = input_keys
        self.state_keys = state_keys
        self.output_keys = output_keys
        self.returns_list = returns_list
        self.call_state = call_state


def add_gradients(a, b):
    """``a + b`` for two gradients (None is zero), as a new array; the sum of two
    Embedding row gradients keeps every occurrence of both."""
    if a is None:
        return b
    if b is None:
        return a
    total = np.add(a, b)
    occurrences_a = getattr(a, "occurrences", None)
    occurrences_b = getattr(b, "occurrences", None)
    if occurrences_a is not None and occurrences_b is not None:
        indices = np.concatenate([occurrences_a[0], occurrences_b[0]])
        values = np.concatenate([occurrences_a[1], occurrences_b[1]])
        return RowGradient(np.asarray(total), indices, values)
    return np.asarray(total)


def backpropagate(records: Sequence[CallRecord], gradients: dict) -> dict[Any, list]:
    """Run every recorded call's ``backward`` in reverse order.

    Parameters
    ----------
    records : sequence of CallRecord
        In the order the calls ran.
    gradients : dict
        Key -> d loss / d that array, for the outputs the loss saw; updated
        in place with the gradients of every array the calls were given.

    Returns
    -------
    dict
        Layer -> its weight gradients summed over its calls (a layer whose
        outputs get no gradient gets zeros).
    """
    weight_gradients: dict[Any, list] = {}
    for record in reversed(records):
        d_outputs = [gradients.pop(key, None) for key in record.output_keys]
        if all(d is None for d in d_outputs):
            continue
        layer = record.layer
        layer._restore_call_state(record.call_state)
        result = layer.backward(d_outputs if record.returns_list else d_outputs[0])
        if record.state_keys is not None:
            d_inputs, d_states = result
            _distribute(gradients, record.state_keys, d_states)
        else:
            d_inputs = result
        _distribute(gradients, record.input_keys, d_inputs)
        mine = layer.gradients or []
        summed = weight_gradients.get(layer)
        if summed is None:
            weight_gradients[layer] = [_copy_gradient(g) for g in mine]
        else:
            weight_gradients[layer] = [add_gradients(s, g) for s, g in zip(summed, mine)]
    return weight_gradients


def _copy_gradient(gradient):
    """A copy that the layer's next backward cannot overwrite; an Embedding's
    row gradient keeps its occurrences (the optimizers use them)."""
    occurrences = getattr(gradient, "occurrences", None)
    if occurrences is None:
        return np.array(gradient, copy=True)
    return RowGradient(np.array(gradient), occurrences[0].copy(), occurrences[1].copy())


def _distribute(gradients: dict, keys: Any, values: Any) -> None:
    """Add ``values`` (one gradient or a list, in the structure of ``keys``) into ``gradients``."""
    if keys is None or values is None:
        return
    if isinstance(keys, list):
        if not isinstance(values, (list, tuple)):
            values = [values]
        for key, value in zip(keys, values):
            _distribute(gradients, key, value)
        return
    if isinstance(values, (list, tuple)):
        values = values[0] if len(values) == 1 else values
    gradients[keys] = add_gradients(gradients.get(keys), values)


# --------------------------------------------------------------------------
# the tape of a subclassed model's call
# --------------------------------------------------------------------------
class Tape:
    """Records the layer calls a subclassed model's ``call`` makes.

    Arrays pass from layer to layer as they are, so a record keys each array
    by its id (the tape keeps them alive, so ids stay unique). An output
    that is the same object as an input (a layer that passes its input
    through) is returned as a new view, so that every array has one maker.
    In a training call the outputs are read-only views: ``call`` cannot
    change a layer's output in place behind the recorded calls' backs.
    Masks follow the arrays as in Keras: a layer called without ``mask=`` on
    an output that has one gets it.
    """

    def __init__(self, training: bool):
        self.training = bool(training)
        self.records: list[CallRecord] = []
        self.depth = 0
        self.makers: dict[int, int] = {}  # id(array) -> index of the record that made it
        self.masks: dict[int, Any] = {}
        self._alive: list[Any] = []

    def leaf(self, value: Any) -> None:
        """Register the model's inputs: arrays that no layer made."""
        for v in _flat(value):
            self._alive.append(v)

    def record(self, layer, call: Callable, args, kwargs):
        arguments = _CallArguments.bind(call, layer, args, kwargs)
        if not arguments.training_given and "training" in _signature(call).parameters:
            # as in Keras, a layer called without `training` inherits the model call's
            kwargs = dict(kwargs, training=self.training)
        if arguments.mask is None and takes_mask(call):
            masks = [self.masks.get(id(v)) for v in _flat(arguments.inputs)]
            if any(m is not None for m in masks):
                mask = masks if isinstance(arguments.inputs, (list, tuple)) else masks[0]
                kwargs = dict(kwargs, mask=mask)
        self.depth += 1
        try:
            result = call(layer, *args, **kwargs)
        finally:
            self.depth -= 1
        given = {id(v) for v in _flat(arguments.inputs) + _flat(arguments.initial_state)}
        returns_list = isinstance(result, list)
        outputs = []
        for value in result if returns_list else [result]:
            if isinstance(value, np.ndarray):
                if id(value) in given or id(value) in self.makers or self.training:
                    value = value.view()
                if self.training:
                    value.flags.writeable = False
            outputs.append(value)
        index = len(self.records)
        for value in outputs:
            self.makers[id(value)] = index
            self._alive.append(value)
        self._alive.extend(_flat(arguments.inputs) + _flat(arguments.initial_state))
        mask_in = kwargs.get("mask", arguments.mask)
        mask_out = layer.compute_mask(arguments.inputs, mask_in)
        _assign_masks(self.masks, outputs, mask_out)
        input_keys, state_keys = arguments.keys(id)
        self.records.append(
            CallRecord(
                layer,
                input_keys,
                state_keys,
                [id(v) for v in outputs],
                returns_list,
                layer._call_state() if self.training else None,
            )
        )
        return outputs if returns_list else outputs[0]


def _assign_masks(masks: dict, outputs: list, mask: Any) -> None:
    """The output mask goes with each sequence output (3-D and more); states get none."""
    if isinstance(mask, (list, tuple)) and len(mask) == len(outputs):
        for value, m in zip(outputs, mask):
            if m is not None:
                masks[id(value)] = m
        return
    if mask is None:
        return
    for value in outputs:
        if np.ndim(value) >= 3 or len(outputs) == 1:
            masks[id(value)] = mask


_tapes = threading.local()


def current_tape() -> Tape | None:
    return getattr(_tapes, "tape", None)


class recording:
    """``with recording(tape):`` layer calls in this thread go on ``tape``."""

    def __init__(self, tape: Tape):
        self.tape = tape

    def __enter__(self):
        self.previous = current_tape()
        _tapes.tape = self.tape
        return self.tape

    def __exit__(self, *exc):
        _tapes.tape = self.previous


def traced_call(call: Callable) -> Callable:
    """Wrap a layer class's ``__call__``: symbolic calls make nodes, calls under a
    tape are recorded (the outermost only), other calls run unchanged."""

    def __call__(self, *args, **kwargs):
        if (args and is_symbolic(args[0])) or any(is_symbolic(v) for v in kwargs.values()):
            return symbolic_call(self, call, args, kwargs)
        tape = getattr(_tapes, "tape", None)
        if tape is None or tape.depth:
            return call(self, *args, **kwargs)
        return tape.record(self, call, args, kwargs)

    __call__.__wrapped__ = call  # type: ignore[attr-defined]
    __call__.__doc__ = call.__doc__
    __call__.__name__ = "__call__"
    __call__.__qualname__ = getattr(call, "__qualname__", "__call__")
    __call__._traced = True  # type: ignore[attr-defined]
    return __call__
