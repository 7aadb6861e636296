"""Any callable ``(shape, dtype) -> array`` is an initializer (issue 15), so
Keras's own initializer objects can be passed to fastrnn layers unchanged."""

import numpy as np
import pytest

from fastrnn import initializers, layers
from fastrnn.models import Sequential, load_model


class GlorotUniform:
    """Stands in for ``keras.initializers.GlorotUniform``: its name, call and config."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        return np.random.default_rng(self.seed).uniform(-0.1, 0.1, size=shape)

    def get_config(self):
        return {"seed": self.seed}


def test_a_keras_initializer_object_draws_its_own_values():
    keras_like = GlorotUniform(seed=3)
    layer = layers.LSTM(3, kernel_initializer=keras_like)
    layer(np.ones((1, 2, 4), np.float32))
    np.testing.assert_array_equal(layer.kernel, keras_like((4, 12)).astype(np.float32))
    # Saved as fastrnn's initializer of the same class and arguments.
    config = layers.LSTM(3, kernel_initializer=keras_like).get_config()
    assert config["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": 3}}


@pytest.mark.parametrize(
    "fn",
    [lambda shape, dtype: np.full(shape, 0.5), lambda shape: np.full(shape, 0.5)],
    ids=["shape-dtype", "shape-only"],
)
def test_plain_callables(fn):
    dense = layers.Dense(2, kernel_initializer=fn)
    dense(np.ones((1, 3)))
    np.testing.assert_array_equal(dense.kernel, np.full((3, 2), 0.5, np.float32))


def test_a_callable_returning_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"returned an array of shape \(2,\) for a weight"):
        layers.Dense(2, kernel_initializer=lambda shape, dtype: np.zeros(2))(np.ones((1, 3)))


def test_a_model_with_a_custom_callable_saves_and_loads(tmp_path):
    model = Sequential([layers.Dense(2, kernel_initializer=lambda s, d: np.ones(s), input_dim=3)])
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.get_weights()[0], np.ones((3, 2), np.float32))
    # The callable itself is not in the file: drawing new weights with it says so.
    with pytest.raises(ValueError, match="custom initializer"):
        layers.Dense.from_config(loaded.layers[0].get_config())  # builds: input_dim is known


def test_classes_are_not_callables():
    with pytest.raises(TypeError, match="kernel_initializer"):
        layers.Dense(2, kernel_initializer=GlorotUniform)
    assert isinstance(initializers.get(GlorotUniform(1)), initializers.FromCallable)
