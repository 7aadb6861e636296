"""Saving and loading whole models in one file, without pickle.

The file is a NumPy ``.npz`` archive (written to exactly the path given; no
suffix is added) holding:

* ``__fastrnn__``: a JSON string with the format name and version, the
  architecture (``model.get_config()``), the input shape to build with, the
  compile configuration (optimizer, loss, metrics), each layer's random
  generator state (so Dropout continues the same random stream) and the
  array counts;
* ``weight_0 .. weight_{n-1}``: the model's weights (``get_weights()`` order);
* ``optimizer_0 ..``: the optimizer state (iteration count, then slots).

``load_model`` reads it with ``allow_pickle=False``, rebuilds the model,
sets the weights (bit-identical predictions), and restores the compile and
optimizer state, so ``fit`` continues exactly where it stopped. A missing
file raises ``FileNotFoundError``; anything that is not a complete fastrnn
model file raises ``ValueError`` saying so.
"""
import io
import json
import os
import tempfile

import numpy as np

__all__ = ["save_model", "load_model", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "fastrnn.model"
FORMAT_VERSION = 1
_HEADER = "__fastrnn__"


def _infer_input_shape(model):
    """The input shape to rebuild the model with, or None if it is not built."""
    shape = getattr(model, "_fastrnn_input_shape", None)
    if shape is not None:
        return list(shape)
    layers = getattr(model, "layers", [])
    if layers and getattr(layers[0], "_batch_input_shape", None) is not None:
        return list(layers[0]._batch_input_shape)
    for layer in layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kind = type(layer).__name__
        if kind == "Embedding":
            return [None, None]
        if kind == "Dense":
            return [None, int(weights[0].shape[0])]
        return [None, None, int(weights[0].shape[0])]
    return None


def _rng_state(layer):
    """The layer's random generator state (Dropout draws from it), JSON-able, or None."""
    rng = getattr(layer, "_rng", None)
    try:
        return rng.bit_generator.state if rng is not None else None
    except AttributeError:
        return None


def _restore_rng_states(model, states):
    if not isinstance(states, list) or len(states) != len(model.layers):
        return
    for layer, state in zip(model.layers, states):
        rng = getattr(layer, "_rng", None)
        if rng is None or not isinstance(state, dict):
            continue
        try:
            rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError):
            pass  # another bit generator: keep the fresh one


def _build(model, shape):
    """``model.build(shape)``; if some layer cannot build from a shape, call it on dummy input."""
    try:
        model.build(shape)
        return
    except (AttributeError, NotImplementedError, TypeError):
        pass
    dims = [1 if d is None else int(d) for d in shape]
    dtype = "int64" if type(model.layers[0]).__name__ == "Embedding" else "float64"
    model(np.zeros(dims, dtype=dtype), training=False)


def _path_str(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    return os.fspath(path)


def save_model(model, path):
    """Write ``model`` (architecture, weights, compile and optimizer state) to ``path``."""
    path = _path_str(path)
    if not (getattr(model, "built", False) or model.get_weights()):
        raise ValueError(
            "save_model: the model is not built yet (it has no weights). Call it on data, fit it, "
            "or call model.build(input_shape) first")
    weights = model.get_weights()
    compile_config = model._compile_config() if hasattr(model, "_compile_config") else None
    optimizer_state = []
    if compile_config is not None and getattr(model.optimizer, "built", False):
        optimizer_state = model.optimizer.get_state()
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "input_shape": _infer_input_shape(model),
        "compile": compile_config,
        "rng_states": [_rng_state(layer) for layer in getattr(model, "layers", [])],
        "num_weights": len(weights),
        "num_optimizer_arrays": len(optimizer_state),
    }
    try:
        header_json = json.dumps(header)
    except TypeError as exc:
        raise ValueError(f"save_model: the model config is not JSON-serialisable: {exc}") from None
    arrays = {_HEADER: np.array(header_json)}
    arrays.update((f"weight_{i}", np.asarray(w)) for i, w in enumerate(weights))
    arrays.update((f"optimizer_{i}", np.asarray(a)) for i, a in enumerate(optimizer_state))

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_model: directory does not exist: {directory!r}")
    # Write to a temporary file next to the target, then rename: a crash never
    # leaves a half-written model file under the real name.
    fd, tmp = tempfile.mkstemp(prefix=".fastrnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _not_ours(path, why):
    return ValueError(f"{path!r} is not a fastrnn model file ({why})")


def _read(path):
    """Header dict and arrays of a model file, or ValueError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise _not_ours(path, "it is a directory") from None
    if not data.startswith(b"PK"):
        raise _not_ours(path, "not a model archive")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = set(npz.files)
            if _HEADER not in names:
                raise _not_ours(path, "no fastrnn header")
            header = json.loads(str(npz[_HEADER][()]))
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise _not_ours(path, "unknown format")
            nw = int(header["num_weights"])
            no = int(header["num_optimizer_arrays"])
            weights = [npz[f"weight_{i}"] for i in range(nw)]
            opt = [npz[f"optimizer_{i}"] for i in range(no)]
    except Exception as exc:  # zipfile, zlib, json, numpy format errors: all mean "not ours"
        if isinstance(exc, ValueError) and str(exc).startswith(repr(path)):
            raise
        raise _not_ours(path, f"damaged or truncated: {type(exc).__name__}: {exc}") from None
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by a newer fastrnn (format version {version}); "
                         f"this version reads up to {FORMAT_VERSION}")
    return header, weights, opt


def load_model(path, compile=True):
    """Rebuild the model saved at ``path``: same weights, compile and optimizer state."""
    path = _path_str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    header, weights, opt_state = _read(path)
    from .models import Sequential  # late import: models imports this module

    if header.get("class_name") != "Sequential":
        raise ValueError(f"{path!r}: cannot load a model of class {header.get('class_name')!r}")
    try:
        model = Sequential.from_config(header["config"])
        if not model.built:
            shape = header.get("input_shape")
            if shape is None:
                raise ValueError("the file does not record an input shape to build with")
            _build(model, tuple(shape))
        model.set_weights(weights)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: could not rebuild the saved model: {exc}") from None
    _restore_rng_states(model, header.get("rng_states"))
    if shape_hint := header.get("input_shape"):
        model._fastrnn_input_shape = tuple(shape_hint)

    compile_config = header.get("compile")
    if compile and compile_config is not None:
        from . import losses, metrics, optimizers

        try:
            optimizer = optimizers.deserialize(compile_config["optimizer"])
            loss = losses.deserialize(compile_config["loss"]) if compile_config["loss"] else None
            metric_ids = [m if isinstance(m, str) else metrics.get(m) for m in compile_config["metrics"]]
            model.compile(optimizer=optimizer, loss=loss, metrics=metric_ids)
            if opt_state:
                optimizer.build(model.trainable_weights)
                optimizer.set_state(opt_state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r}: could not restore the training configuration: {exc}") from None
    return model
