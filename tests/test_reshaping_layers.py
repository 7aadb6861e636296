"""RepeatVector, TimeDistributed, Flatten, Reshape, Activation and the global
1-D poolings (issue 15): Keras's outputs and gradients on whole models,
finite-difference gradients in float64, configs, and bad arguments."""

import os

import numpy as np
import pytest

from fastrnn import layers
from fastrnn.models import Sequential, load_model
from keras_models import MODELS
from test_layer_gradients import check_layer

GOLDENS = np.load(os.path.join(os.path.dirname(__file__), "golden", "keras_model_goldens.npz"))
RNG = np.random.default_rng(0)


def _golden(name, key):
    return GOLDENS[f"{name}/{key}"]


def _count(name, prefix):
    return sum(1 for k in GOLDENS.files if k.startswith(f"{name}/{prefix}"))


@pytest.mark.parametrize("name", list(MODELS))
def test_models_match_keras(backend_name, name):
    """Keras 3.15 (TensorFlow 2.21) weights in, Keras's outputs and gradients out (float32)."""
    build, kind = MODELS[name]
    model = Sequential(build(layers))
    for layer in model.layers:
        if hasattr(layer, "backend"):
            layer.backend = backend_name
    x = _golden(name, "x")
    model.build(x.shape)
    model.set_weights([_golden(name, f"weight{i}") for i in range(_count(name, "weight"))])
    out = model(x, training=True)
    np.testing.assert_allclose(out, _golden(name, "output"), rtol=1e-5, atol=2e-6)
    dx = model.backward(_golden(name, "projection"))
    if kind != "ids":
        np.testing.assert_allclose(dx, _golden(name, "dx"), rtol=1e-4, atol=2e-5)
    for i, grad in enumerate(model.gradients):
        np.testing.assert_allclose(grad, _golden(name, f"grad{i}"), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: layers.RepeatVector(3, dtype="float64"), (2, 4)),
        (lambda: layers.Flatten(dtype="float64"), (2, 3, 2)),
        (lambda: layers.Flatten("channels_first", dtype="float64"), (2, 3, 2, 2)),
        (lambda: layers.Reshape((-1, 2), dtype="float64"), (2, 3, 4)),
        (lambda: layers.Activation("tanh", dtype="float64"), (2, 3, 2)),
        (lambda: layers.Activation("softmax", dtype="float64"), (2, 3, 4)),
        (lambda: layers.GlobalAveragePooling1D(dtype="float64"), (2, 4, 3)),
        (lambda: layers.GlobalAveragePooling1D("channels_first", True, dtype="float64"), (2, 3, 4)),
        (lambda: layers.GlobalMaxPooling1D(dtype="float64"), (2, 4, 3)),
        (lambda: layers.GlobalMaxPooling1D(keepdims=True, dtype="float64"), (2, 4, 3)),
    ],
)
def test_finite_difference_gradients(make, shape):
    layer = make()
    x = RNG.standard_normal(shape)
    check_layer(lambda training: layer(x, training=training), layer, [x])


def test_masked_average_pooling_gradient_and_all_masked_rows():
    layer = layers.GlobalAveragePooling1D(dtype="float64")
    x = RNG.standard_normal((3, 4, 2))
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    check_layer(lambda training: layer(x, training=training, mask=mask), layer, [x])
    out = layer(x, mask=mask)
    np.testing.assert_array_equal(out[1], 0.0)  # Keras gives NaN here
    np.testing.assert_allclose(out[0], x[0, [0, 2, 3]].mean(axis=0))


@pytest.mark.parametrize(
    "inner",
    [
        lambda: layers.Dense(
            3, activation="tanh", dtype="float64", seed=1, bias_initializer="random_normal"
        ),
        lambda: layers.Flatten(dtype="float64"),
    ],
)
def test_time_distributed_finite_difference(inner):
    layer = layers.TimeDistributed(inner())
    x = (
        RNG.standard_normal((2, 3, 2, 2))
        if isinstance(layer.layer, layers.Flatten)
        else (RNG.standard_normal((2, 3, 4)))
    )
    check_layer(lambda training: layer(x, training=training), layer, [x])


def test_time_distributed_lstm_per_step_sequences(backend_name):
    """An LSTM over each step's own sub-sequence, weights shared by the steps."""
    lstm = layers.LSTM(3, backend=backend_name, seed=2, dtype="float64")
    layer = layers.TimeDistributed(lstm)
    x = RNG.standard_normal((2, 4, 5, 2))
    out = layer(x)
    assert out.shape == (2, 4, 3)
    np.testing.assert_allclose(out[:, 1], lstm(x[:, 1]), rtol=1e-12)
    check_layer(lambda training: layer(x, training=training), layer, [x])


def test_configs_save_and_load(tmp_path):
    model = Sequential(
        [
            layers.RepeatVector(3, input_shape=(4,)),
            layers.GRU(5, return_sequences=True, seed=1),
            layers.TimeDistributed(layers.Dense(2, seed=2)),
            layers.Reshape((-1,)),
            layers.Activation("sigmoid"),
        ]
    )
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded(x), model(x))
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "RepeatVector",
        "GRU",
        "TimeDistributed",
        "Reshape",
        "Activation",
    ]
    assert model.count_params() == loaded.count_params() == 3 * 5 * (4 + 5 + 2) + 5 * 2 + 2


def test_time_distributed_passes_the_mask_and_keeps_shapes():
    layer = layers.TimeDistributed(layers.Dense(2))
    mask = np.array([[1, 0, 1]], bool)
    assert layer.compute_mask(np.ones((1, 3, 4)), mask) is mask
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: layers.RepeatVector(0), ValueError, r"`n`.*0"),
        (lambda: layers.RepeatVector("3"), TypeError, r"`n`.*'3'"),
        (lambda: layers.Reshape((2, -1, -1)), ValueError, "one -1"),
        (lambda: layers.Reshape(6), TypeError, "target_shape"),
        (lambda: layers.Reshape((2, 0)), ValueError, r"target_shape\[1\]"),
        (lambda: layers.Reshape((4,))(np.ones((2, 3))), ValueError, r"\(3,\).*\(4,\)"),
        (lambda: layers.Activation("banana"), ValueError, "banana"),
        (lambda: layers.GlobalMaxPooling1D("nchw"), ValueError, "data_format"),
        (lambda: layers.GlobalAveragePooling1D(keepdims="yes"), TypeError, "keepdims"),
        (
            lambda: layers.GlobalAveragePooling1D()(np.ones((2, 3, 4)), mask=np.ones((2, 4))),
            ValueError,
            "mask",
        ),
        (lambda: layers.TimeDistributed("dense"), TypeError, "`layer`"),
        (lambda: layers.TimeDistributed(layers.Dense(2))(np.ones((2, 3))), ValueError, "3 dim"),
        (lambda: layers.RepeatVector(2)(np.ones((2, 3, 4))), ValueError, "2-D"),
        (lambda: layers.Flatten(data_format="x"), ValueError, "data_format"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()
