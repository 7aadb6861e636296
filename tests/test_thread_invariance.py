"""Results never depend on the thread count, bit for bit, in every backend.

The compiled backends run a call as batch slices on threads when the shapes
give enough work (the slicing rule of :mod:`fastrnn.config`); every batch row
is computed by the same code whatever slice it falls in, so 1, 2 or 3
threads give the same bits, forward and backward. The NumPy reference runs
on one thread and must simply ignore the setting.

Also checked here: the thread-count functions (``fastrnn.set_num_threads``,
``get_num_threads``, ``use_num_threads``), ``fastrnn.config.set_settings``,
``FASTRNN_NUM_THREADS`` read from the environment at import, and the
workers' affinity under ``keep_workers_apart``.
"""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastrnn
from fastrnn import _slices, config, ops
from fastrnn.backends import resolve_backend
from kernel_cases import CELL_VARIANTS, backward, forward, make_case

#: (batch, timesteps, features, units) of a call that runs as batch slices
#: in every cell (see test_the_shapes_take_the_paths_they_are_meant_to).
SLICED = (48, 32, 20, 45)
#: An odd batch: with 3 threads, slices of unequal sizes.
SLICED_ODD_BATCH = (67, 30, 20, 45)
#: A batch of 16 rows but little work: the calling thread alone.
ONE_THREAD = (16, 6, 5, 7)
SHAPES = {"sliced": SLICED, "sliced_odd_batch": SLICED_ODD_BATCH, "one_thread": ONE_THREAD}

THREAD_COUNTS = (1, 2, 3)


@pytest.fixture(autouse=True)
def restore_settings():
    """Every test leaves the runtime configuration as it found it."""
    before = config.get_settings()
    yield
    config.set_settings(**before._asdict())


def slice_count(cell, shape, settings):
    """How many slices a call of ``shape`` runs as, by the rule in fastrnn.config."""
    batch, timesteps, features, units = shape
    width = ops.CELLS[cell].gates * units
    work = timesteps * batch * width * (units + features)
    if batch < settings.slice_min_batch or work < settings.slice_min_work:
        return 1
    return max(1, min(settings.num_threads, batch // settings.slice_min_rows))


@pytest.mark.parametrize("cell", sorted({cell for cell, _ in CELL_VARIANTS}))
def test_the_shapes_take_the_paths_they_are_meant_to(cell):
    settings = config.get_settings()._replace(num_threads=max(THREAD_COUNTS))
    assert slice_count(cell, SLICED, settings) >= 2
    assert slice_count(cell, SLICED_ODD_BATCH, settings) == 3
    assert slice_count(cell, ONE_THREAD, settings) == 1


def results(backend, case):
    """Every array a forward and backward pass produce, by name (copies)."""
    record = forward(backend, case)
    dx, d_states, d_weights = backward(case, record)
    named = {
        "dx": dx,
        "d_kernel": d_weights[0],
        "d_recurrent_kernel": d_weights[1],
        "d_bias": d_weights[2],
    }
    for name in ("outputs", "h_states", "c_states", "gates", "recurrent_candidate"):
        if getattr(record, name, None) is not None:
            named[name] = getattr(record, name)
    for i, d in enumerate(d_states):
        named[f"d_state{i}"] = d
    return {name: np.array(value, copy=True) for name, value in named.items()}


def masked_case(cell, variant, shape, dtype, seed):
    """A kernel case of ``shape`` = (batch, timesteps, features, units) under a random mask."""
    batch, timesteps, features, units = shape
    return make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=seed,
        mask="random",
        scale=0.1,
        **variant,
    )


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
def test_results_do_not_depend_on_thread_count(backend_name, global_dtype, cell, variant, shape):
    case = masked_case(cell, variant, shape, global_dtype, seed=3)
    backend = resolve_backend(backend_name)
    runs = {}
    for threads in THREAD_COUNTS:
        with fastrnn.use_num_threads(threads):
            runs[threads] = results(backend, case)
    want = runs[THREAD_COUNTS[0]]
    for threads in THREAD_COUNTS[1:]:
        assert runs[threads].keys() == want.keys()
        for name, array in want.items():
            assert np.array_equal(runs[threads][name], array), (
                f"{backend_name} {cell} {variant}: {name} differs between "
                f"{THREAD_COUNTS[0]} and {threads} threads"
            )


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS[:3])
def test_results_do_not_depend_on_keeping_workers_apart(backend_name, cell, variant):
    case = masked_case(cell, variant, SLICED, np.float32, seed=5)
    backend = resolve_backend(backend_name)
    runs = {}
    for apart in (False, True):
        with config.use_settings(num_threads=2, keep_workers_apart=apart):
            runs[apart] = results(backend, case)
    for name, array in runs[False].items():
        assert np.array_equal(runs[True][name], array), name


# --------------------------------------------------------------------------
# keep_workers_apart: the pool's workers off the calling thread's CPU
# --------------------------------------------------------------------------

needs_affinity = pytest.mark.skipif(
    _slices._current_cpu is None or config.available_cpus() < 2,
    reason="needs thread affinity (Linux) and at least 2 CPUs",
)


def worker_affinities():
    """Run two slices on two threads; the affinity of the threads that ran them
    (the calling thread's excluded), and the pool."""
    seen = {}
    caller = threading.get_native_id()

    def fn(b0, b1):
        tid = threading.get_native_id()
        if tid != caller:
            seen[tid] = os.sched_getaffinity(0)

    # twice: a worker started by the first call is placed by the second
    for _ in range(2):
        _slices.run_fixed_slices(2, 16, fn, 2)
    return seen, _slices.get_pool(1)


@needs_affinity
def test_workers_are_kept_off_the_calling_threads_cpu():
    config.set_settings(keep_workers_apart=True)
    allowed = os.sched_getaffinity(0)
    seen, pool = worker_affinities()
    assert seen
    cpu, pool_allowed, _ = pool.apart_from
    assert pool_allowed == allowed
    for affinity in seen.values():
        assert affinity == allowed - {cpu}
    for tid in pool.worker_ids:
        assert os.sched_getaffinity(tid) == allowed - {cpu}


@needs_affinity
def test_switching_it_off_gives_the_workers_every_cpu_back():
    config.set_settings(keep_workers_apart=True)
    worker_affinities()
    config.set_settings(keep_workers_apart=False)
    allowed = os.sched_getaffinity(0)
    seen, pool = worker_affinities()
    assert pool.apart_from is None
    for affinity in seen.values():
        assert affinity == allowed


@needs_affinity
def test_a_caller_on_one_cpu_leaves_the_workers_on_it():
    config.set_settings(keep_workers_apart=True)
    allowed = os.sched_getaffinity(0)
    only = min(allowed)
    os.sched_setaffinity(0, {only})  # this thread only
    try:
        seen, _ = worker_affinities()
    finally:
        os.sched_setaffinity(0, allowed)
    for affinity in seen.values():
        assert affinity == {only}
    _, pool = worker_affinities()  # the workers get the other CPUs again
    cpu = pool.apart_from[0]
    assert all(os.sched_getaffinity(t) == allowed - {cpu} for t in pool.worker_ids)


# --------------------------------------------------------------------------
# fastrnn.set_num_threads / get_num_threads / use_num_threads
# --------------------------------------------------------------------------


def test_set_and_get_num_threads():
    fastrnn.set_num_threads(3)
    assert fastrnn.get_num_threads() == 3
    assert config.get_settings().num_threads == 3
    fastrnn.set_num_threads(np.int64(2))
    assert fastrnn.get_num_threads() == 2
    assert type(fastrnn.get_num_threads()) is int


BAD_THREAD_COUNTS = [
    (0, ValueError),
    (-1, ValueError),
    (2.0, TypeError),
    ("2", TypeError),
    (True, TypeError),
    (None, TypeError),
]


@pytest.mark.parametrize("value,error", BAD_THREAD_COUNTS)
def test_set_num_threads_rejects_bad_counts(value, error):
    fastrnn.set_num_threads(2)
    with pytest.raises(error, match="num_threads"):
        fastrnn.set_num_threads(value)
    assert fastrnn.get_num_threads() == 2


@pytest.mark.parametrize("value,error", BAD_THREAD_COUNTS)
def test_use_num_threads_rejects_bad_counts(value, error):
    fastrnn.set_num_threads(2)
    with pytest.raises(error, match="num_threads"):
        with fastrnn.use_num_threads(value):
            pass
    assert fastrnn.get_num_threads() == 2


def test_use_num_threads_sets_then_restores():
    fastrnn.set_num_threads(2)
    with fastrnn.use_num_threads(3) as threads:
        assert threads == 3
        assert fastrnn.get_num_threads() == 3
        with fastrnn.use_num_threads(1):
            assert fastrnn.get_num_threads() == 1
        assert fastrnn.get_num_threads() == 3
    assert fastrnn.get_num_threads() == 2


def test_use_num_threads_restores_on_error():
    fastrnn.set_num_threads(2)
    with pytest.raises(RuntimeError, match="inside"):
        with fastrnn.use_num_threads(3):
            raise RuntimeError("inside the block")
    assert fastrnn.get_num_threads() == 2


# --------------------------------------------------------------------------
# fastrnn.config.set_settings / use_settings
# --------------------------------------------------------------------------


def test_set_settings_changes_what_it_names_only():
    before = config.get_settings()
    config.set_settings(slice_min_work=1 << 20, slice_min_rows=4)
    after = config.get_settings()
    assert after == before._replace(slice_min_work=1 << 20, slice_min_rows=4)
    assert config.settings is after


@pytest.mark.parametrize(
    "changes,error,named",
    [
        ({"bogus": 1}, TypeError, "bogus"),
        ({"num_threads": 3, "bogus": 1}, TypeError, "bogus"),
        ({"num_threads": 3, "slice_min_rows": 0}, ValueError, "slice_min_rows"),
        ({"slice_min_work": 2.5}, TypeError, "slice_min_work"),
        ({"keep_workers_apart": 1}, TypeError, "keep_workers_apart"),
        ({"num_threads": 2, "keep_workers_apart": "no"}, TypeError, "keep_workers_apart"),
    ],
)
def test_set_settings_rejects_and_changes_nothing(changes, error, named):
    before = config.get_settings()
    with pytest.raises(error, match=named):
        config.set_settings(**changes)
    assert config.get_settings() == before


def test_use_settings_restores_on_error():
    before = config.get_settings()
    with pytest.raises(RuntimeError):
        with config.use_settings(num_threads=3, slice_min_batch=4) as inside:
            assert inside == before._replace(num_threads=3, slice_min_batch=4)
            assert config.get_settings() == inside
            raise RuntimeError
    assert config.get_settings() == before


# --------------------------------------------------------------------------
# FASTRNN_NUM_THREADS
# --------------------------------------------------------------------------


def run_with_threads_variable(value):
    code = "import fastrnn; print(fastrnn.get_num_threads())"
    env = {**os.environ, "FASTRNN_NUM_THREADS": value}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_thread_count_from_the_environment():
    done = run_with_threads_variable("3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


@pytest.mark.parametrize("value", ["0", "-2", "three", "2.5"])
def test_bad_thread_count_in_the_environment_is_a_clear_error(value):
    done = run_with_threads_variable(value)
    assert done.returncode != 0
    assert "FASTRNN_NUM_THREADS must be a positive integer" in done.stderr
    assert repr(value) in done.stderr


def test_use_settings_restores_only_what_it_changed():
    before = config.get_settings()
    with config.use_settings(slice_min_work=1 << 10):
        config.set_num_threads(before.num_threads + 1)
    after = config.get_settings()
    assert after.slice_min_work == before.slice_min_work
    assert after.num_threads == before.num_threads + 1
    config.set_num_threads(before.num_threads)
