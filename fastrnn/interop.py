"""Move recurrent models between fastrnn, PyTorch, Keras and ONNX.

fastrnn uses Keras's weight layout, so Keras needs no conversion at all;
PyTorch needs transposes, gate reordering and bias folding:

==========  ====================  ==============================================
cell        PyTorch gates         to Keras
==========  ====================  ==============================================
RNN         (one)                 kernel = W_ih^T, recurrent = W_hh^T,
                                  bias = b_ih + b_hh
LSTM        i, f, g, o            the same order as Keras's i, f, c, o; as RNN
GRU         r, z, n               reorder to z, r, h; the two biases become the
                                  (2, 3*units) bias of ``reset_after=True``
==========  ====================  ==============================================

torch and keras are optional: they are imported only inside these
functions, which say clearly when they are missing. So is onnx, which
:func:`to_onnx` needs (``pip install "fastrnn[onnx]"``); the graph building
is in :mod:`fastrnn.onnx_export`.
"""

import numpy as np

__all__ = ["from_torch", "to_torch", "from_keras", "to_onnx"]


def _require(module_name, purpose):
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs {module_name!r}, which is not installed "
            f"({exc}). Install it, e.g. `pip install torch==2.13.0` or "
            f"`pip install tensorflow-cpu`."
        ) from None


def _gru_torch_to_keras(blocks):
    """Reorder PyTorch's GRU gate blocks (r, z, n) to Keras's (z, r, h)."""
    r, z, n = np.split(blocks, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _gru_keras_to_torch(blocks):
    z, r, h = np.split(blocks, 3, axis=0)
    return np.concatenate([r, z, h], axis=0)


def from_torch(module, dtype="float32"):
    """Convert ``torch.nn.RNN``, ``LSTM`` or ``GRU`` to a fastrnn ``Sequential``.

    Any ``num_layers`` (stacked layers returning sequences) and
    ``bidirectional`` (a ``Bidirectional`` with ``merge_mode="concat"``, as
    PyTorch concatenates the directions). The model takes batch-major input
    ``(batch, timesteps, features)`` and returns the sequence output
    ``(batch, timesteps, units * directions)``, equal to PyTorch's
    ``module(x)[0]`` (with ``batch_first=False``, transpose the first two
    axes of PyTorch's input and output).
    """
    torch = _require("torch", "fastrnn.interop.from_torch")
    from .layers import GRU, LSTM, Bidirectional, SimpleRNN
    from .models import Sequential

    kinds = {torch.nn.LSTM: "LSTM", torch.nn.GRU: "GRU", torch.nn.RNN: "RNN"}
    kind = kinds.get(type(module))
    if kind is None:
        raise TypeError(f"`module` must be torch.nn.RNN, LSTM or GRU; got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 has no Keras/fastrnn equivalent")
    units = module.hidden_size
    params = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in module.named_parameters()}

    def make_layer(layer_index, suffix):
        w_ih = params[f"weight_ih_l{layer_index}{suffix}"]
        w_hh = params[f"weight_hh_l{layer_index}{suffix}"]
        b_ih = params.get(f"bias_ih_l{layer_index}{suffix}")
        b_hh = params.get(f"bias_hh_l{layer_index}{suffix}")
        common = dict(return_sequences=True, dtype=dtype, use_bias=module.bias)
        if kind == "GRU":
            layer = GRU(units, reset_after=True, **common)
            weights = [_gru_torch_to_keras(w_ih).T, _gru_torch_to_keras(w_hh).T]
            if module.bias:
                weights.append(np.stack([_gru_torch_to_keras(b_ih), _gru_torch_to_keras(b_hh)]))
        else:
            if kind == "LSTM":
                layer = LSTM(units, **common)
            else:
                layer = SimpleRNN(units, activation=module.nonlinearity, **common)
            weights = [w_ih.T, w_hh.T] + ([b_ih + b_hh] if module.bias else [])
        layer.build((None, None, w_ih.shape[1]))
        layer.set_weights(weights)
        return layer

    model = Sequential()
    for k in range(module.num_layers):
        forward = make_layer(k, "")
        if module.bidirectional:
            wrapper = Bidirectional(forward, merge_mode="concat")
            wrapper.build((None, None, forward.input_dim))
            wrapper.forward_layer.set_weights(forward.get_weights())
            wrapper.backward_layer.set_weights(make_layer(k, "_reverse").get_weights())
            model.add(wrapper)
        else:
            model.add(forward)
    return model


def _recurrent_layers(layer_or_model):
    from .layers import Bidirectional, RNNBase
    from .models import Sequential

    items = layer_or_model.layers if isinstance(layer_or_model, Sequential) else [layer_or_model]
    if not items or not all(isinstance(i, (RNNBase, Bidirectional)) for i in items):
        raise TypeError(
            "to_torch converts a SimpleRNN, LSTM, GRU or Bidirectional layer, or "
            "a Sequential made only of such layers"
        )
    return items


def to_torch(layer_or_model):
    """Convert a fastrnn recurrent layer (or a stack of them) to a PyTorch module.

    Returns ``torch.nn.RNN``, ``LSTM`` or ``GRU`` with ``batch_first=True``
    whose ``module(x)[0]`` equals the fastrnn output with
    ``return_sequences=True``. All layers must be of one cell type and size;
    GRU needs ``reset_after=True``; SimpleRNN needs tanh or relu; LSTM and
    GRU need the default activations.
    """
    torch = _require("torch", "fastrnn.interop.to_torch")
    from .layers import GRU, LSTM, Bidirectional, SimpleRNN

    items = _recurrent_layers(layer_or_model)
    bidirectional = isinstance(items[0], Bidirectional)
    first = items[0].forward_layer if bidirectional else items[0]
    cls, units = type(first), first.units
    for item in items:
        if isinstance(item, Bidirectional) != bidirectional:
            raise ValueError("to_torch: mix of Bidirectional and plain layers")
        if isinstance(item, Bidirectional) and item.merge_mode != "concat":
            raise ValueError(
                "to_torch: PyTorch concatenates directions; merge_mode must be "
                f"'concat', got {item.merge_mode!r}"
            )
        subs = [item.forward_layer, item.backward_layer] if bidirectional else [item]
        for sub in subs:
            if type(sub) is not cls or sub.units != units or not sub.built:
                raise ValueError(
                    "to_torch: every layer must be a built layer of one type and one `units`"
                )
            if isinstance(sub, GRU) and not sub.reset_after:
                raise ValueError("to_torch: PyTorch's GRU is Keras's reset_after=True")
            if isinstance(sub, (LSTM, GRU)) and (sub.activation, sub.recurrent_activation) != (
                "tanh",
                "sigmoid",
            ):
                raise ValueError("to_torch: PyTorch's LSTM/GRU use tanh and sigmoid")
            if isinstance(sub, SimpleRNN) and sub.activation not in ("tanh", "relu"):
                raise ValueError("to_torch: PyTorch's RNN supports tanh or relu activations")
    use_bias = first.use_bias
    kwargs = dict(
        input_size=first.input_dim,
        hidden_size=units,
        num_layers=len(items),
        bias=use_bias,
        batch_first=True,
        bidirectional=bidirectional,
    )
    if cls is LSTM:
        module = torch.nn.LSTM(**kwargs)
    elif cls is GRU:
        module = torch.nn.GRU(**kwargs)
    else:
        module = torch.nn.RNN(nonlinearity=first.activation, **kwargs)
    if first.dtype == "float64":
        module = module.double()
    params = dict(module.named_parameters())

    def put(name, value):
        params[name].data.copy_(
            torch.as_tensor(np.ascontiguousarray(value), dtype=params[name].dtype)
        )

    for k, item in enumerate(items):
        subs = (
            [(item.forward_layer, ""), (item.backward_layer, "_reverse")]
            if bidirectional
            else [(item, "")]
        )
        for sub, suffix in subs:
            kernel, recurrent = (
                sub.kernel.astype(np.float64),
                sub.recurrent_kernel.astype(np.float64),
            )
            if cls is GRU:
                put(f"weight_ih_l{k}{suffix}", _gru_keras_to_torch(kernel.T))
                put(f"weight_hh_l{k}{suffix}", _gru_keras_to_torch(recurrent.T))
                if use_bias:
                    put(f"bias_ih_l{k}{suffix}", _gru_keras_to_torch(sub.bias[0]))
                    put(f"bias_hh_l{k}{suffix}", _gru_keras_to_torch(sub.bias[1]))
            else:
                put(f"weight_ih_l{k}{suffix}", kernel.T)
                put(f"weight_hh_l{k}{suffix}", recurrent.T)
                if use_bias:
                    put(f"bias_ih_l{k}{suffix}", sub.bias)
                    put(f"bias_hh_l{k}{suffix}", np.zeros_like(sub.bias))
    return module


_KERAS_ARGS = {
    "SimpleRNN": (
        "units",
        "activation",
        "use_bias",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "dropout",
        "recurrent_dropout",
    ),
    "LSTM": (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "unit_forget_bias",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "dropout",
        "recurrent_dropout",
    ),
    "GRU": (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "reset_after",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "dropout",
        "recurrent_dropout",
    ),
    "Dense": ("units", "activation", "use_bias"),
    "Embedding": ("input_dim", "output_dim", "mask_zero"),
    "Dropout": ("rate",),
    "Masking": ("mask_value",),
}


def from_keras(keras_model_or_layer, dtype="float32"):
    """Convert a Keras 3 ``Sequential`` or layer to fastrnn, weights included.

    Supported layers: SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense,
    Dropout, Masking (and ``InputLayer``, which is dropped). The weights are
    copied as they are: the layouts are the same.
    """
    keras = _require("keras", "fastrnn.interop.from_keras")
    from . import layers as fl
    from .models import Sequential

    def convert(layer):
        name = type(layer).__name__
        if name == "Bidirectional":
            forward = convert(layer.forward_layer)
            backward = convert(layer.backward_layer)
            wrapper = fl.Bidirectional(
                forward, merge_mode=layer.merge_mode, backward_layer=backward
            )
            if layer.built:
                wrapper.build(
                    tuple(
                        layer.forward_layer.input_shape
                        if hasattr(layer.forward_layer, "input_shape")
                        else (None, None, forward.input_dim)
                    )
                )
                wrapper.set_weights([np.asarray(w) for w in layer.get_weights()])
            return wrapper
        if name not in _KERAS_ARGS:
            raise TypeError(
                f"from_keras: no fastrnn equivalent for Keras layer {name!r}; "
                f"supported: {sorted(_KERAS_ARGS) + ['Bidirectional']}"
            )
        config = layer.get_config()
        kwargs = {k: config[k] for k in _KERAS_ARGS[name] if k in config}
        for key in ("activation", "recurrent_activation"):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = kwargs[key].get("config", {}).get("name", kwargs[key])
        if name not in ("Dropout", "Masking"):
            kwargs["dtype"] = dtype
        new = getattr(fl, name)(**kwargs)
        weights = [np.asarray(w) for w in layer.get_weights()]
        if weights:
            if name in ("SimpleRNN", "LSTM", "GRU"):
                new.build((None, None, weights[0].shape[0]))
            elif name == "Dense":
                new.build((None, weights[0].shape[0]))
            new.set_weights(weights)
        return new

    if isinstance(keras_model_or_layer, keras.Sequential):
        return Sequential(
            [
                convert(layer)
                for layer in keras_model_or_layer.layers
                if type(layer).__name__ != "InputLayer"
            ]
        )
    return convert(keras_model_or_layer)


def to_onnx(model, filepath=None):
    """Export a ``Sequential`` or functional ``Model`` to an ONNX file.

    The same as ``model.export(filepath, format="onnx")``; ONNX Runtime runs
    the file with the outputs of ``model.predict``. See
    :func:`fastrnn.onnx_export.to_onnx` (what is supported, the names of the
    graph's inputs and outputs, the errors) and ``docs/onnx.md``.

    Parameters
    ----------
    model : Sequential or functional Model
    filepath : str or os.PathLike, optional
        The file to write; None writes nothing.

    Returns
    -------
    onnx.ModelProto
    """
    from .onnx_export import to_onnx as export

    return export(model, filepath)
