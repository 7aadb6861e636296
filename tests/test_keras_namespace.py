"""``import fastrnn as keras``: the names Keras programs use (issue 15), and
``keras.utils.set_random_seed`` reaching every generator fastrnn makes."""

import numpy as np
import pytest

import fastrnn as keras
from fastrnn import _random


@pytest.fixture(autouse=True)
def _no_global_seed_after():
    yield
    _random._sequence = None  # the tests after these draw fresh entropy again


def test_the_names_keras_programs_use():
    assert keras.Sequential is keras.models.Sequential
    assert keras.Model is keras.models.Model
    assert keras.Input is keras.layers.Input
    for name in (
        "InputLayer",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "Bidirectional",
        "Embedding",
        "Dense",
        "Dropout",
        "TimeDistributed",
        "RepeatVector",
    ):
        assert isinstance(getattr(keras.layers, name), type)
    assert keras.callbacks.ModelCheckpoint and keras.callbacks.EarlyStopping
    assert keras.optimizers.Adam and keras.models.load_model
    assert keras.preprocessing.text.Tokenizer is keras.preprocessing.Tokenizer
    assert keras.preprocessing.sequence.pad_sequences is keras.utils.pad_sequences
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2]), [[1, 0, 0], [0, 0, 1]])


def _program():
    """Build, call with dropout, and fit a model with no seed anywhere."""
    model = keras.Sequential(
        [keras.layers.LSTM(3), keras.layers.Dropout(0.5), keras.layers.Dense(1)]
    )
    x = np.linspace(-1, 1, 8 * 4 * 2, dtype=np.float32).reshape(8, 4, 2)
    dropped = model(x, training=True)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((8, 1), np.float32), batch_size=2, epochs=2, verbose=0)
    return [dropped, *model.get_weights()]


def test_set_random_seed_makes_a_program_repeat():
    keras.utils.set_random_seed(42)
    first = _program()
    keras.utils.set_random_seed(42)
    second = _program()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    keras.utils.set_random_seed(43)
    third = _program()
    assert not np.array_equal(first[1], third[1])


def test_explicit_seeds_do_not_depend_on_the_global_one():
    keras.utils.set_random_seed(1)
    a = keras.layers.Dense(2, seed=5)(np.ones((1, 3)))
    keras.utils.set_random_seed(2)
    b = keras.layers.Dense(2, seed=5)(np.ones((1, 3)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (None, TypeError), ("a", TypeError)])
def test_set_random_seed_checks_its_argument(seed, error):
    with pytest.raises(error, match="seed"):
        keras.utils.set_random_seed(seed)
