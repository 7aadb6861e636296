"""The Cython backend's row code and batch slices (kernels/_cython_kernels.pyx).

Batches of at least 16 rows run the row code (register-blocked products,
no BLAS), on the calling thread or, with enough work, as batch slices on
threads. Checked here: it matches the reference with every option; its
results do not depend on the thread count (bit for bit); a call on some of
the batch rows computes exactly those rows of the full call; and the thread
pool driver in ``fastrnn/_slices.py``.

The cases use weights of scale 0.1: larger recurrent weights make a 45-unit
SimpleRNN chaotic, where float32 rounding differences between any two
correct implementations (the reference included) grow past 1e-5 in a few
dozen steps.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from fastrnn import _slices
from kernel_cases import backward, forward, make_case
from test_kernel_equivalence import assert_backend_matches_reference

K = pytest.importorskip("fastrnn._cython_kernels")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VARIANTS = [("simple_rnn", {}), ("lstm", {}), ("gru", {"reset_after": True}),
            ("gru", {"reset_after": False})]
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}

#: (batch, timesteps, features, units): enough work for threads in every
#: cell (2 slices), and the same on 4 slices of an odd batch.
THREADED = (48, 32, 20, 45)
THREADED_4 = (67, 30, 20, 45)
#: Batch 16 but little work: the row code on the calling thread.
ONE_THREAD = (16, 6, 5, 7)


@pytest.fixture
def restore_threads():
    before = K.get_num_threads()
    yield
    K.set_num_threads(before)


def _plan(cell, shape):
    batch, timesteps, features, units = shape
    return K._slice_count(batch, timesteps, features, units, GATES[cell] * units)


def test_the_shapes_take_the_paths_they_are_meant_to():
    for cell, _ in VARIANTS:
        assert _plan(cell, THREADED) == 2
        assert _plan(cell, THREADED_4) == 4
        assert _plan(cell, ONE_THREAD) == 1
        assert _plan(cell, (15, 100, 100, 128)) == 1   # small batch: row code, one thread
        assert _plan(cell, (1, 100, 32, 64)) == 1      # the benchmark's "small"
        assert _plan(cell, (0, 100, 32, 64)) == 0      # empty batch: serial code
    assert K._slice_count(1024, 100, 256, 512, 2048) == 8


def _results(case):
    record = forward(K, case)
    dx, d_states, d_weights = backward(case, record)
    named = {"outputs": record.outputs, "h_states": record.h_states, "dx": dx,
             "d_kernel": d_weights[0], "d_recurrent_kernel": d_weights[1],
             "d_bias": d_weights[2]}
    for name in ("c_states", "gates", "recurrent_candidate"):
        if getattr(record, name, None) is not None:
            named[name] = getattr(record, name)
    for i, d in enumerate(d_states):
        named[f"d_state{i}"] = d
    return named


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", VARIANTS)
@pytest.mark.parametrize("mask", ["none", "random", "leading", "all_masked_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_threaded_slices_match_reference(dtype, cell, variant, mask, go_backwards,
                                         zero_output_for_mask):
    batch, timesteps, features, units = THREADED
    case = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=5, mask=mask, go_backwards=go_backwards,
                     zero_output_for_mask=zero_output_for_mask, scale=0.1, **variant)
    assert_backend_matches_reference("cython", case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", VARIANTS)
@pytest.mark.parametrize("shape", [THREADED_4, ONE_THREAD])
def test_other_row_code_shapes_match_reference(dtype, cell, variant, shape):
    batch, timesteps, features, units = shape
    case = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=7, mask="random", go_backwards=True, scale=0.1,
                     **variant)
    assert_backend_matches_reference("cython", case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", VARIANTS)
@pytest.mark.parametrize("shape", [THREADED, THREADED_4, ONE_THREAD])
def test_results_do_not_depend_on_thread_count(restore_threads, dtype, cell, variant, shape):
    batch, timesteps, features, units = shape
    case = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=3, mask="random", scale=0.1, **variant)
    runs = {}
    for threads in (1, 2, 3, 8):
        K.set_num_threads(threads)
        runs[threads] = _results(case)
    for threads in (2, 3, 8):
        for name, want in runs[1].items():
            np.testing.assert_array_equal(runs[threads][name], want,
                                          err_msg=f"{name}, {threads} threads")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", VARIANTS)
def test_a_call_on_some_rows_computes_exactly_those_rows(dtype, cell, variant):
    """Rows 16:48 of a 67-row call (4 slices on threads) = a 32-row call on them
    (the row code on the calling thread)."""
    batch, timesteps, features, units = THREADED_4
    case = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=4, mask="random", scale=0.1, **variant)
    rows = slice(16, 48)
    part = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=4, mask="random", scale=0.1, **variant)
    part.x, part.mask, part.d_outputs = case.x[rows], case.mask[rows], case.d_outputs[rows]
    part.states = [s[rows] for s in case.states]
    part.d_states = [d[rows] for d in case.d_states]
    full, sub = _results(case), _results(part)
    np.testing.assert_array_equal(sub["outputs"], full["outputs"][rows])
    np.testing.assert_array_equal(sub["dx"], full["dx"][rows])
    for name in ("h_states", "c_states", "gates", "recurrent_candidate"):
        if name in full:    # time-major: batch is axis 1
            np.testing.assert_array_equal(sub[name], full[name][:, rows], err_msg=name)
    for name in ("d_state0", "d_state1"):
        if name in full:
            np.testing.assert_array_equal(sub[name], full[name][rows], err_msg=name)


ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("relu", "sigmoid"), ("sigmoid", "tanh"),
                    ("tanh", "tanh")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variant=st.sampled_from(VARIANTS),
       dtype=st.sampled_from([np.float32, np.float64]),
       batch=st.integers(16, 40), timesteps=st.integers(1, 12),
       features=st.integers(1, 40), units=st.integers(1, 40),
       mask=st.sampled_from(["none", "random", "leading", "trailing", "all_masked_row"]),
       go_backwards=st.booleans(), zero_output_for_mask=st.booleans(),
       activations=st.sampled_from(ACTIVATION_PAIRS), seed=st.integers(0, 2**16))
def test_random_row_code_cases_match_reference(variant, dtype, batch, timesteps, features,
                                               units, mask, go_backwards,
                                               zero_output_for_mask, activations, seed):
    cell, options = variant
    case = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=seed, mask=mask, go_backwards=go_backwards,
                     zero_output_for_mask=zero_output_for_mask, activation=activations[0],
                     recurrent_activation=activations[1], scale=0.1, **options)
    assert_backend_matches_reference("cython", case)


def test_set_num_threads_checks_its_argument(restore_threads):
    assert K.get_num_threads() >= 1
    with pytest.raises(ValueError):
        K.set_num_threads(0)
    K.set_num_threads(3)
    assert K.get_num_threads() == 3


def test_thread_count_from_the_environment():
    code = "import fastrnn._cython_kernels as K; print(K.get_num_threads())"
    env = {**os.environ, "FASTRNN_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"


# --------------------------------------------------------------------------
# fastrnn/_slices.py
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n,batch,threads", [(1, 5, 1), (2, 33, 2), (4, 67, 2), (4, 67, 3),
                                             (8, 130, 16), (3, 2, 2)])
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


#: For each cell and dtype, the fewest units whose weights' rows are 4 KB
#: apart: the forward packs its weights (``pack_weights``), the backward
#: copies dz's column blocks (``weight_grads``).
PACKED_UNITS = {("simple_rnn", np.float32): 1024, ("simple_rnn", np.float64): 512,
                ("lstm", np.float32): 256, ("lstm", np.float64): 128,
                ("gru", np.float32): 342, ("gru", np.float64): 171}
PACKED_CASES = [(cell, variant, dtype, PACKED_UNITS[cell, dtype])
                for cell, variant in VARIANTS for dtype in (np.float32, np.float64)]
#: GRU with units of 4 KB (float64): reset_after's aux blocks are copied too.
PACKED_CASES += [("gru", variant, np.float64, 512) for cell, variant in VARIANTS
                 if cell == "gru"]


@pytest.fixture
def restore_packing():
    yield
    K._set_packing(True)


@pytest.mark.parametrize("cell,variant,dtype,units", PACKED_CASES)
@pytest.mark.parametrize("batch", [3, 33])
def test_packed_weights_give_the_same_bits(restore_packing, cell, variant, dtype, units,
                                           batch):
    """Packing moves the weights, not the arithmetic: the same bits with and
    without, on the calling thread (batch 3: inputs projected up front) and in
    slices (batch 33), forward and backward; and the reference's results."""
    timesteps, features = 3, 9
    width = GATES[cell] * units
    assert K._packs_weights(dtype, batch, timesteps, features, units, width)
    fewer = PACKED_UNITS[cell, dtype] - 1
    assert not K._packs_weights(dtype, batch, timesteps, features, fewer,
                                GATES[cell] * fewer)
    n = K._slice_count(batch, timesteps, features, units, width)
    assert n == (1 if batch == 3 else 2)
    case = make_case(cell, batch=batch, timesteps=timesteps, features=features, units=units,
                     dtype=dtype, seed=9, mask="random", go_backwards=True,
                     scale=1.5 / np.sqrt(units + features), **variant)
    packed = _results(case)
    K._set_packing(False)
    assert not K._packs_weights(dtype, batch, timesteps, features, units, width)
    plain = _results(case)
    for name, want in plain.items():
        np.testing.assert_array_equal(packed[name], want, err_msg=name)
    K._set_packing(True)
    assert_backend_matches_reference("cython", case)
