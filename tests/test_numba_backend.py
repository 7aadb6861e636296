"""The Numba backend: its driver (slicing, settings, the contract's signatures),
random cases against the reference, and the float32 activation approximations.

Thread-count invariance, bit for bit, is checked for every backend in
``test_thread_invariance.py``. Skipped as a whole when Numba (or the backend)
is not importable here.
"""

import copy
import inspect
import platform
import subprocess
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastrnn  # noqa: E402
import fastrnn.reference as reference  # noqa: E402
from fastrnn import config  # noqa: E402
from fastrnn.activations import SIGMOID, TANH  # noqa: E402
from kernel_cases import (  # noqa: E402
    CELL_VARIANTS,
    as_float64,
    backward,
    forward,
    make_case,
    tolerance,
)

nk = pytest.importorskip("fastrnn.numba_kernels")
from fastrnn.numba_kernels import _dispatch  # noqa: E402
from fastrnn.numba_kernels._math import activate  # noqa: E402

CONTRACT = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
]


@pytest.fixture(autouse=True)
def restore_settings():
    """Every test leaves the runtime configuration as it found it."""
    before = config.get_settings()
    yield
    config.set_settings(**before._asdict())


def _results(backend, case):
    record = forward(backend, case)
    dx, d_states, d_weights = backward(case, record)
    named = {"outputs": record.outputs, "h_states": record.h_states}
    if record.c_states is not None:
        named["c_states"] = record.c_states
    grads = {
        "dx": dx,
        "d_kernel": d_weights[0],
        "d_recurrent_kernel": d_weights[1],
        "d_bias": d_weights[2],
    }
    for i, d in enumerate(d_states):
        grads[f"d_state{i}"] = d
    return named, grads


def _assert_matches_reference(case, finite_only=False):
    dtype = case.x.dtype
    with np.errstate(all="ignore"):
        want_out, want_grads = _results(reference, case)
    if finite_only:  # unbounded activations can overflow the reference itself
        assume(all(np.all(np.isfinite(a)) for a in [*want_out.values(), *want_grads.values()]))
    got_out, got_grads = _results(nk, case)
    # Unbounded activations (linear, relu) let float32 rounding grow with the
    # values: the absolute tolerances scale with the magnitude.
    output_tol = tolerance(dtype)[1]
    atol = {}
    for name, want in want_out.items():
        scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0) if finite_only else 1.0
        atol[name] = output_tol * scale
    for name, want in want_grads.items():
        atol[name] = tolerance(dtype, "gradients", want)[1]
    if finite_only and dtype == np.float32:
        # Random cases include ill-conditioned ones: a GRU with tanh gates and
        # weights of scale 0.8, say, amplifies float32 rounding a thousandfold
        # in a few steps (seen: gradients 45 % apart), and so it does the
        # float32 activations' approximation error (about 1e-7, the same sign
        # step after step). Such a case cannot be checked in float32: it is
        # one whose exact result (the float64 reference on the same values)
        # moves by more than a tenth of the tolerance when the weights move by
        # one part in 10^6. Others are held to the exact result: as close to
        # it as the float32 reference is, up to a factor of 4, plus the
        # tolerance.
        with np.errstate(all="ignore"):
            exact_case = as_float64(case)
            exact_out, exact_grads = _results(reference, exact_case)
            nudged = copy.copy(exact_case)
            nudged.recurrent_kernel = exact_case.recurrent_kernel * (1 + 1e-6)
            nudged.kernel = exact_case.kernel * (1 - 1e-6)
            nudged_out, nudged_grads = _results(reference, nudged)
        exact = {**exact_out, **exact_grads}
        nudged = {**nudged_out, **nudged_grads}
        assume(
            all(
                float(np.max(np.abs(nudged[name] - exact[name]), initial=0.0)) <= atol[name] / 10
                for name in exact
            )
        )
        got = {**got_out, **got_grads}
        for name, want in {**want_out, **want_grads}.items():
            own = float(np.max(np.abs(want - exact[name]), initial=0.0))
            error = float(np.max(np.abs(got[name] - exact[name]), initial=0.0))
            assert error <= atol[name] + 4 * own, (
                f"{case.cell} {name}: {error:.3g} from the exact result, the float32 "
                f"reference {own:.3g}, tolerance {atol[name]:.3g}"
            )
        return
    for name, want in want_out.items():
        np.testing.assert_allclose(
            got_out[name], want, rtol=output_tol, atol=atol[name], err_msg=f"{case.cell} {name}"
        )
    for name, want in want_grads.items():
        np.testing.assert_allclose(
            got_grads[name], want, rtol=0, atol=atol[name], err_msg=f"{case.cell} {name}"
        )


# --------------------------------------------------------------------------
# The driver: which path a call takes, and the settings it reads
# --------------------------------------------------------------------------

#: (batch, timesteps, features, units): the calling thread with hand products;
#: the calling thread with BLAS products (8 x 520 x 520 multiply-adds a step);
#: batch slices on threads.
SERIAL_HAND_SHAPE = (3, 6, 5, 4)
SERIAL_BLAS_SHAPE = (8, 3, 40, 520)
SLICED_SHAPE = (16, 32, 7, 96)


def test_shapes_take_the_paths_they_are_meant_to():
    settings = config.get_settings()._replace(num_threads=2)
    batch, timesteps, features, units = SLICED_SHAPE
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 2
    for batch, timesteps, features, units in (SERIAL_HAND_SHAPE, SERIAL_BLAS_SHAPE):
        for gates in (1, 3, 4):
            width = gates * units
            assert _dispatch.slice_count(settings, batch, timesteps, features, units, width) == 0
    batch, _, _, units = SERIAL_BLAS_SHAPE
    assert batch * units * units > settings.hand_product_max


def test_slice_count_follows_the_settings():
    batch, timesteps, features, units = SLICED_SHAPE
    settings = config.get_settings()._replace(num_threads=1)
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 1
    settings = settings._replace(num_threads=8)  # at most batch // slice_min_rows slices
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 2
    settings = settings._replace(slice_min_rows=4)
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 4
    settings = settings._replace(slice_min_batch=batch + 1)
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 0
    work = timesteps * batch * units * (units + features)
    settings = settings._replace(slice_min_batch=1, slice_min_work=work + 1)
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 0
    settings = settings._replace(slice_min_work=work)
    assert _dispatch.slice_count(settings, batch, timesteps, features, units, units) == 4


@pytest.fixture
def sliced_calls(monkeypatch):
    """The slice counts of the calls that ran on threads during a test."""
    calls = []
    run = _dispatch.run_fixed_slices

    def counting(n, batch, fn, threads, mask=None):
        calls.append(n)
        return run(n, batch, fn, threads, mask)

    monkeypatch.setattr(_dispatch, "run_fixed_slices", counting)
    return calls


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
def test_settings_apply_at_the_next_call(sliced_calls, cell, variant):
    """Thresholds are arguments of the compiled code, read at every call: a
    small call runs sliced, or every product by BLAS, as soon as the settings
    say so, and still matches the reference."""
    case = make_case(
        cell, batch=6, timesteps=5, features=3, units=5, seed=2, mask="random", **variant
    )
    _assert_matches_reference(case)
    assert sliced_calls == []
    with config.use_settings(num_threads=3, slice_min_batch=1, slice_min_rows=2, slice_min_work=1):
        _assert_matches_reference(case)
    assert sliced_calls == [3, 3]  # forward and backward of the fastrnn backend
    with config.use_settings(hand_product_max=1):
        _assert_matches_reference(case)
    assert sliced_calls == [3, 3]


def test_sliced_call_leaves_numba_threading_layer_alone():
    """fastrnn never starts Numba's threading layer (its OpenMP layer loads
    the system libgomp, which a later ``import torch`` would bind to)."""
    code = (
        "import numpy as np\n"
        "from numba.np.ufunc import parallel\n"
        "import fastrnn\n"
        "from fastrnn.layers import LSTM\n"
        "fastrnn.set_num_threads(2)\n"
        f"x = np.ones({SLICED_SHAPE[:3]}, np.float32)\n"
        f"LSTM({SLICED_SHAPE[3]}, backend='numba')(x)\n"
        "assert not parallel._is_initialized, 'numba threading layer started'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("go_backwards,zero_output_for_mask", [(False, False), (True, True)])
@pytest.mark.parametrize("shape", [SERIAL_BLAS_SHAPE, SLICED_SHAPE], ids=["blas", "sliced"])
def test_large_paths_match_reference(cell, variant, go_backwards, zero_output_for_mask, shape):
    batch, timesteps, features, units = shape
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=np.float64,
        seed=11,
        mask="random",
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        scale=0.3 if shape is SLICED_SHAPE else 0.05,
        **variant,
    )
    with fastrnn.use_num_threads(2):
        _assert_matches_reference(case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("batch,timesteps", [(0, 4), (3, 0), (0, 0)])
def test_empty_batch_or_sequence_matches_reference(cell, variant, batch, timesteps):
    case = make_case(cell, batch=batch, timesteps=timesteps, **variant)
    _assert_matches_reference(case)


# --------------------------------------------------------------------------
# The public kernels: the contract's names, signatures and argument binding
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONTRACT)
def test_public_kernels_have_the_contract_signature(name):
    kernel, contract = getattr(nk, name), getattr(reference, name)
    assert kernel.__name__ == name
    assert inspect.signature(kernel) == inspect.signature(contract)
    assert f"fastrnn.reference.{name}" in kernel.__doc__


def _lstm_arguments(dtype=np.float64):
    """Every argument of an LSTM forward call, by contract name."""
    case = make_case("lstm", batch=2, timesteps=4, features=3, units=5, dtype=dtype, seed=4)
    batch, timesteps, _ = case.x.shape
    units = case.recurrent_kernel.shape[0]
    args = dict(
        x=case.x,
        mask=case.mask,
        dropout_mask=np.empty((0, batch, case.x.shape[2]), dtype),
        recurrent_dropout_mask=np.empty((0, batch, units), dtype),
        h0=case.states[0],
        c0=case.states[1],
        kernel=case.kernel,
        recurrent_kernel=case.recurrent_kernel,
        bias=case.bias,
        **case.options,
        outputs=np.empty((batch, timesteps, units), dtype),
        h_states=np.empty((timesteps + 1, batch, units), dtype),
        c_states=np.empty((timesteps + 1, batch, units), dtype),
        gates=np.empty((timesteps, batch, 4 * units), dtype),
    )
    order = list(inspect.signature(reference.lstm_forward).parameters)
    return {name: args[name] for name in order}


def test_keyword_and_positional_calls_agree():
    positional = _lstm_arguments()
    nk.lstm_forward(*positional.values())
    by_name = _lstm_arguments()
    nk.lstm_forward(**by_name)
    mixed = _lstm_arguments()
    values = list(mixed.values())
    nk.lstm_forward(*values[:3], **dict(list(mixed.items())[3:]))
    for name in ("outputs", "h_states", "c_states", "gates"):
        np.testing.assert_array_equal(by_name[name], positional[name])
        np.testing.assert_array_equal(mixed[name], positional[name])


def test_wrong_arguments_raise_type_error():
    args = list(_lstm_arguments().values())
    with pytest.raises(TypeError):
        nk.lstm_forward(*args[:-1])
    with pytest.raises(TypeError):
        nk.lstm_forward(*args, bogus=1)


def test_build_info():
    info = nk.build_info()
    assert set(info) == {"isa", "cpu", "compiler", "flags"}
    assert all(isinstance(value, str) and value for value in info.values())
    assert info["compiler"].startswith(f"Numba {numba.__version__}, llvmlite ")
    assert "LLVM " in info["compiler"]
    assert "fastmath=" in info["flags"] and "no parallel" in info["flags"]
    known = {name for name, _ in nk._ISA_ORDER} | {platform.machine() or "unknown"}
    assert info["isa"] in known


# --------------------------------------------------------------------------
# Random cases against the reference
# --------------------------------------------------------------------------

ACTIVATION_PAIRS = [
    ("tanh", "sigmoid"),
    ("relu", "sigmoid"),
    ("sigmoid", "tanh"),
    ("linear", "relu"),
    ("tanh", "tanh"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variant=st.sampled_from(CELL_VARIANTS),
    dtype=st.sampled_from([np.float32, np.float64]),
    batch=st.integers(0, 4),
    timesteps=st.integers(1, 9),
    features=st.integers(1, 6),
    units=st.integers(1, 9),
    mask=st.sampled_from(["none", "random", "leading", "trailing", "all_masked_row"]),
    go_backwards=st.booleans(),
    zero_output_for_mask=st.booleans(),
    activations=st.sampled_from(ACTIVATION_PAIRS),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 0.5, 0.8]),
)
def test_random_cases_match_reference(
    variant,
    dtype,
    batch,
    timesteps,
    features,
    units,
    mask,
    go_backwards,
    zero_output_for_mask,
    activations,
    seed,
    scale,
):
    cell, options = variant
    if dtype is np.float32 and activations == ("linear", "relu"):
        # Unbounded gates make the sequence explode (1e13 after 5 steps), where
        # float32 rounding differences of any two implementations exceed 1e-5.
        dtype = np.float64
    if mask == "all_masked_row" and batch == 0:
        mask = "none"
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=seed,
        mask=mask,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        activation=activations[0],
        recurrent_activation=activations[1],
        scale=scale,
        **options,
    )
    _assert_matches_reference(case, finite_only=True)


# --------------------------------------------------------------------------
# float32 tanh and sigmoid: one approximation for both compiled backends
# --------------------------------------------------------------------------

#: The error bounds that kernels/_fastmath.h states against float64 tanh and
#: sigmoid over every float32 (2^-22 and 2^-23 where the clamp to [-8, 8]
#: saturates; 3.9e-8 for |x| < 8 and 4.9e-8 for |x| < 16), with the last
#: digit rounded up.
TANH_BOUND, TANH_BOUND_INSIDE = 2.0**-22, 4e-8
SIGMOID_BOUND, SIGMOID_BOUND_INSIDE = 2.0**-23, 5e-8


def _dense_float32_grid():
    """Many float32 values of every magnitude, both signs, and the special ones."""
    magnitudes = np.geomspace(1e-38, 3e38, 20001)
    values = np.concatenate(
        [
            np.linspace(-20, 20, 400001),
            magnitudes,
            -magnitudes,
            [0.0, -0.0, 8.0, -8.0, 16.0, -16.0, np.inf, -np.inf],
        ]
    )
    return values.astype(np.float32)


def _numba_f32(code, a):
    out = np.empty_like(a)
    activate(out, a, a.size, code)
    return out


def _ulps(a, b):
    """Distance in float32 units in the last place, elementwise."""

    def ordered(v):
        i = v.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)

    return np.abs(ordered(a) - ordered(b))


def test_float32_tanh_within_the_stated_bound():
    a = _dense_float32_grid()
    out = _numba_f32(TANH, a)
    error = np.abs(out - np.tanh(a.astype(np.float64)))
    inside = np.abs(a) < 8
    assert np.max(error[inside]) <= TANH_BOUND_INSIDE
    assert np.max(error) <= TANH_BOUND
    assert np.all(np.abs(out) <= 1)
    np.testing.assert_array_equal(_numba_f32(TANH, -a), -out)  # odd, exactly


def test_float32_sigmoid_within_the_stated_bound():
    a = _dense_float32_grid()
    out = _numba_f32(SIGMOID, a)
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-a.astype(np.float64)))
    error = np.abs(out - exact)
    inside = np.abs(a) < 16
    assert np.max(error[inside]) <= SIGMOID_BOUND_INSIDE
    assert np.max(error) <= SIGMOID_BOUND
    assert np.all((out >= 0) & (out <= 1))


def _cython_hook(name):
    try:
        import fastrnn._cython_kernels as cython_kernels
    except ImportError:
        pytest.skip("the Cython extension is not built")
    hook = getattr(cython_kernels, name, None)
    if hook is None:
        pytest.skip(f"the Cython extension has no {name} test hook")
    return hook


@pytest.mark.parametrize("code,hook", [(TANH, "_tanh_f32"), (SIGMOID, "_sigmoid_f32")])
def test_float32_activations_agree_with_cython(code, hook):
    """Both compiled backends use kernels/_fastmath.h's approximation: their
    float32 results differ by at most one unit in the last place."""
    cython_f32 = _cython_hook(hook)
    a = _dense_float32_grid()
    want = np.asarray(cython_f32(a), dtype=np.float32)
    got = _numba_f32(code, a)
    assert want.shape == got.shape
    assert int(np.max(_ulps(got, want))) <= 1
