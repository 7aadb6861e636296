"""Every backend's kernels equal the reference's, forward and backward.

One case runs through the reference and through the backend under test;
outputs, states and every gradient must agree to the dtype's tolerance
(:func:`kernel_cases.tolerance`). Other test modules import
:func:`assert_backend_matches_reference` from here.
"""

import numpy as np
import pytest

import fastrnn.reference as reference
from fastrnn.backends import resolve_backend
from kernel_cases import (
    CELL_VARIANTS,
    DROPOUT_VARIANTS,
    backward,
    forward,
    make_case,
    tolerance,
)


def assert_backend_matches_reference(backend_name, case):
    """The backend's forward and backward results equal the reference's, to :func:`tolerance`."""
    backend = resolve_backend(backend_name)
    dtype = case.x.dtype
    expected = forward(reference, case)
    got = forward(backend, case)
    rtol, atol = tolerance(dtype)
    for name in ("outputs", "h_states", "c_states"):
        want = getattr(expected, name)
        if want is not None:
            np.testing.assert_allclose(
                getattr(got, name),
                want,
                rtol=rtol,
                atol=atol,
                err_msg=f"{backend_name} {case.cell} {name}",
            )

    want_grads = backward(case, expected)
    got_grads = backward(case, got)
    flat_want = [want_grads[0], *want_grads[1], *want_grads[2]]
    flat_got = [got_grads[0], *got_grads[1], *got_grads[2]]
    names = ["dx", *(f"d_state{i}" for i in range(len(want_grads[1])))]
    names += ["d_kernel", "d_recurrent_kernel", "d_bias"]
    for name, want, have in zip(names, flat_want, flat_got):
        rtol, atol = tolerance(dtype, "gradients", want)
        np.testing.assert_allclose(
            have, want, rtol=rtol, atol=atol, err_msg=f"{backend_name} {case.cell} {name}"
        )


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("mask", ["none", "random", "leading", "all_masked_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_options(
    backend_name, global_dtype, cell, variant, mask, go_backwards, zero_output_for_mask
):
    case = make_case(
        cell,
        batch=3,
        timesteps=7,
        features=5,
        units=4,
        dtype=global_dtype,
        seed=5,
        mask=mask,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        **variant,
    )
    assert_backend_matches_reference(backend_name, case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize(
    "activation,recurrent_activation",
    [("tanh", "sigmoid"), ("relu", "sigmoid"), ("sigmoid", "tanh"), ("linear", "relu")],
)
def test_activations(backend_name, global_dtype, cell, variant, activation, recurrent_activation):
    case = make_case(
        cell,
        batch=2,
        timesteps=5,
        features=3,
        units=4,
        dtype=global_dtype,
        seed=9,
        activation=activation,
        recurrent_activation=recurrent_activation,
        **variant,
    )
    assert_backend_matches_reference(backend_name, case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize(
    "shape",
    [
        (1, 1, 1, 1),  # T=1, batch=1, units=1, features=1
        (1, 10, 4, 8),  # the benchmark's tiny shape
        (4, 1, 3, 5),  # T=1
        (2, 60, 3, 2),  # long T
        (0, 4, 3, 5),  # batch 0
        (5, 9, 33, 70),  # sizes that cross vector widths
    ],
)
def test_shapes(backend_name, global_dtype, cell, variant, shape):
    batch, timesteps, features, units = shape
    # Weights of about Glorot's scale, as a trained layer has: with much
    # larger ones the wider shapes are chaotic, and float32 rounding (which
    # legitimately differs between summation orders) grows exponentially in T.
    scale = min(0.5, 1.5 / np.sqrt(features + units))
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=global_dtype,
        seed=13,
        mask="random",
        scale=scale,
        **variant,
    )
    assert_backend_matches_reference(backend_name, case)


#: The dropout variants with masks (see kernel_cases.DROPOUT_VARIANTS).
DROPOUTS = [name for name in DROPOUT_VARIANTS if name != "none"]


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("dropout", DROPOUTS)
@pytest.mark.parametrize("mask", ["none", "all_masked_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_dropout(backend_name, global_dtype, cell, variant, dropout, mask, go_backwards):
    case = make_case(
        cell,
        batch=3,
        timesteps=7,
        features=5,
        units=4,
        dtype=global_dtype,
        seed=21,
        mask=mask,
        go_backwards=go_backwards,
        dropout=dropout,
        **variant,
    )
    assert_backend_matches_reference(backend_name, case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("dropout", ["input", "recurrent", "both"])
@pytest.mark.parametrize(
    "shape",
    [
        (1, 1, 1, 1),  # T=1, batch=1, units=1, features=1
        (4, 1, 3, 5),  # T=1
        (1, 9, 4, 6),  # batch=1
        (3, 6, 4, 1),  # units=1
        (0, 4, 3, 5),  # batch 0
        (5, 9, 33, 70),  # sizes that cross vector widths
    ],
)
def test_dropout_shapes(backend_name, global_dtype, cell, variant, dropout, shape):
    batch, timesteps, features, units = shape
    scale = min(0.5, 1.5 / np.sqrt(features + units))  # see test_shapes
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=global_dtype,
        seed=17,
        mask="random",
        scale=scale,
        dropout=dropout,
        **variant,
    )
    assert_backend_matches_reference(backend_name, case)
