"""Layer-level backward() equals central finite differences in float64.

Every layer and option of the public API: masks (random, leading, all-masked
rows), go_backwards, initial states, return_state, stateful, both GRU
variants, every Bidirectional merge mode, Embedding, Dense, Sequential.
"""

import numpy as np
import pytest

from fastrnn.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, Masking, SimpleRNN
from fastrnn.models import Sequential

EPS = 1e-6
RTOL = 1e-6
RNG = np.random.default_rng(0)


def _as_list(y):
    return list(y) if isinstance(y, list) else [y]


def _projections(y, rng):
    return [rng.standard_normal(np.shape(a)) for a in _as_list(y)]


def _loss(y, projections):
    return sum(float(np.sum(p * a)) for p, a in zip(projections, _as_list(y)))


def check_layer(
    make_call, layer, arrays, projections=None, backward_returns_state=False, rng_seed=1
):
    """FD-check ``make_call()`` w.r.t. ``arrays`` (inputs/states) and the layer's weights."""
    rng = np.random.default_rng(rng_seed)
    y = make_call(training=True)
    projections = projections or _projections(y, rng)
    dy = projections if isinstance(y, list) else projections[0]
    grads = layer.backward(dy)
    analytic_inputs = list(grads) if backward_returns_state else [grads]
    if backward_returns_state:
        dx, dstate = analytic_inputs
        analytic_inputs = [dx] + (list(dstate) if isinstance(dstate, list) else [dstate])
    analytic_weights = layer.gradients

    def numeric(array):
        grad = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            old = array[idx]
            array[idx] = old + EPS
            plus = _loss(make_call(training=False), projections)
            array[idx] = old - EPS
            minus = _loss(make_call(training=False), projections)
            array[idx] = old
            grad[idx] = (plus - minus) / (2 * EPS)
        return grad

    for name, analytic, array in [
        (f"input{i}", a, arr) for i, (a, arr) in enumerate(zip(analytic_inputs, arrays))
    ] + [(f"weight{i}", a, w) for i, (a, w) in enumerate(zip(analytic_weights, layer.weights))]:
        if analytic is None:
            continue
        num = numeric(array)
        scale = max(np.max(np.abs(num)), 1e-3)
        np.testing.assert_allclose(analytic, num, rtol=0, atol=RTOL * scale, err_msg=name)


def rnn(cls, **kwargs):
    extra = {"reset_after": kwargs.pop("reset_after")} if "reset_after" in kwargs else {}
    return cls(3, dtype="float64", seed=4, bias_initializer="random_normal", **extra, **kwargs)


CELLS = [(SimpleRNN, {}), (LSTM, {}), (GRU, {"reset_after": True}), (GRU, {"reset_after": False})]
MASKS = {
    "none": None,
    "random": np.array([[1, 0, 1, 1], [0, 1, 1, 0]], bool),
    "leading": np.array([[0, 0, 1, 1], [0, 1, 1, 1]], bool),
    "all_masked_row": np.array([[0, 0, 0, 0], [1, 1, 0, 1]], bool),
}


@pytest.mark.parametrize("cls,variant", CELLS)
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_layer(cls, variant, mask, go_backwards, return_sequences):
    layer = rnn(cls, go_backwards=go_backwards, return_sequences=return_sequences, **variant)
    x = RNG.standard_normal((2, 4, 3))
    check_layer(lambda training: layer(x, mask=MASKS[mask], training=training), layer, [x])


@pytest.mark.parametrize("cls,variant", CELLS)
@pytest.mark.parametrize("mask", ["none", "leading"])
def test_initial_state_and_return_state(cls, variant, mask):
    layer = rnn(cls, return_state=True, return_sequences=True, **variant)
    x = RNG.standard_normal((2, 4, 2))
    states = [RNG.standard_normal((2, 3)) for _ in range(2 if cls is LSTM else 1)]
    check_layer(
        lambda training: layer(x, initial_state=states, mask=MASKS[mask], training=training),
        layer,
        [x, *states],
        backward_returns_state=True,
    )


def test_initial_state_as_array_gives_array_gradient():
    layer = rnn(GRU)
    x = RNG.standard_normal((2, 4, 2))
    h0 = RNG.standard_normal((2, 3))
    layer(x, initial_state=h0, training=True)
    dx, dh0 = layer.backward(np.ones((2, 3)))
    assert dx.shape == x.shape and isinstance(dh0, np.ndarray) and dh0.shape == h0.shape
    check_layer(
        lambda training: layer(x, initial_state=h0, training=training),
        layer,
        [x, h0],
        backward_returns_state=True,
    )


@pytest.mark.parametrize("cls,variant", CELLS)
def test_stateful_second_call(cls, variant):
    """Stateful: the gradient of the second call (truncated BPTT: the carried
    state is a constant)."""
    layer = rnn(cls, stateful=True, **variant)
    x1, x2 = RNG.standard_normal((2, 3, 2)), RNG.standard_normal((2, 3, 2))
    layer(x1)
    carried = layer.states

    def call(training):
        layer.reset_states(carried)
        return layer(x2, training=training)

    check_layer(call, layer, [x2])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_bidirectional(merge_mode, return_sequences, cls):
    layer = Bidirectional(rnn(cls, return_sequences=return_sequences), merge_mode=merge_mode)
    x = RNG.standard_normal((2, 4, 2))
    check_layer(lambda training: layer(x, mask=MASKS["random"], training=training), layer, [x])


def test_bidirectional_return_state_with_initial_state():
    layer = Bidirectional(rnn(LSTM, return_state=True, return_sequences=True))
    x = RNG.standard_normal((2, 4, 2))
    states = [RNG.standard_normal((2, 3)) for _ in range(4)]
    check_layer(
        lambda training: layer(x, initial_state=states, training=training),
        layer,
        [x, *states],
        backward_returns_state=True,
    )


@pytest.mark.parametrize("activation", [None, "tanh", "sigmoid", "relu", "softmax"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_dense(activation, ndim):
    layer = Dense(
        4, activation=activation, dtype="float64", seed=2, bias_initializer="random_normal"
    )
    x = RNG.standard_normal((3, 5, 2) if ndim == 3 else (3, 2))
    check_layer(lambda training: layer(x, training=training), layer, [x])


def test_embedding():
    layer = Embedding(6, 3, dtype="float64", seed=0)
    ids = np.array([[1, 2, 2, 0], [5, 1, 0, 0]])
    y = layer(ids, training=True)
    assert layer.backward(np.ones_like(y)) is None
    check_layer(lambda training: layer(ids, training=training), layer, [])


def test_masking_and_dropout_pass_gradients():
    x = RNG.standard_normal((2, 3, 2))
    x[0, 1] = 0.0
    masking = Masking(0.0, dtype="float64")
    masking(x, training=True)
    keep = np.ones((2, 3, 1))
    keep[0, 1] = 0
    np.testing.assert_array_equal(masking.backward(np.ones_like(x)), np.broadcast_to(keep, x.shape))
    dropout = Dropout(0.5, seed=3, dtype="float64")
    x = RNG.standard_normal((2, 3, 2))
    y = dropout(x, training=True)
    np.testing.assert_array_equal(dropout.backward(np.ones_like(y)), np.where(y != 0, 2.0, 0))


def test_sequential_text_model():
    """Embedding(mask_zero) -> Bidirectional(LSTM) -> Dense(softmax), per token."""
    model = Sequential(
        [
            Embedding(7, 3, mask_zero=True, dtype="float64", seed=1),
            Bidirectional(LSTM(3, return_sequences=True, dtype="float64", seed=2)),
            Dense(4, activation="softmax", dtype="float64", seed=3),
        ]
    )
    ids = np.array([[3, 4, 0, 0], [1, 2, 6, 5]])
    rng = np.random.default_rng(5)
    y = model(ids, training=True)
    np.testing.assert_array_equal(model.output_mask, ids != 0)
    proj = rng.standard_normal(y.shape)
    model.backward(proj)
    for analytic, weight in zip(model.gradients, model.trainable_weights):
        grad = np.zeros_like(weight)
        for idx in np.ndindex(weight.shape):
            old = weight[idx]
            weight[idx] = old + EPS
            plus = np.sum(proj * model(ids))
            weight[idx] = old - EPS
            minus = np.sum(proj * model(ids))
            weight[idx] = old
            grad[idx] = (plus - minus) / (2 * EPS)
        np.testing.assert_allclose(
            analytic, grad, rtol=0, atol=RTOL * max(np.max(np.abs(grad)), 1e-3)
        )
