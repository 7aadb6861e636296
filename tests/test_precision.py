"""float32 precision of the compiled backends (issue 14).

* Saturation is exact: the compiled float32 tanh and sigmoid reach exactly
  +-1 / 0 / 1 for saturated inputs, so saturated units pass no gradient, as
  NumPy's float32 and every float64 backend do. (Before, tanh topped out at
  1 - 2**-22 and a saturated SimpleRNN's kernel gradient was 0.4768, not 0.)
* The error does not grow with the sequence length: over 10,000 steps, each
  backend's float32 outputs stay within the bound stated in
  docs/guarantees.md of the float64 reference run on the same weights.
"""

import functools
import platform

import numpy as np
import pytest

from fastrnn import layers

LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}

#: docs/guarantees.md: max abs error of float32 outputs against the float64
#: reference on the same weights, for contracting recurrences (the default
#: initializers), at any sequence length.
FLOAT32_OUTPUT_BOUND = 4e-6


@pytest.mark.parametrize("cell", list(LAYERS))
@pytest.mark.parametrize("scale", [1e6, -1e6])
def test_saturated_units_pass_no_gradient(backend_name, cell, scale):
    x = np.full((2, 3, 2), scale, np.float32)
    layer = LAYERS[cell](
        3,
        backend=backend_name,
        kernel_initializer="ones",
        recurrent_initializer="ones",
        use_bias=False,
        return_sequences=True,
    )
    out = layer(x, training=True)
    dx = layer.backward(np.ones_like(out))
    # Every gate pre-activation is +-1e6 (or more): every activation is
    # saturated, so every input and weight gradient is exactly zero.
    assert not np.any(dx)
    for name, gradient in zip(layer._weight_names, layer.gradients):
        assert not np.any(gradient), name


def test_compiled_tanh_and_sigmoid_saturate_exactly():
    kernels = pytest.importorskip("fastrnn._cython_kernels")
    x = np.array([8.0, 9.0, 1e3, np.inf, -8.0, -1e3, -np.inf], np.float32)
    want = np.sign(x)
    for isa in kernels.isa_levels():
        kernels._set_isa(isa)
        try:
            np.testing.assert_array_equal(kernels._tanh_f32(x), want, err_msg=isa)
        finally:
            kernels._set_isa(kernels.isa_levels()[-1])


@functools.cache
def _long_sequence_truth(cell):
    """A 10,000-step input, and the float64 reference's outputs and weights on it."""
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((2, 10_000, 4))).astype(np.float32)
    layer = LAYERS[cell](16, backend="numpy", dtype="float64", seed=1, return_sequences=True)
    return x, layer(x.astype(np.float64)), layer.get_weights()


@pytest.mark.parametrize("cell", list(LAYERS))
def test_float32_error_does_not_grow_with_sequence_length(backend_name, cell):
    x, truth, weights = _long_sequence_truth(cell)
    layer = LAYERS[cell](16, backend=backend_name, seed=1, return_sequences=True)
    layer.build(x.shape)
    layer.set_weights(weights)
    error = np.abs(layer(x).astype(np.float64) - truth)
    assert error.max() < FLOAT32_OUTPUT_BOUND
    # The last thousand steps are no worse than the first thousand, give or take rounding.
    assert error[:, -1000:].max() < 2 * error[:, :1000].max() + 1e-6


def _flushes_here():
    """True when this thread flushes float32 subnormals to zero."""
    return np.float32(1e-39) * np.float32(1.0) == 0


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the flush is only set on x86-64",
)
@pytest.mark.parametrize("training", [False, True])
def test_compiled_kernels_flush_subnormals_and_restore_the_callers_mode(backend_name, training):
    """The kernels run with flush-to-zero and denormals-are-zero (a long
    backward whose gradients underflow is not slowed down by subnormal
    arithmetic; benchmarks/denormals.py times it) and leave the calling
    thread's mode as it was."""
    x = np.full((2, 3, 1), 1e-39, np.float32)  # subnormal in float32
    layer = layers.SimpleRNN(
        1, backend=backend_name, activation="linear", kernel_initializer="ones", use_bias=False
    )
    assert not _flushes_here()
    out = layer(x, training=training)
    if training:
        layer.backward(np.full_like(out, 1e-39))
    assert not _flushes_here()
    if backend_name == "numpy":
        assert np.all(out > 0)  # NumPy keeps subnormals
    else:
        assert not np.any(out)  # read as zero inside the kernel
