"""Record Keras 3 training-mode outputs and gradients of SimpleRNN, LSTM and GRU
with ``dropout`` / ``recurrent_dropout``, for tests/test_recurrent_dropout.py.

Run with TensorFlow and Keras 3 installed (not needed to run the tests):

    python tests/golden/make_keras_dropout_goldens.py

Keras draws its dropout masks once per call and caches them on the cell
(``DropoutRNNCell``); this script puts masks of its own in that cache before
the call, so that the test can give fastrnn the same masks. Each case records
the weights, the input, the Boolean mask, the dropout masks in fastrnn's
kernel layout (``(M, batch, features)`` and ``(R, batch, units)``), the
output of ``layer(x, mask=..., training=True)``, a random projection of it
and the gradients of ``sum(projection * output)`` with respect to the input
and every weight.
"""

import os

import numpy as np
from keras_setup import HERE, keras, tf

from dropout_cases import CASES, case_arrays


def _keras_masks(masks, per_gate):
    """fastrnn's (count, batch, size) masks as Keras caches them: one tensor,
    or a list of one per gate (``dropout_mask_count``); None when absent."""
    if masks.shape[0] == 0:
        return None
    if per_gate:
        return [tf.constant(m) for m in masks]
    return tf.constant(masks[0])


def main():
    arrays = {}
    for name, case in CASES.items():
        data = case_arrays(name)
        layer_class = getattr(keras.layers, case["layer"])
        options = {"reset_after": case["reset_after"]} if case["layer"] == "GRU" else {}
        layer = layer_class(
            data["units"],
            dropout=case["dropout"],
            recurrent_dropout=case["recurrent_dropout"],
            return_sequences=True,
            go_backwards=case["go_backwards"],
            dtype="float64",
            **options,
        )
        x = tf.constant(data["x"])
        layer.build(x.shape)
        layer.set_weights(data["weights"])
        # Keras keeps one mask per gate where the cell counts masks (LSTM and
        # GRU with recurrent_dropout switch to implementation 1).
        per_gate = getattr(layer.cell, "dropout_mask_count", None) is not None
        layer.cell._dropout_mask = _keras_masks(data["dropout_mask"], per_gate)
        layer.cell._recurrent_dropout_mask = _keras_masks(data["recurrent_dropout_mask"], per_gate)
        mask = None if data["mask"] is None else tf.constant(data["mask"])
        with tf.GradientTape() as tape:
            tape.watch(x)
            output = layer(x, mask=mask, training=True)
            loss = tf.reduce_sum(output * data["projection"])
        gradients = tape.gradient(loss, [x, *layer.trainable_weights])
        arrays[f"{name}/output"] = output.numpy()
        for i, g in enumerate(gradients):
            arrays[f"{name}/gradient{i}"] = g.numpy()
    np.savez(os.path.join(HERE, "keras_dropout_goldens.npz"), **arrays)
    print(f"wrote {len(arrays)} arrays for {len(CASES)} cases with Keras {keras.__version__}")


if __name__ == "__main__":
    main()
