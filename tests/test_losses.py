"""Losses and metrics: hand-computed values, finite-difference gradients, masks, label checks."""

import numpy as np
import pytest

from fastrnn import losses, metrics

EPS = 1e-7


def fd_grad(loss, yt, yp, mask=None, h=1e-6):
    g = np.zeros_like(yp)
    it = np.nditer(yp, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        a = yp.copy()
        a[i] += h
        b = yp.copy()
        b[i] -= h
        g[i] = (loss(yt, a, mask) - loss(yt, b, mask)) / (2 * h)
    return g


def test_mse_value():
    yt = np.array([[1.0, 2.0], [0.0, 0.0]])
    yp = np.array([[1.5, 2.0], [1.0, -1.0]])
    # per-sample mean over last axis: 0.125, 1.0 -> mean 0.5625
    assert losses.MeanSquaredError()(yt, yp) == pytest.approx(0.5625)
    assert losses.get("mse")(yt, yp) == pytest.approx(0.5625)


def test_bce_value_matches_formula_and_clipping():
    yt = np.array([[1.0], [0.0], [1.0]])
    yp = np.array([[0.9], [0.2], [0.0]])
    p = np.clip(yp, EPS, 1 - EPS)
    expected = np.mean(-(yt * np.log(p) + (1 - yt) * np.log(1 - p)))
    assert losses.BinaryCrossentropy()(yt, yp) == pytest.approx(expected)
    # the clipped value of log(1e-7)
    assert losses.BinaryCrossentropy()([[1.0]], [[0.0]]) == pytest.approx(-np.log(EPS), rel=1e-6)


def test_bce_from_logits_equals_probabilities():
    logits = np.array([[2.0], [-1.0], [0.3]])
    yt = np.array([[1.0], [0.0], [0.0]])
    probs = 1 / (1 + np.exp(-logits))
    a = losses.BinaryCrossentropy(from_logits=True)(yt, logits)
    b = losses.BinaryCrossentropy()(yt, probs)
    assert a == pytest.approx(b, rel=1e-9)
    # stable for huge logits
    v = losses.BinaryCrossentropy(from_logits=True)([[0.0]], [[1000.0]])
    assert v == pytest.approx(1000.0)


def test_cce_value_normalises_and_clips():
    yt = np.array([[0, 1, 0], [1, 0, 0]], dtype=float)
    yp = np.array([[0.2, 0.6, 0.2], [2.0, 1.0, 1.0]])  # second row not normalised
    expected = np.mean([-np.log(0.6), -np.log(0.5)])
    assert losses.CategoricalCrossentropy()(yt, yp) == pytest.approx(expected)


def test_sparse_equals_categorical_and_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[labels]
    sm = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    a = losses.SparseCategoricalCrossentropy()(labels, sm)
    b = losses.CategoricalCrossentropy()(onehot, sm)
    c = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    d = losses.CategoricalCrossentropy(from_logits=True)(onehot, logits)
    assert a == pytest.approx(b) and a == pytest.approx(c) and c == pytest.approx(d)
    assert a == pytest.approx(np.mean(-np.log(sm[np.arange(5), labels])))
    # (batch, 1) labels accepted too
    assert losses.SparseCategoricalCrossentropy()(labels[:, None], sm) == pytest.approx(a)


CASES = [
    (losses.MeanSquaredError(), "real"),
    (losses.BinaryCrossentropy(), "prob"),
    (losses.BinaryCrossentropy(from_logits=True), "logit"),
    (losses.CategoricalCrossentropy(), "prob"),
    (losses.CategoricalCrossentropy(from_logits=True), "logit"),
    (losses.SparseCategoricalCrossentropy(), "prob"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "logit"),
]


def _data(loss, kind, shape, rng):
    yp = rng.normal(size=shape)
    if kind == "prob":
        if isinstance(loss, losses.BinaryCrossentropy):
            yp = rng.uniform(0.05, 0.95, size=shape)
        else:
            yp = rng.uniform(0.1, 1.0, size=shape)
            yp /= yp.sum(-1, keepdims=True)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        yt = rng.integers(0, shape[-1], size=shape[:-1])
    elif isinstance(loss, losses.CategoricalCrossentropy):
        yt = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    elif isinstance(loss, losses.BinaryCrossentropy):
        yt = rng.integers(0, 2, size=shape).astype(float)
    else:
        yt = rng.normal(size=shape)
    return yt, yp


@pytest.mark.parametrize("loss,kind", CASES, ids=lambda c: repr(c))
@pytest.mark.parametrize("shape", [(4, 3), (3, 5, 3)])
def test_gradient_matches_finite_differences(loss, kind, shape):
    rng = np.random.default_rng(1)
    yt, yp = _data(loss, kind, shape, rng)
    mask = None
    if len(shape) == 3:
        mask = rng.random(shape[:2]) > 0.3
        mask[0, 0] = True
    value, grad = loss.value_and_grad(yt, yp, mask)
    assert value == pytest.approx(loss(yt, yp, mask))
    assert grad.shape == yp.shape
    np.testing.assert_allclose(grad, fd_grad(loss, yt, yp, mask), rtol=1e-5, atol=1e-8)
    if mask is not None:
        assert np.all(grad[~mask] == 0)


def test_mask_mean_over_valid_steps():
    yt = np.zeros((2, 3, 1))
    yp = np.arange(6, dtype=float).reshape(2, 3, 1)
    mask = np.array([[True, True, False], [False, True, True]])
    # valid squared values: 0, 1, 16, 25 -> mean 10.5
    assert losses.MeanSquaredError()(yt, yp, mask) == pytest.approx(10.5)
    assert losses.MeanSquaredError()(yt, yp, np.zeros((2, 3), bool)) == 0.0
    with pytest.raises(ValueError, match="mask"):
        losses.MeanSquaredError()(yt, yp, np.ones((2, 4), bool))


def test_grad_dtype_follows_output():
    v, g = losses.BinaryCrossentropy().value_and_grad(
        np.ones((2, 1)), np.full((2, 1), 0.5, np.float32)
    )
    assert g.dtype == np.float32


def test_saturated_probabilities_still_finite():
    v, g = losses.BinaryCrossentropy().value_and_grad([[0.0]], np.array([[1.0]], np.float32))
    assert np.isfinite(v) and np.all(np.isfinite(g)) and g[0, 0] > 0


def test_label_shape_errors():
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([0, 1]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"categorical_crossentropy'"):
        losses.SparseCategoricalCrossentropy()(np.eye(3)[[0, 1]], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        losses.MeanSquaredError()(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="integer"):
        losses.SparseCategoricalCrossentropy()(np.array([0.5, 1]), np.full((2, 3), 1 / 3))
    # (batch,) labels for a one-unit output are fine (Keras expands them)
    assert losses.BinaryCrossentropy()(np.array([1, 0]), np.array([[0.5], [0.5]])) == pytest.approx(
        np.log(2)
    )


def test_get_errors_and_config():
    with pytest.raises(ValueError, match="binary_crossentropy"):
        losses.get("hinge")
    with pytest.raises(TypeError):
        losses.get(3)
    with pytest.raises(TypeError):
        losses.BinaryCrossentropy(from_logits="yes")
    loss = losses.CategoricalCrossentropy(from_logits=True)
    again = losses.deserialize(loss.get_config())
    assert isinstance(again, losses.CategoricalCrossentropy) and again.from_logits


# ------------------------------------------------------------------ metrics
def test_binary_accuracy_threshold_and_mask():
    m = metrics.BinaryAccuracy()
    m.update_state(np.array([1, 0, 1, 0]), np.array([[0.6], [0.4], [0.5], [0.7]]))
    assert m.result() == pytest.approx(0.5)  # 0.5 is not > 0.5
    yt = np.array([[[1], [0], [1]]])
    yp = np.array([[[0.9], [0.9], [0.1]]])
    assert metrics.BinaryAccuracy()(yt, yp, np.array([[True, False, False]])) == 1.0
    assert metrics.BinaryAccuracy()(yt, yp) == pytest.approx(1 / 3)


def test_categorical_and_sparse_accuracy():
    yp = np.array([[0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    assert metrics.CategoricalAccuracy()(np.eye(3)[[1, 1, 2]], yp) == pytest.approx(2 / 3)
    assert metrics.SparseCategoricalAccuracy()(np.array([1, 1, 2]), yp) == pytest.approx(2 / 3)
    yp3 = yp[None]  # (1, 3 steps, 3 classes)
    mask = np.array([[True, False, True]])
    assert metrics.SparseCategoricalAccuracy()(np.array([[1, 1, 2]]), yp3, mask) == 1.0


def test_accuracy_resolution_like_keras():
    assert isinstance(
        metrics.get("accuracy", "binary_crossentropy", (4,), (4, 1)), metrics.BinaryAccuracy
    )
    assert isinstance(
        metrics.get("accuracy", "sparse_categorical_crossentropy", (4,), (4, 3)),
        metrics.SparseCategoricalAccuracy,
    )
    assert isinstance(
        metrics.get("acc", "categorical_crossentropy", (4, 3), (4, 3)), metrics.CategoricalAccuracy
    )
    assert metrics.get("acc", "categorical_crossentropy", (4, 3), (4, 3)).name == "acc"
    with pytest.raises(ValueError, match="accuracy"):
        metrics.check_name("f1")


@pytest.mark.parametrize("loss,kind", CASES, ids=lambda c: repr(c))
def test_float32_outputs_match_float64(loss, kind):
    rng = np.random.default_rng(2)
    yt, yp = _data(loss, kind, (4, 6, 5), rng)
    mask = rng.random((4, 6)) > 0.4
    v64, g64 = loss.value_and_grad(yt, yp, mask)
    v32, g32 = loss.value_and_grad(yt, yp.astype(np.float32), mask)
    assert g32.dtype == np.float32
    assert v32 == pytest.approx(v64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6)


def test_sparse_check_labels_values():
    loss = losses.SparseCategoricalCrossentropy()
    loss.check_labels(np.array([0, 5]), (2, 3))  # shape only by default
    with pytest.raises(ValueError, match=r"got 5"):
        loss.check_labels(np.array([0, 5]), (2, 3), check_values=True)
