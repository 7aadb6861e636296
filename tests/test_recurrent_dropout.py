"""``dropout`` and ``recurrent_dropout`` on SimpleRNN, LSTM and GRU (Keras 3).

The kernel-level equality of every backend with the reference under fixed
masks is in tests/test_kernel_equivalence.py (``test_dropout*``) and its
finite-difference check in tests/test_reference_gradients.py. Here: the
layers against Keras's own numbers (goldens, masks injected into Keras's
cell cache), layer-level finite differences with masks drawn from a seed,
and the semantics: masks drawn once per call, per gate when Keras does,
only with ``training=True``, reproducible with ``seed=``.
"""

import os

import numpy as np
import pytest

import fastrnn
from dropout_cases import CASES, FEATURES, RATE_IN, RATE_REC, case_arrays, mask_counts
from fastrnn.layers import GRU, LSTM, RNN, Bidirectional, Dense, Embedding, LSTMCell, SimpleRNN
from fastrnn.models import Sequential

GOLDENS = np.load(os.path.join(os.path.dirname(__file__), "golden", "keras_dropout_goldens.npz"))
LAYERS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


def _layer(name, backend, seed=None):
    """The layer of case ``name`` with the case's weights, float64."""
    case, data = CASES[name], case_arrays(name)
    options = {"reset_after": case["reset_after"]} if case["layer"] == "GRU" else {}
    layer = LAYERS[case["layer"]](
        data["units"],
        dropout=case["dropout"],
        recurrent_dropout=case["recurrent_dropout"],
        return_sequences=True,
        go_backwards=case["go_backwards"],
        dtype="float64",
        backend=backend,
        seed=seed,
        **options,
    )
    layer.build(data["x"].shape)
    layer.set_weights(data["weights"])
    return layer, data


def _hold(layer, masks):
    """Make every training call of ``layer`` use ``masks`` (the hook a cell uses
    to keep one set of masks over its steps)."""
    layer._held_dropout_masks = tuple(masks)


# Keras 3.15 (TensorFlow 2.21) goldens, float64
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(backend_name, name):
    layer, data = _layer(name, backend_name)
    _hold(layer, (data["dropout_mask"], data["recurrent_dropout_mask"]))
    output = layer(data["x"], mask=data["mask"], training=True)
    np.testing.assert_allclose(output, GOLDENS[f"{name}/output"], rtol=1e-10, atol=1e-12)
    d_x = layer.backward(data["projection"])
    for i, ours in enumerate([d_x, *layer.gradients]):
        theirs = GOLDENS[f"{name}/gradient{i}"]
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11, err_msg=f"gradient{i}")


def _loss(layer, data):
    output = layer(data["x"], mask=data["mask"], training=True)
    return float(np.sum(data["projection"] * output))


@pytest.mark.parametrize(
    "name", [n for n in sorted(CASES) if n.endswith(("both", "both_masked_backwards"))]
)
def test_gradients_match_finite_differences(backend_name, name, eps=1e-6):
    """The input and every weight, with the masks a seeded layer draws, held fixed."""
    layer, data = _layer(name, backend_name, seed=7)
    _hold(layer, layer._dropout_masks(data["x"].shape[0], FEATURES))
    _loss(layer, data)
    analytic = [layer.backward(data["projection"]), *layer.gradients]
    for array, gradient in zip([data["x"], *layer.weights], analytic):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            old = array[index]
            array[index] = old + eps
            plus = _loss(layer, data)
            array[index] = old - eps
            minus = _loss(layer, data)
            array[index] = old
            numeric[index] = (plus - minus) / (2 * eps)
        scale = max(np.max(np.abs(numeric)), 1e-3)
        np.testing.assert_allclose(gradient, numeric, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("layer_name", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "dropout,recurrent_dropout", [(0.25, 0.0), (0.0, 0.25), (0.25, 0.5), (0.0, 0.0)]
)
def test_masks_follow_keras(layer_name, dropout, recurrent_dropout):
    """Keras's counts (per gate with recurrent_dropout), entries 0 or 1/(1 - rate)."""
    layer = LAYERS[layer_name](5, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=0)
    layer.build((None, 3, 40))
    masks = layer._dropout_masks(500, 40)
    if not (dropout or recurrent_dropout):
        assert masks is None
        return
    counts = mask_counts(layer_name, dropout, recurrent_dropout)
    for mask, count, size, rate in zip(masks, counts, (40, 5), (dropout, recurrent_dropout)):
        assert mask.shape == (count, 500, size)
        assert mask.dtype == np.float32
        if count:
            scale = np.float32(1 / (1 - rate))
            assert set(np.unique(mask)) <= {np.float32(0), scale}
            assert abs(np.mean(mask == 0) - rate) < 0.02


def test_inference_does_not_drop(backend_name):
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    plain = LSTM(5, return_sequences=True, backend=backend_name, seed=1)
    dropped = LSTM(
        5, dropout=0.5, recurrent_dropout=0.5, return_sequences=True, backend=backend_name, seed=1
    )
    plain.build(x.shape)
    dropped.build(x.shape)
    dropped.set_weights(plain.get_weights())
    np.testing.assert_array_equal(dropped(x), plain(x))
    np.testing.assert_array_equal(dropped(x, training=False), plain(x))
    assert not np.allclose(dropped(x, training=True), plain(x))


def test_one_set_of_masks_per_call_reproducible_with_seed(backend_name):
    x = np.random.default_rng(0).standard_normal((4, 6, 3))

    def make():
        layer = GRU(
            5, dropout=0.3, recurrent_dropout=0.3, dtype="float64", backend=backend_name, seed=11
        )
        layer.build(x.shape)
        return layer

    first, second = make(), make()
    a1, a2 = first(x, training=True), first(x, training=True)
    b1, b2 = second(x, training=True), second(x, training=True)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.allclose(a1, a2)  # every call draws its own masks

    # the masks a call applies are the ones it drew: held, they give the same output
    third = make()
    masks = third._dropout_masks(4, 3)
    _hold(third, masks)
    np.testing.assert_array_equal(third(x, training=True), a1)


def test_global_seed_reaches_the_masks(backend_name):
    x = np.random.default_rng(0).standard_normal((3, 4, 2)).astype(np.float32)
    outputs = []
    for _ in range(2):
        fastrnn.utils.set_random_seed(123)
        layer = SimpleRNN(4, dropout=0.4, recurrent_dropout=0.4, backend=backend_name)
        outputs.append(layer(x, training=True))
    np.testing.assert_array_equal(*outputs)


def test_compiled_training_equals_the_reference(backend_name):
    """One epoch of a dropout model on a compiled backend ends where the NumPy
    reference's ends (same seeds, so the same masks)."""
    rng = np.random.default_rng(2)
    x = rng.integers(1, 30, (64, 12))
    y = rng.integers(0, 2, (64, 1)).astype(np.float32)

    def train(backend):
        fastrnn.utils.set_random_seed(5)
        model = Sequential(
            [
                Embedding(30, 8, mask_zero=True),
                Bidirectional(LSTM(6, dropout=0.2, recurrent_dropout=0.3, backend=backend)),
                Dense(1, activation="sigmoid"),
            ]
        )
        model.compile("adam", "binary_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        return model.get_weights(), history.history["loss"]

    weights, losses = train(backend_name)
    ref_weights, ref_losses = train("numpy")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for ours, theirs in zip(weights, ref_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_cell_holds_its_masks_over_the_steps(backend_name):
    """A cell called step by step keeps the masks of its first training call until
    reset (Keras's DropoutRNNCell), so the steps compute what LSTM computes."""
    x = np.random.default_rng(1).standard_normal((3, 5, 4))
    cell = LSTMCell(3, dropout=RATE_IN, recurrent_dropout=RATE_REC, dtype="float64", seed=2)
    lstm = LSTM(
        3,
        dropout=RATE_IN,
        recurrent_dropout=RATE_REC,
        return_sequences=True,
        dtype="float64",
        backend=backend_name,
    )
    lstm.build(x.shape)
    cell.build((3, 4))
    cell.set_weights(lstm.get_weights())
    states = [np.zeros((3, 3)), np.zeros((3, 3))]
    outputs = []
    for t in range(5):
        out, states = cell(x[:, t], states, training=True)
        outputs.append(out)
        if t == 0:
            held = list(cell._dropout_masks)
        assert all(a is b for a, b in zip(cell._dropout_masks, held))
    _hold(lstm, held)
    np.testing.assert_allclose(np.stack(outputs, 1), lstm(x, training=True), rtol=1e-12)
    cell.reset_dropout_mask()
    cell.reset_recurrent_dropout_mask()
    assert cell._dropout_masks == [None, None]


def test_rnn_of_a_cell_draws_masks_per_call():
    x = np.random.default_rng(1).standard_normal((3, 5, 4))

    def make():
        rnn = RNN(LSTMCell(3, dropout=0.3, recurrent_dropout=0.3, dtype="float64", seed=4))
        rnn.build(x.shape)
        return rnn

    first, second = make(), make()
    a1, a2 = first(x, training=True), first(x, training=True)
    np.testing.assert_array_equal(a1, second(x, training=True))
    assert not np.allclose(a1, a2)
    np.testing.assert_array_equal(first(x), second(x))


@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize(
    "value,error", [(1.0, ValueError), (-0.1, ValueError), ("0.5", TypeError), (True, TypeError)]
)
def test_bad_rates(argument, value, error):
    with pytest.raises(error, match=rf"`{argument}` must be a number in \[0, 1\).*{value!r}"):
        LSTM(3, **{argument: value})


def test_config_round_trip():
    layer = GRU(4, dropout=0.1, recurrent_dropout=0.2, seed=3)
    config = layer.get_config()
    assert (config["dropout"], config["recurrent_dropout"]) == (0.1, 0.2)
    again = GRU.from_config(config)
    assert (again.dropout, again.recurrent_dropout) == (0.1, 0.2)
