"""Sequential models: a stack of layers, a forward pass and its backward pass.

    from fastrnn.models import Sequential
    from fastrnn.layers import Embedding, SimpleRNN, Dense

    model = Sequential([Embedding(5000, 100, input_length=30), SimpleRNN(128),
                        Dense(1, activation="sigmoid")])
    model.summary()

Training (``compile``, ``fit``, ``evaluate``, ``predict``) comes from
:class:`fastrnn.training.TrainingMixin`.

Saving: ``model.save(path)`` writes one file in the format of
:mod:`fastrnn.saving`, and :func:`load_model` restores the model from it.
The file's header holds the model's class name, its architecture
(``get_config()``), its input shape (to build with when the architecture
does not say), the compile configuration (optimizer, loss, metrics), each
layer's random generator state (so Dropout continues the same random
stream), and the array counts ``num_weights`` and ``num_optimizer_arrays``;
its arrays are ``weight_0 ..`` (``get_weights()`` order) and
``optimizer_0 ..`` (the optimizer state: iteration count, then slots).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from . import saving
from .layers import Dense, Embedding, InputLayer, Layer, deserialize, serialize
from .layers._graph import KerasTensor
from .layers.base import as_float_array, check_name, check_shape, unique_name, weights_from
from .training import TrainingMixin

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["Sequential", "Model", "save_model", "load_model"]

#: A shape with the batch dimension first; None where any size goes.
Shape = tuple[int | None, ...]

_SequentialT = TypeVar("_SequentialT", bound="Sequential")


def _shape_str(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_str(s) for s in shape) + "]"
    dims = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


def _wrap(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` characters, at spaces where it can."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            while len(word) > width:
                lines.append(word[:width])
                word = word[width:]
            lines.append(word)
    return lines or [""]


def summary_table(name: str, rows: Sequence[tuple], weights: Sequence[np.ndarray]) -> str:
    """Keras 3's summary table.

    Parameters
    ----------
    name : str
        The model's name.
    rows : sequence of (layer, shape, params, connected)
        ``shape`` a shape, a list of shapes or None (unknown); ``params`` the
        text of the parameter count; ``connected`` None (no "Connected to"
        column) or the list of what the call takes (``"lstm[0][1]"``).
    weights : sequence of ndarray
        For the sizes in bytes.
    """
    connected = any(row[3] is not None for row in rows)
    widths = (33, 26, 12, 24) if connected else (33, 24, 15)
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    aligns = ["<", "<", ">", "<"]

    def lines_of(cells, edge):
        columns = [cell if isinstance(cell, list) else [cell] for cell in cells]
        height = max(len(c) for c in columns)
        out = []
        for k in range(height):
            texts = []
            for column, width, align in zip(columns, widths, aligns):
                text = column[k] if k < len(column) else ""
                if align == ">":
                    texts.append(f"{text:>{width - 1}} ")
                else:
                    texts.append(f" {text:<{width - 1}}")
            out.append(edge + edge.join(texts) + edge)
        return out

    def rule(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    lines = [f'Model: "{name}"', rule("┏", "┳", "┓", "━")]
    lines += lines_of(header, "┃")
    lines.append(rule("┡", "╇", "┩", "━"))
    for i, (layer, shape, params, links) in enumerate(rows):
        label = f"{layer.name} ({type(layer).__name__})"
        label_lines = (
            [label] if len(label) <= widths[0] - 2 else [layer.name, f"({type(layer).__name__})"]
        )
        label_lines = [part for line in label_lines for part in _wrap(line, widths[0] - 2)]
        if shape is None:
            shape_lines = ["?"]
        elif isinstance(shape, list):
            texts = [_shape_str(s) for s in shape]
            shape_lines = [
                ("[" if k == 0 else "") + t + ("]" if k == len(texts) - 1 else ",")
                for k, t in enumerate(texts)
            ]
        else:
            shape_lines = _wrap(_shape_str(shape), widths[1] - 2)
        cells = [label_lines, shape_lines, params]
        if connected:
            cells.append(links or ["-"])
        lines += lines_of(cells, "│")
        if i < len(rows) - 1:
            lines.append(rule("├", "┼", "┤", "─"))
    lines.append(rule("└", "┴", "┘", "─"))
    nbytes = sum(w.nbytes for w in weights)
    if nbytes < 1024:
        size = f"{nbytes:.2f} B"
    elif nbytes < 1024**2:
        size = f"{nbytes / 1024:.2f} KB"
    else:
        size = f"{nbytes / 1024**2:.2f} MB"
    total = sum(w.size for w in weights)
    lines += [
        f" Total params: {total:,} ({size})",
        f" Trainable params: {total:,} ({size})",
        " Non-trainable params: 0 (0.00 B)",
    ]
    return "\n".join(lines)


def _input_shape_from_weights(layers: Sequence[Layer]) -> Shape | None:
    """The input shape of layers built outside the model, from the first weights.

    Layers without weights in front (Masking, Dropout) pass their input
    shape through, so the first layer with weights tells the model's input:
    token ids for an Embedding, ``(batch, features)`` for a Dense, and
    ``(batch, timesteps, features)`` for a recurrent layer or Bidirectional,
    whose first weight (the input kernel) has ``features`` rows.
    """
    for layer in layers:
        weights = layer.weights
        if not weights:
            continue
        if isinstance(layer, Embedding):
            return (None, None)
        features = int(weights[0].shape[0])
        if isinstance(layer, Dense):
            return (None, features)
        return (None, None, features)
    return None


class _ModelBase(TrainingMixin):
    """What Sequential and Model share: weights in Keras order, saving them.

    Subclasses give :meth:`_weight_layers` (the layers whose weights are the
    model's, each once, in Keras's order) and ``gradients``.
    """

    name: str

    def _weight_layers(self) -> list[Layer]:
        raise NotImplementedError

    @property
    def weights(self) -> list[np.ndarray]:
        """The live weight arrays of every layer, in order."""
        return [w for layer in self._weight_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The live weight arrays of every layer, in order (update in place)."""
        return self.weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, in order (Keras's layout)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Set every layer's weights from one flat list (checked before any change).

        Parameters
        ----------
        weights : sequence of array_like
            One array per weight, in :meth:`get_weights` order and shapes.
        """
        current = self.weights
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise TypeError(f"`weights` must be a list of {len(current)} arrays")
        if len(weights) != len(current):
            raise ValueError(
                f"Model {self.name!r} expects {len(current)} weights, got {len(weights)}"
            )
        arrays = []
        for i, (old, new) in enumerate(zip(current, weights)):
            # converted and checked, every one, before any layer changes
            array = as_float_array(new, old.dtype, argument=f"weights[{i}]")
            if array.shape != old.shape:
                raise ValueError(
                    f"Model {self.name!r}: weight {i} must have shape "
                    f"{old.shape}, got {array.shape}"
                )
            arrays.append(array)
        start = 0
        for layer in self._weight_layers():
            n = len(layer.weights)
            layer.set_weights(arrays[start : start + n])
            start += n

    def count_params(self) -> int:
        """The number of weights (scalars) in every layer."""
        return int(sum(layer.count_params() for layer in self._weight_layers()))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model (architecture, weights, compile and optimizer state) to one file.

        Parameters
        ----------
        path : str or os.PathLike
            The file, exactly this name (no suffix is added); it appears only
            when complete. :func:`load_model` reads it.

        Raises
        ------
        ValueError
            If the model is not built (it has no weights yet).
        """
        weights = self.get_weights()
        if not (self.built or weights):
            raise ValueError(
                "save_model: the model is not built yet (it has no weights). Call it on data, "
                "fit it, or call model.build(input_shape) first"
            )
        compile_config = self.get_compile_config()
        optimizer_state = []
        if compile_config is not None and getattr(self.optimizer, "built", False):
            optimizer_state = self.optimizer.get_state()
        input_shape = self.input_shape
        header = {
            "class_name": type(self).__name__,
            "config": self.get_config(),
            "input_shape": None if input_shape is None else list(input_shape),
            "compile": compile_config,
            "rng_states": [_rng_state(layer) for layer in self.layers],
            "input_dtype": getattr(self, "_input_dtype", None),
            "num_weights": len(weights),
            "num_optimizer_arrays": len(optimizer_state),
        }
        arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
        arrays.update((f"optimizer_{i}", np.asarray(a)) for i, a in enumerate(optimizer_state))
        saving.write_archive(path, header, arrays)

    def export(self, filepath: str | os.PathLike[str], format: str = "onnx", **kwargs: Any) -> None:
        """Export the model for inference in another runtime (Keras 3's ``export``).

        Parameters
        ----------
        filepath : str or os.PathLike
            The file to write, in an existing directory (exactly this name).
        format : {"onnx"}, default "onnx"
            ``"onnx"``: an ONNX file (opset 17) that ONNX Runtime runs with
            the outputs of :meth:`predict`; see :func:`fastrnn.interop.to_onnx`
            and ``docs/onnx.md``. Needs ``pip install "fastrnn[onnx]"``.
        **kwargs
            None are accepted (the parameter is Keras's signature).

        Raises
        ------
        ValueError
            If ``format`` is not a supported one, or the model has a layer or
            option ONNX export does not support (``OnnxExportError``, naming
            it).
        TypeError
            If ``kwargs`` are given.
        """
        formats = ("onnx",)
        if not isinstance(format, str) or format not in formats:
            raise ValueError(
                f"export: unknown `format` {format!r}; supported formats: {list(formats)}"
            )
        if kwargs:
            raise TypeError(
                f"export(format={format!r}) takes no other arguments; got {sorted(kwargs)}"
            )
        from .interop import to_onnx

        to_onnx(self, filepath)

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        """Write the weights alone (Keras order) to one file; :meth:`load_weights` reads it.

        The file is a fastrnn archive (``fastrnn.saving``) of the arrays, written
        to exactly ``path``, complete or not at all.

        Raises
        ------
        ValueError
            If the model is not built (it has no weights yet).
        """
        if not self.built:
            raise ValueError(
                "save_weights: the model is not built yet (it has no weights). Call it on "
                "data, fit it, or call model.build(input_shape) first"
            )
        weights = self.get_weights()
        header = {"class_name": "weights", "num_weights": len(weights)}
        saving.write_archive(path, header, {f"weight_{i}": w for i, w in enumerate(weights)})

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Set the weights from a file of :meth:`save_weights` (or a whole-model file
        of :meth:`save`), all or none: every array is checked before any changes.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            If the file is not a fastrnn weights or model file, or its arrays do
            not fit this model's weights (count, shapes).
        """
        header, arrays = saving.read_archive(path)
        count = header.get("num_weights")
        if not _is_count(count) or count > len(arrays):
            raise saving.ModelFileError(os.fspath(path), f"damaged: `num_weights` is {count!r:.50}")
        try:
            weights = [arrays[f"weight_{i}"] for i in range(count)]
        except KeyError as exc:
            raise saving.ModelFileError(os.fspath(path), f"damaged: no array {exc}") from None
        if not self.built:
            raise ValueError(
                "load_weights: build the model first (call it on data or call "
                "model.build(input_shape)), so that its weights exist to be set"
            )
        self.set_weights(weights)


class Sequential(_ModelBase):
    """A linear stack of layers, called like a layer.

    Parameters
    ----------
    layers : iterable of Layer, optional
        The layers, first to last (see :meth:`add`).
    name : str, optional
        Default: ``"sequential"``, numbered when taken.

    Notes
    -----
    Masks flow through the stack as in Keras: ``Embedding(mask_zero=True)``
    or ``Masking`` produce one, recurrent layers consume it (and pass it on
    when they return sequences), ``Dense`` and ``Dropout`` pass it on. After
    a call, ``output_mask`` holds the mask that goes with the output.
    """

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None) -> None:
        self.name = check_name(name) if name is not None else unique_name("sequential")
        if layers is not None and (
            isinstance(layers, (str, bytes, Layer)) or not isinstance(layers, Iterable)
        ):
            kind = type(layers).__name__
            raise TypeError(f"`layers` must be a list of fastrnn layers, got {kind}: {layers!r}")
        self.layers: list[Layer] = []
        self.output_mask: np.ndarray | None = None
        self._trained_call = False
        self._input_shape: Shape | None = None
        self._input_layer: InputLayer | None = None
        for layer in layers or []:
            self.add(layer)

    # -- building ----------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer to the stack.

        The model is built as soon as its first layer knows its input shape
        (``input_shape=``, ``batch_input_shape=``, ``input_dim=``, ...).

        Raises
        ------
        TypeError
            If ``layer`` is not a fastrnn layer.
        ValueError
            If ``layer`` is in the model already, or the last layer returns a
            list of arrays (``return_state=True``, ``merge_mode=None``).
        """
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Keras 3: Sequential([Input(shape), ...])
        if isinstance(layer, InputLayer):
            if self.layers or self._input_layer is not None:
                raise ValueError(
                    "An Input (InputLayer) can only be the first entry of a Sequential model"
                )
            self._input_layer = layer
            self._input_shape = layer.batch_shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastrnn layer; got {type(layer).__name__}")
        if any(layer is existing for existing in self.layers):
            raise ValueError(f"Layer {layer.name!r} is already in the model")
        if self.layers:
            previous = self.layers[-1]
            returns_list = getattr(previous, "return_state", False) or (
                getattr(previous, "merge_mode", "concat") is None
            )
            if returns_list:
                raise ValueError(
                    f"Layer {previous.name!r} returns a list of arrays, so it "
                    f"must be the last layer of a Sequential model"
                )
        self.layers.append(layer)
        input_shape = self.layers[0]._batch_input_shape
        if self._input_layer is not None:
            input_shape = self._input_layer.batch_shape
        if input_shape is not None:
            try:
                self.build(input_shape)
            except BaseException:
                self.layers.pop()  # a layer that does not fit leaves the model as it was
                raise

    @property
    def built(self) -> bool:
        """True when every layer has its weights (and there is at least one layer)."""
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self) -> Shape | None:
        """The shape of the model's input, batch dimension first (None: any size).

        It is the shape given to :meth:`build` (or to the first layer), else
        that of the first call, with the batch dimension None; for layers
        built before they were added, what their weights tell. None while it
        is unknown.
        """
        if self._input_shape is None and self.built:
            return _input_shape_from_weights(self.layers)
        return self._input_shape

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create every layer's weights for inputs of ``input_shape``.

        Parameters
        ----------
        input_shape : sequence of int or None
            Batch dimension first, e.g. ``(None, timesteps, features)`` for a
            recurrent first layer or ``(None, timesteps)`` for an Embedding;
            None for any size.
        """
        shape = check_shape(input_shape, "input_shape", allow_zero=True)
        input_shape = shape
        for layer in self.layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if isinstance(shape, list):
                shape = shape[0]
        self._input_shape = tuple(input_shape)

    def _output_shapes(self):
        shape = self.layers[0]._batch_input_shape if self.layers else None
        if self._input_layer is not None:
            shape = self._input_layer.batch_shape
        shapes = []
        for layer in self.layers:
            if shape is None:
                shapes.append(None)
                continue
            out = layer.compute_output_shape(shape)
            shapes.append(out)
            shape = out[0] if isinstance(out, list) else out
        return shapes

    # -- calling -----------------------------------------------------------
    def __call__(
        self, x: ArrayLike, training: bool = False, mask: ArrayLike | None = None
    ) -> np.ndarray | list[np.ndarray]:
        """Run every layer in order.

        Parameters
        ----------
        x : array_like
            What the first layer takes: ``(batch, timesteps)`` token ids for
            an Embedding, ``(batch, timesteps, features)`` for a recurrent
            layer, ``(batch, features)`` for a Dense.
        training : bool, default False
            Keep what :meth:`backward` needs (and apply Dropout).
        mask : array_like of bool, optional
            ``(batch, timesteps)``, for the first layer.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            The last layer's output (a list when it returns several arrays).
        """
        out, self.output_mask = self._call_with_mask(x, training=training, mask=mask)
        return out

    def _check_dataset(self, x, argument="x"):
        """What ``fit`` and ``evaluate`` check on all of ``x`` before the first step."""
        if self.layers:
            self.layers[0]._check_dataset(x, argument)

    def _call_with_mask(self, x, training=False, mask=None):
        """``self(x)`` and the output's mask, without touching :attr:`output_mask`.

        ``fit``, ``evaluate`` and ``predict`` use this, so that calls from
        several threads on one model do not read each other's masks.
        """
        if not self.layers:
            raise ValueError("This Sequential model has no layers yet; add some first")
        inputs = x
        before = [layer._call_state() for layer in self.layers]
        try:
            for layer in self.layers:
                layer_input = x
                x = layer(layer_input, training=training, mask=mask)
                mask = layer.compute_mask(layer_input, mask)
        except BaseException:
            # A call that fails in a later layer leaves every layer as the
            # last complete call left it: backward still works for that call
            # and stateful layers keep their states.
            for layer, state in zip(self.layers, before):
                layer._restore_call_state(state)
            raise
        self._trained_call = bool(training)
        if self._input_shape is None:
            self._input_shape = (None, *np.shape(inputs)[1:])
        return x, mask

    def backward(self, dy: ArrayLike | list[ArrayLike | None]) -> np.ndarray | None:
        """Backpropagate ``dy`` (d loss / d output of the last training call).

        Parameters
        ----------
        dy : array_like or list
            Shaped like the last output (a list when the output is a list;
            None entries mean zero gradient).

        Returns
        -------
        numpy.ndarray or None
            d loss / d input, shaped like the input; None when the first layer
            is an Embedding. Afterwards :attr:`gradients` lines up with
            :attr:`trainable_weights`.
        """
        if not self._trained_call:
            raise ValueError(
                "Sequential.backward needs a preceding call with training=True; none was made"
            )
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:
                break
        return dy

    # -- weights -----------------------------------------------------------
    def _weight_layers(self) -> list[Layer]:
        return self.layers

    @property
    def gradients(self) -> list[np.ndarray]:
        """Gradients of the last backward pass, aligned with ``trainable_weights``."""
        grads = []
        for layer in self.layers:
            if layer.weights and layer.gradients is None:
                raise ValueError(
                    f"Layer {layer.name!r} has no gradients: run a training "
                    f"call and backward() first"
                )
            grads.extend(layer.gradients or [])
        return grads

    # -- description -------------------------------------------------------
    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """Print a Keras-style table: layer (type), output shape, param #.

        Parameters
        ----------
        print_fn : callable or None, default print
            Called with the table; None prints nothing.

        Returns
        -------
        str
            The table.
        """
        rows = []
        for layer, shape in zip(self.layers, self._output_shapes()):
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append((layer, shape, params, None))
        text = summary_table(self.name, rows, self.weights)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- config and saving -------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The architecture, JSON-able: the name and every layer's :func:`serialize`."""
        layers = [serialize(layer) for layer in self.layers]
        if self._input_layer is not None:
            layers.insert(0, serialize(self._input_layer))
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls: type[_SequentialT], config: Mapping[str, Any]) -> _SequentialT:
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        return cls([deserialize(c) for c in config["layers"]], name=config.get("name"))

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self.layers)}>"


def _rng_state(layer: Layer) -> dict[str, Any] | None:
    """The layer's random generator state (Dropout draws from it), JSON-able, or None."""
    rng = getattr(layer, "_rng", None)
    try:
        return rng.bit_generator.state if rng is not None else None
    except AttributeError:
        return None


def _restore_rng_states(path: str, model: Sequential, states: object) -> None:
    """Give each layer its saved generator state; a state for another bit generator
    keeps the fresh one, a damaged state for this one is a ModelFileError."""
    if not isinstance(states, list) or len(states) != len(model.layers):
        return
    for layer, state in zip(model.layers, states):
        rng = getattr(layer, "_rng", None)
        if rng is None or not isinstance(state, dict):
            continue
        if state.get("bit_generator") != type(rng.bit_generator).__name__:
            continue
        try:
            rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            why = f"the random generator state of layer {layer.name!r} is damaged: {exc}"
            raise saving.ModelFileError(path, why) from None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _checked_contents(path, header, arrays, classes):
    """The weight and optimizer arrays a model header names, after checking its fields.

    ModelFileError for a header whose fields have the wrong types or name
    arrays the archive does not hold; ValueError for a class this version
    cannot load.
    """

    def damaged(why):
        return saving.ModelFileError(path, f"damaged: {why}")

    class_name = header.get("class_name")
    if not isinstance(class_name, str) or class_name not in classes:
        hint = (
            f"; pass custom_objects={{{class_name!r}: {class_name}}} with the model's class"
            if isinstance(class_name, str) and class_name not in ("weights",)
            else ""
        )
        raise ValueError(f"{path!r}: cannot load a model of class {class_name!r:.80}{hint}")
    config = header.get("config")
    subclassed = class_name not in ("Sequential", "Model")
    if not isinstance(config, dict) or (
        not subclassed and not isinstance(config.get("layers"), list)
    ):
        raise damaged("the header's `config` is not a dict with a list of `layers`")
    if not all(isinstance(layer, dict) for layer in config.get("layers", [])):
        raise damaged("a layer description in the header is not a dict")
    input_shape = header.get("input_shape")

    def is_shape(value):
        return isinstance(value, list) and all(n is None or (_is_count(n) and n > 0) for n in value)

    if input_shape is not None and not (
        is_shape(input_shape)
        or (
            class_name == "Model"
            and isinstance(input_shape, list)
            and all(map(is_shape, input_shape))
        )
    ):
        raise damaged(f"`input_shape` {input_shape!r:.100} is not a list of positive ints or None")
    for key in ("compile", "rng_states"):
        if not isinstance(header.get(key), (dict if key == "compile" else list, type(None))):
            raise damaged(f"`{key}` has the wrong type ({type(header.get(key)).__name__})")
    counts = {key: header.get(key) for key in ("num_weights", "num_optimizer_arrays")}
    for key, count in counts.items():
        if not _is_count(count):
            raise damaged(f"`{key}` is {count!r:.50}, not a non-negative integer")
    weight_names = (f"weight_{i}" for i in range(counts["num_weights"]))
    optimizer_names = (f"optimizer_{i}" for i in range(counts["num_optimizer_arrays"]))
    if sum(counts.values()) > len(arrays):
        # Some named array is missing; the first one is among the first len + 1.
        first = next(n for n in itertools.chain(weight_names, optimizer_names) if n not in arrays)
        raise damaged(
            f"the header names {sum(counts.values())} arrays, the file holds {len(arrays)} "
            f"(no {first!r})"
        )
    names = list(itertools.chain(weight_names, optimizer_names))
    missing = [name for name in names if name not in arrays]
    if missing:
        raise damaged(f"the header names arrays the file does not hold: {missing[:5]}")
    weights = [arrays[name] for name in names[: counts["num_weights"]]]
    return weights, [arrays[name] for name in names[counts["num_weights"] :]]


def save_model(model: Sequential, path: str | os.PathLike[str]) -> None:
    """``model.save(path)``: write the model to one file (see :meth:`Sequential.save`)."""
    model.save(path)


#: What rebuilding from a crafted header can raise (a config value of the
#: wrong type, a size that overflows or does not fit): each becomes a
#: ValueError naming the file.
_REBUILD_ERRORS = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    ArithmeticError,
    MemoryError,
    RecursionError,
)


def load_model(
    path: str | os.PathLike[str],
    custom_objects: Mapping[str, type] | None = None,
    compile: bool = True,
) -> Sequential | Model:
    """Rebuild the model saved at ``path``: the same weights, compile and optimizer state.

    Predictions of the loaded model are bit-identical to the saved one's, and
    ``fit`` continues exactly where it stopped.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``save`` of a Sequential, functional or subclassed model.
    custom_objects : dict, optional
        ``{"MyModel": MyModel}``: the classes of subclassed models saved in
        the file (their code is not in the file).
    compile : bool, default True
        Restore the compile configuration and the optimizer state (when the
        model was compiled); False gives an uncompiled model.

    Returns
    -------
    Sequential or Model

    Raises
    ------
    TypeError
        If ``path`` is not a str or os.PathLike.
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a complete fastrnn model file
        (:class:`fastrnn.saving.ModelFileError`), was written by a newer
        fastrnn, or describes a model this version cannot rebuild.
    """
    if custom_objects is not None and not isinstance(custom_objects, Mapping):
        raise TypeError(
            f"`custom_objects` must be a dict of class name -> class, got {custom_objects!r:.80}"
        )
    header, arrays = saving.read_archive(path)
    path = os.fspath(path)
    classes = {"Sequential": Sequential, "Model": Model}
    for name, cls in (custom_objects or {}).items():
        if isinstance(cls, type) and issubclass(cls, Model):
            classes[name] = cls
    weights, optimizer_state = _checked_contents(path, header, arrays, classes)
    cls = classes[header["class_name"]]
    input_shape = header.get("input_shape")
    try:
        if cls is Sequential or cls is Model:
            # Every layer takes its weights from the file as it builds, each
            # declared shape checked before anything is allocated.
            with weights_from(weights):
                model = cls.from_config(header["config"])
                if not model.built:
                    if input_shape is None:
                        raise ValueError("the file does not record an input shape to build with")
                    model.build(tuple(input_shape))
        else:
            # A subclass builds its layers in the order its call() runs them,
            # which need not be the order of its weights: built, then set.
            model = cls.from_config(header["config"])
            if input_shape is None:
                raise ValueError("the file does not record an input shape to build with")
            model.build(tuple(input_shape), header.get("input_dtype"))
            model.set_weights(weights)
    except _REBUILD_ERRORS as exc:
        raise ValueError(f"{path!r}: could not rebuild the saved model: {exc}") from None
    _restore_rng_states(path, model, header.get("rng_states"))
    if input_shape and cls is Sequential:
        model._input_shape = tuple(input_shape)

    compile_config = header.get("compile")
    if compile and compile_config is not None:
        try:
            model.compile_from_config(compile_config)
            if optimizer_state:
                model.optimizer.build(model.trainable_weights)
                model.optimizer.set_state(optimizer_state)
        except _REBUILD_ERRORS as exc:
            raise ValueError(
                f"{path!r}: could not restore the training configuration: {exc}"
            ) from None
    return model


from .functional import Model  # noqa: E402 -- functional.py builds on the classes above
