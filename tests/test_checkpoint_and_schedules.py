"""ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger and
save_weights / load_weights (issue 15), with Keras 3's semantics."""

import csv
import types

import numpy as np
import pytest

from fastrnn import callbacks, layers
from fastrnn.models import Sequential, load_model


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5, 2)).astype(np.float32)
    return x, (x[:, :, 0].sum(axis=1) > 0).astype(np.float32)


def _model():
    model = Sequential([layers.GRU(4, seed=1), layers.Dense(1, activation="sigmoid", seed=2)])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


class Snapshots(callbacks.Callback):
    """The weights at each epoch end."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _fit(model, cbs, epochs=4, **kwargs):
    x, y = _data()
    return model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=8,
        validation_data=_data(16, 1),
        verbose=0,
        callbacks=cbs,
        seed=0,
        **kwargs,
    )


def test_checkpoint_every_epoch_names_files_from_the_logs(tmp_path):
    snapshots = Snapshots()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.3f}.npz")
    history = _fit(_model(), [snapshots, callbacks.ModelCheckpoint(pattern)])
    for epoch, val_loss in enumerate(history.history["val_loss"]):
        path = pattern.format(epoch=epoch + 1, val_loss=val_loss)
        for w, want in zip(load_model(path).get_weights(), snapshots.weights[epoch]):
            np.testing.assert_array_equal(w, want)


@pytest.mark.parametrize("weights_only", [False, True])
def test_checkpoint_keeps_the_best_epoch(tmp_path, weights_only):
    snapshots = Snapshots()
    path = tmp_path / "best.npz"
    checkpoint = callbacks.ModelCheckpoint(
        path, monitor="val_accuracy", save_best_only=True, save_weights_only=weights_only
    )
    history = _fit(_model(), [snapshots, checkpoint], epochs=6)
    accuracies = history.history["val_accuracy"]
    best = int(np.argmax(accuracies))  # the first of equal maxima: later ties do not improve
    assert checkpoint.best == accuracies[best]
    if weights_only:
        restored = _model()
        restored.build((None, 5, 2))
        restored.load_weights(path)
    else:
        restored = load_model(path)
    for w, want in zip(restored.get_weights(), snapshots.weights[best]):
        np.testing.assert_array_equal(w, want)


def test_checkpoint_every_n_batches(tmp_path):
    pattern = str(tmp_path / "b-{epoch}-{batch}.npz")
    _fit(_model(), [callbacks.ModelCheckpoint(pattern, save_freq=3)], epochs=2)
    saved = sorted(p.name for p in tmp_path.iterdir())
    # 4 batches per epoch, 8 in all: saves after batches 3 and 6 (epoch 1 batch 3, epoch 2 batch 2).
    assert saved == ["b-1-3.npz", "b-2-2.npz"]


def test_checkpoint_names_a_missing_log_key(tmp_path):
    with pytest.raises(KeyError, match="val_auc"):
        _fit(_model(), [callbacks.ModelCheckpoint(str(tmp_path / "{val_auc}.npz"))], epochs=1)


def _stub_model(lr):
    return types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=lr))


def test_reduce_lr_on_plateau_follows_keras():
    """patience 2, factor 0.5, cooldown 1, min_lr 0.2, traced by hand through
    Keras 3's on_epoch_end: a cooldown epoch zeroes the wait, then counts
    the epoch as one without improvement once the cooldown has run out."""
    reduce = callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2, min_delta=0
    )
    model = _stub_model(1.0)
    reduce.set_model(model)
    reduce.on_train_begin()
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8]
    rates, logged = [], []
    for epoch, loss in enumerate(losses):
        logs = {"val_loss": loss}
        reduce.on_epoch_end(epoch, logs)
        rates.append(model.optimizer.learning_rate)
        logged.append(logs["learning_rate"])
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2]
    assert logged == [1.0] + rates[:-1]  # the logs hold the rate the epoch ran with


def test_learning_rate_scheduler_sets_each_epoch():
    seen = []
    history = _fit(
        _model(),
        [callbacks.LearningRateScheduler(lambda epoch, lr: seen.append(lr) or 0.01 / (epoch + 1))],
        epochs=3,
    )
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.01 / 3])
    assert seen[1:] == pytest.approx([0.01, 0.005])
    one_argument = callbacks.LearningRateScheduler(lambda epoch: 0.1)
    one_argument.set_model(_stub_model(1.0))
    one_argument.on_epoch_begin(0)
    assert one_argument.model.optimizer.learning_rate == 0.1


def test_csv_logger_writes_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    history = _fit(_model(), [callbacks.CSVLogger(path)], epochs=2)
    _fit(_model(), [callbacks.CSVLogger(path, append=True)], epochs=1)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", *sorted(history.history)]
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"]
    assert float(rows[2][rows[0].index("loss")]) == pytest.approx(history.history["loss"][1])


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: callbacks.ModelCheckpoint(3), TypeError, "filepath"),
        (lambda: callbacks.ModelCheckpoint("a", mode="up"), ValueError, "mode"),
        (lambda: callbacks.ModelCheckpoint("a", save_freq=0), ValueError, "save_freq"),
        (lambda: callbacks.ModelCheckpoint("a", save_best_only="yes"), TypeError, "save_best_only"),
        (lambda: callbacks.ReduceLROnPlateau(factor=1.0), ValueError, "factor"),
        (lambda: callbacks.ReduceLROnPlateau(factor="x"), TypeError, "factor"),
        (lambda: callbacks.ReduceLROnPlateau(min_lr=-1), ValueError, "min_lr"),
        (lambda: callbacks.ReduceLROnPlateau(patience=1.5), TypeError, "patience"),
        (lambda: callbacks.LearningRateScheduler(0.1), TypeError, "schedule"),
        (lambda: callbacks.CSVLogger("a", separator=";;"), ValueError, "separator"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_weights_files(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match="not built"):
        model.save_weights(tmp_path / "w.npz")
    model.build((None, 5, 2))
    model.save_weights(tmp_path / "w.npz")
    other = Sequential([layers.GRU(5), layers.Dense(1)])
    other.build((None, 5, 2))
    before = other.get_weights()
    with pytest.raises(ValueError, match="shape"):
        other.load_weights(tmp_path / "w.npz")
    for w, b in zip(other.get_weights(), before):
        np.testing.assert_array_equal(w, b)
