"""The Cython backend's batch slices (kernels/_runtime.pxi, kernels/_driver.pxi).

Every call runs the row code (register-blocked products, no BLAS), on the
calling thread or, with enough work, as batch slices on threads (the rule of
:mod:`fastrnn.config`). Checked here: the rule as the extension applies it;
sliced calls match the reference with every option; a call on some of the
batch rows computes exactly those rows of the full call; packed weights give
the same bits; and the thread pool driver in ``fastrnn/_slices.py``. That the
results do not depend on the thread count is checked for every backend in
``tests/test_thread_invariance.py``.

The cases use weights of scale 0.1: larger recurrent weights make a 45-unit
SimpleRNN chaotic, where float32 rounding differences between any two
correct implementations (the reference included) grow past 1e-5 in a few
dozen steps.
"""

import threading

import numpy as np
import pytest

from fastrnn import _slices, config, ops
from kernel_cases import CELL_VARIANTS, backward, forward, make_case, results
from test_kernel_equivalence import assert_backend_matches_reference

K = pytest.importorskip("fastrnn._cython_kernels")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: (batch, timesteps, features, units): enough work for threads in every
#: cell, and the same with an odd batch (slices of unequal sizes).
THREADED = (48, 32, 20, 45)
THREADED_ODD = (67, 30, 20, 45)
#: Batch 16 but little work: the calling thread alone.
ONE_THREAD = (16, 6, 5, 7)


@pytest.fixture(autouse=True)
def restore_settings():
    """Every test leaves the runtime configuration as it found it."""
    before = config.get_settings()
    yield
    config.set_settings(**before._asdict())


@pytest.fixture
def restore_packing():
    yield
    K._set_packing(True)


def _slice_count(cell, shape):
    batch, timesteps, features, units = shape
    return K._slice_count(batch, timesteps, features, units, ops.CELLS[cell].gates * units)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_the_slicing_rule(cell):
    config.set_settings(num_threads=4, slice_min_batch=16, slice_min_rows=8)
    assert _slice_count(cell, THREADED) == 4
    assert _slice_count(cell, THREADED_ODD) == 4
    assert _slice_count(cell, ONE_THREAD) == 1  # too little work
    assert _slice_count(cell, (15, 100, 100, 128)) == 1  # batch < slice_min_batch
    assert _slice_count(cell, (1, 100, 32, 64)) == 1  # the benchmark's "small"
    assert _slice_count(cell, (0, 100, 32, 64)) == 0  # empty batch: no time loop
    assert _slice_count(cell, (20, 0, 32, 64)) == 0  # no timesteps: no time loop
    config.set_num_threads(2)
    assert _slice_count(cell, THREADED) == 2
    config.set_num_threads(1)
    assert _slice_count(cell, THREADED) == 1
    # batch // slice_min_rows caps the count; the thresholds are read at each call
    config.set_settings(num_threads=8, slice_min_rows=16)
    assert _slice_count(cell, THREADED) == 3
    config.set_settings(slice_min_batch=64)
    assert _slice_count(cell, THREADED) == 1
    config.set_settings(slice_min_batch=16, slice_min_work=1 << 30)
    assert _slice_count(cell, THREADED) == 1
    config.set_settings(slice_min_work=1 << 22)
    assert K._slice_count(1024, 100, 256, 512, 2048) == 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("mask", ["none", "random", "leading", "all_masked_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_threaded_slices_match_reference(
    dtype, cell, variant, mask, go_backwards, zero_output_for_mask
):
    config.set_num_threads(2)
    assert _slice_count(cell, THREADED) == 2
    batch, timesteps, features, units = THREADED
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=5,
        mask=mask,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        scale=0.1,
        **variant,
    )
    assert_backend_matches_reference("cython", case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("shape", [THREADED_ODD, ONE_THREAD])
def test_other_row_code_shapes_match_reference(dtype, cell, variant, shape):
    config.set_num_threads(3)
    batch, timesteps, features, units = shape
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=7,
        mask="random",
        go_backwards=True,
        scale=0.1,
        **variant,
    )
    assert_backend_matches_reference("cython", case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
def test_a_call_on_some_rows_computes_exactly_those_rows(dtype, cell, variant):
    """Rows 16:48 of a 67-row call (4 slices on threads) = a 32-row call on them
    (the calling thread alone)."""
    config.set_num_threads(4)
    assert _slice_count(cell, THREADED_ODD) == 4
    batch, timesteps, features, units = THREADED_ODD
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=4,
        mask="random",
        scale=0.1,
        **variant,
    )
    rows = slice(16, 48)
    part = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=4,
        mask="random",
        scale=0.1,
        **variant,
    )
    part.x, part.mask, part.d_outputs = case.x[rows], case.mask[rows], case.d_outputs[rows]
    part.states = [s[rows] for s in case.states]
    part.d_states = [d[rows] for d in case.d_states]
    full = results(K, case)
    config.set_settings(slice_min_work=1 << 40)  # the part on the calling thread alone
    assert _slice_count(cell, (32, timesteps, features, units)) == 1
    sub = results(K, part)
    np.testing.assert_array_equal(sub["outputs"], full["outputs"][rows])
    np.testing.assert_array_equal(sub["dx"], full["dx"][rows])
    for name in ("h_states", "c_states", "gates", "recurrent_candidate"):
        if name in full:  # time-major: batch is axis 1
            np.testing.assert_array_equal(sub[name], full[name][:, rows], err_msg=name)
    for name in ("d_state0", "d_state1"):
        if name in full:
            np.testing.assert_array_equal(sub[name], full[name][rows], err_msg=name)


ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("relu", "sigmoid"), ("sigmoid", "tanh"), ("tanh", "tanh")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variant=st.sampled_from(CELL_VARIANTS),
    dtype=st.sampled_from([np.float32, np.float64]),
    batch=st.integers(16, 40),
    timesteps=st.integers(1, 12),
    features=st.integers(1, 40),
    units=st.integers(1, 40),
    mask=st.sampled_from(["none", "random", "leading", "trailing", "all_masked_row"]),
    go_backwards=st.booleans(),
    zero_output_for_mask=st.booleans(),
    activations=st.sampled_from(ACTIVATION_PAIRS),
    seed=st.integers(0, 2**16),
)
def test_random_row_code_cases_match_reference(
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
):
    cell, options = variant
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
        scale=0.1,
        **options,
    )
    assert_backend_matches_reference("cython", case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("shape", [(0, 4, 3, 5), (3, 0, 4, 5), (0, 0, 3, 5)])
def test_empty_batch_or_sequence(dtype, cell, variant, shape):
    """No time loop: the forward copies the initial states, the backward the
    final states' gradients, and the weight gradients are zero, as in the
    reference."""
    batch, timesteps, features, units = shape
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=2,
        **variant,
    )
    assert _slice_count(cell, shape) == 0
    record = forward(K, case)
    np.testing.assert_array_equal(record.h_states[0], case.states[0])
    dx, d_states, d_weights = backward(case, record)
    assert dx.shape == (batch, timesteps, features)
    for d, want in zip(d_states, case.d_states):
        np.testing.assert_array_equal(d, want)
    for d in d_weights:
        np.testing.assert_array_equal(d, np.zeros_like(d))
    assert_backend_matches_reference("cython", case)


# --------------------------------------------------------------------------
# fastrnn/_slices.py
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,batch,threads", [(1, 5, 1), (2, 33, 2), (4, 67, 2), (4, 67, 3), (8, 130, 16), (3, 2, 2)]
)
def test_run_fixed_slices_runs_every_slice_once(n, batch, threads):
    seen = []
    lock = threading.Lock()

    def fn(b0, b1):
        with lock:
            seen.append((b0, b1))

    _slices.run_fixed_slices(n, batch, fn, threads)
    assert sorted(seen) == _slices.slice_bounds(n, batch)
    assert _slices.slice_bounds(n, batch)[-1][1] == batch


def test_run_fixed_slices_waits_for_every_slice_before_raising():
    done = []
    release = threading.Event()

    def fn(b0, b1):
        if b0 == 0:
            raise MemoryError()
        release.wait(5)
        done.append(b0)

    def unblock():
        release.set()

    timer = threading.Timer(0.2, unblock)
    timer.start()
    with pytest.raises(MemoryError):
        _slices.run_fixed_slices(2, 10, fn, 2)
    assert done == [5]
    timer.cancel()


# --------------------------------------------------------------------------
# Packed weights
# --------------------------------------------------------------------------

#: For each cell and dtype, the fewest units whose weights' rows are 4 KB
#: apart: the backward copies dz's column blocks (``weight_grads``); the
#: forward packs its weights at any size (``pack_weights``).
PACKED_UNITS = {
    ("simple_rnn", np.float32): 1024,
    ("simple_rnn", np.float64): 512,
    ("lstm", np.float32): 256,
    ("lstm", np.float64): 128,
    ("gru", np.float32): 342,
    ("gru", np.float64): 171,
}
PACKED_CASES = [
    (cell, variant, dtype, PACKED_UNITS[cell, dtype])
    for cell, variant in CELL_VARIANTS
    for dtype in (np.float32, np.float64)
]
#: GRU with units of 4 KB (float64): reset_after's aux blocks are copied too.
PACKED_CASES += [
    ("gru", variant, np.float64, 512) for cell, variant in CELL_VARIANTS if cell == "gru"
]


@pytest.mark.parametrize("cell,variant,dtype,units", PACKED_CASES)
@pytest.mark.parametrize("batch", [3, 33])
def test_packed_weights_give_the_same_bits(restore_packing, cell, variant, dtype, units, batch):
    """Packing moves the weights, not the arithmetic: the same bits with and
    without, on the calling thread (batch 3: inputs projected up front) and in
    slices (batch 33), forward and backward; and the reference's results."""
    config.set_num_threads(2)
    timesteps, features = 3, 9
    width = ops.CELLS[cell].gates * units
    assert K._packs_weights(dtype, batch, timesteps, features, units, width)
    n = K._slice_count(batch, timesteps, features, units, width)
    assert n == (1 if batch == 3 else 2)
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=9,
        mask="random",
        go_backwards=True,
        scale=1.5 / np.sqrt(units + features),
        **variant,
    )
    packed = results(K, case)
    K._set_packing(False)
    assert not K._packs_weights(dtype, batch, timesteps, features, units, width)
    plain = results(K, case)
    for name, want in plain.items():
        np.testing.assert_array_equal(packed[name], want, err_msg=name)
    K._set_packing(True)
    assert_backend_matches_reference("cython", case)


def test_packing_rule():
    """A forward packs its weights whenever its time loop reuses them (two steps
    or more), whatever the rows of its slices or the weights' size; one step
    (``step``) does not."""
    for batch, units in [(1, 1), (2, 8), (3, 256), (64, 512)]:
        assert K._packs_weights(np.float32, batch, 2, 9, units, 4 * units)
        assert K._packs_weights(np.float64, batch, 50, 9, units, 4 * units)
        assert not K._packs_weights(np.float32, batch, 1, 9, units, 4 * units)
    config.set_settings(num_threads=8, slice_min_batch=16, slice_min_rows=2)
    assert K._slice_count(16, 3, 9, 256, 1024) == 8  # slices of 2 rows
    assert K._packs_weights(np.float32, 16, 3, 9, 256, 1024)
