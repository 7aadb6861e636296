"""Adam, RMSprop and SGD update Embedding rows as Keras 3 on TensorFlow does
(issue 15): each occurrence of a row is squared on its own in the second
moment, and clipping acts on the occurrences; ``row_updates=False`` is the
dense rule. Goldens: tests/golden/make_keras_embedding_update_goldens.py."""

import os

import numpy as np
import pytest

from embedding_update_cases import BATCHES, OPTIMIZERS, UPSTREAM
from fastrnn import layers, optimizers
from fastrnn.models import Sequential

GOLDENS = np.load(
    os.path.join(os.path.dirname(__file__), "golden", "keras_embedding_update_goldens.npz")
)


def _train(optimizer):
    embedding = layers.Embedding(5, 2, embeddings_initializer="ones")
    for ids, upstream in zip(BATCHES, UPSTREAM):
        embedding(ids, training=True)
        embedding.backward(upstream)
        optimizer.apply_gradients(embedding.gradients, embedding.weights)
    return embedding.embeddings


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_three_steps_match_keras_on_tensorflow(name):
    np.testing.assert_allclose(
        _train(OPTIMIZERS[name](optimizers)), GOLDENS[name], rtol=1e-6, atol=3e-7
    )


def test_a_row_seen_four_times_moves_twice_as_far():
    """The issue's figure: one Adam step at lr 0.1 moves a row seen 4 times by
    0.200 (Keras on TensorFlow); the dense rule moves it 0.100."""
    for row_updates, step in [(True, 0.2), (False, 0.1)]:
        embedding = layers.Embedding(3, 1, embeddings_initializer="zeros")
        embedding(np.array([[1, 1, 1, 1]]), training=True)
        embedding.backward(np.ones((1, 4, 1), np.float32))
        optimizers.Adam(0.1, row_updates=row_updates).apply_gradients(
            embedding.gradients, embedding.weights
        )
        assert embedding.embeddings[1, 0] == pytest.approx(-step, rel=1e-4)


def test_fit_uses_the_row_updates_and_the_switch_round_trips():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(8, 6))
    y = rng.integers(0, 2, size=8).astype(np.float32)
    trained = {}
    for row_updates in (True, False):
        model = Sequential(
            [
                layers.Embedding(4, 2, seed=1),
                layers.GRU(2, seed=2),
                layers.Dense(1, activation="sigmoid", seed=3),
            ]
        )
        model.compile(
            optimizer=optimizers.Adam(0.05, row_updates=row_updates), loss="binary_crossentropy"
        )
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        trained[row_updates] = model.get_weights()[0]
    assert not np.allclose(trained[True], trained[False])
    config = optimizers.serialize(optimizers.Adam(row_updates=False))
    assert optimizers.deserialize(config).row_updates is False


def test_row_gradients_look_like_arrays():
    embedding = layers.Embedding(3, 2, dtype="float64")
    embedding(np.array([[0, 2, 2]]), training=True)
    embedding.backward(np.ones((1, 3, 2)))
    (grad,) = embedding.gradients
    np.testing.assert_array_equal(grad, [[1, 1], [0, 0], [2, 2]])
    assert (grad * 2).occurrences is None  # derived arrays carry no occurrences
    with pytest.raises(TypeError, match="row_updates"):
        optimizers.SGD(row_updates="yes")
