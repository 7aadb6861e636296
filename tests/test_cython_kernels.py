"""Cython-specific kernel checks beyond the shared equivalence suite.

float32 tanh (and sigmoid, built on it) use a rational approximation in the
Cython kernels; it must stay well inside the 1e-5 float32 tolerance over
the whole real line, saturate cleanly, and keep NaN-free outputs.
"""

import importlib

import numpy as np
import pytest
from scipy.special import expit

from fastrnn import activations

try:
    cy = importlib.import_module("fastrnn._cython_kernels")
except ImportError:  # not built here: docs/building.md
    cy = None

pytestmark = pytest.mark.skipif(cy is None, reason="the Cython extension is not built here")


def elementwise(code, values, dtype):
    """act(values): one SimpleRNN step per batch row, one unit, kernel 1, no recurrence."""
    n = values.size
    x = values.astype(dtype).reshape(n, 1, 1)
    one, zero = np.ones((1, 1), dtype), np.zeros((1, 1), dtype)
    out = np.empty((n, 1, 1), dtype)
    states = np.empty((2, n, 1), dtype)
    cy.simple_rnn_forward(
        x,
        np.ones((n, 1), bool),
        np.empty((0, n, 1), dtype),
        np.empty((0, n, 1), dtype),
        np.zeros((n, 1), dtype),
        one,
        zero,
        np.zeros(1, dtype),
        code,
        False,
        False,
        out,
        states,
    )
    return out.ravel()


@pytest.mark.parametrize("code,exact", [(activations.TANH, np.tanh), (activations.SIGMOID, expit)])
@pytest.mark.parametrize("dtype,atol", [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_activation_accuracy(code, exact, dtype, atol):
    values = np.concatenate([np.linspace(-30, 30, 1201), [0.0, 1e-30, -1e-30, 1e4, -1e4]])
    got = elementwise(code, values, dtype)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, exact(values.astype(np.float64)), rtol=0, atol=atol)
    assert np.all(np.abs(got) <= 1.0)


def test_float32_tanh_is_odd_and_nearly_monotonic():
    values = np.linspace(-10, 10, 20001)
    got = elementwise(activations.TANH, values, np.float32)
    np.testing.assert_array_equal(got, -got[::-1])
    assert np.all(np.diff(got) >= -3e-7)  # rounding only
