"""fastrnn equals Keras 3: outputs and gradients recorded from Keras itself.

``tests/golden/keras_goldens.npz`` was written by
``tests/golden/make_keras_goldens.py`` (Keras 3.15 on TensorFlow 2.21): for
each case, Keras's layer was loaded with random weights, called on a random
input and mask, and differentiated with GradientTape. Here the same weights
go into the fastrnn layer through ``set_weights`` — no conversion — and the
outputs and gradients must agree (float32).
"""

import os

import numpy as np
import pytest

import fastrnn
from fastrnn import layers

GOLDENS = np.load(os.path.join(os.path.dirname(__file__), "golden", "keras_goldens.npz"))
CASES = {
    "simple_rnn_seq": ("SimpleRNN", dict(return_sequences=True), False, False),
    "simple_rnn_relu_mask_back": (
        "SimpleRNN",
        dict(activation="relu", go_backwards=True, return_sequences=True),
        True,
        False,
    ),
    "lstm_state_mask": ("LSTM", dict(return_state=True, return_sequences=True), True, False),
    "lstm_last_back": ("LSTM", dict(go_backwards=True), True, False),
    "gru_after_mask": ("GRU", dict(return_sequences=True, return_state=True), True, False),
    "gru_before": ("GRU", dict(reset_after=False, return_sequences=True), False, False),
    "gru_before_mask_back": ("GRU", dict(reset_after=False, go_backwards=True), True, False),
    "bi_lstm_seq_mask": ("LSTM", dict(return_sequences=True), True, True),
    "bi_gru_state": ("GRU", dict(return_state=True), False, True),
}


def golden(name, key):
    return GOLDENS[f"{name}/{key}"]


def count(name, prefix):
    return sum(1 for k in GOLDENS.files if k.startswith(f"{name}/{prefix}"))


@pytest.mark.parametrize("backend", fastrnn.available_backends())
@pytest.mark.parametrize("name", list(CASES))
def test_matches_keras(name, backend):
    cls_name, kwargs, masked, bidirectional = CASES[name]
    layer = getattr(layers, cls_name)(4, backend=backend, **kwargs)
    if bidirectional:
        layer = layers.Bidirectional(layer)
    x = golden(name, "x")
    layer.build(x.shape)
    layer.set_weights([golden(name, f"weight{i}") for i in range(count(name, "weight"))])
    out = layer(x, mask=golden(name, "mask") if masked else None, training=True)
    outs = out if isinstance(out, list) else [out]
    assert len(outs) == count(name, "output")
    for i, o in enumerate(outs):
        np.testing.assert_allclose(
            o, golden(name, f"output{i}"), rtol=1e-5, atol=2e-6, err_msg=f"output{i}"
        )
    projections = [golden(name, f"projection{i}") for i in range(len(outs))]
    dx = layer.backward(projections if isinstance(out, list) else projections[0])
    np.testing.assert_allclose(dx, golden(name, "dx"), rtol=1e-4, atol=1e-5)
    for i, g in enumerate(layer.gradients):
        np.testing.assert_allclose(
            g, golden(name, f"grad{i}"), rtol=1e-4, atol=1e-5, err_msg=f"grad{i}"
        )
