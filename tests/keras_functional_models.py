"""Functional and subclassed models built by the same code in Keras and fastrnn.

Each builder takes the top-level namespace (``keras`` or ``fastrnn``: both
have ``Input``, ``Model`` and ``layers``) and returns the model;
tests/golden/make_keras_functional_goldens.py records what Keras computes,
tests/test_functional.py checks fastrnn against it.
"""

import numpy as np


def seq2seq(k):
    """The keras.io lstm_seq2seq tutorial, small: the encoder's states start the decoder."""
    encoder_inputs = k.Input(shape=(None, 5))
    encoder = k.layers.LSTM(8, return_state=True)
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = k.Input(shape=(None, 6))
    decoder_lstm = k.layers.LSTM(8, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_dense = k.layers.Dense(6, activation="softmax")
    return k.Model([encoder_inputs, decoder_inputs], decoder_dense(decoder_outputs))


def repeat_concat(k):
    """RepeatVector, Concatenate with a second input, a GRU and TimeDistributed(Dense)."""
    question = k.Input(shape=(7, 4))
    side = k.Input(shape=(3, 2))
    summary = k.layers.LSTM(6)(question)
    repeated = k.layers.RepeatVector(3)(summary)
    joined = k.layers.Concatenate()([repeated, side])
    sequence = k.layers.GRU(5, return_sequences=True)(joined)
    outputs = k.layers.TimeDistributed(k.layers.Dense(4, activation="softmax"))(sequence)
    return k.Model([question, side], outputs)


def subclassed_tagger(k):
    """A subclassed tagger: Embedding(mask_zero) -> Bidirectional(LSTM) -> Dense."""

    class Tagger(k.Model):
        def __init__(self):
            super().__init__()
            self.embedding = k.layers.Embedding(30, 6, mask_zero=True)
            self.bilstm = k.layers.Bidirectional(k.layers.LSTM(5, return_sequences=True))
            self.head = k.layers.Dense(4, activation="softmax")

        def call(self, inputs, training=False):
            return self.head(self.bilstm(self.embedding(inputs), training=training))

    return Tagger()


def data(name):
    """(x, y) of each model: inputs and one-hot targets, fixed."""
    rng = np.random.default_rng({"seq2seq": 1, "repeat_concat": 2, "subclassed_tagger": 3}[name])
    n = 48
    if name == "seq2seq":
        x = [
            rng.standard_normal((n, 4, 5)).astype(np.float32),
            rng.standard_normal((n, 3, 6)).astype(np.float32),
        ]
        y = np.eye(6, dtype=np.float32)[rng.integers(0, 6, (n, 3))]
    elif name == "repeat_concat":
        x = [
            rng.standard_normal((n, 7, 4)).astype(np.float32),
            rng.standard_normal((n, 3, 2)).astype(np.float32),
        ]
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 3))]
    else:
        x = rng.integers(1, 30, (n, 6)).astype(np.int32)
        lengths = rng.integers(2, 7, n)
        x[np.arange(6)[None, :] >= lengths[:, None]] = 0  # post-padded
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 6))]
    return x, y


MODELS = {
    "seq2seq": seq2seq,
    "repeat_concat": repeat_concat,
    "subclassed_tagger": subclassed_tagger,
}
#: Training in the goldens: one epoch of SGD on these batches, in order.
LEARNING_RATE = 0.5
BATCH_SIZE = 16
