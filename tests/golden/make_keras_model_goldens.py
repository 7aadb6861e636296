"""Record Keras 3 outputs and gradients of whole Sequential models for
tests/test_reshaping_layers.py (RepeatVector, TimeDistributed, Activation,
GlobalAveragePooling1D with a mask, GlobalMaxPooling1D, Reshape, Flatten).

Run with TensorFlow and Keras 3 installed (not needed to run the tests):

    python tests/golden/make_keras_model_goldens.py

Each model is built by ``build(keras.layers)`` of tests/keras_models.py (the
same code builds the fastrnn twin from ``fastrnn.layers``), its weights are
drawn by Keras, and the file records the input, the weights, the output and
the gradients (GradientTape) of ``sum(projection * output)`` with respect
to every weight (and the input, unless it holds token ids).
"""

import os

import numpy as np
from keras_setup import HERE, keras, tf

from keras_models import MODELS, model_input


def main():
    keras.utils.set_random_seed(7)
    arrays = {}
    for name, (build, input_kind) in MODELS.items():
        x = model_input(input_kind)
        model = keras.Sequential(build(keras.layers))
        model.build(x.shape)
        output = model(x)
        projection = np.random.default_rng(3).standard_normal(output.shape).astype(np.float32)
        xt = tf.constant(x)
        with tf.GradientTape(persistent=True) as tape:
            if input_kind != "ids":
                tape.watch(xt)
            loss = tf.reduce_sum(model(xt) * projection)
        weights = model.weights
        grads = tape.gradient(loss, [w.value for w in weights])
        arrays[f"{name}/x"] = x
        arrays[f"{name}/output"] = np.asarray(output)
        arrays[f"{name}/projection"] = projection
        if input_kind != "ids":
            arrays[f"{name}/dx"] = np.asarray(tape.gradient(loss, xt))
        for i, (w, g) in enumerate(zip(weights, grads)):
            arrays[f"{name}/weight{i}"] = np.asarray(w)
            arrays[f"{name}/grad{i}"] = np.asarray(tf.convert_to_tensor(g))
    np.savez(os.path.join(HERE, "keras_model_goldens.npz"), **arrays)
    print(f"wrote {len(arrays)} arrays for {len(MODELS)} models with Keras {keras.__version__}")


if __name__ == "__main__":
    main()
