"""Sequential models built the same way from ``keras.layers`` or ``fastrnn.layers``,
for the Keras goldens of tests/test_reshaping_layers.py."""

import numpy as np


def repeat_decoder(L):
    """The keras.io addition example's shape: encoder state, RepeatVector, decoder."""
    return [
        L.RepeatVector(4),
        L.LSTM(6, return_sequences=True),
        L.TimeDistributed(L.Dense(3)),
        L.Activation("softmax"),
    ]


def masked_average(L):
    return [
        L.Embedding(9, 4, mask_zero=True),
        L.GRU(5, return_sequences=True),
        L.GlobalAveragePooling1D(),
        L.Dense(2, activation="sigmoid"),
    ]


def max_reshape_flatten(L):
    return [
        L.SimpleRNN(6, return_sequences=True),
        L.GlobalMaxPooling1D(keepdims=True),
        L.Reshape((2, 3)),
        L.Flatten(),
        L.Activation("tanh"),
        L.Dense(2),
    ]


MODELS = {
    "repeat_decoder": (repeat_decoder, "vector"),
    "masked_average": (masked_average, "ids"),
    "max_reshape_flatten": (max_reshape_flatten, "float"),
}


def model_input(kind):
    rng = np.random.default_rng(11)
    if kind == "vector":
        return rng.standard_normal((3, 5)).astype(np.float32)
    if kind == "ids":
        ids = rng.integers(1, 9, size=(3, 6))
        ids[0, 4:] = 0
        ids[1, 1:] = 0
        return ids
    return rng.standard_normal((3, 5, 2)).astype(np.float32)
