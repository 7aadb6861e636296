"""Property-based equivalence: every compiled backend equals the NumPy reference.

For each available backend other than ``"numpy"`` (``fastrnn.available_backends()``),
in float64, Hypothesis draws a shape (batch 1..9, timesteps 1..12, features
1..9, units 1..17), a cell and variant (SimpleRNN, LSTM, GRU with
``reset_after`` True and False) and the options (activation and recurrent
activation among linear/tanh/sigmoid/relu, go_backwards, zero_output_for_mask,
return_sequences, return_state, use_bias, a mask that is absent, random, has
all-masked rows or masks everything, and given or default initial states), and
checks that the backend gives what the reference gives:

* at the kernel level (:func:`fastrnn.ops.recurrent_forward` and
  :func:`fastrnn.ops.recurrent_backward`, on a :func:`kernel_cases.make_case`
  case): outputs, state sequences (hence final states) and every gradient
  (inputs, initial states, kernel, recurrent kernel, bias), through
  :func:`test_kernel_equivalence.assert_backend_matches_reference`;
* at the layer level (``SimpleRNN``/``LSTM``/``GRU`` with the backend, the same
  config and the same weights as a ``backend="numpy"`` twin, called with
  ``training=True`` then ``.backward(dy)``): every returned output and state,
  the input (and initial-state) gradients and ``.gradients``.

All comparisons use :func:`kernel_cases.tolerance` for float64. Examples where
the reference's own results are not finite (unbounded linear/relu activations
can overflow it) are discarded: there is nothing to compare. The examples
are derandomized (the same ones at every run) so that CI is deterministic; a
failing example is a real disagreement between a backend and the reference.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastrnn  # noqa: E402
import fastrnn.reference as reference  # noqa: E402
from fastrnn.layers import GRU, LSTM, SimpleRNN  # noqa: E402
from kernel_cases import CELL_VARIANTS, make_case, results, tolerance  # noqa: E402
from test_kernel_equivalence import assert_backend_matches_reference  # noqa: E402

#: The backends checked against the reference ("numpy").
COMPILED_BACKENDS = [name for name in fastrnn.available_backends() if name != "numpy"]

#: The activations the recurrent layers (and kernels) support.
ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")

LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPE = np.float64

backends = pytest.mark.parametrize("backend_name", COMPILED_BACKENDS)
shapes = dict(
    variant=st.sampled_from(CELL_VARIANTS),
    batch=st.integers(1, 9),
    timesteps=st.integers(1, 12),
    features=st.integers(1, 9),
    units=st.integers(1, 17),
)


def _assume_finite(arrays):
    """Skip the example unless every array is finite: linear and relu (as
    activation or recurrent activation) are unbounded, and can overflow the
    reference itself, where inf and nan are no result to compare (and the
    gradient tolerance, relative to the largest magnitude, is nan)."""
    assume(all(np.all(np.isfinite(a)) for a in arrays))


def _mask(kind, batch, timesteps, rng):
    """A (batch, timesteps) bool mask of ``kind``, or None for "none"."""
    if kind == "none":
        return None
    mask = rng.random((batch, timesteps)) > 0.3
    if kind == "all_masked_row":
        mask[rng.integers(batch)] = False
    elif kind == "all_masked":
        mask[:] = False
    return mask


# --------------------------------------------------------------------------
# Kernel level: ops.recurrent_forward / ops.recurrent_backward
# --------------------------------------------------------------------------


@backends
@SETTINGS
@given(
    **shapes,
    mask=st.sampled_from(["none", "random", "leading", "trailing", "all_masked_row", "all_masked"]),
    go_backwards=st.booleans(),
    zero_output_for_mask=st.booleans(),
    activation=st.sampled_from(ACTIVATIONS),
    recurrent_activation=st.sampled_from(ACTIVATIONS),
    initial_states=st.sampled_from(["random", "zeros"]),
    use_bias=st.booleans(),
    d_outputs=st.sampled_from(["sequences", "last", "none"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernels_match_reference(
    backend_name,
    variant,
    batch,
    timesteps,
    features,
    units,
    mask,
    go_backwards,
    zero_output_for_mask,
    activation,
    recurrent_activation,
    initial_states,
    use_bias,
    d_outputs,
    seed,
):
    cell, options = variant
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=DTYPE,
        seed=seed,
        mask="random" if mask == "all_masked" else mask,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        activation=activation,
        recurrent_activation=recurrent_activation,
        **options,
    )
    if mask == "all_masked":
        case.mask[:] = False
    if initial_states == "zeros":  # what a layer passes when given none
        case.states = [np.zeros_like(s) for s in case.states]
    if not use_bias:  # what a layer passes when use_bias=False
        case.bias[...] = 0
    # The gradient a layer sends back: of every output (return_sequences=True),
    # of the last one only (return_sequences=False), or of the final states only.
    if d_outputs == "last":
        case.d_outputs[:, :-1] = 0
    elif d_outputs == "none":
        case.d_outputs[...] = 0
    # (The reference warns of overflows in steps a mask then discards.)
    with np.errstate(all="ignore"):
        _assume_finite(results(reference, case).values())
        assert_backend_matches_reference(backend_name, case)


# --------------------------------------------------------------------------
# Layer level: SimpleRNN / LSTM / GRU, call(training=True) then backward(dy)
# --------------------------------------------------------------------------


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _run_layer(layer, x, initial_state, mask, dy):
    """(outputs, input and state gradients, weight gradients) of one training call."""
    y = layer(x, initial_state=initial_state, mask=mask, training=True)
    grads = layer.backward(dy)
    if initial_state is None:
        d_inputs = [grads]
    else:
        dx, d_state = grads
        assert isinstance(d_state, list) == isinstance(initial_state, list)
        d_inputs = [dx, *_as_list(d_state)]
    return _as_list(y), d_inputs, list(layer.gradients)


@backends
@SETTINGS
@given(
    **shapes,
    mask=st.sampled_from(["none", "random", "all_masked_row", "all_masked"]),
    go_backwards=st.booleans(),
    return_sequences=st.booleans(),
    return_state=st.booleans(),
    zero_output_for_mask=st.booleans(),
    activation=st.sampled_from(ACTIVATIONS),
    recurrent_activation=st.sampled_from(ACTIVATIONS),
    initial_state=st.sampled_from(["none", "list", "array"]),
    use_bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_layers_match_reference(
    backend_name,
    variant,
    batch,
    timesteps,
    features,
    units,
    mask,
    go_backwards,
    return_sequences,
    return_state,
    zero_output_for_mask,
    activation,
    recurrent_activation,
    initial_state,
    use_bias,
    seed,
):
    cell, options = variant
    rng = np.random.default_rng(seed)
    config = dict(
        activation=activation,
        use_bias=use_bias,
        bias_initializer="random_normal",
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        dtype="float64",
        seed=seed,
    )
    if cell != "simple_rnn":
        config["recurrent_activation"] = recurrent_activation
    if cell == "gru":
        config["reset_after"] = options["reset_after"]
    ref_layer = LAYERS[cell](units, backend="numpy", **config)
    layer = LAYERS[cell](units, backend=backend_name, **config)
    shape = (batch, timesteps, features)
    ref_layer.build(shape)
    layer.build(shape)
    layer.set_weights(ref_layer.get_weights())

    x = 0.5 * rng.standard_normal(shape)
    n_states = 2 if cell == "lstm" else 1
    states = None
    if initial_state != "none":
        states = [0.5 * rng.standard_normal((batch, units)) for _ in range(n_states)]
        if initial_state == "array" and n_states == 1:
            states = states[0]
    m = _mask(mask, batch, timesteps, rng)
    out_shape = (batch, timesteps, units) if return_sequences else (batch, units)
    dy = rng.standard_normal(out_shape)
    if return_state:
        dy = [dy, *(rng.standard_normal((batch, units)) for _ in range(n_states))]

    with np.errstate(all="ignore"):
        want_y, want_d_inputs, want_d_weights = _run_layer(ref_layer, x, states, m, dy)
    _assume_finite([*want_y, *want_d_inputs, *want_d_weights])
    got_y, got_d_inputs, got_d_weights = _run_layer(layer, x, states, m, dy)

    rtol, atol = tolerance(DTYPE)
    assert len(got_y) == len(want_y)
    for i, (have, want) in enumerate(zip(got_y, want_y)):
        np.testing.assert_allclose(
            have, want, rtol=rtol, atol=atol, err_msg=f"{backend_name} {cell} output {i}"
        )
    named = [(f"d_input{i}", pair) for i, pair in enumerate(zip(got_d_inputs, want_d_inputs))]
    named += [(f"d_weight{i}", pair) for i, pair in enumerate(zip(got_d_weights, want_d_weights))]
    assert len(got_d_inputs) == len(want_d_inputs)
    assert len(got_d_weights) == len(want_d_weights) == len(ref_layer.weights)
    for name, (have, want) in named:
        rtol, atol = tolerance(DTYPE, "gradients", want)
        np.testing.assert_allclose(
            have, want, rtol=rtol, atol=atol, err_msg=f"{backend_name} {cell} {name}"
        )
