"""How fastrnn.distributed scales: predict on 1 and 2 workers, a training step
local and distributed, and the projection to 10 and 100 machines.

One LocalCluster of ``--workers`` one-thread worker processes
(``fastrnn.distributed.local_cluster``) and the spam classifier's model
(``Embedding(vocab, 32) -> SimpleRNN(32) -> Dense(1)``) on random token
sequences. Every figure is a median over ``--rounds`` rounds that run the
compared configurations interleaved, after one warm-up each (numba compiles
on every worker, each worker rebuilds the model once per call):

* predict: sequences per second of the local ``predict`` (this process, all
  of fastrnn's threads), of the distributed ``predict`` restricted to one
  worker and of it on all the workers; the data is persisted on the workers
  first (on the one worker for the one-worker runs), as a cluster holds it.
* fit: milliseconds per training step (one global batch of ``--batch-size``)
  of the local ``fit`` with all threads and with one thread, and of the
  distributed ``fit``: the driver's wall time per step, the slowest worker's
  compute in it, and the rest (the round trip: weights out, gradients back,
  the scheduler); with ``--accumulate`` batches per round trip too.
* the round trip of a tiny model (a few KiB of weights) against the spam
  model's separates the fixed cost per step ``t0`` from the cost per byte,
  which gives the effective bandwidth of the driver's link ``beta``.

The projection then reads ``t_step(G) = t_c(b) + t0 + 2 G W / beta`` for G
machines that each compute a batch of ``b`` rows in ``t_c(b)`` (the batch
grows with G) around the driver, which sends ``W`` bytes of weights to every
worker and receives as many of gradients from each; see docs/distributed.md.

    python benchmarks/dask_scaling.py [--rounds 7] [--workers 2] [--backend numba]
        [--sequences 16384] [--batch-size 32] [--steps 40] [--accumulate 4]
        [--bandwidth-gbit 10] [--latency-ms 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import fastrnn
from fastrnn._info import machine_line
from fastrnn.layers import Dense, Embedding, SimpleRNN
from fastrnn.models import Sequential

TIMESTEPS = 50


def spam_model(vocab: int, embed: int = 32, units: int = 32) -> Sequential:
    """The spam classifier's model, compiled (Adam, binary cross-entropy)."""
    model = Sequential(
        [
            Embedding(vocab, embed, seed=0),
            SimpleRNN(units, seed=1),
            Dense(1, activation="sigmoid", seed=2),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.build((None, TIMESTEPS))
    return model


def weight_bytes(model) -> int:
    return sum(w.nbytes for w in model.get_weights())


def median_ms(samples) -> float:
    return 1e3 * statistics.median(samples)


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def persisted(client, da, array, workers, chunks_per_worker=4):
    """``array`` as a dask array whose chunks the ``workers`` hold, a run each."""
    pieces = np.array_split(array, len(workers))
    parts = []
    for piece, worker in zip(pieces, workers):
        rows = -(-len(piece) // chunks_per_worker)
        part = da.from_array(piece, chunks=(rows, *piece.shape[1:]))
        parts.append(client.persist(part, workers=[worker]))
    return da.concatenate(parts, axis=0)


def measure_predict(client, da, model, x, workers, rounds):
    """Sequences per second: local, one worker, all workers."""
    one = persisted(client, da, x, workers[:1], chunks_per_worker=2 * len(workers))
    every = persisted(client, da, x, workers)
    runs = {
        "local (this process)": lambda: model.predict(x, batch_size=256, verbose=0),
        "distributed, 1 worker": lambda: client.compute(
            model.predict(one, batch_size=256), workers=workers[:1]
        ).result(),
        f"distributed, {len(workers)} workers": lambda: model.predict(
            every, batch_size=256
        ).compute(),
    }
    samples = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(timed(run))
    return {name: len(x) / statistics.median(s) for name, s in samples.items()}, every


def measure_fit(client, make_model, x, y, dx, dy, args):
    """Milliseconds per step of each configuration, and the distributed
    records (step, compute, round trip) per configuration."""
    steps, batch = args.steps, args.batch_size
    common = dict(batch_size=batch, epochs=1, steps_per_epoch=steps, seed=0, verbose=0)
    models = {name: make_model() for name in ("local", "local1", "dist", "accum")}

    def local(model):
        return timed(lambda: model.fit(x, y, **common)) / steps

    def local_one_thread(model):
        with fastrnn.use_num_threads(1):
            return local(model)

    def distributed(model, accumulate=1):
        history = model.fit(
            dx,
            dy,
            client=client,
            gradient_accumulation_steps=accumulate,
            **{**common, "steps_per_epoch": max(1, steps // accumulate)},
        )
        record = history.distributed
        return (
            record["step_seconds"] / record["steps"],
            record["compute_seconds"] / record["steps"],
        )

    runs = {
        "local, all threads": lambda: local(models["local"]),
        "local, 1 thread": lambda: local_one_thread(models["local1"]),
        "distributed": lambda: distributed(models["dist"]),
        f"distributed, {args.accumulate} batches per step": lambda: distributed(
            models["accum"], args.accumulate
        ),
    }
    for run in runs.values():
        run()  # warm-up
    samples: dict[str, list] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            samples[name].append(run())
    figures = {}
    for name, values in samples.items():
        if isinstance(values[0], tuple):
            step = median_ms([v[0] for v in values])
            compute = median_ms([v[1] for v in values])
            figures[name] = (step, compute)
        else:
            figures[name] = (median_ms(values), None)
    return figures


def round_trip_ms(client, model, dx, dy, args) -> float:
    """The median of (step - compute) of the distributed fit of ``model``."""
    common = dict(batch_size=args.batch_size, epochs=1, steps_per_epoch=args.steps, verbose=0)
    model.fit(dx, dy, client=client, **common)  # warm-up
    overheads = []
    for _ in range(args.rounds):
        record = model.fit(dx, dy, client=client, **common).distributed
        overheads.append((record["step_seconds"] - record["compute_seconds"]) / record["steps"])
    return median_ms(overheads)


def projection(compute_ms, t0_ms, weights, bandwidth, latency_ms, accumulate):
    """Rows of (machines, batches per step, step ms, efficiency) for the formula."""
    rows = []
    for machines in (1, 2, 10, 100):
        for k in (1, accumulate):
            transfer_ms = 1e3 * 2 * machines * weights / bandwidth if machines > 1 else 0.0
            fixed_ms = t0_ms + latency_ms if machines > 1 else 0.0
            step = k * compute_ms + fixed_ms + transfer_ms
            rows.append((machines, k, step, k * compute_ms / step))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--sequences", type=int, default=16384, help="predict's sequences")
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="training steps per fit call")
    parser.add_argument("--accumulate", type=int, default=4)
    parser.add_argument("--bandwidth-gbit", type=float, default=10.0, help="for the projection")
    parser.add_argument(
        "--latency-ms", type=float, default=0.5, help="a network round trip, for the projection"
    )
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client

    from fastrnn.distributed import local_cluster

    fastrnn.set_backend(args.backend)
    print(machine_line())
    print("load average at the start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"backend {args.backend}, {args.workers} workers of 1 thread, medians of {args.rounds}")
    rng = np.random.default_rng(0)
    x = rng.integers(1, args.vocab, (args.sequences, TIMESTEPS)).astype(np.int32)
    y = (x[:, -1] % 2).astype(np.float32)
    model = spam_model(args.vocab)
    weights = weight_bytes(model)
    with local_cluster(args.workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(args.workers)
        workers = sorted(client.scheduler_info()["workers"])
        rates, dx = measure_predict(client, da, model, x, workers, args.rounds)
        print("\n## predict (sequences/s)\n")
        print("| run | sequences/s | vs 1 worker |\n| --- | ---: | ---: |")
        base = rates["distributed, 1 worker"]
        for name, rate in rates.items():
            print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")

        dy = persisted(client, da, y, workers)
        figures = measure_fit(client, lambda: spam_model(args.vocab), x, y, dx, dy, args)
        print(f"\n## fit: ms per step, global batch {args.batch_size}\n")
        print("| run | ms per step | compute (slowest worker) | round trip |")
        print("| --- | ---: | ---: | ---: |")
        for name, (step, compute) in figures.items():
            if compute is None:
                print(f"| {name} | {step:.2f} | | |")
            else:
                print(f"| {name} | {step:.2f} | {compute:.2f} | {step - compute:.2f} |")

        tiny = Sequential([Embedding(100, 4, seed=0), SimpleRNN(4, seed=1), Dense(1, seed=2)])
        tiny.compile("adam", "binary_crossentropy")
        tiny.build((None, TIMESTEPS))
        small_x = np.minimum(x, 99)
        tiny_dx = persisted(client, da, small_x, workers)
        t0 = round_trip_ms(client, tiny, tiny_dx, dy, args)
        big = round_trip_ms(client, spam_model(args.vocab), dx, dy, args)
    tiny_weights = weight_bytes(tiny)
    seconds_per_byte = 1e-3 * (big - t0) / (2 * args.workers * (weights - tiny_weights))
    beta = 1.0 / seconds_per_byte if big > t0 else float("inf")  # bytes per second
    print(
        f"\n## round trip\n\nt0 = {t0:.2f} ms (tiny model, {tiny_weights:,} B of weights); "
        f"spam model ({weights:,} B): {big:.2f} ms; effective driver bandwidth "
        f"beta = {beta / 1e6:,.0f} MB/s"
    )
    one_worker_compute = figures["local, 1 thread"][0]
    bandwidth = args.bandwidth_gbit * 1e9 / 8
    print(
        f"\n## projection: t_step = k t_c + t0 + latency + 2 G W / beta, with t_c = "
        f"{one_worker_compute:.2f} ms (a batch of {args.batch_size} on one thread), t0 = "
        f"{t0:.2f} ms, latency {args.latency_ms} ms, W = {weights:,} B, beta = "
        f"{args.bandwidth_gbit:g} Gbit/s\n"
    )
    print("| machines | batches per step k | ms per step | efficiency |")
    print("| ---: | ---: | ---: | ---: |")
    for machines, k, step, efficiency in projection(
        one_worker_compute, t0, weights, bandwidth, args.latency_ms, args.accumulate
    ):
        print(f"| {machines} | {k} | {step:.1f} | {efficiency:.0%} |")
    print("\nload average at the end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
