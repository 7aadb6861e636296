"""Record Keras 3 outputs and gradients for tests/test_keras_goldens.py.

Run with TensorFlow and Keras 3 installed (not needed to run the tests):

    python tests/golden/make_keras_goldens.py

Each case: random input, mask and weights (seeded), a Keras layer loaded
with those weights, its outputs, and the gradients (GradientTape) of
``sum(projection * output)`` with respect to the input and every weight.
"""

import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "simple_rnn_seq": ("SimpleRNN", dict(return_sequences=True), "none", False),
    "simple_rnn_relu_mask_back": (
        "SimpleRNN",
        dict(activation="relu", go_backwards=True, return_sequences=True),
        "random",
        False,
    ),
    "lstm_state_mask": ("LSTM", dict(return_state=True, return_sequences=True), "leading", False),
    "lstm_last_back": ("LSTM", dict(go_backwards=True), "random", False),
    "gru_after_mask": ("GRU", dict(return_sequences=True, return_state=True), "random", False),
    "gru_before": ("GRU", dict(reset_after=False, return_sequences=True), "none", False),
    "gru_before_mask_back": ("GRU", dict(reset_after=False, go_backwards=True), "random", False),
    "bi_lstm_seq_mask": ("LSTM", dict(return_sequences=True), "random", True),
    "bi_gru_state": ("GRU", dict(return_state=True), "none", True),
}


def make_mask(kind):
    mask = np.ones((3, 5), bool)
    if kind == "random":
        mask = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    elif kind == "leading":
        mask[:, :2] = False
        mask[2] = True
    return mask


def main():
    rng = np.random.default_rng(2024)
    arrays = {}
    for name, (cls_name, kwargs, mask_kind, bidirectional) in CASES.items():
        x = rng.standard_normal((3, 5, 2)).astype(np.float32)
        mask = make_mask(mask_kind)
        layer = getattr(keras.layers, cls_name)(4, **kwargs)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer)
        layer.build((3, 5, 2))
        weights = [
            (0.5 * rng.standard_normal(w.shape)).astype(np.float32) for w in layer.get_weights()
        ]
        layer.set_weights(weights)
        xt = tf.Variable(x)
        with tf.GradientTape() as tape:
            out = layer(xt, mask=None if mask_kind == "none" else tf.constant(mask))
            outs = out if isinstance(out, (list, tuple)) else [out]
            projections = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
            loss = sum(tf.reduce_sum(p * o) for p, o in zip(projections, outs))
        grads = tape.gradient(loss, [xt] + layer.trainable_weights)
        arrays[f"{name}/x"] = x
        arrays[f"{name}/mask"] = mask
        for i, w in enumerate(weights):
            arrays[f"{name}/weight{i}"] = w
        for i, (p, o) in enumerate(zip(projections, outs)):
            arrays[f"{name}/projection{i}"] = p
            arrays[f"{name}/output{i}"] = np.asarray(o)
        arrays[f"{name}/dx"] = np.asarray(grads[0])
        # Keras's trainable_weights order equals get_weights() order for these layers.
        for i, g in enumerate(grads[1:]):
            arrays[f"{name}/grad{i}"] = np.asarray(g)
    np.savez_compressed(os.path.join(HERE, "keras_goldens.npz"), **arrays)
    print(f"wrote {len(CASES)} cases with keras {keras.__version__}, tf {tf.__version__}")


if __name__ == "__main__":
    main()
