"""Record Keras 3 Attention / AdditiveAttention outputs and gradients for
tests/test_attention_layers.py (the cases of its CASES list).

Run with TensorFlow and Keras 3 installed (not needed to run the tests):

    python tests/golden/make_keras_attention_goldens.py
"""

import os

import numpy as np
from keras_setup import HERE, keras, tf

from test_attention_layers import CASES, Q_MASK, V_MASK, case_inputs


def main():
    keras.utils.set_random_seed(5)
    arrays = {}
    for name, cls, kwargs, with_key, masked, causal in CASES:
        layer = getattr(keras.layers, cls)(**kwargs)
        inputs = [tf.constant(a) for a in case_inputs(with_key, np.float32)]
        mask = [Q_MASK, V_MASK] if masked else None
        layer(inputs, mask=mask)
        # Weights away from their initial values, so that a wrong gradient shows.
        layer.set_weights([np.asarray(w) + 0.3 for w in layer.get_weights()])
        with tf.GradientTape(persistent=True) as tape:
            for t in inputs:
                tape.watch(t)
            output = layer(inputs, mask=mask, use_causal_mask=causal)
            projection = np.random.default_rng(1).standard_normal(output.shape).astype(np.float32)
            loss = tf.reduce_sum(output * projection)
        arrays[f"{name}/output"] = np.asarray(output)
        arrays[f"{name}/projection"] = projection
        for i, t in enumerate(inputs):
            arrays[f"{name}/dinput{i}"] = np.asarray(tape.gradient(loss, t))
        for i, w in enumerate(layer.weights):
            arrays[f"{name}/weight{i}"] = np.asarray(w)
            arrays[f"{name}/grad{i}"] = np.asarray(tape.gradient(loss, w.value))
    np.savez(os.path.join(HERE, "keras_attention_goldens.npz"), **arrays)
    print(f"wrote {len(arrays)} arrays for {len(CASES)} cases with Keras {keras.__version__}")


if __name__ == "__main__":
    main()
