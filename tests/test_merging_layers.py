"""Concatenate, Add, Multiply, Average and Dot (issue 15): Keras 3's outputs,
finite-difference gradients in float64 for every input, masks, configs and
bad inputs."""

import numpy as np
import pytest

from fastrnn import layers

RNG = np.random.default_rng(0)
EPS = 1e-6


def _check_gradients(layer, arrays):
    """backward() of ``sum(p * layer(arrays))`` equals central differences, per input."""
    out = layer(arrays, training=True)
    projection = RNG.standard_normal(out.shape)
    grads = layer.backward(projection)
    assert len(grads) == len(arrays)
    for k, (grad, array) in enumerate(zip(grads, arrays)):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            old = array[idx]
            array[idx] = old + EPS
            plus = float(np.sum(projection * layer(arrays)))
            array[idx] = old - EPS
            minus = float(np.sum(projection * layer(arrays)))
            array[idx] = old
            numeric[idx] = (plus - minus) / (2 * EPS)
        scale = max(np.max(np.abs(numeric)), 1e-3)
        np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-6 * scale, err_msg=f"input {k}")


def _arrays(*shapes):
    return [RNG.standard_normal(s) for s in shapes]


@pytest.mark.parametrize(
    "make,shapes",
    [
        (lambda: layers.Concatenate(dtype="float64"), [(2, 3, 4), (2, 3, 2)]),
        (lambda: layers.Concatenate(axis=1, dtype="float64"), [(2, 3, 4), (2, 1, 4), (2, 2, 4)]),
        (lambda: layers.Add(dtype="float64"), [(2, 3), (2, 3), (2, 3)]),
        (lambda: layers.Average(dtype="float64"), [(2, 3, 2), (2, 3, 2)]),
        (lambda: layers.Multiply(dtype="float64"), [(2, 3), (2, 3), (2, 3)]),
        (lambda: layers.Dot(axes=1, dtype="float64"), [(3, 4), (3, 4)]),
        (lambda: layers.Dot(axes=2, dtype="float64"), [(2, 3, 4), (2, 5, 4)]),
        (lambda: layers.Dot(axes=(1, 2), dtype="float64"), [(2, 3, 4), (2, 5, 3)]),
        (lambda: layers.Dot(axes=-1, normalize=True, dtype="float64"), [(2, 3, 4), (2, 5, 4)]),
    ],
)
def test_gradients(make, shapes):
    _check_gradients(make(), _arrays(*shapes))


def test_forward_values():
    a, b = _arrays((2, 3, 4), (2, 5, 4))
    np.testing.assert_allclose(
        layers.Dot(axes=2, dtype="float64")([a, b]), a @ b.transpose(0, 2, 1)
    )
    cosine = layers.Dot(axes=1, normalize=True, dtype="float64")([a[:, 0], b[:, 0]])
    want = (
        np.sum(a[:, 0] * b[:, 0], 1)
        / np.linalg.norm(a[:, 0], axis=1)
        / np.linalg.norm(b[:, 0], axis=1)
    )
    np.testing.assert_allclose(cosine[:, 0], want)
    c, d = _arrays((2, 3), (2, 3))
    np.testing.assert_allclose(layers.Average(dtype="float64")([c, d]), (c + d) / 2)
    assert layers.Concatenate().compute_output_shape([(None, 5, 4), (None, 5, 2)]) == (None, 5, 6)
    assert layers.Dot(axes=2).compute_output_shape([(None, 3, 4), (None, 5, 4)]) == (None, 3, 5)
    assert layers.Dot(axes=1).compute_output_shape([(None, 4), (None, 4)]) == (None, 1)


def test_masks_combine_with_and():
    m1 = np.array([[1, 1, 0]], bool)
    m2 = np.array([[1, 0, 1]], bool)
    x = np.ones((1, 3, 2))
    np.testing.assert_array_equal(layers.Add().compute_mask([x, x], [m1, m2]), [[1, 0, 0]])
    np.testing.assert_array_equal(layers.Concatenate().compute_mask([x, x], [m1, None]), m1)
    assert layers.Concatenate().compute_mask([x, x], None) is None


def test_configs_round_trip():
    for layer in (
        layers.Concatenate(axis=1),
        layers.Dot(axes=(1, 2), normalize=True),
        layers.Add(),
    ):
        twin = layers.deserialize(layers.serialize(layer))
        assert twin.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: layers.Add()(np.ones((2, 3))), TypeError, "list of at least 2"),
        (lambda: layers.Add()([np.ones((2, 3))]), ValueError, "got 1"),
        (
            lambda: layers.Add()([np.ones((2, 3)), np.ones((2, 4))]),
            ValueError,
            r"\(2, 3\).*\(2, 4\)",
        ),
        (
            lambda: layers.Concatenate()([np.ones((2, 3, 4)), np.ones((2, 2, 4))]),
            ValueError,
            "other dimensions must match",
        ),
        (lambda: layers.Concatenate(axis=0)([np.ones((2, 3))] * 2), ValueError, "batch axis"),
        (lambda: layers.Concatenate(axis="x"), TypeError, "`axis`"),
        (lambda: layers.Dot(axes=1)([np.ones((2, 3)), np.ones((2, 4))]), ValueError, "one size"),
        (lambda: layers.Dot(axes=1)([np.ones((2, 3))] * 3), ValueError, "exactly 2"),
        (lambda: layers.Dot(axes="1"), TypeError, "`axes`"),
        (lambda: layers.Dot(axes=1, normalize="yes"), TypeError, "normalize"),
        (lambda: layers.Add()([np.ones((2, 3)), "a"]), TypeError, r"inputs\[1\]"),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
