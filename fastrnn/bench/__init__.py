"""The benchmark suite behind ``python -m fastrnn bench``.

Modules: :mod:`~fastrnn.bench.grid` (the standard grid and FLOP counts),
:mod:`~fastrnn.bench.systems` (fastrnn backends and the optional peers),
:mod:`~fastrnn.bench.runner` (interleaved timing, GEMM peak, cold start),
:mod:`~fastrnn.bench.report` (table, chart) and :mod:`~fastrnn.bench.cli`.
Nothing here is imported by ``import fastrnn``.
"""

from .grid import CELLS, DEFAULT_SHAPES, FULL_SHAPES, MODES, SHAPES, forward_flops, mode_flops

__all__ = [
    "CELLS",
    "DEFAULT_SHAPES",
    "FULL_SHAPES",
    "MODES",
    "SHAPES",
    "forward_flops",
    "mode_flops",
    "main",
]


def main(argv=None):
    """Run the benchmark command line (``argv`` without the ``bench`` word)."""
    from .cli import main as _main

    return _main(argv)
