"""SimpleRNNCell / LSTMCell / GRUCell, StackedRNNCells and RNN(cell)
(issue 15): built-in cells run as their layers; stacks and user-written
cells run through the reference loop, with masks, go_backwards, initial
states and finite-difference gradients in float64."""

import numpy as np
import pytest

from fastrnn import layers
from fastrnn.layers.base import check_gradient
from fastrnn.models import Sequential
from test_layer_gradients import check_layer

RNG = np.random.default_rng(0)
CELLS = {"simple_rnn": layers.SimpleRNNCell, "lstm": layers.LSTMCell, "gru": layers.GRUCell}
LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
MASK = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 1, 1]], bool)


class MinimalCell(layers.Layer):
    """The Keras guide's minimal RNN cell: ``h = x @ W + tanh(h_prev @ U)``, with a backward."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        def uniform(shape, dtype, rng=None):
            return np.random.default_rng(sum(shape)).uniform(-0.5, 0.5, size=shape)

        self._add_weight("kernel", (input_shape[-1], self.units), uniform)
        self._add_weight("recurrent_kernel", (self.units, self.units), uniform)
        self.built = True

    def call(self, inputs, states, training=False):
        (h_prev,) = states
        if not self.built:
            self.build(inputs.shape)
        a = np.tanh(h_prev @ self.recurrent_kernel)
        h = inputs @ self.kernel + a
        self._cache = (inputs, h_prev, a) if training else None
        return h, [h]

    def backward(self, d_output, d_states):
        x, h_prev, a = self._require_training_call()
        dh = d_output + d_states[0]
        da = dh * (1 - a * a)
        self.gradients = [x.T @ dh, h_prev.T @ da]
        return dh @ self.kernel.T, [da @ self.recurrent_kernel.T]


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "go_backwards": True}])
def test_a_builtin_cell_is_its_layer(backend_name, cell, options):
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    rnn = layers.RNN(CELLS[cell](4, seed=1, backend=backend_name), **options)
    out = rnn(x, training=True, mask=MASK)
    twin = LAYERS[cell](4, backend=backend_name, **options)
    twin.build(x.shape)
    twin.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(out, twin(x, training=True, mask=MASK))
    dy = RNG.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_array_equal(rnn.backward(dy), twin.backward(dy))
    for a, b in zip(rnn.gradients, twin.gradients):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", list(CELLS))
def test_one_cell_step_is_one_layer_step(cell):
    c = CELLS[cell](3, dtype="float64", seed=2)
    x = RNG.standard_normal((2, 4))
    states = [RNG.standard_normal((2, 3)) for _ in range(len(np.atleast_1d(c.state_size)))]
    out, new = c(x, states, training=True)
    twin = LAYERS[cell](3, dtype="float64", return_state=True)
    twin.build((2, 1, 4))
    twin.set_weights(c.get_weights())
    want = twin(x[:, None], initial_state=states)
    np.testing.assert_allclose(out, want[0])
    for a, b in zip(new, want[1:]):
        np.testing.assert_allclose(a, b)
    dx, d_states = c.backward(np.ones_like(out), [np.zeros_like(s) for s in states])
    assert dx.shape == x.shape and len(d_states) == len(states)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_stacked_cells_finite_differences(return_sequences, go_backwards, masked):
    rnn = layers.RNN(
        [
            layers.LSTMCell(3, dtype="float64", seed=1, bias_initializer="random_normal"),
            layers.GRUCell(2, dtype="float64", seed=2, bias_initializer="random_normal"),
        ],
        return_sequences=return_sequences,
        go_backwards=go_backwards,
    )
    x = RNG.standard_normal((2, 5, 3))
    mask = MASK if masked else None
    check_layer(lambda training: rnn(x, training=training, mask=mask), rnn, [x])


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_user_cell_finite_differences_with_state(zero_output_for_mask):
    rnn = layers.RNN(
        MinimalCell(3, dtype="float64"),
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=zero_output_for_mask,
    )
    x = RNG.standard_normal((2, 5, 2))
    h0 = RNG.standard_normal((2, 3))
    check_layer(
        lambda training: rnn(x, training=training, mask=MASK, initial_state=[h0]),
        rnn,
        [x, h0],
        backward_returns_state=True,
    )


def test_stacked_lstm_cells_equal_stacked_lstm_layers():
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    rnn = layers.RNN([layers.LSTMCell(4, seed=1), layers.LSTMCell(2, seed=2)])
    out = rnn(x)
    first = layers.LSTM(4, return_sequences=True)
    second = layers.LSTM(2)
    model = Sequential([first, second])
    model.build(x.shape)
    model.set_weights(rnn.get_weights())
    np.testing.assert_allclose(out, model(x), rtol=1e-5, atol=1e-6)


def test_rnn_in_a_model_trains_and_saves(tmp_path):
    from fastrnn.models import load_model

    x = RNG.standard_normal((16, 5, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)
    model = Sequential([layers.RNN(layers.GRUCell(4, seed=1)), layers.Dense(1, seed=2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(
        load_model(tmp_path / "m.npz").predict(x, verbose=0), model.predict(x, verbose=0)
    )


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: layers.RNN(3), TypeError, "`cell`"),
        (lambda: layers.StackedRNNCells([]), TypeError, "`cells`"),
        (lambda: layers.StackedRNNCells([layers.Dense(2)]), TypeError, r"cells\[0\]"),
        (lambda: layers.LSTMCell(3, return_sequences=True), TypeError, "return_sequences"),
        (lambda: layers.RNN(layers.LSTMCell(0)), ValueError, "units"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_check_gradient_is_used_for_dy():
    rnn = layers.RNN(MinimalCell(3), return_sequences=True)
    rnn(np.ones((2, 4, 2), np.float32), training=True)
    with pytest.raises(ValueError):
        rnn.backward(np.ones((2, 4, 5)))
    assert check_gradient  # the helper the layers share


def test_stacked_set_weights_reaches_every_cell_all_or_none():
    rnn = layers.RNN([layers.LSTMCell(4, seed=1), layers.GRUCell(2, seed=2)])
    rnn.build((2, 5, 3))
    new = [RNG.standard_normal(w.shape).astype(np.float32) for w in rnn.weights]
    rnn.set_weights(new)
    for w, want in zip(rnn.get_weights(), new):
        np.testing.assert_array_equal(w, want)
    bad = new[:-1] + [np.zeros((7,), np.float32)]
    with pytest.raises(ValueError, match="shape"):
        rnn.set_weights(bad)
    for w, want in zip(rnn.get_weights(), new):
        np.testing.assert_array_equal(w, want)
