"""Loss functions with their gradients, Keras semantics.

Every loss reduces the same way Keras 3 does with the default
``"sum_over_batch_size"`` reduction:

* the per-element loss is first reduced over the last axis (mean for
  ``mse`` / ``binary_crossentropy``, sum for the categorical losses), giving
  one value per *position*: per sample for 2-D outputs ``(batch, units)``,
  per (sample, time step) for 3-D outputs ``(batch, timesteps, units)``;
* the result is the mean over positions. With a ``(batch, timesteps)``
  boolean ``mask`` (what ``Embedding(mask_zero=True)`` produces for per-token
  outputs) masked steps count zero and the mean is over the valid steps only.

``loss(y_true, y_pred, mask=None, sample_weight=None)`` returns the value;
``loss.value_and_grad(y_true, y_pred, mask=None, sample_weight=None)`` also
returns d(value)/d(y_pred), shaped and typed like ``y_pred``. A
``sample_weight`` (one per sample, or one per (sample, step)) multiplies each
position's loss before the mean, which it does not rescale (Keras 3).

Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` exactly as Keras does.
The gradient is taken with the clipped values in place of the raw ones
(straight through the clip), so a saturated sigmoid/softmax output still
gets a finite, non-zero gradient pointing the right way instead of a dead
zero; inside the clip range it is the exact derivative.
"""

import numpy as np

EPSILON = 1e-7

__all__ = [
    "Loss",
    "MeanSquaredError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "get",
    "serialize",
    "deserialize",
    "LOSS_NAMES",
]


def _shape(a):
    return tuple(int(s) for s in np.shape(a))


def _as_float_array(a, name):
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like, got {type(a).__name__}: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def position_sample_weights(sample_weight, pos_shape):
    """``sample_weight`` (one per sample, or one per position) broadcast to the
    positions ``pos_shape`` (``(batch,)`` or ``(batch, timesteps)``), or None."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.shape == tuple(pos_shape):
        return sw
    if sw.shape == tuple(pos_shape[:1]):
        return sw.reshape(sw.shape + (1,) * (len(pos_shape) - 1))
    raise ValueError(
        f"sample_weight must have shape {tuple(pos_shape[:1])} (one weight per sample)"
        + (f" or {tuple(pos_shape)} (one per time step)" if len(pos_shape) > 1 else "")
        + f"; got shape {sw.shape}"
    )


def _reduction_weights(pos_shape, mask, sample_weight=None):
    """Weights over positions so that sum(weights * per_position) is the Keras mean.

    As in Keras 3's ``"sum_over_batch_size"``: the mean over the (valid)
    positions of ``sample_weight * loss``; the weights do not rescale it.
    """
    base = _unweighted_reduction_weights(pos_shape, mask)
    sw = position_sample_weights(sample_weight, pos_shape)
    return base if sw is None else base * sw


def _unweighted_reduction_weights(pos_shape, mask):
    if mask is not None and len(pos_shape) == 2:
        m = np.asarray(mask)
        if _shape(m) != tuple(pos_shape):
            raise ValueError(
                f"mask must have shape (batch, timesteps) = {tuple(pos_shape)} to match the "
                f"output, got shape {_shape(m)}"
            )
        m = m.astype(bool)
        valid = int(m.sum())
        if valid == 0:
            return np.zeros(pos_shape, dtype=np.float64)
        return m.astype(np.float64) / valid
    n = int(np.prod(pos_shape)) if len(pos_shape) else 1
    if n == 0:
        return np.zeros(pos_shape, dtype=np.float64)
    return np.full(pos_shape, 1.0 / n)


class Loss:
    """Base class. Subclasses implement ``_check_labels`` and ``_elementwise``."""

    name = "loss"
    _checks_values = False  # only the sparse loss validates label values

    def __init__(self, from_logits=False):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits must be a bool, got {from_logits!r}")
        self.from_logits = bool(from_logits)

    # --- public API -----------------------------------------------------
    def __call__(self, y_true, y_pred, mask=None, sample_weight=None):
        return self.value_and_grad(
            y_true, y_pred, mask, need_grad=False, sample_weight=sample_weight
        )[0]

    def value_and_grad(self, y_true, y_pred, mask=None, need_grad=True, sample_weight=None):
        y_pred = _as_float_array(y_pred, "y_pred")
        if y_pred.ndim == 0:
            raise ValueError(
                f"y_pred must have a batch axis, got a scalar (shape {_shape(y_pred)})"
            )
        squeeze = y_pred.ndim == 1
        yp = y_pred.reshape(-1, 1) if squeeze else y_pred
        y_true = _as_float_array(y_true, "y (labels)")
        yt = self._check_labels(y_true, yp)
        # Compute in the output's float dtype (as Keras does): float32 models
        # do not pay for float64 copies of large (batch, steps, vocab) outputs.
        cdt = yp.dtype if np.issubdtype(yp.dtype, np.floating) else np.dtype(np.float64)
        if yt.dtype.kind == "f":
            yt = yt.astype(cdt, copy=False)
        per_pos, dper = self._elementwise(yt, yp.astype(cdt, copy=False))
        w = _reduction_weights(per_pos.shape, mask, sample_weight)
        value = float(np.sum(w * per_pos, dtype=np.float64))
        if not need_grad:
            return value, None
        grad = (w.astype(cdt)[..., None] * dper).astype(cdt, copy=False)
        if squeeze:
            grad = grad.reshape(y_pred.shape)
        return value, grad

    def per_position(self, y_true, y_pred):
        """Loss per sample (2-D outputs) or per (sample, step) (3-D), unreduced."""
        y_pred = _as_float_array(y_pred, "y_pred")
        yt = self._check_labels(_as_float_array(y_true, "y (labels)"), y_pred)
        return self._elementwise(yt, y_pred.astype(np.float64))[0]  # float64 for inspection

    def check_labels(self, y_true, y_pred_shape, check_values=False):
        """Raise ``ValueError`` if labels shaped like ``y_true`` do not fit the output shape.

        With ``check_values`` (sparse loss) also check every label is a valid class index.
        """
        self._check_labels(
            _as_float_array(y_true, "y (labels)"),
            np.broadcast_to(np.float64(0), tuple(y_pred_shape)),
            check_values=check_values and self._checks_values,
        )

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("name", None)
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"

    # --- helpers --------------------------------------------------------
    def _same_shape_labels(self, y_true, y_pred, convert=True):
        ts, ps = _shape(y_true), _shape(y_pred)
        if ts == ps:
            return y_true.astype(np.float64) if convert else None
        if ps[-1] == 1 and ts == ps[:-1]:
            return y_true.astype(np.float64)[..., None] if convert else None
        raise ValueError(
            f"y (labels) has shape {ts}, which does not fit the model output shape {ps} for "
            f"loss '{self.name}': expected labels of shape {ps}"
            + (f" or {ps[:-1]}" if ps[-1] == 1 else "")
        )


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred) ** 2, axis=-1)`` averaged over samples (and steps)."""

    name = "mse"

    def __init__(self):
        super().__init__(False)

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return "MeanSquaredError()"

    def _check_labels(self, y_true, y_pred, check_values=True):
        return self._same_shape_labels(y_true, y_pred, convert=check_values)

    def _elementwise(self, yt, yp):
        units = yp.shape[-1]
        diff = yp - yt
        return np.mean(diff * diff, axis=-1), 2.0 * diff / units


class BinaryCrossentropy(Loss):
    """Binary cross-entropy on probabilities (default) or logits (``from_logits=True``)."""

    name = "binary_crossentropy"

    def _check_labels(self, y_true, y_pred, check_values=True):
        return self._same_shape_labels(y_true, y_pred, convert=check_values)

    def _elementwise(self, yt, yp):
        units = yp.shape[-1]
        if self.from_logits:
            x = yp
            loss = np.maximum(x, 0.0) - x * yt + np.log1p(np.exp(-np.abs(x)))
            e = np.exp(-np.abs(x))
            sig = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            d = sig - yt
        else:
            p = np.clip(yp, EPSILON, 1.0 - EPSILON)
            loss = -(yt * np.log(p) + (1.0 - yt) * np.log(1.0 - p))
            d = (p - yt) / (p * (1.0 - p))
        return np.mean(loss, axis=-1), d / units


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) labels of the same shape as the output."""

    name = "categorical_crossentropy"

    def _check_labels(self, y_true, y_pred, check_values=True):
        ts, ps = _shape(y_true), _shape(y_pred)
        if ts == ps:
            return y_true.astype(np.float64) if check_values else None
        hint = ""
        if ts == ps[:-1] or (ts == ps[:-1] + (1,)):
            hint = (
                " (these look like integer class labels: use "
                "loss='sparse_categorical_crossentropy', or one-hot encode them)"
            )
        raise ValueError(
            f"y (labels) has shape {ts}, which does not fit the model output shape {ps} for loss "
            f"'{self.name}': expected one-hot labels of shape {ps}{hint}"
        )

    def _elementwise(self, yt, yp):
        if self.from_logits:
            shifted = yp - np.max(yp, axis=-1, keepdims=True)
            lse = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            log_sm = shifted - lse
            loss = -np.sum(yt * log_sm, axis=-1)
            d = np.exp(log_sm) * np.sum(yt, axis=-1, keepdims=True) - yt
            return loss, d
        s = np.sum(yp, axis=-1, keepdims=True)
        s_safe = np.where(s == 0, EPSILON, s)
        q = np.clip(yp / s_safe, EPSILON, 1.0 - EPSILON)
        loss = -np.sum(yt * np.log(q), axis=-1)
        d = (-yt / q + np.sum(yt, axis=-1, keepdims=True)) / s_safe
        return loss, d


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Cross-entropy against integer class labels (``(batch,)`` or ``(batch, timesteps)``)."""

    name = "sparse_categorical_crossentropy"
    _checks_values = True

    def _check_labels(self, y_true, y_pred, check_values=True):
        ts, ps = _shape(y_true), _shape(y_pred)
        if ts == ps[:-1]:
            labels = y_true
        elif ts == ps[:-1] + (1,) and ps[-1] != 1 or (ts == ps and ps[-1] == 1):
            labels = y_true.reshape(ts[:-1])
        else:
            hint = ""
            if ts == ps:
                hint = " (these look like one-hot labels: use loss='categorical_crossentropy')"
            raise ValueError(
                f"y (labels) has shape {ts}, which does not fit the model output shape {ps} for "
                f"loss '{self.name}': expected integer class labels of shape {ps[:-1]}{hint}"
            )
        if not check_values:
            return labels
        _check_class_indices(labels, ps[-1], self.name)
        return labels.astype(np.int64)

    def _elementwise(self, labels, yp):
        # Index-based (no one-hot copy): the same values as the categorical
        # loss on one-hot labels, cheaper for large vocabularies.
        idx = labels[..., None]
        if self.from_logits:
            shifted = yp - np.max(yp, axis=-1, keepdims=True)
            lse = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            loss = (lse - np.take_along_axis(shifted, idx, axis=-1))[..., 0]
            d = np.exp(shifted - lse)
            np.put_along_axis(d, idx, np.take_along_axis(d, idx, axis=-1) - 1.0, axis=-1)
            return loss, d
        s = np.sum(yp, axis=-1, keepdims=True)
        s_safe = np.where(s == 0, EPSILON, s)
        q = np.clip(np.take_along_axis(yp, idx, axis=-1) / s_safe, EPSILON, 1.0 - EPSILON)
        loss = -np.log(q)[..., 0]
        d = np.broadcast_to(1.0 / s_safe, yp.shape).copy()
        np.put_along_axis(d, idx, (1.0 - 1.0 / q) / s_safe, axis=-1)
        return loss, d


def _check_class_indices(labels, classes, name):
    if not labels.size:
        return
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(
                f"y (labels) for loss '{name}' must be integer class indices, got "
                f"non-integer values of dtype {labels.dtype}"
            )
    lo, hi = labels.min(), labels.max()
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"y (labels) for loss '{name}' must be class indices in [0, {classes}) "
            f"for an output with {classes} units, got {int(bad)}"
        )


_ALIASES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "meansquarederror": MeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "binarycrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "categoricalcrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "sparsecategoricalcrossentropy": SparseCategoricalCrossentropy,
}

#: The canonical loss names accepted by ``compile(loss=...)``.
LOSS_NAMES = (
    "mse",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)


def get(identifier):
    """A loss object from a name, a config dict or a loss object (returned as is)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown loss: loss={identifier!r}. Valid names: {', '.join(LOSS_NAMES)} "
                f"(or a fastrnn.losses.Loss instance)"
            )
        return cls()
    raise TypeError(
        f"loss must be a name ({', '.join(LOSS_NAMES)}) or a fastrnn.losses.Loss instance, "
        f"got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(loss):
    return loss.get_config()


def deserialize(config):
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"loss config must be a dict with a 'name', got {config!r}")
    cls = _ALIASES.get(str(config["name"]).lower())
    if cls is None:
        raise ValueError(
            f"Unknown loss in config: {config['name']!r}. Valid names: {', '.join(LOSS_NAMES)}"
        )
    return cls.from_config(config)
