"""A call that fails leaves the model as it was (issue 14): a fit that would
fail on its data does not start, a failing training call does not break
``backward`` for the last good one, a half of a Bidirectional does not
advance alone, and a Bidirectional may pair different cells."""

import numpy as np
import pytest

from fastrnn import layers
from fastrnn.models import Sequential


def _embedding_model(backend_name):
    model = Sequential(
        [
            layers.Embedding(10, 4, seed=1),
            layers.LSTM(3, backend=backend_name, seed=2),
            layers.Dense(1, activation="sigmoid", seed=3),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@pytest.mark.parametrize("where", ["x", "validation x"])
def test_fit_with_an_index_out_of_range_in_a_later_batch_does_not_start(backend_name, where):
    """Before, fit trained on the earlier batches, then raised."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, size=(64, 5))
    y = rng.integers(0, 2, size=64).astype("float32")
    bad = x.copy()
    bad[-1, -1] = 10
    model = _embedding_model(backend_name)
    model(x[:2])
    before = model.get_weights()
    kwargs = {"validation_data": (bad, y)} if where == "validation x" else {}
    with pytest.raises(ValueError, match=rf"{where}: .*index 10 is outside \[0, 10\)"):
        model.fit(bad if where == "x" else x, y, batch_size=8, shuffle=False, verbose=0, **kwargs)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert model.optimizer.iterations == 0


def test_evaluate_checks_every_index_first(backend_name):
    x = np.random.default_rng(1).integers(0, 10, size=(16, 5))
    x[-1, 0] = -1
    model = _embedding_model(backend_name)
    with pytest.raises(ValueError, match=r"x: .*index -1 is outside"):
        model.evaluate(x, np.zeros(16, "float32"), batch_size=4, verbose=0)


def test_fit_with_a_label_out_of_range_in_a_later_batch_does_not_start(backend_name):
    rng = np.random.default_rng(2)
    model = Sequential(
        [
            layers.LSTM(3, backend=backend_name, seed=2),
            layers.Dense(4, activation="softmax", seed=3),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((32, 4, 2)).astype("float32")
    y = rng.integers(0, 4, size=32)
    y[-1] = 4
    model(x[:1])
    before = model.get_weights()
    with pytest.raises(ValueError, match="label"):
        model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)


class FailsOnRequest(layers.Layer):
    """Passes its input through; raises while ``fail`` is set."""

    fail = False

    def __call__(self, inputs, training=False, mask=None):
        if self.fail:
            raise ValueError("this layer fails on request")
        return inputs

    def backward(self, dy):
        return dy


@pytest.mark.parametrize("stateful", [False, True])
def test_a_training_call_failing_in_a_later_layer_keeps_the_last_good_call(backend_name, stateful):
    """Before, the layers ahead of the failure kept the failed call's caches
    (and stateful states), so backward for the last good call no longer fit them."""
    rng = np.random.default_rng(3)
    failing = FailsOnRequest()
    model = Sequential(
        [
            layers.LSTM(4, backend=backend_name, return_sequences=True, stateful=stateful, seed=1),
            failing,
            layers.GRU(3, backend=backend_name, seed=2),
        ]
    )
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    dy = rng.standard_normal((2, 3)).astype("float32")
    model(x, training=True)
    states = [s.copy() for s in model.layers[0]._states] if stateful else None
    model.backward(dy)
    want = [g.copy() for g in model.gradients]
    failing.fail = True
    with pytest.raises(ValueError, match="fails on request"):
        model(2 * x, training=True)
    if stateful:
        for s, t in zip(model.layers[0]._states, states):
            np.testing.assert_array_equal(s, t)
    model.backward(dy)
    for g, w in zip(model.gradients, want):
        np.testing.assert_array_equal(g, w)


def test_bidirectional_bad_backward_state_leaves_the_forward_half(backend_name):
    """Before, a stateful forward half advanced before the backward half's error."""
    x = np.random.default_rng(4).standard_normal((2, 5, 3)).astype("float32")
    bi = layers.Bidirectional(layers.LSTM(4, backend=backend_name, stateful=True, seed=1))
    bi(x)
    states = [s.copy() for s in bi.forward_layer._states]
    good = [np.zeros((2, 4), "float32")] * 2
    with pytest.raises(ValueError, match="initial_state"):
        bi(2 * x, initial_state=good + [np.zeros((2, 4), "float32"), np.zeros((3, 4), "float32")])
    for s, t in zip(bi.forward_layer._states, states):
        np.testing.assert_array_equal(s, t)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_of_an_lstm_and_a_gru(backend_name, merge_mode):
    """Before, it returned 4 arrays and its backward demanded 5."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    bi = layers.Bidirectional(
        layers.LSTM(4, backend=backend_name, return_state=True, return_sequences=True, seed=1),
        backward_layer=layers.GRU(
            4, backend=backend_name, return_state=True, return_sequences=True, go_backwards=True
        ),
        merge_mode=merge_mode,
    )
    out = bi(x, training=True)
    n_out = 1 if merge_mode else 2
    assert len(out) == n_out + 3  # the LSTM's h and c, the GRU's h
    assert [o.shape for o in out] == [tuple(s) for s in bi.compute_output_shape(x.shape)]
    dx = bi.backward([rng.standard_normal(o.shape).astype("float32") for o in out])
    assert dx.shape == x.shape
    initial = [np.zeros((2, 4), "float32")] * 3
    out = bi(x, initial_state=initial, training=True)
    dx, d_states = bi.backward([np.ones_like(o) for o in out])
    assert dx.shape == x.shape and len(d_states) == 3
    with pytest.raises(ValueError, match="list of 3 arrays.*LSTM|3 arrays"):
        bi(x, initial_state=initial + initial[:1])


@pytest.mark.parametrize(
    "ids,match",
    [
        (np.array([[2**64 - 1]], np.uint64), "index 18446744073709551615 is outside"),
        ([[np.inf]], "non-integer value inf"),
        ([[np.nan]], "non-integer value nan"),
        ([[1e30]], "index 1000000000000000019884624838656 is outside"),
    ],
)
def test_embedding_reports_the_index_it_was_given(ids, match):
    """Before, 2**64-1 was reported as -1 and inf as -9223372036854775808."""
    with pytest.raises(ValueError, match=match):
        layers.Embedding(5, 2)(ids)
