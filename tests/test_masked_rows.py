"""Masked steps cost nothing: what the kernels skip, and that it changes no result.

At each step the compiled kernels compute the rows of their slice up to the
last one valid there (``computed_end``) and carry the rest, and they cut a
call's batch slices where the rows' work under the mask is even
(:func:`fastrnn._slices.slice_bounds`). A batch sorted by length, as a
``PackedSequence`` is, then costs what its valid steps do. None of this may
change a result: every backend still equals the reference (whose ``gates``
are zeros at masked steps, as the contract says), and the bits do not
depend on the thread count or on where the slices are cut.
"""

import numpy as np
import pytest

import fastrnn
from fastrnn import _slices, config
from fastrnn.backends import resolve_backend
from kernel_cases import (
    CELL_VARIANTS,
    DROPOUT_VARIANTS,
    forward,
    make_case,
    results,
    tolerance,
)
from test_kernel_equivalence import assert_backend_matches_reference

#: Length-shaped masks (see kernel_cases.make_case).
LENGTH_MASKS = ["sorted_lengths", "shuffled_lengths", "pre_padded"]
#: (batch, timesteps, features, units): on the calling thread, and sliced
#: (with the settings of ``sliced_settings``).
SHAPES = {"one_thread": (5, 7, 3, 4), "sliced": (19, 9, 5, 6)}


@pytest.fixture
def sliced_settings():
    """Settings under which the "sliced" shape runs as batch slices on 2-3 threads."""
    before = config.get_settings()
    config.set_settings(slice_min_batch=8, slice_min_rows=1, slice_min_work=1)
    yield
    config.set_settings(**before._asdict())


def _case(cell, variant, shape, dtype, mask, **options):
    batch, timesteps, features, units = shape
    return make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=11,
        mask=mask,
        **variant,
        **options,
    )


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("mask", LENGTH_MASKS)
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_length_masks_match_the_reference(
    sliced_settings, backend_name, global_dtype, cell, variant, mask, shape, go_backwards
):
    case = _case(cell, variant, shape, global_dtype, mask, go_backwards=go_backwards)
    with fastrnn.use_num_threads(2):
        assert_backend_matches_reference(backend_name, case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("dropout", [d for d in DROPOUT_VARIANTS if d != "none"])
def test_length_masks_under_dropout_match_the_reference(
    sliced_settings, backend_name, cell, variant, dropout
):
    case = _case(cell, variant, SHAPES["sliced"], np.float64, "sorted_lengths", dropout=dropout)
    with fastrnn.use_num_threads(2):
        assert_backend_matches_reference(backend_name, case)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("mask", ["sorted_lengths", "random", "all_masked_row"])
def test_gates_are_zeros_at_masked_steps(sliced_settings, backend_name, cell, variant, mask):
    """The recorded gates equal the reference's, zeros at masked steps included,
    whichever rows a kernel computed there."""
    case = _case(cell, variant, SHAPES["sliced"], np.float64, mask)
    expected = forward(resolve_backend("numpy"), case)
    with fastrnn.use_num_threads(2):
        got = forward(resolve_backend(backend_name), case)
    masked_steps = ~case.mask.T  # (T, B): processing order without go_backwards
    rtol, atol = tolerance(np.float64)
    for name in ("gates", "recurrent_candidate"):
        want = getattr(expected, name)
        if want is None:
            continue
        have = getattr(got, name)
        assert np.all(want[masked_steps] == 0)
        assert np.all(have[masked_steps] == 0), f"{backend_name} {name} at masked steps"
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("mask", ["sorted_lengths", "shuffled_lengths"])
def test_bits_do_not_depend_on_threads_or_cuts(
    sliced_settings, monkeypatch, backend_name, global_dtype, cell, variant, mask
):
    """1, 2 and 3 threads (slices cut by work), and equal cuts, give the same bits."""
    case = _case(cell, variant, SHAPES["sliced"], global_dtype, mask)
    backend = resolve_backend(backend_name)
    runs = []
    for threads in (1, 2, 3):
        with fastrnn.use_num_threads(threads):
            runs.append(results(backend, case))
    monkeypatch.setattr(_slices, "row_work", lambda m: np.ones(len(m), np.int64))
    with fastrnn.use_num_threads(3):
        runs.append(results(backend, case))
    for run in runs[1:]:
        assert run.keys() == runs[0].keys()
        for name, want in runs[0].items():
            assert np.array_equal(want, run[name]), name


# --------------------------------------------------------------------------
# fastrnn._slices: where the slices are cut
# --------------------------------------------------------------------------


def test_row_work_counts_the_steps_each_row_is_computed_at():
    mask = np.array(
        [
            [1, 1, 1, 1],  # computed at every step
            [1, 1, 0, 0],  # steps 0-1, and step 3 for the row after it
            [0, 0, 0, 1],
            [0, 0, 0, 0],  # never
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(_slices.row_work(mask), [4, 3, 1, 0])
    lengths = np.array([9, 7, 7, 2, 0])
    sorted_mask = np.arange(9)[None, :] < lengths[:, None]
    np.testing.assert_array_equal(_slices.row_work(sorted_mask), lengths)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("batch", [3, 8, 33])
def test_slice_bounds_without_a_mask_or_with_a_full_one_are_equal_cuts(n, batch):
    equal = [(c * batch // n, (c + 1) * batch // n) for c in range(n)]
    assert _slices.slice_bounds(n, batch) == equal
    assert _slices.slice_bounds(n, batch, np.ones((batch, 5), bool)) == equal


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("batch", [4, 9, 32])
@pytest.mark.parametrize("seed", range(5))
def test_slice_bounds_cover_the_batch_with_rows_in_every_slice(n, batch, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, 12)) < rng.random()
    bounds = _slices.slice_bounds(n, batch, mask)
    assert len(bounds) == n
    assert bounds[0][0] == 0 and bounds[-1][1] == batch
    assert all(b0 < b1 for b0, b1 in bounds)
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(n - 1))


def test_slice_bounds_share_a_sorted_batch_by_its_lengths():
    """The packed benchmark's batch: 32 lengths 10-100, longest first. The
    first slice takes the few long rows, about half of the 1,760 row-steps."""
    lengths = np.sort(np.linspace(10, 100, 32).round().astype(int))[::-1]
    mask = np.arange(100)[None, :] < lengths[:, None]
    (b0, cut), (_, b1) = _slices.slice_bounds(2, 32, mask)
    assert (b0, b1) == (0, 32)
    assert cut < 16
    first = lengths[:cut].sum()
    assert abs(first - (lengths.sum() - first)) <= lengths[cut]


def test_slice_bounds_of_an_all_masked_batch_are_equal_cuts():
    assert _slices.slice_bounds(2, 6, np.zeros((6, 4), bool)) == [(0, 3), (3, 6)]
