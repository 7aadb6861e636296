"""Two installs of fastrnn side by side, in one run: a before/after table.

Each install (a Python interpreter whose environment has fastrnn) runs a
persistent worker process; the driver alternates between them sample batch
by sample batch over the benchmark grid, so both see the same machine
state, and prints the medians and their ratio per row, headed by the
machine line.

    python benchmarks/compare_builds.py /tmp/before/bin/python .venv/bin/python \\
        --backends numba cython --shapes tiny small medium large --rounds 7

Only the public layer API is used (``layer(x)``, ``layer(x, training=True)``
then ``layer.backward``), so any two versions of fastrnn compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

GRID = {
    "tiny": (1, 10, 4, 8),
    "small": (1, 100, 32, 64),
    "medium": (32, 50, 100, 128),
    "large": (64, 100, 256, 512),
}
LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}

WORKER = r"""
import json, sys, time
import numpy as np
import fastrnn
from fastrnn import layers

fastrnn.set_num_threads(2) if hasattr(fastrnn, "set_num_threads") else None
made = {}

def runner(cell, shape, mode, backend):
    key = (cell, tuple(shape), mode, backend)
    if key not in made:
        batch, timesteps, features, units = shape
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, timesteps, features)).astype(np.float32)
        layer = getattr(layers, cell)(units, backend=backend, seed=0)
        if mode == "forward":
            run = lambda: layer(x)
        else:
            ones = np.ones_like(layer(x, training=True))
            def run():
                layer(x, training=True)
                layer.backward(ones)
        for _ in range(3):
            run()
        made[key] = run
    return made[key]

for line in sys.stdin:
    request = json.loads(line)
    run = runner(request["cell"], request["shape"], request["mode"], request["backend"])
    times = []
    for _ in range(request["samples"]):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    print(json.dumps(times), flush=True)
"""


def machine_line(python: str) -> str:
    """The machine line of an install (its ``fastrnn._info.machine_line`` when it has one)."""
    code = (
        "try:\n from fastrnn._info import machine_line; print(machine_line())\n"
        "except ImportError:\n import platform; print(platform.processor() or platform.machine())"
    )
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir()
    ).stdout.strip()


class Worker:
    def __init__(self, python: str):
        self.process = subprocess.Popen(
            [python, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),  # import the install, not a source tree here
        )

    def sample(self, **request) -> list[float]:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker stopped on {request}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def samples_for(shape: str) -> int:
    """Samples per batch: enough for about tens of milliseconds of work."""
    return {"tiny": 200, "small": 50, "medium": 10, "large": 2}[shape]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="Python interpreter of the 'before' install")
    parser.add_argument("after", help="Python interpreter of the 'after' install")
    parser.add_argument("--backends", nargs="+", default=["numba", "cython"])
    parser.add_argument("--cells", nargs="+", default=list(LAYERS))
    parser.add_argument("--shapes", nargs="+", default=list(GRID))
    parser.add_argument("--modes", nargs="+", default=["forward", "train"])
    parser.add_argument("--rounds", type=int, default=7, help="alternations per row")
    args = parser.parse_args(argv)
    args.before, args.after = os.path.abspath(args.before), os.path.abspath(args.after)

    print(f"before: {machine_line(args.before)}")
    print(f"after:  {machine_line(args.after)}")
    rows = [
        (backend, cell, shape, mode)
        for backend in args.backends
        for cell in args.cells
        for shape in args.shapes
        for mode in args.modes
    ]
    medians = {row: {"before": [], "after": []} for row in rows}
    # Each round starts both workers afresh: a process's own luck (where its
    # memory lands, which core it starts on) moves small calls by tens of
    # percent on a shared VM, so the rounds sample it too.
    for round_ in range(args.rounds):
        order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
        workers = {name: Worker(getattr(args, name)) for name in order}
        try:
            for row in rows:
                backend, cell, shape, mode = row
                request = dict(
                    cell=LAYERS[cell],
                    shape=GRID[shape],
                    mode=mode,
                    backend=backend,
                    samples=samples_for(shape),
                )
                for name in order:
                    times = workers[name].sample(**request)
                    medians[row][name].append(statistics.median(times))
                order.reverse()  # neither install always goes first
        finally:
            for worker in workers.values():
                worker.close()
    print(f"medians of {args.rounds} rounds, each with fresh worker processes")
    print("| cell | shape | mode | backend | before | after | after/before |")
    print("|---|---|---|---|---:|---:|---:|")
    for row in rows:
        backend, cell, shape, mode = row
        before = statistics.median(medians[row]["before"])
        after = statistics.median(medians[row]["after"])
        print(
            f"| {cell} | {shape} | {mode} | {backend} | {_ms(before)} | {_ms(after)} | "
            f"{after / before:.2f} |"
        )
    return 0


def _ms(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    sys.exit(main())
