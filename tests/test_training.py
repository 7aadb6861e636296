"""compile / fit / evaluate / predict on the real Sequential model."""

import numpy as np
import pytest

from fastrnn import callbacks, optimizers
from fastrnn.training import NonFiniteLossError

models = pytest.importorskip("fastrnn.models")
layers = pytest.importorskip("fastrnn.layers")
Sequential = models.Sequential
Embedding, SimpleRNN, LSTM, GRU, Dense = (
    layers.Embedding,
    layers.SimpleRNN,
    layers.LSTM,
    layers.GRU,
    layers.Dense,
)


def toy_data(n=256, t=8, vocab=10, seed=0):
    """Label 1 when token 3 occurs in the sequence."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, t))
    y = (x == 3).any(axis=1).astype("float32")
    return x, y


def toy_model(seed=0, optimizer="adam", metrics=("accuracy",)):
    model = Sequential(
        [
            Embedding(10, 8, seed=seed),
            SimpleRNN(16, seed=seed),
            Dense(1, activation="sigmoid", seed=seed),
        ]
    )
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=list(metrics))
    return model


def test_toy_task_reaches_high_accuracy():
    x, y = toy_data(512)
    model = toy_model(optimizer=optimizers.Adam(0.01))
    history = model.fit(x, y, epochs=12, batch_size=32, seed=0, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.95 and loss < 0.2


def test_history_keys_and_lengths():
    x, y = toy_data(100)
    model = toy_model()
    h = model.fit(x, y, epochs=3, validation_split=0.2, verbose=0, seed=1)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in h.history.values())
    assert h.epoch == [0, 1, 2] and model.history is h
    h = toy_model(metrics=()).fit(x, y, epochs=2, verbose=0)
    assert set(h.history) == {"loss"}


def test_validation_split_takes_the_last_fraction():
    x, y = toy_data(100)
    model = toy_model()
    h = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, seed=0)
    val = model.evaluate(x[75:], y[75:], verbose=0, return_dict=True)
    assert h.history["val_loss"][0] == pytest.approx(val["loss"], rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(val["accuracy"])
    # trained on the first 75 only: the validation part never enters training
    m2 = toy_model()
    m2.fit(x[:75], y[:75], epochs=1, verbose=0, seed=0)
    for a, b in zip(model.get_weights(), m2.get_weights()):
        assert np.array_equal(a, b)


def test_validation_data_used():
    x, y = toy_data(100)
    model = toy_model()
    h = model.fit(x[:80], y[:80], epochs=1, validation_data=(x[80:], y[80:]), verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[80:], y[80:], verbose=0)[0], rel=1e-6
    )


def test_shuffle_reproducible_with_seed():
    x, y = toy_data(120)
    w = []
    for seed in (5, 5, 6):
        model = toy_model()
        model.fit(x, y, epochs=2, batch_size=16, seed=seed, verbose=0)
        w.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(w[0], w[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(w[0], w[2]))


def test_shuffle_false_is_in_order():
    x, y = toy_data(64)
    seen = []

    class Spy(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    m1, m2 = toy_model(), toy_model()
    m1.fit(x, y, epochs=1, batch_size=16, shuffle=False, seed=1, verbose=0, callbacks=[Spy()])
    m2.fit(x, y, epochs=1, batch_size=16, shuffle=False, seed=2, verbose=0)
    assert seen == [0, 1, 2, 3]
    assert all(np.array_equal(a, b) for a, b in zip(m1.get_weights(), m2.get_weights()))


class Scripted(callbacks.Callback):
    """Overwrites val_loss with scripted values and records the weights each epoch."""

    def __init__(self, values):
        super().__init__()
        self.values = values
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def test_early_stopping_with_restore_best_weights():
    x, y = toy_data(64)
    model = toy_model()
    script = Scripted([1.0, 0.5, 0.7, 0.8, 0.9, 1.0])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x, y, epochs=6, validation_split=0.25, verbose=0, callbacks=[script, stop])
    assert len(h.history["loss"]) == 4  # stopped after epoch index 3
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), script.weights[1]):
        assert np.array_equal(a, b)


def test_early_stopping_min_delta_and_mode():
    x, y = toy_data(64)
    model = toy_model()
    script = Scripted([1.0, 0.99, 0.98, 0.97])
    stop = callbacks.EarlyStopping(patience=1, min_delta=0.05)
    h = model.fit(x, y, epochs=4, verbose=0, callbacks=[script, stop], validation_split=0.25)
    assert len(h.history["loss"]) == 2
    assert callbacks.EarlyStopping(monitor="val_accuracy").mode == "max"
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="up")


def test_callback_can_stop_training():
    class Stop(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    x, y = toy_data(64)
    h = toy_model().fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[Stop()])
    assert len(h.history["loss"]) == 1


def test_nan_loss_stops_with_clear_error():
    x, y = toy_data(32)
    y = y.copy()
    y[5] = np.nan
    model = toy_model()
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 2"):
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    with pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)


def test_evaluate_return_forms():
    x, y = toy_data(50)
    model = toy_model()
    model.fit(x, y, epochs=1, verbose=0)
    res = model.evaluate(x, y, verbose=0)
    assert isinstance(res, list) and len(res) == 2
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "accuracy"] and d["loss"] == pytest.approx(res[0])
    assert isinstance(toy_model(metrics=()).evaluate(x, y, verbose=0), float)
    # full-batch evaluate equals the loss function on predict
    p = model.predict(x, verbose=0)
    assert model.evaluate(x, y, batch_size=50, verbose=0)[0] == pytest.approx(
        model.loss(y, p), rel=1e-6
    )


def test_predict_batches_match_direct_call():
    x, y = toy_data(70)
    model = toy_model()
    p1 = model.predict(x, batch_size=7, verbose=0)
    p2 = model.predict(x, batch_size=100, verbose=0)
    assert p1.shape == (70, 1)
    np.testing.assert_allclose(p1, p2, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(p1, model(x), rtol=1e-6, atol=1e-7)


def test_many_to_many_with_mask_ignores_padding():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, size=(40, 7))
    x[:, :3] = 0  # leading padding
    y = (x % 3).astype("int64")  # per-token class, 3 classes
    model = Sequential(
        [
            Embedding(6, 8, mask_zero=True, seed=0),
            LSTM(16, return_sequences=True, seed=0),
            Dense(3, activation="softmax", seed=0),
        ]
    )
    model.compile(
        optimizer=optimizers.Adam(0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    h = model.fit(x, y, epochs=15, batch_size=8, seed=0, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    base = model.evaluate(x, y, verbose=0, return_dict=True)
    y2 = y.copy()
    y2[:, :3] = (y2[:, :3] + 1) % 3  # change the labels under the mask only
    other = model.evaluate(x, y2, verbose=0, return_dict=True)
    assert other == pytest.approx(base)


def test_categorical_and_mse_workflows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5, 3)).astype("float32")
    labels = (x[:, :, 0].sum(axis=1) > 0).astype(int)
    model = Sequential([GRU(8, seed=0), Dense(2, activation="softmax", seed=0)])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, np.eye(2)[labels], epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    reg = Sequential([SimpleRNN(4, seed=0), Dense(1, seed=0)])
    reg.compile(optimizer=optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
    h = reg.fit(x, x[:, -1, :1], epochs=3, verbose=0)
    assert set(h.history) == {"loss", "mae"}
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_progress_output(capsys):
    x, y = toy_data(64)
    model = toy_model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "4/4" in text and "loss:" in text
    model.fit(x, y, epochs=2, batch_size=16, verbose=2)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("4/4 - ") and "accuracy:" in lines[1]
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# ------------------------------------------------------------------ bad input
def test_fit_and_evaluate_before_compile():
    x, y = toy_data(10)
    model = Sequential([Embedding(10, 4), SimpleRNN(4), Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y, verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate(x, y, verbose=0)
    assert model.predict(x, verbose=0).shape == (10, 1)  # predict needs no compile


def test_unknown_names_list_valid_ones():
    model = Sequential([Dense(1)])
    with pytest.raises(ValueError, match="binary_crossentropy"):
        model.compile(loss="hinge")
    with pytest.raises(ValueError, match="adam"):
        model.compile(optimizer="adagrad", loss="mse")
    with pytest.raises(ValueError, match="accuracy"):
        model.compile(loss="mse", metrics=["f1"])
    with pytest.raises(TypeError, match="metrics"):
        model.compile(loss="mse", metrics=5)


def test_length_mismatch_and_label_shape_errors():
    x, y = toy_data(20)
    model = toy_model()
    with pytest.raises(ValueError, match=r"x has 20.*y has 19"):
        model.fit(x, y[:19], verbose=0)
    with pytest.raises(ValueError, match=r"\(20, 3\)"):
        model.fit(x, np.zeros((20, 3)), verbose=0)
    before = model.get_weights()
    cat = Sequential(
        [Embedding(10, 4, seed=0), SimpleRNN(4, seed=0), Dense(3, activation="softmax")]
    )
    cat.compile(loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        cat.fit(x, np.zeros(20, int), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(x, y, validation_data=(x, y, y, y), verbose=0)


def test_bad_fit_arguments():
    x, y = toy_data(20)
    model = toy_model()
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="not sufficient"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(TypeError, match="epochs"):
        model.fit(x, y, epochs=1.5, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    with pytest.raises(TypeError, match="callbacks"):
        model.fit(x, y, verbose=0, callbacks=[print])
    with pytest.raises(ValueError, match="empty"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="ragged"):
        model.fit([[1, 2], [1]], [0, 1], verbose=0)


def test_bad_label_in_a_later_batch_fails_before_any_update():
    x = np.random.default_rng(0).integers(1, 10, size=(40, 5))
    y = np.zeros(40, dtype=int)
    y[-1] = 7  # out of range for 3 classes, last batch
    model = Sequential(
        [Embedding(10, 4, seed=0), SimpleRNN(4, seed=0), Dense(3, activation="softmax", seed=0)]
    )
    model.compile(loss="sparse_categorical_crossentropy")
    model(x[:1])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"\[0, 3\).*got 7"):
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.optimizer.iterations == 0


def test_one_sgd_step_matches_hand_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    t = rng.normal(size=(6, 2))
    model = Sequential([Dense(2, input_shape=(3,), dtype="float64", seed=0)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    w0, b0 = model.get_weights()
    model.fit(x, t, batch_size=6, epochs=1, shuffle=False, verbose=0)
    dy = 2 * (x @ w0 + b0 - t) / t.size  # d mean((y - t)^2) / dy
    w1, b1 = model.get_weights()
    np.testing.assert_allclose(w1, w0 - 0.1 * x.T @ dy, rtol=1e-12)
    np.testing.assert_allclose(b1, b0 - 0.1 * dy.sum(0), rtol=1e-12)
