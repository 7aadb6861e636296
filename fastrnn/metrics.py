"""Metrics for ``compile(metrics=[...])``, Keras semantics, mask-aware.

A metric accumulates over an epoch: ``update_state(y_true, y_pred, mask)``,
``result()``, ``reset_state()``. Each position (sample, or sample and time
step for 3-D outputs) counts once; masked steps do not count.

``"accuracy"`` (or ``"acc"``) resolves like Keras 3 does, from the loss and
the output shape: binary accuracy (threshold 0.5) for ``binary_crossentropy``
or a single-unit output, sparse categorical accuracy when the labels are
integer classes (``sparse_categorical_crossentropy``), categorical accuracy
(argmax match) otherwise. The history key stays ``"accuracy"``.
"""

import numpy as np

from .losses import _as_float_array, position_sample_weights

__all__ = [
    "Metric",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "get",
    "METRIC_NAMES",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
]


def _position_weights(pos_shape, mask):
    if mask is not None and len(pos_shape) == 2:
        m = np.asarray(mask).astype(bool)
        if m.shape != tuple(pos_shape):
            raise ValueError(f"mask must have shape {tuple(pos_shape)}, got {m.shape}")
        return m.astype(np.float64)
    return np.ones(pos_shape, dtype=np.float64)


def _match_same_shape(y_true, y_pred):
    y_true = _as_float_array(y_true, "y (labels)")
    y_pred = _as_float_array(y_pred, "y_pred")
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.shape == y_pred.shape[:-1] and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y (labels) shape {y_true.shape} does not match output shape {y_pred.shape}"
        )
    return y_true, y_pred


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-position accuracy: mean over the last axis of ``(y_pred > threshold) == y_true``."""
    y_true, y_pred = _match_same_shape(y_true, y_pred)
    return np.mean((y_pred > threshold).astype(np.float64) == y_true.astype(np.float64), axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = _match_same_shape(y_true, y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true = _as_float_array(y_true, "y (labels)")
    y_pred = _as_float_array(y_pred, "y_pred")
    if y_true.shape == y_pred.shape[:-1] + (1,) and y_true.shape != y_pred.shape[:-1]:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"y (labels) shape {y_true.shape} does not fit output shape {y_pred.shape} for "
            f"sparse categorical accuracy: expected {y_pred.shape[:-1]}"
        )
    return (np.argmax(y_pred, axis=-1) == y_true.astype(np.int64)).astype(np.float64)


def _mse(y_true, y_pred):
    y_true, y_pred = _match_same_shape(y_true, y_pred)
    return np.mean((y_pred.astype(np.float64) - y_true) ** 2, axis=-1)


def _mae(y_true, y_pred):
    y_true, y_pred = _match_same_shape(y_true, y_pred)
    return np.mean(np.abs(y_pred.astype(np.float64) - y_true), axis=-1)


class Metric:
    """A running, position-weighted mean of a per-position function."""

    name = "metric"
    _fn = None

    def __init__(self, name=None):
        if name is not None:
            self.name = name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, mask=None, sample_weight=None):
        """Add a batch: its values weighted by the mask and ``sample_weight``."""
        values = type(self)._fn(y_true, y_pred)
        w = _position_weights(values.shape, mask)
        sw = position_sample_weights(sample_weight, values.shape)
        if sw is not None:
            w = w * sw
        self.total += float(np.sum(values * w))
        self.count += float(np.sum(w))

    def result(self):
        return self.total / self.count if self.count else 0.0

    def __call__(self, y_true, y_pred, mask=None):
        """One-off value on a batch (does not touch the running state)."""
        values = type(self)._fn(y_true, y_pred)
        w = _position_weights(values.shape, mask)
        s = float(np.sum(w))
        return float(np.sum(values * w) / s) if s else 0.0

    def get_config(self):
        return {"class_name": type(self).__name__, "name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class BinaryAccuracy(Metric):
    name = "binary_accuracy"
    _fn = staticmethod(binary_accuracy)


class CategoricalAccuracy(Metric):
    name = "categorical_accuracy"
    _fn = staticmethod(categorical_accuracy)


class SparseCategoricalAccuracy(Metric):
    name = "sparse_categorical_accuracy"
    _fn = staticmethod(sparse_categorical_accuracy)


class MeanSquaredError(Metric):
    name = "mse"
    _fn = staticmethod(_mse)


class MeanAbsoluteError(Metric):
    name = "mae"
    _fn = staticmethod(_mae)


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
}
_CLASSES = {c.__name__: c for c in set(_BY_NAME.values())}

#: Names accepted by ``compile(metrics=[...])``.
METRIC_NAMES = ("accuracy", "acc") + tuple(_BY_NAME)


def resolve_accuracy(loss_name, y_true_shape, y_pred_shape):
    """The accuracy class Keras 3 would pick for ``"accuracy"``."""
    y_pred_shape = tuple(y_pred_shape)
    y_true_shape = tuple(y_true_shape)
    if loss_name == "binary_crossentropy" or (y_pred_shape and y_pred_shape[-1] == 1):
        return BinaryAccuracy
    if (
        loss_name == "sparse_categorical_crossentropy"
        or len(y_true_shape) < len(y_pred_shape)
        or (y_true_shape and y_true_shape[-1] == 1 and y_pred_shape[-1] != 1)
    ):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def check_name(identifier):
    """Validate a metric identifier given to ``compile`` (resolution happens later)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in METRIC_NAMES:
            return identifier
        raise ValueError(
            f"Unknown metric: metrics entry {identifier!r}. Valid names: {', '.join(METRIC_NAMES)} "
            f"(or a fastrnn.metrics.Metric instance)"
        )
    raise TypeError(
        f"each entry of metrics must be a name ({', '.join(METRIC_NAMES)}) or a "
        f"fastrnn.metrics.Metric instance, got {type(identifier).__name__}: {identifier!r}"
    )


def get(identifier, loss_name=None, y_true_shape=(), y_pred_shape=()):
    """A fresh metric object; ``"accuracy"`` resolves from the loss and shapes."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown metric config: {identifier!r}")
        return cls(name=identifier.get("name"))
    check_name(identifier)
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        cls = resolve_accuracy(loss_name, y_true_shape, y_pred_shape)
        return cls(name=identifier)
    return _BY_NAME[key](name=identifier)
