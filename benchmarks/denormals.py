"""Does a long backward's speed depend on how small its gradients are?

A gradient that decays over a long sequence underflows into subnormal
numbers, which many x86 CPUs (notably Intel's) process tens of times slower
than normal ones. The compiled kernels flush subnormals to zero for their
own work (``kernels/_fpmode.h``, ``fastrnn/numba_kernels/_fpmode.py``), so
the backward of a GRU(128), batch 64, 200 steps, should take as long with
upstream gradients of scale 1e-40 (subnormal in float32) as with 1e-3.

Timed paired and interleaved in one process; prints each backend's median
times and the ratio tiny / normal (about 1 when flushing works), and exits
1 when a ratio exceeds ``--limit`` (2.0). A ratio, never a pytest assert.

    python benchmarks/denormals.py [--rounds 9] [--limit 2.0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import fastrnn
from fastrnn import layers
from fastrnn._info import machine_line

BATCH, TIMESTEPS, FEATURES, UNITS = 64, 200, 32, 128
SCALES = {"normal": 1e-3, "tiny": 1e-40}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--limit", type=float, default=2.0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, TIMESTEPS, FEATURES)).astype(np.float32)
    noise = rng.standard_normal((BATCH, TIMESTEPS, UNITS))
    print(f"denormals: GRU({UNITS}) backward, batch {BATCH}, {TIMESTEPS} steps, float32")
    print(f"on {machine_line()}")
    failed = False
    for backend in [b for b in fastrnn.available_backends() if b != "numpy"]:
        layer = layers.GRU(UNITS, backend=backend, return_sequences=True, seed=1)
        layer(x, training=True)
        upstream = {name: (noise * scale).astype(np.float32) for name, scale in SCALES.items()}
        times = {name: [] for name in SCALES}
        for name in SCALES:  # warm up (Numba compiles on the first call)
            layer.backward(upstream[name])
        for _ in range(args.rounds):
            for name in SCALES:
                start = time.perf_counter()
                layer.backward(upstream[name])
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(t) for name, t in times.items()}
        ratio = medians["tiny"] / medians["normal"]
        failed |= ratio > args.limit
        print(
            f"  {backend:7s} normal {medians['normal'] * 1e3:7.1f} ms  "
            f"tiny {medians['tiny'] * 1e3:7.1f} ms  tiny/normal {ratio:.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
