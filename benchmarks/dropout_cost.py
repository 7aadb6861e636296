"""What ``dropout`` and ``recurrent_dropout`` cost a training step, per backend.

For each cell at the grid's small and medium shapes, a training call
(forward with ``training=True`` and the backward) without dropout, with
``dropout=0.2`` only (one input mask), and with ``dropout=0.2,
recurrent_dropout=0.2`` (a mask per gate on the input and the state), run
interleaved in one process (paired samples, medians). Prints each median
and its ratio to the same backend's step without dropout.

    python benchmarks/dropout_cost.py [--rounds 11] [--backends numba,cython]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastrnn
from fastrnn import layers
from fastrnn._info import machine_line

SHAPES = {"small": (32, 20, 32, 64), "medium": (32, 50, 100, 128)}  # batch, T, features, units
VARIANTS = {"none": (0.0, 0.0), "dropout": (0.2, 0.0), "both": (0.2, 0.2)}
CELLS = {"SimpleRNN": layers.SimpleRNN, "LSTM": layers.LSTM, "GRU": layers.GRU}


def training_step(cell: str, shape, backend: str, dropout: float, recurrent_dropout: float):
    """A callable running one training forward and backward of a fresh layer."""
    batch, timesteps, features, units = shape
    x = np.random.default_rng(0).standard_normal((batch, timesteps, features)).astype(np.float32)
    layer = CELLS[cell](
        units, dropout=dropout, recurrent_dropout=recurrent_dropout, backend=backend, seed=0
    )
    d_output = np.ones((batch, units), np.float32)

    def step():
        layer(x, training=True)
        layer.backward(d_output)

    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument(
        "--backends", default=",".join(fastrnn.available_backends()), help="comma-separated"
    )
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    print(f"dropout cost on {machine_line()}")
    print("cell       shape   backend  none ms  dropout ms (x none)  both ms (x none)")
    for cell in CELLS:
        for shape_name, shape in SHAPES.items():
            runs = {
                (backend, variant): training_step(cell, shape, backend, *rates)
                for backend in backends
                for variant, rates in VARIANTS.items()
            }
            for run in runs.values():
                run()
                run()
            samples = {key: [] for key in runs}
            for _ in range(args.rounds):
                for key, run in runs.items():
                    start = time.perf_counter()
                    run()
                    samples[key].append(time.perf_counter() - start)
            for backend in backends:
                ms = {v: 1e3 * statistics.median(samples[(backend, v)]) for v in VARIANTS}
                print(
                    f"{cell:<10} {shape_name:<7} {backend:<8} {ms['none']:7.2f}"
                    f"  {ms['dropout']:10.2f} ({ms['dropout'] / ms['none']:.2f})"
                    f"  {ms['both']:10.2f} ({ms['both'] / ms['none']:.2f})"
                )


if __name__ == "__main__":
    main()
