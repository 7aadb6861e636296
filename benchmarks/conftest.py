"""pytest-benchmark suite: ``pytest benchmarks/`` (not part of the normal test run).

Environment:
  FASTRNN_BENCH_FULL=1    add the large shape (slow)
  FASTRNN_BENCH_PEERS=1   also benchmark the installed peers (PyTorch, TensorFlow-Keras, JAX,
                          ONNX Runtime)
"""

import os

# Limit every library to 2 threads before NumPy, Numba or a peer is imported.
from fastrnn.bench.threads import limit_runtime_threads, limit_thread_env

limit_thread_env(2)

import pytest  # noqa: E402

from fastrnn.bench.grid import DEFAULT_SHAPES, FULL_SHAPES  # noqa: E402

FULL = os.environ.get("FASTRNN_BENCH_FULL", "") not in ("", "0")
PEERS = os.environ.get("FASTRNN_BENCH_PEERS", "") not in ("", "0")
SHAPES = FULL_SHAPES if FULL else DEFAULT_SHAPES


def pytest_configure(config):
    config.addinivalue_line("markers", "large: the large (GEMM-bound) shape")
    limit_runtime_threads(2)


@pytest.fixture(scope="session")
def peer_systems():
    """The importable peers (only with FASTRNN_BENCH_PEERS=1)."""
    if not PEERS:
        return {}
    from fastrnn.bench.systems import load_peers

    systems, _ = load_peers()
    return {s.name: s for s in systems}
