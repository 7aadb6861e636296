"""Speed of every fastrnn backend on the standard grid, with pytest-benchmark.

    pytest benchmarks/                                   # tiny, small, medium
    FASTRNN_BENCH_FULL=1 pytest benchmarks/              # + large
    FASTRNN_BENCH_PEERS=1 pytest benchmarks/             # + torch / tf-keras / jax / onnxruntime
    pytest benchmarks/ --benchmark-group-by=param:cell,param:shape,param:mode

For side-by-side numbers with speed-ups and the GEMM bound, use
``python -m fastrnn bench`` (it interleaves the systems in one run).
"""

import os

import pytest

import fastrnn
from fastrnn.bench.grid import CELLS, DEFAULT_SHAPES, FULL_SHAPES, MODES
from fastrnn.bench.grid import SHAPES as ALL_SHAPES
from fastrnn.bench.systems import PEER_NAMES, FastrnnSystem, make_input

FULL = os.environ.get("FASTRNN_BENCH_FULL", "") not in ("", "0")
SHAPES = FULL_SHAPES if FULL else DEFAULT_SHAPES

BACKENDS = fastrnn.available_backends()


def _shape_param(name):
    marks = [pytest.mark.large] if name == "large" else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module")
def backend_systems():
    return {b: FastrnnSystem(b) for b in BACKENDS}


def _bench(benchmark, fn, rounds):
    fn()  # first call: JIT compile / tracing, not timed
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=2, iterations=1)


def _rounds(shape, mode):
    s = ALL_SHAPES[shape]
    work = s["batch"] * s["timesteps"] * s["units"] * (3 if mode == "train" else 1)
    return 200 if work < 10_000 else 50 if work < 1_000_000 else 10


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [_shape_param(s) for s in SHAPES])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_fastrnn(benchmark, backend_systems, backend, cell, shape, mode):
    benchmark.group = f"{cell}-{shape}-{mode}"
    benchmark.extra_info.update(cell=cell, shape=shape, mode=mode, system=backend)
    fn = backend_systems[backend].make(cell, shape, mode, make_input(shape))
    _bench(benchmark, fn, _rounds(shape, mode))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [_shape_param(s) for s in SHAPES])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("peer", PEER_NAMES)
def test_peer(benchmark, peer_systems, peer, cell, shape, mode):
    if peer not in peer_systems:
        pytest.skip(f"{peer}: not installed or FASTRNN_BENCH_PEERS not set")
    benchmark.group = f"{cell}-{shape}-{mode}"
    benchmark.extra_info.update(cell=cell, shape=shape, mode=mode, system=peer)
    from fastrnn.bench.systems import SkipSystem

    try:
        fn = peer_systems[peer].make(cell, shape, mode, make_input(shape))
    except SkipSystem as exc:  # e.g. ONNX Runtime's train: inference only
        pytest.skip(f"{peer}: {exc}")
    _bench(benchmark, fn, _rounds(shape, mode))


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_step(benchmark, backend_systems, backend):
    from fastrnn.bench.systems import SkipSystem

    benchmark.group = "lstm-step"
    try:
        fn = backend_systems[backend].make_step()
    except SkipSystem as exc:
        pytest.skip(str(exc))
    _bench(benchmark, fn, 500)
