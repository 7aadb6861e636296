"""Record Keras 3 forward outputs and one epoch of SGD of the functional and
subclassed models of tests/keras_functional_models.py, for tests/test_functional.py.

Run with TensorFlow and Keras 3 installed (not needed to run the tests):

    python tests/golden/make_keras_functional_goldens.py

For each model: the weights Keras draws (``get_weights()`` order), the
inputs, the output of ``predict``, and the weights and per-epoch loss after
``fit`` for one epoch of SGD (categorical cross-entropy, no shuffling).
"""

import os

import numpy as np
from keras_setup import HERE, keras

from keras_functional_models import BATCH_SIZE, LEARNING_RATE, MODELS, data


def main():
    keras.utils.set_random_seed(11)
    arrays = {}
    for name, build in MODELS.items():
        model = build(keras)
        x, y = data(name)
        output = model.predict(x, verbose=0)
        weights = model.get_weights()
        model.compile(
            optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="categorical_crossentropy"
        )
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
        for i, w in enumerate(weights):
            arrays[f"{name}/weight{i}"] = w
        for i, w in enumerate(model.get_weights()):
            arrays[f"{name}/trained{i}"] = w
        arrays[f"{name}/output"] = output
        arrays[f"{name}/loss"] = np.array(history.history["loss"])
    np.savez(os.path.join(HERE, "keras_functional_goldens.npz"), **arrays)
    print(f"wrote {len(arrays)} arrays for {len(MODELS)} models with Keras {keras.__version__}")


if __name__ == "__main__":
    main()
