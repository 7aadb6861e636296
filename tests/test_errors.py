"""Bad input gets a clear ValueError/TypeError naming the argument, the
expected and the given, and leaves the object unchanged."""

import numpy as np
import pytest

import fastrnn
from fastrnn.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from fastrnn.models import Sequential

X = np.ones((2, 3, 4), np.float32)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4, 1), (4,)])
def test_recurrent_input_must_be_3d(cls, shape):
    with pytest.raises(
        ValueError,
        match=r"3-D.*\(batch, timesteps, features\).*"
        + str(shape).replace("(", r"\(").replace(")", r"\)"),
    ):
        cls(2)(np.ones(shape))


def test_feature_size_cannot_change_after_build():
    layer = LSTM(2)
    layer(X)
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"4 features.*\(2, 3, 5\)"):
        layer(np.ones((2, 3, 5)))
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_non_numeric_and_ragged_input():
    with pytest.raises(TypeError, match="numeric.*<U"):
        SimpleRNN(2)(np.array([[["a", "b"]]]))
    with pytest.raises(ValueError, match="rectangular"):
        SimpleRNN(2)([[[1.0, 2.0]], [[1.0]]])


def test_lists_and_integers_are_accepted():
    out = SimpleRNN(2, dtype="float64")([[[1, 2], [3, 4]]])
    assert out.dtype == np.float64 and out.shape == (1, 2)


@pytest.mark.parametrize(
    "units,error",
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("4", TypeError), (True, TypeError)],
)
def test_units_must_be_positive_int(units, error):
    with pytest.raises(error, match=f"`units`.*positive integer.*{units}"):
        LSTM(units)
    with pytest.raises(error, match="`units`"):
        Dense(units)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"activation": "swish"}, r"`activation`.*\['linear', 'tanh', 'sigmoid', 'relu'\].*swish"),
        ({"kernel_initializer": "he_magic"}, r"`kernel_initializer`.*glorot_uniform.*he_magic"),
        ({"backend": "tpu"}, r"backend.*'tpu'.*'numpy'"),
        ({"dtype": "float16"}, r"`dtype`.*float32.*float64.*float16"),
    ],
)
def test_unknown_names_list_the_valid_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GRU(2, **kwargs)


def test_unknown_dense_activation_and_merge_mode():
    with pytest.raises(ValueError, match=r"softmax.*'gelu2'"):
        Dense(2, activation="gelu2")
    with pytest.raises(ValueError, match=r"`merge_mode`.*'concat'.*'max'"):
        Bidirectional(LSTM(2), merge_mode="max")


def test_unknown_backend_names_available_ones():
    with pytest.raises(ValueError, match=r"available here: \['numpy'"):
        fastrnn.set_backend("gpu")
    assert fastrnn.get_backend() == "auto"


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_set_weights_wrong_count_or_shape_leaves_weights(cls):
    layer = cls(3, input_shape=(5, 2))
    before = layer.get_weights()
    with pytest.raises(ValueError, match="expects 3 weights.*got 2"):
        layer.set_weights(before[:2])
    bad = [w + 1 for w in before]
    bad[-1] = np.ones(7)
    with pytest.raises(ValueError, match=r"`bias` must have shape .*got \(7,\)"):
        layer.set_weights(bad)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_set_weights_checks_everything_first():
    model = Sequential([Embedding(10, 3, input_length=4), LSTM(2), Dense(1)])
    before = model.get_weights()
    bad = [w + 1 for w in before]
    bad[-1] = np.ones((3,))
    with pytest.raises(ValueError, match=r"weight 5 must have shape \(1,\), got \(3,\)"):
        model.set_weights(bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_set_weights_is_all_or_nothing():
    layer = Bidirectional(GRU(2), input_shape=(3, 4))
    before = layer.get_weights()
    bad = [w + 1 for w in before]
    bad[-1] = np.ones((9, 9))
    with pytest.raises(ValueError, match=r"\(9, 9\)"):
        layer.set_weights(bad)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "cls,state,match",
    [
        (GRU, np.zeros((2, 5)), r"initial_state\[0\]` must have shape \(2, 3\); got \(2, 5\)"),
        (LSTM, [np.zeros((2, 3)), np.zeros((3, 3))], r"initial_state\[1\]` must have shape"),
        (LSTM, [np.zeros((2, 3))], r"list of 2 array\(s\).*got 1"),
    ],
)
def test_wrong_initial_state(cls, state, match):
    with pytest.raises(ValueError, match=match):
        cls(3)(X, initial_state=state)


def test_wrong_mask_shape():
    with pytest.raises(
        ValueError,
        match=r"`mask` must have shape \(batch, timesteps\) = "
        r"\(2, 3\); got \(2, 4\)",
    ):
        GRU(3)(X, mask=np.ones((2, 4), bool))


@pytest.mark.parametrize("layer", [LSTM(2), Dense(2), Embedding(5, 2), Bidirectional(GRU(2))])
def test_backward_needs_a_training_call(layer):
    x = np.ones((2, 3), int) if isinstance(layer, Embedding) else X
    layer(x)
    with pytest.raises(ValueError, match="training=True"):
        layer.backward(np.ones((2, 2)))


def test_backward_with_wrong_gradient_shape():
    layer = LSTM(2, return_sequences=True)
    layer(X, training=True)
    with pytest.raises(ValueError, match=r"\(2, 3, 2\), got \(2, 2\)"):
        layer.backward(np.ones((2, 2)))
    model = Sequential([LSTM(2)])
    with pytest.raises(ValueError, match="training=True"):
        model.backward(np.ones((2, 2)))


@pytest.mark.parametrize(
    "ids,error,match",
    [
        ([[1, 5]], ValueError, r"index 5 is outside \[0, 5\)"),
        ([[-1, 2]], ValueError, r"index -1 is outside"),
        ([[1.5, 2]], ValueError, r"integer indices.*1.5"),
        ([["a", "b"]], TypeError, r"integer indices"),
    ],
)
def test_embedding_bad_indices(ids, error, match):
    with pytest.raises(error, match=match):
        Embedding(5, 2)(ids)


def test_stateful_batch_change_is_an_error():
    layer = SimpleRNN(2, stateful=True)
    layer(X)
    with pytest.raises(ValueError, match="batch size 2; got a batch of 3"):
        layer(np.ones((3, 3, 4)))
    layer.reset_states()
    assert layer(np.ones((3, 3, 4))).shape == (3, 2)


def test_set_weights_before_build():
    with pytest.raises(ValueError, match="build"):
        LSTM(2).set_weights([])
    with pytest.raises(ValueError, match="not built"):
        LSTM(2).count_params()


def test_sequential_add_checks_type():
    with pytest.raises(TypeError, match="fastrnn layer"):
        Sequential().add("dense")


# Issue 14: shapes and lengths given as the wrong kind of value, and step's names.
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(input_shape=(5, 2.5)), TypeError, r"`input_shape\[1\]`.*2\.5"),
        (dict(input_shape=(5, "4")), TypeError, r"`input_shape\[1\]`.*'4'"),
        (dict(input_shape=5), TypeError, r"`input_shape` must be a tuple of integers.*got 5"),
        (dict(input_shape=(5, 0)), ValueError, r"`input_shape\[1\]`"),
        (dict(input_dim="3"), TypeError, r"`input_dim`.*'3'"),
        (dict(input_dim=2.5), TypeError, r"`input_dim`.*2\.5"),
        (dict(batch_input_shape=(None, 4, -1)), ValueError, r"`batch_input_shape\[2\]`"),
    ],
)
def test_input_shapes_must_be_positive_integers(kwargs, error, match):
    with pytest.raises(error, match=match):
        LSTM(2, **kwargs)


@pytest.mark.parametrize("length,error", [("abc", TypeError), (-1, ValueError), (2.5, TypeError)])
def test_embedding_input_length_must_be_a_positive_integer(length, error):
    with pytest.raises(error, match="`input_length`"):
        Embedding(10, 4, input_length=length)


def test_step_errors_name_states():
    layer = LSTM(3, seed=0)
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"`states` as a list of 2 array"):
        layer.step(x, [np.zeros((2, 3), np.float32)])
    with pytest.raises(ValueError, match=r"`states\[1\]` must have shape \(2, 3\)"):
        layer.step(x, [np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)])


@pytest.mark.parametrize(
    "make", [lambda: fastrnn.layers.Masking(), lambda: fastrnn.layers.Dropout(0.5, seed=0)]
)
def test_masking_and_dropout_backward_check_dy(make):
    """A wrongly shaped ``dy`` used to broadcast against the kept mask (issue 14)."""
    layer = make()
    x = np.ones((2, 3, 4), np.float32)
    layer(x, training=True)
    with pytest.raises(ValueError, match=r"`dy` must have the shape of the layer's output"):
        layer.backward(np.ones((2, 3, 1), np.float32))
    assert layer.backward(np.ones((2, 3, 4), np.float32)).shape == (2, 3, 4)


@pytest.mark.parametrize("units", [10**9, 10**12, 2**63])
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU, Dense])
def test_units_too_big_for_memory_name_units(cls, units):
    """Before, NumPy's MemoryError or "Maximum allowed dimension exceeded" escaped."""
    layer = cls(units)
    x = np.ones((1, 2, 3) if cls is not Dense else (1, 3), np.float32)
    with pytest.raises(ValueError, match=f"units={units}.*memory|memory.*units={units}"):
        layer(x)
    assert not layer.built and layer.weights == []


def test_embedding_too_big_for_memory_names_its_sizes():
    with pytest.raises(ValueError, match="input_dim=1000000000000, output_dim=8"):
        Embedding(10**12, 8)(np.zeros((1, 2), np.int64))


def test_a_build_that_fails_part_way_leaves_no_weights(monkeypatch):
    """The kernel is made, the recurrent kernel fails: the layer keeps neither."""
    import fastrnn.layers.base as base

    layer = LSTM(4, seed=0)
    real = base.Layer._check_fits_in_memory

    def fail_on_recurrent(self, name, shape):
        if name == "recurrent_kernel":
            raise ValueError("no room for the recurrent kernel")
        return real(self, name, shape)

    monkeypatch.setattr(base.Layer, "_check_fits_in_memory", fail_on_recurrent)
    x = np.ones((1, 2, 3), np.float32)
    with pytest.raises(ValueError, match="no room"):
        layer(x)
    assert layer._weight_names == [] and "kernel" not in vars(layer)
    monkeypatch.undo()
    assert layer(x).shape == (1, 4) and len(layer.weights) == 3


def test_a_failed_build_leaves_the_generator_where_it_was(monkeypatch):
    """A retry after a failed build draws the weights a fresh layer would."""
    import fastrnn.layers.base as base

    real = base.Layer._check_fits_in_memory
    x = np.ones((1, 2, 3), np.float32)
    want = LSTM(4, seed=5)(x)
    layer = LSTM(4, seed=5)

    def fail_once(self, name, shape):
        if name == "recurrent_kernel":
            monkeypatch.setattr(base.Layer, "_check_fits_in_memory", real)
            raise ValueError("no room, this once")
        return real(self, name, shape)

    monkeypatch.setattr(base.Layer, "_check_fits_in_memory", fail_once)
    with pytest.raises(ValueError, match="this once"):
        layer(x)
    np.testing.assert_array_equal(layer(x), want)
