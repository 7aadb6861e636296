"""The Cython backend's instruction-set dispatch (kernels/_simd.h).

The extension holds the products, float32 activations and step gradients
for every level (baseline, AVX2 + FMA, AVX-512F) and runs the widest the CPU
has, or the one FASTRNN_ISA names. Here: the choice is the widest (read from
the CPU's own feature list, not from the extension's check), a level the
CPU lacks is a clear error, and every level this CPU runs computes what the
reference does, with AVX2 and AVX-512 giving the same bits (both sum each
product term by term with one FMA each) and the float32 tanh and sigmoid
the same bits at every level. CI also reruns the equivalence suite once per
level (``.ci/run``, with FASTRNN_ISA).
"""

import os

import numpy as np
import pytest

from fastrnn import _info, config
from kernel_cases import CELL_VARIANTS, make_case, results
from test_cython_build import run_python
from test_kernel_equivalence import assert_backend_matches_reference

K = pytest.importorskip("fastrnn._cython_kernels")
pytestmark = pytest.mark.cython

LEVELS = K.isa_levels()
FORCED = os.environ.get("FASTRNN_ISA", "").strip().lower() or None


def _widest_from_cpu_flags():
    """The widest level by the CPU's feature list (/proc/cpuinfo and the like)."""
    features = set(_info.cpu_features())
    if not features:
        pytest.skip("this platform does not list the CPU's features")
    if "avx512f" in features:
        return "avx512"
    if {"avx2", "fma"} <= features:
        return "avx2"
    return "baseline"


@pytest.fixture
def restore_isa():
    active = K.build_info()["dispatch"]
    yield
    K._set_isa(active)


def test_dispatch_is_the_widest_the_cpu_has():
    widest = _widest_from_cpu_flags()
    assert LEVELS[-1] == widest
    assert K.build_info()["dispatch"] == (FORCED or widest)
    assert K.build_info()["isa_levels"] == list(LEVELS)


def test_show_config_reports_the_dispatched_level():
    entry = _info.show_config(mode="dicts")["backends"]["cython"]
    assert entry["isa"] == K.build_info()["dispatch"]
    assert entry["dispatch"] == entry["isa"]


def test_unknown_level_is_a_clear_error(restore_isa):
    with pytest.raises(ValueError, match=r"FASTRNN_ISA must be one of .*'avx512'.*'sse4'"):
        K._set_isa("sse4")


def test_level_the_cpu_lacks_is_a_clear_error_and_changes_nothing(restore_isa):
    missing = [name for name in K.ISA_NAMES if name not in LEVELS]
    if not missing:
        pytest.skip("this CPU runs every level")
    before = K.build_info()["dispatch"]
    with pytest.raises(ValueError, match=f"FASTRNN_ISA='{missing[0]}': this CPU does not run"):
        K._set_isa(missing[0])
    assert K.build_info()["dispatch"] == before


def test_fastrnn_isa_at_import():
    """FASTRNN_ISA picks the level at import; an impossible one leaves the backend
    unavailable with the reason, which set_backend reports."""
    code = """
        import fastrnn, fastrnn._cython_kernels as K
        print(K.build_info()["dispatch"])
    """
    result = run_python(code, FASTRNN_ISA="baseline")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "baseline"
    code = """
        import fastrnn
        try:
            fastrnn.set_backend("cython")
        except ValueError as exc:
            print("ERROR", exc)
    """
    result = run_python(code, FASTRNN_ISA="bogus")
    assert result.returncode == 0, result.stderr
    assert "ERROR" in result.stdout and "FASTRNN_ISA must be one of" in result.stdout


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize(
    "shape",
    [
        (3, 5, 4, 6),  # calling thread, tails narrower than any vector
        (1, 4, 3, 1),  # batch 1, units 1
        (33, 3, 9, 37),  # two slices, 12/8/6/4/2/1-row tiles, masked column tails
        (5, 6, 20, 48),  # whole vectors of float64 and float32 panels
        (1, 6, 5, 70),  # one row: four panels at a time, then the rest
        (2, 3, 1, 20),  # one feature: one-row A^T @ B in the weight gradients
        (40, 3, 5, 3),  # more rows than columns: row tiles outer, packed and not
    ],
)
def test_every_level_matches_the_reference(restore_isa, level, dtype, cell, variant, shape):
    K._set_isa(level)
    config.set_num_threads(2)
    batch, timesteps, features, units = shape
    case = make_case(
        cell,
        batch=batch,
        timesteps=timesteps,
        features=features,
        units=units,
        dtype=dtype,
        seed=3,
        mask="random",
        go_backwards=True,
        scale=1.0 / np.sqrt(units + features),
        **variant,
    )
    assert_backend_matches_reference("cython", case)


@pytest.mark.skipif("avx512" not in LEVELS, reason="this CPU has no AVX-512")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
def test_avx2_and_avx512_give_the_same_bits(restore_isa, dtype, cell, variant):
    case = make_case(
        cell, batch=33, timesteps=4, features=19, units=45, dtype=dtype, seed=4,
        mask="random", **variant
    )  # fmt: skip
    K._set_isa("avx2")
    avx2 = results(K, case)
    K._set_isa("avx512")
    avx512 = results(K, case)
    for name, want in avx2.items():
        np.testing.assert_array_equal(avx512[name], want, err_msg=name)


@pytest.mark.skipif("avx2" not in LEVELS, reason="this CPU has no AVX2")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,variant", CELL_VARIANTS)
@pytest.mark.parametrize("shape", [(33, 4, 19, 45), (1, 5, 40, 70), (26, 3, 7, 9)])
def test_emulated_avx512_template_gives_the_avx2_bits(restore_isa, dtype, cell, variant, shape):
    """The AVX-512 template's own logic (tiles of up to 12 rows, 16-lane
    panels, bit-mask tails, its k blocks), run on plain C vectors where the
    CPU has no AVX-512, gives the AVX2 bits: every element is summed in the
    same order whatever the tiles. What is left untested without AVX-512 is
    the one-line mapping of its vector operations to intrinsics."""
    batch, timesteps, features, units = shape
    case = make_case(
        cell, batch=batch, timesteps=timesteps, features=features, units=units, dtype=dtype,
        seed=6, mask="random", **variant
    )  # fmt: skip
    config.set_num_threads(2)
    K._set_isa("avx2")
    avx2 = results(K, case)
    K._emulate_avx512()
    emulated = results(K, case)
    for name, want in avx2.items():
        np.testing.assert_array_equal(emulated[name], want, err_msg=name)


def test_float32_activations_give_the_same_bits_at_every_level(restore_isa):
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 8.0, -8.0, 1e30, -1e30, np.nan]
    # the special values at both ends: in the 16-wide, 8-wide and scalar parts
    x = np.concatenate([special, rng.standard_normal(10_001) * 6, special]).astype(np.float32)
    results = {}
    for level in LEVELS:
        K._set_isa(level)
        results[level] = K._tanh_f32(x), K._sigmoid_f32(x)
    for level in LEVELS:
        for got, want in zip(results[level], results["baseline"]):
            np.testing.assert_array_equal(got, want, err_msg=level)


@pytest.mark.parametrize("units", [1, 7, 8, 13, 16, 24, 31, 64])
def test_fused_gate_math_gives_the_unfused_bits_at_every_level(restore_isa, units):
    """The forward's fused float32 gate math (kernels/_gates.h, _simd_isa.h) is the
    unfused composition, bit for bit: the activations' own bits, each product and
    sum rounded to float32."""
    rng = np.random.default_rng(units)
    z = (3 * rng.standard_normal(4 * units)).astype(np.float32)
    c_prev = rng.standard_normal(units).astype(np.float32)
    u = (2 * rng.standard_normal(3 * units)).astype(np.float32)
    h_prev = rng.standard_normal(units).astype(np.float32)
    for level in LEVELS:
        K._set_isa(level)
        sig, tanh = K._sigmoid_f32, K._tanh_f32
        i, f, g, o = np.split(z, 4)
        i, f, g, o = sig(i), sig(f), tanh(g), sig(o)
        c = f * c_prev + i * g
        gates, c_new, h_new = K._lstm_gates_f32(z, c_prev)
        np.testing.assert_array_equal(gates, np.concatenate([i, f, g, o]), err_msg=level)
        np.testing.assert_array_equal(c_new, c, err_msg=level)
        np.testing.assert_array_equal(h_new, o * tanh(c), err_msg=level)

        zg, r = sig(z[:units] + u[:units]), sig(z[units : 2 * units] + u[units : 2 * units])
        hh = tanh(z[2 * units : 3 * units] + r * u[2 * units :])
        gates, u_h, h_new = K._gru_gates_f32(z[: 3 * units], u, h_prev)
        np.testing.assert_array_equal(gates, np.concatenate([zg, r, hh]), err_msg=level)
        np.testing.assert_array_equal(u_h, u[2 * units :], err_msg=level)
        np.testing.assert_array_equal(h_new, zg * h_prev + (np.float32(1) - zg) * hh, err_msg=level)
