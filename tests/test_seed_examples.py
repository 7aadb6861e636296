"""The tutorial examples of shared/SEED_EXAMPLES.md, with only the imports changed."""

import numpy as np
import pytest

from fastrnn.initializers import Constant
from fastrnn.layers import LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from fastrnn.models import Sequential

TRAIN_X = np.array(
    [
        [
            [0.1, 4.2, 1.5, 1.1, 2.8],
            [1.0, 3.1, 2.5, 0.7, 1.1],
            [0.3, 2.1, 1.5, 2.1, 0.1],
            [2.2, 1.4, 0.5, 0.9, 1.1],
        ]
    ],
    dtype=np.float32,
)

SUMMARY_42 = """\
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ {name:<31} │ (None, 3)              │            42 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 42 (168.00 B)
 Trainable params: 42 (168.00 B)
 Non-trainable params: 0 (0.00 B)"""


def test_1_simple_rnn_shapes_and_params(capsys):
    model = Sequential([SimpleRNN(3, input_shape=(2, 10))])
    assert model.count_params() == 42
    model.summary()
    printed = capsys.readouterr().out
    layer = model.layers[0]
    assert SUMMARY_42.format(name=f"{layer.name} (SimpleRNN)") in printed
    assert model(np.zeros((5, 2, 10))).shape == (5, 3)


def test_1_legacy_spelling_is_the_same_layer():
    a = SimpleRNN(3, input_shape=(2, 10), seed=1)
    b = SimpleRNN(3, input_length=2, input_dim=10, seed=1)
    assert a.count_params() == b.count_params() == 42
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert Sequential([b]).summary(print_fn=None).count("(None, 3)") == 1


@pytest.mark.parametrize("return_sequences,shape", [(False, "(8, 3)"), (True, "(8, 2, 3)")])
def test_1_batch_input_shape(return_sequences, shape):
    model = Sequential(
        [SimpleRNN(3, batch_input_shape=(8, 2, 10), return_sequences=return_sequences)]
    )
    assert shape in model.summary(print_fn=None)
    assert model.count_params() == 42
    assert model(np.ones((8, 2, 10))).shape == eval(shape)


def test_2_recurrence_by_hand():
    timesteps, input_dim, hidden = 10, 4, 8
    rng = np.random.default_rng(0)
    inputs = rng.random((timesteps, input_dim))
    w_x, w_h, b = rng.random((hidden, input_dim)), rng.random((hidden, hidden)), rng.random(hidden)
    h, total = np.zeros(hidden), []
    for x_t in inputs:
        h = np.tanh(w_x @ x_t + w_h @ h + b)
        total.append(h)
    layer = SimpleRNN(hidden, return_sequences=True, dtype="float64", backend="numpy")
    layer.build((None, timesteps, input_dim))
    layer.set_weights([w_x.T, w_h.T, b])  # the tutorial's W_x is the kernel's transpose
    out = layer(inputs[None])
    assert out.shape == (1, 10, 8)
    np.testing.assert_allclose(out[0], np.stack(total), rtol=1e-12)


def test_3_weights_checked_by_hand():
    layer = SimpleRNN(1, input_shape=(5, 1), return_sequences=True)
    weights = [np.array([[0.32394445]]), np.array([[1.0]]), np.array([0.0])]
    layer.set_weights(weights)
    out = layer(np.array([[[1], [2], [3], [4], [5]]]))
    assert out.shape == (1, 5, 1) and out.dtype == np.float32
    np.testing.assert_allclose(
        out.ravel(), [0.31306913, 0.7447039, 0.9374446, 0.97728485, 0.98896194], atol=2e-7
    )
    got = layer.get_weights()
    assert [w.shape for w in got] == [(1, 1), (1, 1), (1,)]
    for g, w in zip(got, weights):
        np.testing.assert_allclose(g, w, rtol=1e-7)
    h, by_hand = 0.0, []
    for x_t in range(1, 6):
        h = np.tanh(x_t * 0.32394445 + h * 1.0)
        by_hand.append(h)
    np.testing.assert_allclose(out.ravel(), by_hand, atol=1e-7)


def test_4_deep_rnn():
    model = Sequential(
        [
            SimpleRNN(6, input_length=10, input_dim=5, return_sequences=True),
            SimpleRNN(6, return_sequences=True),
        ]
    )
    assert model(np.ones((2, 10, 5))).shape == (2, 10, 6)
    assert model.count_params() == 6 * (5 + 6 + 1) + 6 * (6 + 6 + 1)


def test_5_bidirectional_and_four_stacked():
    model = Sequential([Bidirectional(SimpleRNN(4, return_sequences=True), input_shape=(10, 5))])
    assert model(np.ones((3, 10, 5))).shape == (3, 10, 8)
    stacked = Sequential(
        [Bidirectional(SimpleRNN(4, return_sequences=True), input_shape=(10, 5))]
        + [Bidirectional(SimpleRNN(4, return_sequences=True)) for _ in range(3)]
    )
    assert stacked(np.ones((3, 10, 5))).shape == (3, 10, 8)
    assert "(None, 10, 8)" in stacked.summary(print_fn=None)


def test_6_parameter_count_quiz():
    model = Sequential(
        [Embedding(5000, 100, input_length=30), SimpleRNN(128), Dense(1, activation="sigmoid")]
    )
    assert [layer.count_params() for layer in model.layers] == [500000, 29312, 129]
    assert model.count_params() == 529441
    assert "Total params: 529,441" in model.summary(print_fn=None)


def test_7_what_simple_rnn_and_lstm_return():
    assert SimpleRNN(3)(TRAIN_X).shape == (1, 3)
    assert SimpleRNN(3, return_sequences=True)(TRAIN_X).shape == (1, 4, 3)
    output, h, c = LSTM(3, return_state=True)(TRAIN_X)
    assert output.shape == h.shape == c.shape == (1, 3)
    np.testing.assert_array_equal(output, h)


def _constant_bilstm(return_sequences):
    return Bidirectional(
        LSTM(
            3,
            return_state=True,
            return_sequences=return_sequences,
            kernel_initializer=Constant(0.1),
            bias_initializer=Constant(0),
            recurrent_initializer=Constant(0.1),
        )
    )


def test_7_bidirectional_lstm_outputs_and_state_order():
    output, fwd_h, fwd_c, bwd_h, bwd_c = _constant_bilstm(False)(TRAIN_X)
    assert output.shape == (1, 6)
    for state in (fwd_h, fwd_c, bwd_h, bwd_c):
        assert state.shape == (1, 3)
    np.testing.assert_allclose(fwd_h, [[0.63031393] * 3], atol=1e-6)
    np.testing.assert_allclose(fwd_c, [[1.5707088] * 3], atol=1e-6)
    np.testing.assert_allclose(bwd_h, [[0.70387346] * 3], atol=1e-6)
    np.testing.assert_allclose(bwd_c, [[1.6402446] * 3], atol=1e-6)
    np.testing.assert_array_equal(output, np.concatenate([fwd_h, bwd_h], axis=1))


def test_7_bidirectional_lstm_sequences_align_positions():
    output, fwd_h, fwd_c, bwd_h, bwd_c = _constant_bilstm(True)(TRAIN_X)
    assert output.shape == (1, 4, 6)
    np.testing.assert_allclose(output[0, -1, :3], fwd_h[0], atol=1e-7)  # forward ends last
    np.testing.assert_allclose(output[0, 0, 3:], bwd_h[0], atol=1e-7)  # backward ends first
    np.testing.assert_allclose(
        output[0, :, 3], [0.70387346, 0.5886358, 0.3951699, 0.21942243], atol=1e-6
    )
    np.testing.assert_allclose(
        output[0, :, 0], [0.35906473, 0.5511133, 0.5911575, 0.63031393], atol=1e-6
    )


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM])
def test_8_language_model_teacher_forcing_shapes(cell):
    vocab = 12
    model = Sequential(
        [Embedding(vocab, 5), cell(8, return_sequences=True), Dense(vocab, activation="softmax")]
    )
    ids = np.random.default_rng(0).integers(1, vocab, size=(4, 6))
    probs = model(ids[:, :-1], training=True)
    assert probs.shape == (4, 5, vocab)
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)
    target = np.eye(vocab)[ids[:, 1:]]
    model.backward(-(target / probs) / target[..., 0].size)  # d(cross-entropy)
    names = [w.shape for w in model.trainable_weights]
    assert names[0] == (vocab, 5) and names[-2] == (8, vocab)  # E ... W_y
    assert all(g.shape == w.shape for g, w in zip(model.gradients, model.trainable_weights))


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_9_classification_and_tagging_shapes(cell):
    from fastrnn import layers

    cls = getattr(layers, cell)
    classifier = Sequential([Embedding(50, 8), cls(6), Dense(1, activation="sigmoid")])
    assert classifier(np.ones((3, 7), int)).shape == (3, 1)
    tagger = Sequential(
        [
            Embedding(50, 8, mask_zero=True),
            Bidirectional(LSTM(6, return_sequences=True)),
            Dense(5, activation="softmax"),
        ]
    )
    assert tagger(np.ones((3, 7), int)).shape == (3, 7, 5)
