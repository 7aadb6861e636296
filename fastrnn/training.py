"""Training for Sequential models: compile, fit, evaluate, predict.

``Sequential`` inherits :class:`TrainingMixin`. The mixin relies only on the
model interface: ``model._call_with_mask(x, training=...)`` returns the
output array and its ``(batch, timesteps)`` mask (or None), which the loss
and metrics honour; ``model.backward(dy)`` backpropagates;
``model.gradients`` lines up with ``model.trainable_weights`` (live arrays,
updated in place by the optimizer); ``model._check_dataset(x, argument)``
checks all of ``x`` for what a later batch would fail on (an Embedding's
index ranges), before the first step changes the model. The mask is
returned rather than read from ``model.output_mask`` so that ``evaluate``
and ``predict`` from several threads on one model do not see each other's
masks.

One training step on a batch: forward with ``training=True``; loss value and
d(loss)/d(output) (:mod:`fastrnn.losses`); ``backward``; the optimizer
updates the weights in place; metrics are updated with that batch's
(pre-update) outputs, as Keras does. The ``"loss"`` shown and recorded for an
epoch is the sample-weighted mean of the batch losses of that epoch.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._random import new_generator
from ._validation import check_int, check_real, check_seed
from .threads import limit_blas_threads_in_loops

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .callbacks import Callback, History
    from .losses import Loss
    from .optimizers import Optimizer

__all__ = ["TrainingMixin", "NonFiniteLossError", "NotCompiledError"]


class NonFiniteLossError(FloatingPointError, ValueError):
    """Raised by ``fit`` when the loss becomes NaN or infinite."""


class NotCompiledError(RuntimeError, ValueError):
    """Raised by ``fit`` / ``evaluate`` on a model that was not compiled."""


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------
def _check_verbose(verbose):
    if verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if isinstance(verbose, (int, np.integer)) and verbose in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")


def _as_data(value, name):
    if value is None:
        raise ValueError(f"{name} is required, got None")
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except ValueError as exc:
            raise ValueError(
                f"{name} must be a rectangular array; got ragged sequences "
                f"(pad them first, e.g. with fastrnn.preprocessing.pad_sequences): {exc}"
            ) from None
    if arr.dtype == object:
        raise ValueError(
            f"{name} must be a rectangular numeric array; got ragged or mixed data "
            f"(pad sequences first with fastrnn.preprocessing.pad_sequences)"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric; got an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a leading batch axis; got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need at least one sample")
    return arr


def _sample_weights(y, sample_weight, class_weight, sparse_labels, where="fit"):
    """One weight per sample (or per position) from ``sample_weight`` or
    ``class_weight``, checked; None when neither is given.

    ``class_weight`` maps a class index to a weight (classes it omits weigh
    1): the class of a sample is its label (binary or sparse labels; sparse
    per-step labels give one weight per step) or the argmax of its one-hot
    row, as in Keras 3.
    """
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{where}: give `sample_weight` or `class_weight`, not both")
    if sample_weight is not None:
        sw = _as_data(sample_weight, "sample_weight")
        if sw.shape[0] != len(y):
            raise ValueError(
                f"sample_weight must have one weight per sample: y has {len(y)}, "
                f"sample_weight has {sw.shape[0]} (shape {sw.shape})"
            )
        if sw.ndim > 2:
            raise ValueError(
                f"sample_weight must be (samples,) or (samples, timesteps); got shape {sw.shape}"
            )
        sw = sw.astype(np.float64)
        if not np.all(np.isfinite(sw)):
            raise ValueError("sample_weight holds NaN or infinite values")
        return sw
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping) or not all(
        isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in class_weight
    ):
        raise TypeError(
            f"class_weight must be a dict from class index (int) to weight, got {class_weight!r}"
        )
    weights = {int(k): float(v) for k, v in class_weight.items()}
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if sparse_labels or labels.ndim == 1:
        classes = np.rint(labels).astype(np.int64)
    else:
        classes = np.argmax(labels, axis=-1)  # one-hot rows
    lookup = np.vectorize(lambda c: weights.get(int(c), 1.0), otypes=[np.float64])
    return lookup(classes) if classes.size else classes.astype(np.float64)


class _BatchStream:
    """The batches of a fit: passes through the data, each (re)shuffled, cut
    into ``batch_size`` rows; ``next_batch`` is None at the end of a pass."""

    def __init__(self, n, batch_size, shuffle, rng):
        self.n, self.batch_size, self.shuffle, self.rng = n, batch_size, shuffle, rng
        self.order = None
        self.position = n

    def new_pass(self):
        self.order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        self.position = 0

    def exhausted(self):
        return self.position >= self.n

    def next_batch(self):
        if self.order is None:
            self.new_pass()
        if self.exhausted():
            return None
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch


def _format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class _Progress:
    """A per-epoch progress display: tqdm bar (verbose=1) or one line (verbose=2)."""

    def __init__(self, verbose, steps, desc=None):
        self.verbose = verbose
        self.steps = steps
        self.start = time.perf_counter()
        self.bar = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # a dependency; in an install without it, one line per epoch
                self.verbose = 2
            else:
                self.bar = tqdm(
                    total=steps,
                    desc=desc,
                    unit="step",
                    file=sys.stdout,
                    leave=True,
                    dynamic_ncols=True,
                )

    def update(self, logs):
        if self.bar is not None:
            self.bar.set_postfix_str(_format_logs(logs), refresh=False)
            self.bar.update(1)

    def close(self, logs):
        if self.bar is not None:
            self.bar.set_postfix_str(_format_logs(logs), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self.start
            print(f"{self.steps}/{self.steps} - {elapsed:.0f}s - {_format_logs(logs)}", flush=True)

    def abort(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _per_output(value, names, argument, default=None):
    """``value`` given once, as a list (one per output) or a dict keyed by output
    names, as a list of one entry per output."""
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"`{argument}` has keys {unknown} that are not outputs {names}")
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(
                f"`{argument}` must have one entry per output ({len(names)}: {names}); "
                f"got {len(value)}"
            )
        return list(value)
    return [value] * len(names)


def check_fit_arguments(batch_size, epochs, verbose, shuffle, seed, validation_split, steps):
    """``fit``'s checks of its scalar arguments; returns ``(batch_size, epochs,
    verbose, seed, steps_per_epoch)`` as ``fit`` uses them."""
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    epochs = check_int(epochs, "epochs", 0)
    verbose = _check_verbose(verbose)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    seed = check_seed(seed)
    if isinstance(validation_split, (bool, np.bool_)) or not isinstance(
        validation_split, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
    if not 0.0 <= float(validation_split) < 1.0:
        raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
    steps = check_int(steps, "steps_per_epoch", 1, allow_none=True)
    return batch_size, epochs, verbose, seed, steps


def check_finite_loss(value: float, epoch: int, step: int, steps: int) -> None:
    """Raise :class:`NonFiniteLossError` for a NaN/inf batch loss, before the
    step changes any weight."""
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"Training stopped: the loss became {value} at epoch {epoch + 1}, step "
            f"{step + 1} (of {steps}). The weights are those from before this step. Check "
            f"the data for NaN/inf, or lower the learning rate / use clipnorm= or clipvalue= "
            f"on the optimizer."
        )


def run_fit_epochs(
    model,
    stream: _BatchStream,
    start_epoch,
    train_step,
    validate,
    *,
    batch_size: int,
    epochs: int,
    initial_epoch: int,
    steps_per_epoch: int | None,
    verbose: int,
    user_callbacks: list,
    history: History,
    before_train_end=None,
    stacklevel: int = 3,
) -> History:
    """The epochs of ``fit``: steps, logs, callbacks, progress bar, validation.

    What one step computes is ``train_step``'s: ``train_step(epoch, step,
    steps, idx)`` trains on the rows ``idx`` of the stream's next batch (step
    ``step`` of the epoch's ``steps``) and returns ``(value, values, rows,
    metric_objs)``: the weighted loss, the per-output losses, the batch's
    weight in the epoch's running means and the metrics so far.
    ``start_epoch()`` starts an epoch's metrics; ``validate()`` returns the
    validation logs of the weights now, or None.
    The local ``fit`` and :func:`fastrnn.distributed.fit` share this loop.
    """
    batches_per_pass = math.ceil(stream.n / stream.batch_size)
    steps = batches_per_pass if steps_per_epoch is None else steps_per_epoch
    outputs = len(model._losses)
    model.stop_training = False
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size}
    cbs = callbacks_module.CallbackList(user_callbacks + [history], model, params)
    model.history = history
    epoch_logs: dict = {}
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        progress = _Progress(verbose, steps)
        if steps_per_epoch is None:
            stream.new_pass()  # every epoch is one pass, reshuffled
        totals, seen, logs = [0.0] * (outputs + 1), 0, {}
        start_epoch()
        try:
            for step in range(steps):
                idx = stream.next_batch()
                if idx is None:  # steps_per_epoch reached the end of a pass
                    warnings.warn(
                        f"fit: the data ran out after {step} of steps_per_epoch="
                        f"{steps_per_epoch} batches in epoch {epoch + 1}; the next epoch starts "
                        f"a new pass (make steps_per_epoch divide {batches_per_pass}, the "
                        f"batches of one pass, to avoid this)",
                        stacklevel=stacklevel,
                    )
                    break
                cbs.on_train_batch_begin(step)
                value, values, rows, metric_objs = train_step(epoch, step, steps, idx)
                for i, v in enumerate([value, *values] if outputs > 1 else [value]):
                    totals[i] += v * rows
                seen += rows
                logs = model._logs(totals, seen, metric_objs)
                cbs.on_train_batch_end(step, dict(logs))
                progress.update(logs)
                if model.stop_training:
                    break
        except BaseException:
            progress.abort()
            raise
        if steps_per_epoch is not None and stream.exhausted():
            stream.new_pass()
        epoch_logs = dict(logs)
        val_logs = validate()
        if val_logs is not None:
            epoch_logs.update(("val_" + k, v) for k, v in val_logs.items())
        progress.close(epoch_logs)
        cbs.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    if before_train_end is not None:
        before_train_end()
    cbs.on_train_end(epoch_logs)
    return history


class TrainingMixin:
    """``compile`` / ``fit`` / ``evaluate`` / ``predict`` for the models.

    A model with several inputs or outputs gives ``_output_names()`` and
    overrides ``_x_arrays`` / ``_y_arrays`` (what ``fit`` is given, as one
    array per input / output) and ``_pack_x`` (the list of input batches as
    ``_call_with_mask`` takes them); the defaults are one input, one output.
    """

    # ------------------------------------------------------------- structure
    def _output_names(self) -> list[str]:
        return ["output"]

    def _x_arrays(self, x, argument="x"):
        return [_as_data(x, argument)]

    def _y_arrays(self, y, argument="y"):
        return [_as_data(y, argument)]

    def _pack_x(self, arrays):
        return arrays[0]

    def _single_output(self):
        return len(self._output_names()) == 1

    # ---------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: str | Optimizer = "adam",
        loss: str | Loss | Sequence[str | Loss] | Mapping[str, str | Loss] | None = None,
        metrics: Any = None,
        loss_weights: Sequence[float] | Mapping[str, float] | None = None,
    ) -> None:
        """Configure training: optimizer and loss (names or objects), metric names.

        ``optimizer``: "sgd" | "adam" | "rmsprop" or a :mod:`fastrnn.optimizers` object.
        ``loss``: "mse" | "binary_crossentropy" | "categorical_crossentropy" |
        "sparse_categorical_crossentropy" or a :mod:`fastrnn.losses` object.
        ``metrics``: list of names, e.g. ``["accuracy"]`` (see :mod:`fastrnn.metrics`).

        A model with several outputs takes ``loss`` once (every output), as a
        list (one per output) or a dict keyed by output name; ``metrics`` as
        one list (every output), a list of lists or a dict; ``loss_weights``
        as a list or dict (default 1 each). The loss is the weighted sum.
        """
        names = self._output_names()
        opt = optimizers_module.get(optimizer)
        losses = _per_output(loss, names, "loss")
        loss_objs = [losses_module.get(item) if item is not None else None for item in losses]
        weights = [1.0] * len(names)
        if loss_weights is not None:
            weights = [
                check_real(w, "loss_weights")
                for w in _per_output(loss_weights, names, "loss_weights", 1.0)
            ]
            if any(w < 0 for w in weights):
                raise ValueError(f"`loss_weights` must be >= 0, got {loss_weights!r}")
        if isinstance(metrics, Mapping) or (
            isinstance(metrics, (list, tuple))
            and len(names) > 1
            and metrics
            and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        ):
            per_output = _per_output(metrics, names, "metrics")
        else:
            per_output = [metrics] * len(names)
        metric_ids = [self._metric_ids_of(m) for m in per_output]
        self.optimizer = opt
        self.loss = loss_objs[0] if len(names) == 1 else loss_objs
        self._losses = loss_objs
        self._loss_weights = weights
        self._output_metric_ids = metric_ids
        self._metric_ids = metric_ids[0]
        self.compiled = True
        self.stop_training = False

    @staticmethod
    def _metric_ids_of(metrics):
        if metrics is None:
            metric_ids = []
        elif isinstance(metrics, (str, metrics_module.Metric)):
            metric_ids = [metrics_module.check_name(metrics)]
        elif isinstance(metrics, (list, tuple)):
            metric_ids = [metrics_module.check_name(m) for m in metrics]
        else:
            raise TypeError(
                f"metrics must be a list of metric names, got {type(metrics).__name__}: {metrics!r}"
            )
        names = [m if isinstance(m, str) else m.name for m in metric_ids]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"metrics names must be unique and not 'loss', got {names}")
        return metric_ids

    def _log_names(self) -> list[str]:
        """The keys of the logs: ``loss``, then per output its loss and metrics."""
        names = self._output_names()
        ids = getattr(self, "_output_metric_ids", [[]] * len(names))
        metric_names = [[m if isinstance(m, str) else m.name for m in per] for per in ids]
        if len(names) == 1:
            return ["loss"] + metric_names[0]
        keys = ["loss"] + [f"{name}_loss" for name in names]
        for name, per in zip(names, metric_names):
            keys += [f"{name}_{m}" for m in per]
        return keys

    @property
    def metrics_names(self) -> list[str]:
        """``"loss"`` and the names of the compiled metrics, as ``evaluate`` lists them."""
        return self._log_names()

    def get_compile_config(self) -> dict[str, Any] | None:
        """What :meth:`compile` was given, JSON-able (None when not compiled).

        :meth:`compile_from_config` takes it back; the model file stores it.
        """
        if not getattr(self, "compiled", False):
            return None

        def metric_config(ids):
            return [m if isinstance(m, str) else m.get_config() for m in ids]

        losses = [None if item is None else item.get_config() for item in self._losses]
        config: dict[str, Any] = {
            "optimizer": optimizers_module.serialize(self.optimizer),
            "loss": losses[0] if len(losses) == 1 else losses,
            "metrics": metric_config(self._output_metric_ids[0])
            if len(losses) == 1
            else [metric_config(ids) for ids in self._output_metric_ids],
        }
        if any(w != 1.0 for w in self._loss_weights):
            config["loss_weights"] = list(self._loss_weights)
        return config

    def compile_from_config(self, config: Mapping[str, Any]) -> None:
        """:meth:`compile` with a fresh optimizer, loss and metrics from :meth:`get_compile_config`.

        Raises
        ------
        KeyError, TypeError, ValueError
            If ``config`` is not such a dict.
        """
        optimizer = optimizers_module.deserialize(config["optimizer"])

        def loss_of(item):
            return losses_module.deserialize(item) if item else None

        def metrics_of(items):
            return [m if isinstance(m, str) else metrics_module.get(m) for m in items]

        loss_config = config["loss"]
        several = isinstance(loss_config, list)
        loss = [loss_of(item) for item in loss_config] if several else loss_of(loss_config)
        metrics = config["metrics"]
        if several:
            metrics = [metrics_of(items) for items in metrics]
        else:
            metrics = metrics_of(metrics)
        self.compile(
            optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=config.get("loss_weights")
        )

    def _require_compiled(self, what):
        if not getattr(self, "compiled", False):
            raise NotCompiledError(
                f"You must call compile() before {what}(): e.g. "
                f"model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])"
            )
        if all(item is None for item in self._losses):
            raise ValueError(f"No loss to compute in {what}(): pass loss=... to compile()")

    def _make_metrics(self, ys, outs):
        made = []
        for loss, ids, y, out in zip(self._losses, self._output_metric_ids, ys, outs):
            loss_name = loss.name if loss is not None else "mse"
            made.append(
                [
                    metrics_module.get(m, loss_name, np.shape(y), np.shape(out))
                    if isinstance(m, str)
                    else m
                    for m in ids
                ]
            )
        return made

    def _forward(self, x, training):
        """The outputs and their masks of one batch, as lists (one per output)."""
        out, mask = self._call_with_mask(self._pack_x(x), training=training)
        names = self._output_names()
        if len(names) == 1:
            if isinstance(out, (list, tuple)):
                raise ValueError(
                    "fit/evaluate support models with a single output array; the last layer "
                    f"returns a list of {len(out)} arrays (return_state=True or merge_mode=None)"
                )
            return [out], [mask]
        if isinstance(out, Mapping):
            return [out[k] for k in self._output_keys()], [mask[k] for k in self._output_keys()]
        return list(out), list(mask)

    def _pack_dy(self, dys):
        return dys[0] if len(dys) == 1 else dys

    def _batch_losses(self, ys, outs, masks, swb, need_grad):
        """(total weighted loss, per-output losses, per-output d loss / d output)."""
        total, values, grads = 0.0, [], []
        for loss, weight, y, out, mask in zip(self._losses, self._loss_weights, ys, outs, masks):
            if loss is None:
                values.append(0.0)
                grads.append(None)
                continue
            if need_grad:
                value, dy = loss.value_and_grad(y, out, mask, sample_weight=swb)
                grads.append(dy if weight == 1.0 else dy * weight)
            else:
                value = loss(y, out, mask, sample_weight=swb)
            values.append(value)
            total += weight * value
        return total, values, grads

    def _check_all_labels(self, ys, outs):
        for loss, y, out in zip(self._losses, ys, outs):
            if loss is not None:
                loss.check_labels(y, (len(y),) + out.shape[1:], check_values=True)

    def _logs(self, totals, seen, metric_objs):
        """The running logs of an epoch: mean losses so far, then the metrics."""
        names = self._output_names()
        logs = {"loss": totals[0] / seen}
        if len(names) > 1:
            logs.update((f"{n}_loss", t / seen) for n, t in zip(names, totals[1:]))
        for name, objs in zip(names, metric_objs):
            prefix = "" if len(names) == 1 else f"{name}_"
            logs.update((prefix + m.name, m.result()) for m in objs)
        return logs

    # -------------------------------------------------------------------- fit
    @limit_blas_threads_in_loops
    def fit(
        self,
        x: ArrayLike | None = None,
        y: ArrayLike | None = None,
        batch_size: int | None = 32,
        epochs: int = 1,
        verbose: str | int = "auto",
        callbacks: Callback | Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        initial_epoch: int = 0,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: ArrayLike | None = None,
        steps_per_epoch: int | None = None,
        client: Any = None,
        gradient_accumulation_steps: int = 1,
    ) -> History:
        """Train for ``epochs`` epochs; returns a :class:`~fastrnn.callbacks.History`.

        ``sample_weight`` (one weight per sample, or per time step) or
        ``class_weight`` (class index -> weight) weigh each position's loss
        and metrics, as in Keras 3. ``steps_per_epoch`` makes an epoch that
        many batches of a stream that runs through the (reshuffled) data
        again and again; an epoch that reaches the end of a pass stops there.
        A model with several inputs or outputs takes ``x`` and ``y`` as lists
        (or dicts keyed by name); ``sample_weight`` then weighs every output.

        Dask arrays (or ``client=``, ``gradient_accumulation_steps=``) train
        data-parallel on a dask.distributed cluster: :func:`fastrnn.distributed.fit`.
        """
        from . import distributed as _distributed

        if _distributed.requested(
            x,
            y,
            validation_data,
            sample_weight,
            client=client,
            accumulation=gradient_accumulation_steps,
        ):
            return _distributed.fit(self, **_distributed.arguments(locals()))
        self._require_compiled("fit")
        batch_size, epochs, verbose, seed, steps_per_epoch = check_fit_arguments(
            batch_size, epochs, verbose, shuffle, seed, validation_split, steps_per_epoch
        )
        initial_epoch = check_int(initial_epoch, "initial_epoch", 0)
        user_callbacks = callbacks_module.check_callbacks(callbacks)
        xs, ys = self._check_xy(x, y)
        single = self._single_output()
        if class_weight is not None and not single:
            raise ValueError(
                "class_weight is not supported for models with several outputs (as in "
                "Keras 3); pass sample_weight instead"
            )
        sparse_labels = any(loss is not None and loss._checks_values for loss in self._losses)
        sw = _sample_weights(ys[0], sample_weight, class_weight, sparse_labels)

        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                n = len(validation_data) if isinstance(validation_data, (tuple, list)) else None
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                    "sample_weight_val)"
                    + (
                        f"; got a sequence of {n} items"
                        if n is not None
                        else f"; got {type(validation_data).__name__}"
                    )
                )
            val_xs, val_ys = self._check_xy(
                validation_data[0], validation_data[1], "validation_data x", "validation_data y"
            )
            val_sw = None
            if len(validation_data) == 3 and validation_data[2] is not None:
                val_sw = _sample_weights(val_ys[0], validation_data[2], None, sparse_labels)
            val = (val_xs, val_ys, val_sw)
        elif validation_split > 0:
            n = len(xs[0])
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(
                    f"Training data contains {n} samples, which is not sufficient to split it "
                    f"into a validation and training set as specified by "
                    f"validation_split={validation_split}. Either provide more data, or a "
                    f"different value for validation_split."
                )
            # Like Keras: the LAST fraction of the data (before any shuffling) is validation.
            val_sw = None if sw is None else sw[split_at:]
            val = ([a[split_at:] for a in xs], [a[split_at:] for a in ys], val_sw)
            xs = [a[:split_at] for a in xs]
            ys = [a[:split_at] for a in ys]
            sw = None if sw is None else sw[:split_at]
        if val is not None:
            for what, train_arrays, val_arrays in (("x", xs, val[0]), ("y", ys, val[1])):
                for i, (a, b) in enumerate(zip(train_arrays, val_arrays)):
                    if a.shape[1:] != b.shape[1:]:
                        which = what if len(train_arrays) == 1 else f"{what}[{i}]"
                        raise ValueError(
                            f"validation {which} has sample shape {b.shape[1:]}, but training "
                            f"{which} has {a.shape[1:]}"
                        )

        # What some later batch would fail on is found before the first step
        # changes the model.
        self._check_dataset(self._pack_x(xs), "x")
        if val is not None:
            self._check_dataset(self._pack_x(val[0]), "validation x")

        stream = _BatchStream(len(xs[0]), batch_size, shuffle, new_generator(seed))
        metric_objs = None

        def start_epoch():
            for objs in metric_objs or ():
                for m in objs:
                    m.reset_state()

        def train_step(epoch, step, steps, idx):
            nonlocal metric_objs
            xb = [a[idx] for a in xs]
            yb = [a[idx] for a in ys]
            swb = None if sw is None else sw[idx]
            outs, masks = self._forward(xb, training=True)
            if metric_objs is None:
                # First batch: all labels are checked against the output before any update.
                self._check_all_labels(ys, outs)
                if val is not None:
                    self._check_all_labels(val[1], outs)
                metric_objs = self._make_metrics(yb, outs)
            value, values, dys = self._batch_losses(yb, outs, masks, swb, True)
            check_finite_loss(value, epoch, step, steps)
            self.backward(self._pack_dy(dys))
            self.optimizer.apply_gradients(self.gradients, self.trainable_weights)
            for objs, y_b, out, mask in zip(metric_objs, yb, outs, masks):
                for m in objs:
                    m.update_state(y_b, out, mask, sample_weight=swb)
            return value, values, len(idx), metric_objs

        def validate():
            if val is None:
                return None
            return self._evaluate_arrays(
                val[0], val[1], batch_size, verbose=0, sample_weight=val[2]
            )

        return run_fit_epochs(
            self,
            stream,
            start_epoch,
            train_step,
            validate,
            batch_size=batch_size,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            verbose=verbose,
            user_callbacks=user_callbacks,
            history=callbacks_module.History(),
        )

    def _check_xy(self, x, y, where="x", label="y"):
        """``x`` and ``y`` as lists of arrays (one per input / output), one length."""
        xs = self._x_arrays(x, where)
        ys = self._y_arrays(y, label)
        n = len(xs[0])
        for name, arrays in ((where, xs), (label, ys)):
            for i, a in enumerate(arrays):
                if len(a) != n:
                    which = name if len(arrays) == 1 else f"{name}[{i}]"
                    first = where if len(xs) == 1 else f"{where}[0]"
                    raise ValueError(
                        f"{first} and {which} must have the same number of samples: {first} "
                        f"has {n} (shape {xs[0].shape}), {which} has {len(a)} (shape {a.shape})"
                    )
        return xs, ys

    # --------------------------------------------------------------- evaluate
    def _evaluate_arrays(self, xs, ys, batch_size, verbose, cbs=None, sample_weight=None):
        n = len(xs[0])
        steps = int(math.ceil(n / batch_size))
        progress = _Progress(verbose, steps)
        outputs = len(ys)
        totals, seen = [0.0] * (outputs + 1), 0
        metric_objs = None
        logs = {}
        try:
            for step in range(steps):
                batch = slice(step * batch_size, (step + 1) * batch_size)
                xb = [a[batch] for a in xs]
                yb = [a[batch] for a in ys]
                swb = None if sample_weight is None else sample_weight[batch]
                if cbs is not None:
                    cbs.on_test_batch_begin(step)
                outs, masks = self._forward(xb, training=False)
                if metric_objs is None:
                    self._check_all_labels(ys, outs)
                    metric_objs = self._make_metrics(yb, outs)
                value, values, _ = self._batch_losses(yb, outs, masks, swb, False)
                for objs, y_b, out, mask in zip(metric_objs, yb, outs, masks):
                    for m in objs:
                        m.update_state(y_b, out, mask, sample_weight=swb)
                for i, v in enumerate([value, *values] if outputs > 1 else [value]):
                    totals[i] += v * len(xb[0])
                seen += len(xb[0])
                logs = self._logs(totals, seen, metric_objs)
                if cbs is not None:
                    cbs.on_test_batch_end(step, dict(logs))
                progress.update(logs)
        except BaseException:
            progress.abort()
            raise
        progress.close(logs)
        return logs

    @limit_blas_threads_in_loops
    def evaluate(
        self,
        x: ArrayLike | None = None,
        y: ArrayLike | None = None,
        batch_size: int | None = 32,
        verbose: str | int = "auto",
        return_dict: bool = False,
        callbacks: Callback | Sequence[Callback] | None = None,
        sample_weight: ArrayLike | None = None,
        client: Any = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) on ``x, y``: a float, ``[loss, *metrics]``, or a dict;
        ``sample_weight`` weighs them as in :meth:`fit`. Dask arrays (or
        ``client=``): :func:`fastrnn.distributed.evaluate`."""
        from . import distributed as _distributed

        if _distributed.requested(x, y, sample_weight, client=client):
            return _distributed.evaluate(self, **_distributed.arguments(locals()))
        self._require_compiled("evaluate")
        batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
        verbose = _check_verbose(verbose)
        cb_list = callbacks_module.check_callbacks(callbacks)
        xs, ys = self._check_xy(x, y)
        sparse_labels = any(loss is not None and loss._checks_values for loss in self._losses)
        sw = _sample_weights(ys[0], sample_weight, None, sparse_labels, "evaluate")
        self._check_dataset(self._pack_x(xs), "x")
        cbs = (
            callbacks_module.CallbackList(cb_list, self, {"verbose": verbose}) if cb_list else None
        )
        if cbs is not None:
            cbs.on_test_begin()
        logs = self._evaluate_arrays(xs, ys, batch_size, verbose, cbs, sample_weight=sw)
        if cbs is not None:
            cbs.on_test_end(dict(logs))
        if return_dict:
            return dict(logs)
        if len(logs) == 1:
            return logs["loss"]
        return [logs[k] for k in self.metrics_names]

    # ---------------------------------------------------------------- predict
    @limit_blas_threads_in_loops
    def predict(
        self,
        x: ArrayLike,
        batch_size: int | None = 32,
        verbose: str | int = "auto",
        callbacks: Callback | Sequence[Callback] | None = None,
        client: Any = None,
    ) -> np.ndarray | list[np.ndarray]:
        """The model's outputs on ``x``, computed in batches (``training=False``).
        A dask array (or ``client=``) gives a lazy dask array:
        :func:`fastrnn.distributed.predict`."""
        from . import distributed as _distributed

        if _distributed.requested(x, client=client):
            return _distributed.predict(self, **_distributed.arguments(locals()))
        batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
        verbose = _check_verbose(verbose)
        cb_list = callbacks_module.check_callbacks(callbacks)
        xs = self._x_arrays(x, "x")
        n = len(xs[0])
        steps = int(math.ceil(n / batch_size))
        cbs = (
            callbacks_module.CallbackList(cb_list, self, {"verbose": verbose}) if cb_list else None
        )
        if cbs is not None:
            cbs.on_predict_begin()
        progress = _Progress(verbose, steps)
        outputs = []
        try:
            for step in range(steps):
                if cbs is not None:
                    cbs.on_predict_batch_begin(step)
                batch = [a[step * batch_size : (step + 1) * batch_size] for a in xs]
                out, _ = self._call_with_mask(self._pack_x(batch))
                outputs.append(out)
                if cbs is not None:
                    cbs.on_predict_batch_end(step, {"outputs": out})
                progress.update({})
        except BaseException:
            progress.abort()
            raise
        progress.close({})
        if cbs is not None:
            cbs.on_predict_end()
        if isinstance(outputs[0], Mapping):
            return {k: np.concatenate([o[k] for o in outputs], axis=0) for k in outputs[0]}
        if isinstance(outputs[0], (list, tuple)):
            return [np.concatenate([o[i] for o in outputs], axis=0) for i in range(len(outputs[0]))]
        return np.concatenate(outputs, axis=0)
