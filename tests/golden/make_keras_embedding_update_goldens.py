"""Record Keras 3 (TensorFlow) Embedding tables after three optimizer steps,
for tests/test_embedding_updates.py.

Run with TensorFlow and Keras 3 installed (not needed to run the tests):

    python tests/golden/make_keras_embedding_update_goldens.py
"""

import os

import numpy as np
from keras_setup import HERE, keras, tf

from embedding_update_cases import BATCHES, OPTIMIZERS, UPSTREAM


def main():
    tables = {}
    for name, make in OPTIMIZERS.items():
        embedding = keras.layers.Embedding(5, 2, embeddings_initializer="ones")
        embedding.build((1, 5))
        optimizer = make(keras.optimizers)
        for ids, upstream in zip(BATCHES, UPSTREAM):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(embedding(tf.constant(ids)) * upstream)
            grads = tape.gradient(loss, embedding.trainable_variables)
            optimizer.apply_gradients(zip(grads, embedding.trainable_variables))
        tables[name] = np.asarray(embedding.embeddings)
    np.savez(os.path.join(HERE, "keras_embedding_update_goldens.npz"), **tables)
    print(f"wrote {len(tables)} tables with Keras {keras.__version__}")


if __name__ == "__main__":
    main()
