"""Callbacks for ``fit``: the ``Callback`` base class, ``History``, ``EarlyStopping``,
``ModelCheckpoint``, ``ReduceLROnPlateau``, ``LearningRateScheduler``, ``CSVLogger``.

The hooks and their arguments are Keras's: ``on_train_begin(logs)``,
``on_epoch_begin(epoch, logs)``, ``on_train_batch_begin(batch, logs)``,
``on_train_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs)``,
``on_train_end(logs)``, plus ``on_test_*`` / ``on_predict_*`` (called by
``evaluate`` / ``predict`` when callbacks are given there). Epochs and
batches are 0-based; ``logs`` is a dict of the running values
(``"loss"``, metrics, and at epoch end ``"val_*"``). Setting
``self.model.stop_training = True`` ends ``fit`` after the current batch.
"""

import csv
import inspect
import os
import warnings

import numpy as np

from ._validation import check_bool, check_int, check_real

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "CSVLogger",
]


class Callback:
    """Base class: override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = dict(params)

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class CallbackList:
    """Calls a hook on every callback in order."""

    def __init__(self, callbacks, model, params=None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params or {})

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call


def check_callbacks(callbacks):
    """Validate ``fit(callbacks=...)``: None or a list of Callback instances."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks must be a list of fastrnn.callbacks.Callback instances, got "
            f"{type(callbacks).__name__}"
        )
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(
                f"callbacks[{i}] must be a fastrnn.callbacks.Callback instance, got "
                f"{type(cb).__name__}: {cb!r}"
            )
    return list(callbacks)


class History(Callback):
    """Records the epoch-end logs: ``history.history["loss"]`` is a per-epoch list."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


class _Monitor:
    """The quantity a callback watches: a key of the epoch logs, a direction
    (``mode``) and the least change that counts (``min_delta``)."""

    def __init__(self, owner, monitor, mode, min_delta):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a string (a key of the epoch logs), got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be one of 'auto', 'min', 'max', got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)):
            raise TypeError(f"min_delta must be a number, got {min_delta!r}")
        if mode == "auto":
            name = monitor.lower()
            mode = "max" if name.endswith(("acc", "accuracy", "auc")) else "min"
        self.owner, self.monitor, self.mode = owner, monitor, mode
        self.min_delta = abs(float(min_delta))

    @property
    def worst(self):
        return np.inf if self.mode == "min" else -np.inf

    def improves(self, value, reference):
        """Whether ``value`` beats ``reference`` by more than ``min_delta`` (None: always)."""
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def value(self, logs):
        """The monitored value in ``logs``, or None (with a warning) when it is not there."""
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"{self.owner} is conditioned on metric {self.monitor!r}, which is not "
                f"available. Available metrics are: {', '.join(logs or {})}",
                stacklevel=3,
            )
        return current


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras 3 semantics).

    Parameters
    ----------
    monitor : str, default "val_loss"
    min_delta : float, default 0
        An improvement must exceed this (absolute) amount.
    patience : int, default 0
        Epochs without improvement after which training stops.
    mode : {"auto", "min", "max"}
        "auto": "max" when the name ends in "acc"/"accuracy"/"auc", else "min".
    baseline : float or None
        Stop if the monitored value does not beat it within ``patience`` epochs.
    restore_best_weights : bool, default False
        At the end of training restore the weights of the best epoch (Keras 3
        does this whether or not training was stopped early).
    start_from_epoch : int, default 0
        Epochs to wait before monitoring starts.
    verbose : int, default 0
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self._monitor = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.monitor, self.mode = self._monitor.monitor, self._monitor.mode
        self.min_delta = self._monitor.min_delta
        self.patience = check_int(patience, "patience", 0)
        self.start_from_epoch = check_int(start_from_epoch, "start_from_epoch", 0)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference):
        return self._monitor.improves(value, reference)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._monitor.worst
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor.value(logs)
        if current is None:
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                epoch = self.best_epoch + 1
                print(f"Restoring model weights from the end of the best epoch: {epoch}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) during ``fit`` (Keras 3 semantics).

    Parameters
    ----------
    filepath : str or os.PathLike
        Where to save; may name ``{epoch}`` (1-based) and any key of the
        epoch logs, with format specs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.npz"``.
        The file is written by ``model.save`` (or ``model.save_weights``), to
        exactly that name, complete or not at all.
    monitor : str, default "val_loss"
        What ``save_best_only`` compares.
    verbose : int, default 0
        1 prints a line per save.
    save_best_only : bool, default False
        Save only when the monitored value improves on the best so far.
    save_weights_only : bool, default False
        ``model.save_weights`` instead of ``model.save``.
    mode : {"auto", "min", "max"}
        Which direction is better ("auto": "max" for accuracies and AUC).
    save_freq : "epoch" or int, default "epoch"
        Save at every epoch end, or every ``save_freq`` training batches.
    initial_value_threshold : float, optional
        The value the first save must beat (``save_best_only``).
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"filepath must be a str or os.PathLike, got {filepath!r}")
        self.filepath = os.fspath(filepath)
        self._monitor = _Monitor("ModelCheckpoint", monitor, mode, 0)
        self.monitor, self.mode = self._monitor.monitor, self._monitor.mode
        self.verbose = check_int(verbose, "verbose", 0)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.save_weights_only = check_bool(save_weights_only, "save_weights_only")
        if save_freq != "epoch":
            save_freq = check_int(save_freq, "save_freq", 1)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold
        self._batches_seen = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.best = self.initial_value_threshold
        self._batches_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, logs, batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _path(self, epoch, logs, batch=None):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as exc:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} names {exc}, which is not in "
                f"the logs; available: {['epoch', *(logs or {})]}"
            ) from None

    def _save(self, epoch, logs, batch=None):
        path = self._path(epoch, logs, batch)
        if self.save_best_only:
            current = self._monitor.value(logs)
            if current is None:
                return
            if not self._monitor.improves(current, self.best):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {previous} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when the monitored value has
    stopped improving for ``patience`` epochs (Keras 3 semantics).

    After a reduction, ``cooldown`` epochs pass before counting starts again;
    the rate never goes below ``min_lr``. The epoch logs get the rate as
    ``"learning_rate"``.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        self._monitor = _Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.monitor, self.mode = self._monitor.monitor, self._monitor.mode
        self.factor = check_real(factor, "factor")
        if not 0 <= self.factor < 1:
            raise ValueError(f"factor must be in [0, 1) (it reduces the rate), got {factor!r}")
        self.patience = check_int(patience, "patience", 0)
        self.verbose = check_int(verbose, "verbose", 0)
        self.cooldown = check_int(cooldown, "cooldown", 0)
        self.min_lr = check_real(min_lr, "min_lr")
        if self.min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr!r}")
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = self._monitor.worst

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._monitor.value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.improves(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose:
                        print(
                            f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``), ``epoch`` 0-based (Keras 3 semantics)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable (epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = check_int(verbose, "verbose", 0)
        try:
            inspect.signature(schedule).bind(0, 0.1)
            self._takes_lr = True
        except (TypeError, ValueError):
            self._takes_lr = False

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate)
        new = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        try:
            new = check_real(new, "the schedule's learning rate")
        except TypeError:
            raise TypeError(
                f"LearningRateScheduler: schedule({epoch}) must return a number, got {new!r}"
            ) from None
        if new < 0:
            raise ValueError(
                f"LearningRateScheduler: schedule({epoch}) returned a negative rate {new}"
            )
        optimizer.learning_rate = new
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file: a header ``epoch,<keys...>``, then
    one row per epoch (Keras 3 semantics; ``epoch`` 0-based, keys sorted)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename must be a str or os.PathLike, got {filename!r}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be one character, got {separator!r}")
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = check_bool(append, "append")
        self._file = None
        self._writer = None
        self._keys = None

    def on_train_begin(self, logs=None):
        has_header = (
            self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        )
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._keys = None if not has_header else _csv_header(self.filename, self.separator)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(logs.get(k, "NA") for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


def _csv_header(filename, separator):
    with open(filename, newline="") as f:
        header = next(csv.reader(f, delimiter=separator), ["epoch"])
    return header[1:]
