"""Sequential models: a stack of layers, a forward pass and its backward pass.

    from fastrnn.models import Sequential
    from fastrnn.layers import Embedding, SimpleRNN, Dense

    model = Sequential([Embedding(5000, 100, input_length=30), SimpleRNN(128),
                        Dense(1, activation="sigmoid")])
    model.summary()

Training (``compile``, ``fit``, ``evaluate``, ``predict``) comes from
:class:`fastrnn.training.TrainingMixin`; saving from :mod:`fastrnn.saving`.
"""
import numpy as np

from . import saving
from .layers import Layer, deserialize, serialize
from .layers.base import unique_name
from .training import TrainingMixin

__all__ = ["Sequential", "load_model"]

load_model = saving.load_model


def _shape_str(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_str(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(
        shape) == 1 else "") + ")"


class Sequential(TrainingMixin):
    """A linear stack of layers, called like a layer.

    Parameters
    ----------
    layers : list of Layer, optional
    name : str, optional

    Masks flow through the stack as in Keras: ``Embedding(mask_zero=True)``
    or ``Masking`` produce one, recurrent layers consume it (and pass it on
    when they return sequences), ``Dense`` and ``Dropout`` pass it on. After
    a call, ``output_mask`` holds the mask that goes with the output.
    """

    def __init__(self, layers=None, name=None):
        self.name = name if name is not None else unique_name("sequential")
        self.layers = []
        self.output_mask = None
        self._trained_call = False
        for layer in layers or []:
            self.add(layer)

    # -- building ----------------------------------------------------------
    def add(self, layer):
        """Append a layer to the stack."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastrnn layer; got "
                            f"{type(layer).__name__}")
        if any(layer is existing for existing in self.layers):
            raise ValueError(f"Layer {layer.name!r} is already in the model")
        if self.layers:
            previous = self.layers[-1]
            if getattr(previous, "return_state", False) or getattr(previous, "merge_mode",
                                                                   "concat") is None:
                raise ValueError(f"Layer {previous.name!r} returns a list of arrays, so it "
                                 f"must be the last layer of a Sequential model")
        self.layers.append(layer)
        input_shape = self.layers[0]._batch_input_shape
        if input_shape is not None:
            self.build(input_shape)

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def build(self, input_shape):
        """Create every layer's weights for inputs of ``input_shape`` (batch may be None)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if isinstance(shape, list):
                shape = shape[0]

    def _output_shapes(self):
        shape = self.layers[0]._batch_input_shape if self.layers else None
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
    def __call__(self, x, training=False, mask=None):
        """Run every layer in order; returns the last layer's output."""
        if not self.layers:
            raise ValueError("This Sequential model has no layers yet; add some first")
        for layer in self.layers:
            inputs = x
            x = layer(inputs, training=training, mask=mask)
            mask = layer.compute_mask(inputs, mask)
        self.output_mask = mask
        self._trained_call = bool(training)
        return x

    def backward(self, dy):
        """Backpropagate ``dy`` (d loss / d output of the last training call).

        Returns d loss / d input (None when the first layer is an Embedding);
        afterwards ``gradients`` lines up with ``trainable_weights``.
        """
        if not self._trained_call:
            raise ValueError("Sequential.backward needs a preceding call with "
                             "training=True; none was made")
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:
                break
        return dy

    # -- weights -----------------------------------------------------------
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        """The live weight arrays of every layer, in order (update in place)."""
        return self.weights

    @property
    def gradients(self):
        """Gradients of the last backward pass, aligned with ``trainable_weights``."""
        grads = []
        for layer in self.layers:
            if layer.weights and layer.gradients is None:
                raise ValueError(f"Layer {layer.name!r} has no gradients: run a training "
                                 f"call and backward() first")
            grads.extend(layer.gradients or [])
        return grads

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every layer's weights from one flat list (checked before any change)."""
        current = self.weights
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise TypeError(f"`weights` must be a list of {len(current)} arrays")
        if len(weights) != len(current):
            raise ValueError(f"Model {self.name!r} expects {len(current)} weights, got "
                             f"{len(weights)}")
        for i, (old, new) in enumerate(zip(current, weights)):
            shape = np.shape(new)
            if tuple(shape) != old.shape:
                raise ValueError(f"Model {self.name!r}: weight {i} must have shape "
                                 f"{old.shape}, got {tuple(shape)}")
        start = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(list(weights[start:start + n]))
            start += n

    def count_params(self):
        return int(sum(layer.count_params() for layer in self.layers))

    # -- description -------------------------------------------------------
    def summary(self, print_fn=print):
        """Print a Keras-style table: layer (type), output shape, param #."""
        widths = (33, 24, 15)
        shapes = self._output_shapes()

        def row(cells, left="│", mid="│", right="│"):
            text = [f" {cells[0]:<{widths[0] - 1}}", f" {cells[1]:<{widths[1] - 1}}",
                    f"{cells[2]:>{widths[2] - 1}} "]
            return left + mid.join(text) + right

        def rule(left, mid, right, fill):
            return left + mid.join(fill * w for w in widths) + right

        lines = [f'Model: "{self.name}"', rule("┏", "┳", "┓", "━"),
                 row(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
                 rule("┡", "╇", "┩", "━")]
        total = 0
        for i, (layer, shape) in enumerate(zip(self.layers, shapes)):
            params = layer.count_params() if layer.built else None
            total += params or 0
            lines.append(row((f"{layer.name} ({type(layer).__name__})",
                              "?" if shape is None else _shape_str(shape),
                              f"{params:,}" if params is not None else "0 (unbuilt)")))
            if i < len(self.layers) - 1:
                lines.append(rule("├", "┼", "┤", "─"))
        lines.append(rule("└", "┴", "┘", "─"))
        nbytes = sum(w.nbytes for w in self.weights)
        size = f"{nbytes:.2f} B" if nbytes < 1024 else (
            f"{nbytes / 1024:.2f} KB" if nbytes < 1024 ** 2 else f"{nbytes / 1024 ** 2:.2f} MB")
        lines += [f" Total params: {total:,} ({size})",
                  f" Trainable params: {total:,} ({size})",
                  " Non-trainable params: 0 (0.00 B)"]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- config and saving -------------------------------------------------
    def get_config(self):
        return {"name": self.name, "layers": [serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config):
        return cls([deserialize(c) for c in config["layers"]], name=config.get("name"))

    def save(self, path):
        """Write the model (architecture, weights, training state) to one file."""
        saving.save_model(self, path)

    def __repr__(self):
        return f"<Sequential name={self.name!r} layers={len(self.layers)}>"
