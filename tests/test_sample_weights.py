"""fit / evaluate with sample_weight, class_weight and steps_per_epoch
(issue 15), with Keras 3's semantics."""

import warnings

import numpy as np
import pytest

from fastrnn import callbacks, layers, losses, metrics, optimizers
from fastrnn.models import Sequential


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4, 2)).astype(np.float32)
    return x, (x[:, :, 0].sum(axis=1) > 0).astype(np.float32)


def _model(lr=0.1):
    model = Sequential([layers.GRU(3, seed=1), layers.Dense(1, activation="sigmoid", seed=2)])
    model.compile(optimizer=optimizers.SGD(lr), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_the_loss_is_the_mean_of_weighted_losses_not_rescaled():
    loss = losses.get("mse")
    y, p = np.array([[1.0], [0.0], [1.0]]), np.array([[0.5], [0.5], [0.0]])
    per_sample = loss.per_position(y, p)
    sw = np.array([1.0, 2.0, 0.0])
    assert loss(y, p, sample_weight=sw) == pytest.approx(np.mean(per_sample * sw))
    value, grad = loss.value_and_grad(y, p, sample_weight=sw)
    np.testing.assert_allclose(grad[:, 0], sw * 2 * (p[:, 0] - y[:, 0]) / 3)


def test_masked_per_step_loss_with_weights():
    loss = losses.get("sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(3), size=(2, 4))
    y = rng.integers(0, 3, size=(2, 4))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    sw = np.array([2.0, 0.5])
    per_step = loss.per_position(y, p)
    want = np.sum(per_step * mask * sw[:, None]) / mask.sum()
    assert loss(y, p, mask, sample_weight=sw) == pytest.approx(want)
    step_weights = rng.random((2, 4))
    want = np.sum(per_step * mask * step_weights) / mask.sum()
    assert loss(y, p, mask, sample_weight=step_weights) == pytest.approx(want)


def test_weighted_metric():
    accuracy = metrics.get("binary_accuracy")
    accuracy.update_state(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.2]), sample_weight=[3, 1, 1])
    assert accuracy.result() == pytest.approx(3 / 5)


def test_unit_weights_change_nothing_and_doubled_weights_double_the_step():
    x, y = _data()
    plain, ones, doubled, faster = _model(), _model(), _model(), _model(lr=0.2)
    plain.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ones.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, sample_weight=np.ones(16))
    doubled.fit(
        x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, sample_weight=np.full(16, 2.0)
    )
    faster.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), ones.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(doubled.get_weights(), faster.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_class_weight_is_sample_weight_by_label():
    x, y = _data()
    by_class, by_sample = _model(), _model()
    by_class.fit(x, y, batch_size=4, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 3.0})
    by_sample.fit(
        x, y, batch_size=4, shuffle=False, verbose=0, sample_weight=np.where(y == 1, 3.0, 1.0)
    )
    for a, b in zip(by_class.get_weights(), by_sample.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_class_weight_on_sparse_per_step_labels_weighs_each_step():
    from fastrnn.training import _sample_weights

    y = np.array([[0, 2, 1], [2, 2, 0]])
    np.testing.assert_array_equal(
        _sample_weights(y, None, {2: 5.0}, sparse_labels=True), [[1, 5, 1], [5, 5, 1]]
    )
    one_hot = np.eye(3)[[0, 2]]
    np.testing.assert_array_equal(_sample_weights(one_hot, None, {2: 5.0}, False), [1, 5])


def test_evaluate_and_validation_data_take_weights():
    x, y = _data()
    model = _model()
    sw = np.linspace(0, 2, 16)
    weighted = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    per_sample = model.loss.per_position(y, model.predict(x, verbose=0))
    assert weighted["loss"] == pytest.approx(np.mean(per_sample * sw), rel=1e-5)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, sw))
    assert "val_loss" in history.history


class Batches(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[-1] += 1


def test_steps_per_epoch_streams_through_the_data_as_keras_does():
    """16 samples, batch 4: 4 batches a pass. steps_per_epoch=3 gives 3, then 1
    (the pass ends, with a warning), then 3 again."""
    x, y = _data()
    counter = Batches()
    with pytest.warns(UserWarning, match="ran out"):
        _model().fit(
            x, y, batch_size=4, epochs=3, steps_per_epoch=3, verbose=0, callbacks=[counter]
        )
    assert counter.per_epoch == [3, 1, 3]
    counter = Batches()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(
            x, y, batch_size=4, epochs=2, steps_per_epoch=2, verbose=0, callbacks=[counter]
        )
    assert counter.per_epoch == [2, 2]
