"""Weights a kernel would trust are checked before any kernel runs (issue 14).

A kernel reads ``kernel``, ``recurrent_kernel`` and ``bias`` by the sizes the
call's shapes imply; smaller arrays were read past their end (a crash on the
Cython backend, numbers from beyond the array on Numba). Now a layer checks a
weight when it is assigned, and ``fastrnn.ops`` (``ForwardPlan.forward`` and
``record``, hence ``recurrent_forward``) checks the shapes it is given.
"""

import re

import numpy as np
import pytest

from fastrnn import activations, layers, ops
from kernel_cases import CELL_NAMES
from test_cython_build import run_python

LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
X = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)


def _built(backend_name, cell):
    layer = LAYERS[cell](3, backend=backend_name, seed=0)
    layer(X)
    return layer


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("name", ["kernel", "recurrent_kernel", "bias"])
def test_assigning_a_wrong_shaped_weight_raises_and_changes_nothing(backend_name, cell, name):
    layer = _built(backend_name, cell)
    before = layer(X)
    old = getattr(layer, name)
    expected = rf"weight `{name}` must have shape {re.escape(str(old.shape))}, got \(1, 4\)"
    with pytest.raises(ValueError, match=expected):
        setattr(layer, name, np.zeros((1, 4), np.float32))
    assert getattr(layer, name) is old
    np.testing.assert_array_equal(layer(X), before)
    layer(X, training=True)  # the training path too
    np.testing.assert_array_equal(layer(X), before)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_assigned_weights_are_stored_in_the_layer_dtype_c_contiguous(backend_name, cell):
    layer = _built(backend_name, cell)
    twin = _built(backend_name, cell)
    value = np.asfortranarray(np.random.default_rng(1).standard_normal(layer.kernel.shape))
    layer.kernel = value  # float64, Fortran order
    assert layer.kernel.dtype == np.float32 and layer.kernel.flags.c_contiguous
    assert layer.kernel is not value
    twin.set_weights([value, *twin.get_weights()[1:]])
    np.testing.assert_array_equal(layer(X), twin(X))


def test_non_numeric_weight_names_the_weight(backend_name):
    layer = _built(backend_name, "lstm")
    with pytest.raises((TypeError, ValueError), match="recurrent_kernel"):
        layer.recurrent_kernel = np.full(layer.recurrent_kernel.shape, "a")


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("which", [0, 1, 2])
def test_ops_refuse_mismatched_weights(backend_name, cell, which):
    gates = ops.CELLS[cell].gates
    units, features = 3, X.shape[2]
    weights = [
        np.zeros((features, gates * units), np.float32),
        np.zeros((units, gates * units), np.float32),
        np.zeros((2, gates * units) if cell == "gru" else (gates * units,), np.float32),
    ]
    weights[which] = np.zeros((1, 4), np.float32)
    states = [np.zeros((X.shape[0], units), np.float32)] * len(ops.CELLS[cell].state_names)
    names = ("kernel", "recurrent_kernel", "bias")
    with pytest.raises(ValueError, match=rf"`{names[which]}` must have shape"):
        ops.recurrent_forward(
            backend_name, cell, X, None, states, *weights, activation=activations.TANH
        )


def test_the_reported_crash_is_a_clear_error():
    """The issue's reproduction, in a child process: it used to end in a
    segmentation fault in the Cython backend's weight packing."""
    code = """
        import numpy as np, fastrnn
        from fastrnn import layers
        backend = "cython" if "cython" in fastrnn.available_backends() else "numba"
        layer = layers.LSTM(64, backend=backend)
        x = np.ones((64, 200, 8), np.float32)
        layer(x)
        try:
            layer.recurrent_kernel = np.zeros((1, 4), np.float32)
        except ValueError as exc:
            print("ValueError:", exc)
        layer(x, training=True)
        print("ok")
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "must have shape (64, 256), got (1, 4)" in result.stdout
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_ops_refuse_mismatched_states_inputs_and_masks(backend_name, cell):
    gates = ops.CELLS[cell].gates
    units, (batch, timesteps, features) = 3, X.shape
    weights = (
        np.zeros((features, gates * units), np.float32),
        np.zeros((units, gates * units), np.float32),
        np.zeros((2, gates * units) if cell == "gru" else (gates * units,), np.float32),
    )
    options = ops.KernelOptions(activations.TANH, activations.SIGMOID, True, False, False)
    plan = ops.ForwardPlan(cell, X.shape, X.dtype, units, options, backend_name)
    good = [np.zeros((batch, units), np.float32)] * len(ops.CELLS[cell].state_names)
    with pytest.raises(ValueError, match=r"initial state `h` must have shape \(batch, units\)"):
        plan.record(X, None, [np.zeros((batch, units + 1), np.float32), *good[1:]], weights)
    with pytest.raises(ValueError, match=r"`x` must have shape \(4, 6, 5\)"):
        plan.record(X[:, :3], None, good, weights)
    with pytest.raises(ValueError, match=r"`mask` must have shape \(batch, timesteps\)"):
        plan.forward(X, good, weights, np.ones((batch, timesteps + 1), bool))
    outputs, _ = plan.forward(X, good, weights)  # the good ones still run
    assert outputs.shape == (batch, timesteps, units)


def test_model_set_weights_checks_every_array_before_changing_any(backend_name):
    """A non-numeric last array used to change the earlier layers first."""
    from fastrnn.models import Sequential

    model = Sequential([layers.LSTM(3, backend=backend_name, seed=0), layers.Dense(2, seed=1)])
    model(X)
    before = model.get_weights()
    bad = [w + 1 for w in before[:-1]] + [np.full(before[-1].shape, "x")]
    with pytest.raises(TypeError, match=r"`weights\[4\]` must be numeric"):
        model.set_weights(bad)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_dtype_none_is_float32_and_a_non_dtype_is_named():
    assert layers.LSTM(2, dtype=None).dtype == "float32"
    with pytest.raises(ValueError, match=r"Unknown value for `dtype`.*got 3"):
        layers.LSTM(2, dtype=3)
