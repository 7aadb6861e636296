"""The reference backward pass equals central finite differences (float64)."""

import numpy as np
import pytest

import fastrnn.reference as reference
from kernel_cases import DROPOUT_VARIANTS, backward, forward, loss, make_case

EPS = 1e-6
RTOL = 1e-6


def numerical_gradient(case, name):
    array = case.params[name]
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + EPS
        plus = loss(case, forward(reference, case))
        array[idx] = old - EPS
        minus = loss(case, forward(reference, case))
        array[idx] = old
        grad[idx] = (plus - minus) / (2 * EPS)
    return grad


def analytic_gradients(case):
    dx, d_states, d_weights = backward(case, forward(reference, case))
    grads = {
        "x": dx,
        "kernel": d_weights[0],
        "recurrent_kernel": d_weights[1],
        "bias": d_weights[2],
    }
    grads.update({f"state{i}": d for i, d in enumerate(d_states)})
    return grads


def assert_matches_finite_differences(case):
    for name, analytic in analytic_gradients(case).items():
        numeric = numerical_gradient(case, name)
        if case.cell == "gru" and not case.options["reset_after"] and name == "bias":
            analytic, numeric = analytic[0], numeric[0]  # row 1 is held at zero
        scale = max(np.max(np.abs(numeric)), 1e-3)
        np.testing.assert_allclose(
            analytic, numeric, rtol=0, atol=RTOL * scale, err_msg=f"{case.cell} d{name}"
        )


CELL_VARIANTS = [
    ("simple_rnn", {}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
]


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("mask", ["none", "random", "leading", "all_masked_row", "trailing"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_gradients_every_option(cell, variant, mask, go_backwards, zero_output_for_mask):
    case = make_case(
        cell,
        batch=2,
        timesteps=4,
        features=3,
        units=3,
        seed=7,
        mask=mask,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        **variant,
    )
    assert_matches_finite_differences(case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
def test_gradients_every_activation(cell, variant, activation):
    case = make_case(
        cell,
        batch=2,
        timesteps=3,
        features=2,
        units=2,
        seed=3,
        activation=activation,
        recurrent_activation="sigmoid",
        **variant,
    )
    assert_matches_finite_differences(case)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 6, 2, 1), (3, 1, 2, 4)])
def test_gradients_edge_shapes(cell, shape):
    batch, timesteps, features, units = shape
    case = make_case(
        cell, batch=batch, timesteps=timesteps, features=features, units=units, seed=11
    )
    assert_matches_finite_differences(case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("dropout", [name for name in DROPOUT_VARIANTS if name != "none"])
@pytest.mark.parametrize("mask", ["none", "all_masked_row"])
def test_gradients_under_dropout(cell, variant, dropout, mask):
    """Inputs, initial states and every weight, with the dropout masks fixed."""
    case = make_case(
        cell,
        batch=2,
        timesteps=4,
        features=3,
        units=3,
        seed=19,
        mask=mask,
        go_backwards=mask != "none",
        dropout=dropout,
        **variant,
    )
    assert_matches_finite_differences(case)
