"""CI's perf smoke: the dispatched Cython LSTM against the Numba backend's.

Runs the benchmark grid's medium LSTM (batch 32, 50 steps, 100 features,
128 units, float32) forward and train on both backends, interleaved in one
process (paired samples, medians), and exits 1 when Cython is more than
``--limit`` (1.5) times slower than Numba in either mode: the class of
regression where a build or a dispatch bug leaves the products on a narrow
path. Not a pytest timing assert: timings belong here, as ratios.

    python benchmarks/perf_smoke.py [--rounds 15] [--limit 1.5]
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

SHAPE = (32, 50, 100, 128)  # the grid's "medium"


def runner(backend: str, mode: str):
    batch, timesteps, features, units = SHAPE
    x = np.random.default_rng(0).standard_normal((batch, timesteps, features)).astype(np.float32)
    layer = layers.LSTM(units, backend=backend, seed=0)
    if mode == "forward":
        return lambda: layer(x)
    ones = np.ones((batch, units), np.float32)

    def train():
        layer(x, training=True)
        layer.backward(ones)

    return train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--limit", type=float, default=1.5)
    args = parser.parse_args(argv)
    available = fastrnn.available_backends()
    if not {"cython", "numba"} <= set(available):
        print(f"perf smoke: skipped, needs cython and numba (have {available})")
        return 0
    fastrnn.set_num_threads(2)
    print(f"perf smoke on {machine_line()}")
    failed = False
    for mode in ("forward", "train"):
        runs = {name: runner(name, mode) for name in ("cython", "numba")}
        for run in runs.values():
            for _ in range(3):
                run()
        samples: dict[str, list[float]] = {name: [] for name in runs}
        ratios = []
        for _ in range(args.rounds):
            pair = {}
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                pair[name] = time.perf_counter() - start
                samples[name].append(pair[name])
            ratios.append(pair["cython"] / pair["numba"])
        ratio = statistics.median(ratios)
        cython_ms = 1e3 * statistics.median(samples["cython"])
        numba_ms = 1e3 * statistics.median(samples["numba"])
        verdict = "ok" if ratio <= args.limit else f"FAIL (limit {args.limit})"
        print(
            f"LSTM medium {mode}: cython {cython_ms:.2f} ms, numba {numba_ms:.2f} ms, "
            f"cython/numba {ratio:.2f} (median of {args.rounds} pairs): {verdict}"
        )
        failed |= ratio > args.limit
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
