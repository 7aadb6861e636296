"""Batch inference and data-parallel training on Dask (``pip install "fastrnn[dask]"``).

``model.predict``, ``model.evaluate`` and ``model.fit`` hand their work to
this module when they are given a ``dask.array.Array`` (or ``client=``, or
``fit``'s ``gradient_accumulation_steps``); importing fastrnn never imports
dask, this module imports it when it runs. ``docs/distributed.md`` is the
user's guide.

What every worker task runs is the local model's own code: the model
travels as its model file (``model.save``: architecture, weights, compile
configuration, no pickled model object), sent to every worker once per
call (one task holds it and is replicated to every worker; the tasks only
name it) and rebuilt there once per call and worker thread (a small cache
keyed by the call's token); a task then calls ``predict``, or the forward pass,
the loss and ``backward`` that the local ``fit`` calls on a batch.

``predict`` is one task per chunk of ``x`` along the batch axis, each the
local ``predict`` of its chunk; the result is a lazy dask array with the same
batch chunks.

``evaluate`` cuts every chunk at the boundaries of the global batches of
``batch_size`` rows that the local ``evaluate`` forms; per piece a task
returns the loss sums, the counts of valid positions and the metric
accumulators, and the driver combines them batch by batch, so the figures
are the local ``evaluate``'s.

``fit`` is synchronous data parallelism around the one copy of the weights
and the optimizer, which stay on the driver:

1. Every chunk of ``(x, y, sample_weight)`` is packed and checked once on
   the worker that holds it (chunks that are not in the cluster's memory yet
   are spread over the workers); the chunks one worker holds form its
   *group*, fixed for the whole fit.
2. Each step takes the next global batch from the same seeded batch stream
   as the local ``fit``. One task per group holding rows of the batch runs
   forward and backward on those rows, with the step's weights as an
   argument, and returns its gradient scaled to a sum over its valid
   positions, its loss sums and counts and its metric accumulators.
3. The driver adds the groups' results in group order, divides by the
   batch's count of valid positions (the gradient of the batch's Keras mean),
   applies one optimizer update and runs the callbacks.

A worker lost during ``fit`` costs a recomputation, not the run: the
scheduler recomputes the lost chunks from their graph and runs the step's
tasks on the workers that remain (or on a replacement); a step whose tasks
failed outright is submitted again with the same weights. Since the groups
and the order of the sums do not depend on where a task ran, neither does
the result. Each lost worker is recorded in ``history.distributed["faults"]``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import backends
from . import callbacks as callbacks_module
from ._random import new_generator
from ._row_gradients import RowGradient
from ._validation import check_int
from .config import set_num_threads
from .threads import limit_blas_threads_in_loops
from .training import (
    _as_data,
    _BatchStream,
    _check_verbose,
    _Progress,
    _sample_weights,
    check_finite_loss,
    check_fit_arguments,
    run_fit_epochs,
)

__all__ = [
    "requested",
    "arguments",
    "predict",
    "evaluate",
    "fit",
    "local_cluster",
    "worker_stats",
    "WorkerMemoryError",
]

#: How often a step whose tasks failed outright is submitted again.
MAX_STEP_ATTEMPTS = 4

#: Rebuilt models kept per worker process (one per call and thread).
_CACHE_SIZE = 8


class WorkerMemoryError(MemoryError, ValueError):
    """The model needs more memory than a worker's memory limit allows."""


# --------------------------------------------------------------------------
# dispatch: is this call for this module? (no dask import)
# --------------------------------------------------------------------------
def _is_dask_array(value: object) -> bool:
    kind = type(value)
    return kind.__name__ == "Array" and kind.__module__.startswith("dask.array")


def _holds_dask_array(value: object, depth: int = 0) -> bool:
    if _is_dask_array(value):
        return True
    if depth >= 3:
        return False
    if isinstance(value, Mapping):
        return any(_holds_dask_array(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_dask_array(v, depth + 1) for v in value)
    return False


def requested(*values: object, client: object = None, accumulation: object = 1) -> bool:
    """Whether a ``fit`` / ``evaluate`` / ``predict`` call belongs to this module.

    Parameters
    ----------
    *values
        The call's data arguments (arrays, or lists, tuples or dicts of them).
    client : object, optional
        The call's ``client=``; given, the call is distributed.
    accumulation : object, default 1
        ``fit``'s ``gradient_accumulation_steps``; other than 1, the call is
        distributed (the local ``fit`` has no accumulation).

    Returns
    -------
    bool
        True when a value holds a ``dask.array.Array``, ``client`` is given
        or ``accumulation`` is not 1. Dask is not imported to tell.
    """
    if client is not None:
        return True
    if not (isinstance(accumulation, (int, np.integer)) and accumulation == 1):
        return True
    return any(_holds_dask_array(v) for v in values)


def arguments(names: Mapping[str, Any]) -> dict[str, Any]:
    """A method's ``locals()`` at its top as keyword arguments (without ``self``)."""
    return {k: v for k, v in names.items() if k != "self" and not k.startswith("_")}


# --------------------------------------------------------------------------
# dask, the client, the cluster
# --------------------------------------------------------------------------
_EXTRA = 'pip install "fastrnn[dask]" (dask[array] and distributed)'


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise ImportError(f"fastrnn on dask arrays needs the dask extra: {_EXTRA}") from None
    return dask, da


def local_cluster(n_workers: int = 2, **options: Any):
    """A ``dask.distributed.LocalCluster`` of worker processes set up for fastrnn.

    Each worker has one thread, and fastrnn's kernels and BLAS inside it use
    one thread too, so ``n_workers`` workers keep ``n_workers`` cores busy
    without oversubscribing them.

    Parameters
    ----------
    n_workers : int, default 2
        Worker processes.
    **options
        More ``LocalCluster`` arguments (e.g. ``memory_limit="2GiB"``); they
        override the defaults ``threads_per_worker=1``, ``processes=True``,
        ``dashboard_address=":0"`` (any free port) and ``env`` (``FASTRNN_NUM_THREADS=1``,
        ``FASTRNN_LOOP_BLAS_THREADS=1``). The tasks use the driver's backend.

    Returns
    -------
    distributed.LocalCluster
        Running; close it (or use it in a ``with`` block) when done.
    """
    n_workers = check_int(n_workers, "n_workers", 1)
    try:
        from distributed import LocalCluster
    except ImportError:
        raise ImportError(f"local_cluster needs the dask extra: {_EXTRA}") from None
    env = {"FASTRNN_NUM_THREADS": "1", "FASTRNN_LOOP_BLAS_THREADS": "1"}
    settings = dict(threads_per_worker=1, processes=True, dashboard_address=":0", env=env)
    settings.update(options)
    return LocalCluster(n_workers=n_workers, **settings)


def _resolve_client(client: object, required: bool, what: str):
    """The ``dask.distributed.Client`` to use: ``client``, else the active one.

    None when there is none and ``required`` is False (the call then runs on
    dask's default scheduler).
    """
    if client is None and "distributed" in sys.modules:
        from distributed import default_client

        try:
            client = default_client()
        except ValueError:  # no client was created
            client = None
    if client is None:
        if required:
            raise ValueError(
                f"{what} on dask arrays trains on a dask.distributed cluster, and there is "
                f"none: expected a running Client (client=Client(LocalCluster(...)) or "
                f"client=Client('tcp://scheduler:8786'), or one created before the call), got "
                f"client=None and no active client. For a local {what}, pass NumPy arrays "
                f"(x.compute())."
            )
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(f"client= needs the dask extra: {_EXTRA}") from None
    if not isinstance(client, Client):
        raise TypeError(
            f"{what}: `client` must be a dask.distributed.Client, got {type(client).__name__}: "
            f"{client!r:.80}"
        )
    status = str(getattr(client, "status", "unknown"))
    if status != "running":
        raise ValueError(
            f"{what}: `client` is not running (status {status!r}); expected a running "
            f"dask.distributed.Client: create a new one (a closed one cannot be reopened)"
        )
    return client


def _worker_info(client) -> dict[str, dict[str, Any]]:
    """Address -> the scheduler's description of every worker."""
    return dict(client.scheduler_info(n_workers=-1)["workers"])


def _size(nbytes: float) -> str:
    """A size in KiB, MiB or GiB, whichever reads best."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 2**10:,.1f} KiB"


def _check_memory(client, model, spec: _ModelSpec) -> None:
    """WorkerMemoryError unless the model fits every worker's memory limit.

    A worker holds the model file, the rebuilt model's weights, the weights
    sent for a step and the gradients: the file and three copies of the
    weights, before any activations.
    """
    weights = sum(int(np.asarray(w).nbytes) for w in model.get_weights())
    need = len(spec.data) + 3 * weights
    for address, info in _worker_info(client).items():
        limit = info.get("memory_limit") or 0
        if limit and need > limit:
            raise WorkerMemoryError(
                f"model: needs about {_size(need)} on each worker (its file, "
                f"{_size(len(spec.data))}, and three copies of its {_size(weights)} of "
                f"weights), but worker {address} has a memory limit of {_size(limit)}: "
                f"expected a memory limit of at least {_size(need)} (LocalCluster("
                f"memory_limit=...), dask worker --memory-limit ...), or a smaller model"
            )


# --------------------------------------------------------------------------
# the model on the workers
# --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _ModelSpec:
    """A model as it travels: a token naming the call, its model file's bytes,
    the class of a subclassed model (pickled by reference) and the driver's
    backend. Not a tuple, which dask would take apart."""

    token: str
    data: bytes
    custom_class: type | None
    backend: str


def _model_spec(model) -> _ModelSpec:
    from .functional import Model
    from .models import Sequential

    with tempfile.TemporaryDirectory(prefix="fastrnn-dask-") as folder:
        path = os.path.join(folder, "model.fastrnn")
        model.save(path)
        with open(path, "rb") as handle:
            data = handle.read()
    custom = None if type(model) in (Sequential, Model) else type(model)
    return _ModelSpec(uuid.uuid4().hex, data, custom, backends.get_backend())


_cache_lock = threading.Lock()
_models: OrderedDict = OrderedDict()  # (token, thread id) -> model
_rebuilds = 0
_in_worker: bool | None = None  # whether this process is a dask.distributed worker


def _configure_worker(backend: str) -> None:
    """In a dask.distributed worker process: the driver's backend, and
    fastrnn's kernels on ``FASTRNN_NUM_THREADS`` threads, else on one (the
    worker's threads, and its sibling workers, are the parallelism). The
    driver's own process (dask's default scheduler) is left as it is."""
    global _in_worker
    if _in_worker is None:
        try:
            from distributed import get_worker

            get_worker()
        except (ImportError, ValueError):  # no worker: the driver's process
            _in_worker = False
        else:
            _in_worker = True
            if not os.environ.get("FASTRNN_NUM_THREADS", "").strip():
                set_num_threads(1)
    if _in_worker and backends.get_backend() != backend:
        backends.set_backend(backend)


def _worker_model(spec: _ModelSpec, weights=None):
    """This thread's copy of the call's model (rebuilt on first use), with
    ``weights`` when given."""
    global _rebuilds
    _configure_worker(spec.backend)
    key = (spec.token, threading.get_ident())
    with _cache_lock:
        model = _models.get(key)
        if model is not None:
            _models.move_to_end(key)
    if model is None:
        from .models import load_model

        custom = {spec.custom_class.__name__: spec.custom_class} if spec.custom_class else None
        with tempfile.TemporaryDirectory(prefix="fastrnn-dask-") as folder:
            path = os.path.join(folder, "model.fastrnn")
            with open(path, "wb") as handle:
                handle.write(spec.data)
            model = load_model(path, custom_objects=custom)
        with _cache_lock:
            _rebuilds += 1
            _models[key] = model
            while len(_models) > _CACHE_SIZE:
                _models.popitem(last=False)
    if weights is not None:
        model.set_weights(weights)
    return model


def _forget(token: str) -> int:
    """Drop the cached models of the call ``token`` (run on every worker)."""
    with _cache_lock:
        keys = [key for key in _models if key[0] == token]
        for key in keys:
            del _models[key]
    return len(keys)


def _release(client, token: str) -> None:
    """Forget the call's models on every worker (and in this process)."""
    _forget(token)
    if client is not None and client.status == "running":
        try:
            client.run(_forget, token)
        except Exception:  # a worker that is gone has nothing to forget
            pass


def worker_stats() -> dict[str, int]:
    """How many models this process rebuilt and holds (``client.run(worker_stats)``).

    Returns
    -------
    dict
        ``{"rebuilds": ..., "cached": ..., "pid": ...}``.
    """
    with _cache_lock:
        return {"rebuilds": _rebuilds, "cached": len(_models), "pid": os.getpid()}


def _walk_layers(model):
    """Every layer in the model, wrapped and nested layers too."""
    seen, stack, found = set(), list(getattr(model, "layers", [])), []
    while stack:
        layer = stack.pop()
        if layer is None or id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append(layer)
        stack.extend(getattr(layer, name, None) for name in ("layer", "forward_layer"))
        stack.extend(getattr(layer, name, None) for name in ("backward_layer", "cell"))
        for name in ("layers", "cells"):
            stack.extend(getattr(layer, name, None) or [])
    return found


def _config_has(config: object, test) -> bool:
    if isinstance(config, Mapping):
        return any(test(k, v) or _config_has(v, test) for k, v in config.items())
    if isinstance(config, (list, tuple)):
        return any(_config_has(v, test) for v in config)
    return False


def _check_not_stateful(model, what: str) -> None:
    if _config_has(model.get_config(), lambda k, v: k == "stateful" and v is True):
        raise ValueError(
            f"{what} on dask arrays needs a model without stateful=True layers: a stateful "
            f"layer carries its state from one batch to the next, in order, which chunks "
            f"computed in parallel cannot do; got model {model.name!r} with a stateful layer"
        )


def _draws_noise(model) -> bool:
    """Whether a training call draws random numbers (Dropout, RNN dropout)."""

    def test(key, value):
        rates = ("rate", "dropout", "recurrent_dropout")
        return key in rates and isinstance(value, (int, float)) and value > 0

    return _config_has(model.get_config(), test)


def _reseed(model, noise: tuple[int, ...]) -> None:
    """Give every layer's generator a stream of its own for this step and group,
    so that the groups' dropout masks are independent draws."""
    for i, layer in enumerate(_walk_layers(model)):
        if getattr(layer, "_rng", None) is not None:
            layer._rng = np.random.default_rng([*noise, i])


# --------------------------------------------------------------------------
# the data
# --------------------------------------------------------------------------
def _leaves(model, value, argument: str, outputs: bool) -> list:
    """``value`` as the model's list of arrays (its inputs or outputs, in order),
    each a dask or NumPy array, found by the model's own rules (it is given
    one-row stand-ins)."""
    stand_ins = {}

    def stand_in(leaf, name):
        array = leaf if _is_dask_array(leaf) else _as_data(leaf, name)
        shape = array.shape
        if any(isinstance(s, float) and math.isnan(s) for s in shape):
            raise ValueError(
                f"{name} has unknown chunk sizes (shape {shape}); expected known ones: call "
                f"{name} = {name}.compute_chunk_sizes() first"
            )
        if len(shape) == 0:
            raise ValueError(f"{name} must have a leading batch axis; got a scalar")
        if shape[0] == 0:
            raise ValueError(f"{name} is empty (shape {shape}); need at least one sample")
        placeholder = np.zeros((1, *shape[1:]), dtype=array.dtype)
        stand_ins[id(placeholder)] = array
        return placeholder

    def is_array(v):
        return _is_dask_array(v) or isinstance(v, np.ndarray)

    if value is None:
        raise ValueError(f"{argument} is required, got None")
    if isinstance(value, Mapping):
        structure = {k: stand_in(v, f"{argument}[{k!r}]") for k, v in value.items()}
    elif isinstance(value, (list, tuple)) and value and all(is_array(v) for v in value):
        structure = [stand_in(v, f"{argument}[{i}]") for i, v in enumerate(value)]
    else:
        structure = stand_in(value, argument)
    found = (model._y_arrays if outputs else model._x_arrays)(structure, argument)
    if not all(id(a) in stand_ins for a in found):
        given = len(value) if isinstance(value, (list, tuple)) else 1
        raise ValueError(
            f"{argument}: expected one array per model {'output' if outputs else 'input'} "
            f"({len(found)}), given as an array, a list or a dict; got "
            f"{type(value).__name__} of {given}"
        )
    return [stand_ins[id(a)] for a in found]


def _even_chunks(n: int, parts: int) -> tuple[int, ...]:
    size = max(1, math.ceil(n / max(1, parts)))
    return tuple(min(size, n - start) for start in range(0, n, size))


def _aligned(named: list[tuple[str, Any]], parts: int):
    """The arrays of ``named`` (name, array) as dask arrays chunked alike along
    axis 0 and in one chunk along the others. NumPy arrays take the first
    dask array's chunks, or ``parts`` even chunks when there is none.

    Raises
    ------
    ValueError
        If the arrays differ in length, or two dask arrays differ in their
        chunks along axis 0.
    """
    _, da = _import_dask()
    first_name, first = named[0]
    n = first.shape[0]
    for name, array in named[1:]:
        if array.shape[0] != n:
            raise ValueError(
                f"{first_name} and {name} must have the same number of samples: {first_name} "
                f"has {n} (shape {first.shape}), {name} has {array.shape[0]} (shape "
                f"{array.shape})"
            )
    reference = next(((nm, a) for nm, a in named if _is_dask_array(a)), None)
    chunks = reference[1].chunks[0] if reference is not None else _even_chunks(n, parts)
    arrays = []
    for name, array in named:
        if not _is_dask_array(array):
            array = da.from_array(np.asarray(array), chunks=(chunks, *array.shape[1:]))
        elif array.chunks[0] != chunks:
            raise ValueError(
                f"{name} must be chunked like {reference[0]} along axis 0 (the batch axis), "
                f"so that each sample's x and y are in the same chunk: expected chunks "
                f"{chunks}, got {array.chunks[0]}; rechunk one to match, e.g. "
                f"{name}.rechunk({{0: {reference[0]}.chunks[0]}})"
            )
        elif any(len(c) > 1 for c in array.chunks[1:]):
            array = array.rechunk({axis: -1 for axis in range(1, array.ndim)})
        arrays.append(array)
    return arrays, chunks


def _dataset(model, x, y, sample_weight, parts, names=("x", "y")):
    """``x``, ``y`` and ``sample_weight`` as lists of dask arrays chunked alike
    (``sample_weight`` None or one array)."""
    x_leaves = _leaves(model, x, names[0], outputs=False)
    y_leaves = _leaves(model, y, names[1], outputs=True)

    def named(prefix, leaves):
        return [(prefix if len(leaves) == 1 else f"{prefix}[{i}]", a) for i, a in enumerate(leaves)]

    items = named(names[0], x_leaves) + named(names[1], y_leaves)
    if sample_weight is not None:
        sw = (
            sample_weight
            if _is_dask_array(sample_weight)
            else _as_data(sample_weight, "sample_weight")
        )
        if sw.ndim > 2:
            raise ValueError(
                f"sample_weight must be (samples,) or (samples, timesteps); got shape {sw.shape}"
            )
        items.append(("sample_weight", sw))
    arrays, _ = _aligned(items, parts)
    xs, ys = arrays[: len(x_leaves)], arrays[len(x_leaves) : len(x_leaves) + len(y_leaves)]
    return xs, ys, arrays[-1] if sample_weight is not None else None


def _blocks(arrays, sw) -> list[tuple[list, list, Any]]:
    """Per chunk along axis 0: (x blocks, y blocks, sample-weight block or None),
    as delayed objects."""
    xs, ys = arrays
    bx = [list(a.to_delayed().reshape(-1)) for a in xs]
    by = [list(a.to_delayed().reshape(-1)) for a in ys]
    bs = list(sw.to_delayed().reshape(-1)) if sw is not None else [None] * len(bx[0])
    return [([b[i] for b in bx], [b[i] for b in by], bs[i]) for i in range(len(bx[0]))]


def _positions(out: np.ndarray, mask) -> float:
    """The number of valid positions of an output, as the losses count them."""
    shape = out.shape[:-1] if out.ndim >= 2 else out.shape
    if mask is not None and len(shape) == 2:
        return float(np.count_nonzero(mask))
    return float(np.prod(shape))


def _add_metrics(into, groups):
    """Add the metric accumulators of ``groups`` (lists of per-output metric
    lists) into ``into``; None starts from zero. Returns ``into``."""
    if into is None:
        into = copy.deepcopy(groups[0])
        for objs in into:
            for m in objs:
                m.reset_state()
    for metrics in groups:
        for mine, theirs in zip(into, metrics):
            for a, b in zip(mine, theirs):
                a.total += b.total
                a.count += b.count
    return into


def _weighted(model, values) -> float:
    """The compiled loss from the per-output losses (``loss_weights``)."""
    pairs = zip(model._losses, model._loss_weights, values)
    return float(sum(w * v for loss, w, v in pairs if loss is not None))


# --------------------------------------------------------------------------
# worker tasks
# --------------------------------------------------------------------------
def _predict_chunk(spec: _ModelSpec, batch_size: int, *blocks):
    """The local ``predict`` of one chunk, as a tuple of output arrays."""
    model = _worker_model(spec)
    out = model.predict(model._pack_x([np.asarray(b) for b in blocks]), batch_size, verbose=0)
    if isinstance(out, Mapping):
        return tuple(out.values())
    return tuple(out) if isinstance(out, (list, tuple)) else (out,)


def _pack(spec, x_blocks, y_blocks, sw_block, class_weight, where, argument):
    """One chunk's ``(x arrays, y arrays, sample weights)``, checked as the local
    ``fit`` checks all of its data before the first step."""
    model = _worker_model(spec)
    xs = [np.asarray(b) for b in x_blocks]
    ys = [np.asarray(b) for b in y_blocks]
    sparse = any(loss is not None and loss._checks_values for loss in model._losses)
    sw = _sample_weights(ys[0], sw_block, class_weight, sparse, where)
    model._check_dataset(model._pack_x(xs), argument)
    outs, _ = model._forward([a[:1] for a in xs], training=False)
    model._check_all_labels(ys, outs)
    return xs, ys, sw


@limit_blas_threads_in_loops
def _sample_counts(spec, pack, batch_size):
    """Each sample's count of valid positions per output, ``(rows, outputs)``
    (from the masks of a forward pass in batches of ``batch_size``)."""
    model = _worker_model(spec)
    xs, found = pack[0], []
    for start in range(0, len(xs[0]), batch_size):
        outs, masks = model._forward([a[start : start + batch_size] for a in xs], training=False)
        columns = []
        for out, mask in zip(outs, masks):
            shape = out.shape[:-1] if out.ndim >= 2 else out.shape
            if mask is not None and len(shape) == 2:
                columns.append(np.count_nonzero(mask, axis=1).astype(np.float64))
            else:
                columns.append(np.full(len(out), float(np.prod(shape[1:]))))
        found.append(np.stack(columns, axis=1))
    return np.concatenate(found, axis=0)


@limit_blas_threads_in_loops
def _evaluate_chunk(spec, weights, pack, offset, batch_size):
    """Per piece of the chunk (cut at the global batch boundaries): its batch
    index, rows, per-output loss sums and counts, and its metrics."""
    model = _worker_model(spec, weights)
    xs, ys, sw = pack
    n, row, pieces = len(xs[0]), 0, []
    while row < n:
        batch = (offset + row) // batch_size
        stop = min(n, (batch + 1) * batch_size - offset)
        piece = slice(row, stop)
        xb, yb = [a[piece] for a in xs], [a[piece] for a in ys]
        swb = None if sw is None else sw[piece]
        outs, masks = model._forward(xb, training=False)
        _, values, _ = model._batch_losses(yb, outs, masks, swb, False)
        counts = [_positions(out, mask) for out, mask in zip(outs, masks)]
        metric_objs = model._make_metrics(yb, outs)
        for objs, y_b, out, mask in zip(metric_objs, yb, outs, masks):
            for m in objs:
                m.update_state(y_b, out, mask, sample_weight=swb)
        sums = [v * c for v, c in zip(values, counts)]
        pieces.append((batch, stop - row, sums, counts, metric_objs))
        row = stop
    return pieces


def _rows_of(packs, parts):
    """The rows ``parts`` = [(pack index, row indices), ...] of ``packs`` as one
    batch ``(x arrays, y arrays, sample weights or None)``."""

    def take(pick):
        pieces = [pick(packs[j])[rows] for j, rows in parts]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)

    first = packs[parts[0][0]]
    xs = [take(lambda p, i=i: p[0][i]) for i in range(len(first[0]))]
    ys = [take(lambda p, i=i: p[1][i]) for i in range(len(first[1]))]
    return xs, ys, None if first[2] is None else take(lambda p: p[2])


@limit_blas_threads_in_loops
def _train_group(spec, weights, packs, micro, noise, totals):
    """One group's share of a step: forward and backward on its rows of each
    micro-batch, summed.

    Each output's upstream gradient (that of its mean over the group's rows)
    is multiplied by ``count / total``: the group's count of valid positions
    over the batch's (``totals``, one per output), so that the driver only
    adds the groups' gradients. With ``totals`` None (one output, or outputs
    without masks, whose counts are fixed multiples of the rows) the total is
    taken as 1, and the driver divides the sum by the first output's total.

    Returns
    -------
    dict
        ``grads`` (one per trainable weight, or None), ``occurrences`` (an
        Embedding's ``(rows, values)``, or None), per-output ``loss_sums``
        (loss times count) and ``counts``, ``metrics`` (accumulators),
        ``rows``, ``worker`` (its address) and ``seconds`` of compute.
    """
    start = time.perf_counter()
    model = _worker_model(spec, weights)
    if noise is not None:
        _reseed(model, noise)
    n_weights = len(model.trainable_weights)
    grads: list = [None] * n_weights
    occurrences: list = [[] for _ in range(n_weights)]
    loss_sums = counts = metric_objs = None
    rows = 0
    for parts in micro:
        if not parts:
            continue
        xb, yb, swb = _rows_of(packs, parts)
        outs, masks = model._forward(xb, training=True)
        _, values, dys = model._batch_losses(yb, outs, masks, swb, True)
        found = [_positions(out, mask) for out, mask in zip(outs, masks)]
        if loss_sums is None:
            loss_sums, counts = [0.0] * len(outs), [0.0] * len(outs)
            metric_objs = model._make_metrics(yb, outs)
        for o, (v, c) in enumerate(zip(values, found)):
            loss_sums[o] += v * c
            counts[o] += c
        scales = [c / t if t else 0.0 for c, t in zip(found, totals or [1.0] * len(found))]
        dys = [None if d is None else d * d.dtype.type(s) for d, s in zip(dys, scales)]
        model.backward(model._pack_dy(dys))
        for i, g in enumerate(model.gradients):
            if g is not None:
                grads[i] = np.array(g) if grads[i] is None else grads[i] + g
                if getattr(g, "occurrences", None) is not None:
                    occurrences[i].append(g.occurrences)
        for objs, y_b, out, mask in zip(metric_objs, yb, outs, masks):
            for m in objs:
                m.update_state(y_b, out, mask, sample_weight=swb)
        rows += len(xb[0])
    from distributed import get_worker

    return {
        "grads": grads,
        "occurrences": [_join_occurrences(pairs) for pairs in occurrences],
        "loss_sums": loss_sums,
        "counts": counts,
        "metrics": metric_objs,
        "rows": rows,
        "worker": get_worker().address,
        "seconds": time.perf_counter() - start,
    }


def _join_occurrences(pairs):
    """One ``(rows, values)`` from several, or None from none."""
    if not pairs:
        return None
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


# --------------------------------------------------------------------------
# the driver's side
# --------------------------------------------------------------------------
def _identity(value):
    return value


def _submit_quietly(client, *args, **kwargs):
    """``client.submit``, without distributed's warning about a large task:
    the model file and a step's weights are large on purpose, and each
    travels once per call (per step)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge", category=UserWarning)
        return client.submit(*args, **kwargs)


def _share(client, spec: _ModelSpec):
    """``spec`` for the tasks. With a client: one task that holds it,
    replicated to every worker, so each worker receives it once, and the
    scheduler can make it again if every copy is lost (scattered data could
    not be). Without: one node of the graph on dask's default scheduler."""
    if client is None:
        dask, _ = _import_dask()
        return dask.delayed(spec, name=f"fastrnn-model-{spec.token}")
    future = _submit_quietly(client, _identity, spec, key=f"fastrnn-model-{spec.token}")
    client.replicate([future])
    return future


def _build_if_needed(model, xs):
    """The local ``predict`` on one row of zeros: builds an unbuilt model and
    shows the structure, shapes and dtypes of the outputs."""
    stand_in = [np.zeros((1, *a.shape[1:]), dtype=a.dtype) for a in xs]
    return model.predict(model._pack_x(stand_in), verbose=0)


@limit_blas_threads_in_loops
def predict(model, x, batch_size=32, verbose="auto", callbacks=None, client=None):
    """``model.predict`` on a dask array: a lazy dask array, chunked as ``x``.

    Parameters
    ----------
    model : Sequential or Model
    x : dask.array.Array, or a list or dict of them
        ``(samples, ...)``, chunked along the batch axis (other axes are joined
        into one chunk). NumPy arrays among them take the first dask array's
        chunks.
    batch_size : int, default 32
        The batch size of the local ``predict`` each chunk runs.
    verbose : "auto", 0, 1 or 2
        Checked; the lazy result shows no progress bar.
    callbacks : None
        A lazy result runs no callbacks; giving some is an error.
    client : dask.distributed.Client, optional
        The cluster to send the model to (default: the active client; with
        none, the graph holds the model once, for dask's default scheduler).

    Returns
    -------
    dask.array.Array, or a list or dict of them
        Like the local ``predict``'s result, ``(samples, ...)``, lazily; its
        batch chunks are ``x``'s. It computes with the weights the model had
        at this call.
    """
    dask, da = _import_dask()
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    _check_verbose(verbose)
    if callbacks_module.check_callbacks(callbacks):
        raise ValueError(
            "predict on dask arrays returns a lazy array, so it runs no callbacks: expected "
            f"callbacks=None, got {callbacks!r:.80}"
        )
    client = _resolve_client(client, False, "predict")
    leaves = _leaves(model, x, "x", outputs=False)
    parts = len(_worker_info(client)) if client is not None else 1
    names = ["x" if len(leaves) == 1 else f"x[{i}]" for i in range(len(leaves))]
    xs, chunks = _aligned(list(zip(names, leaves)), parts)
    _check_not_stateful(model, "predict")
    example = _build_if_needed(model, xs)
    spec = _model_spec(model)
    if client is not None:
        _check_memory(client, model, spec)
    shared = _share(client, spec)
    if isinstance(example, Mapping):
        examples = list(example.values())
    else:
        examples = list(example) if isinstance(example, (list, tuple)) else [example]
    columns: list[list] = [[] for _ in examples]
    for i, (x_blocks, _, _) in enumerate(_blocks((xs, []), None)):
        task = dask.delayed(_predict_chunk, pure=True)(
            shared, batch_size, *x_blocks, dask_key_name=f"fastrnn-predict-{spec.token}-{i}"
        )
        for o, ex in enumerate(examples):
            shape = (chunks[i], *ex.shape[1:])
            columns[o].append(da.from_delayed(task[o], shape, dtype=ex.dtype))
    outs = [da.concatenate(col, axis=0) for col in columns]
    if isinstance(example, Mapping):
        return dict(zip(example, outs))
    return outs if isinstance(example, (list, tuple)) else outs[0]


class _Evaluation:
    """Data for ``evaluate`` (or ``fit``'s validation): one checked pack per
    chunk, on the cluster (futures) or for dask's default scheduler (delayed)."""

    def __init__(self, model, xs, ys, sw, batch_size, client, shared, where, argument):
        dask, _ = _import_dask()
        self.model, self.batch_size, self.client, self.shared = model, batch_size, client, shared
        self.n = xs[0].shape[0]
        self.offsets = np.concatenate([[0], np.cumsum(xs[0].chunks[0])[:-1]]).astype(int)
        self.packs = [
            dask.delayed(_pack, pure=False)(shared, bx, by, bs, None, where, argument)
            for bx, by, bs in _blocks((xs, ys), sw)
        ]
        if client is not None:
            self.packs = _computed(client, self.packs)

    def run(self, weights, verbose, cbs=None):
        """The logs of the local ``evaluate`` on this data, with ``weights``
        (None: the model file's)."""
        dask, _ = _import_dask()
        tasks = [
            dask.delayed(_evaluate_chunk, pure=False)(
                self.shared, weights, pack, int(offset), self.batch_size
            )
            for pack, offset in zip(self.packs, self.offsets)
        ]
        if self.client is not None:
            results = self.client.gather(self.client.compute(tasks))
        else:
            results = dask.compute(*tasks)
        batches: dict[int, list] = {}
        for pieces in results:
            for piece in pieces:
                batches.setdefault(piece[0], []).append(piece)
        return self._combine([batches[b] for b in sorted(batches)], verbose, cbs)

    def _combine(self, batches, verbose, cbs):
        """The local ``evaluate``'s running logs over ``batches`` (each a list
        of pieces), with its callbacks and progress bar."""
        model = self.model
        outputs = len(model._losses)
        progress = _Progress(verbose, len(batches))
        totals, seen, metric_objs, logs = [0.0] * (outputs + 1), 0, None, {}
        try:
            for step, pieces in enumerate(batches):
                if cbs is not None:
                    cbs.on_test_batch_begin(step)
                rows = sum(p[1] for p in pieces)
                values = []
                for o in range(outputs):
                    count = sum(p[3][o] for p in pieces)
                    values.append(sum(p[2][o] for p in pieces) / count if count else 0.0)
                metric_objs = _add_metrics(metric_objs, [p[4] for p in pieces])
                value = _weighted(model, values)
                for i, v in enumerate([value, *values] if outputs > 1 else [value]):
                    totals[i] += v * rows
                seen += rows
                logs = model._logs(totals, seen, metric_objs)
                if cbs is not None:
                    cbs.on_test_batch_end(step, dict(logs))
                progress.update(logs)
        except BaseException:
            progress.abort()
            raise
        progress.close(logs)
        return logs


def _computed(client, delayed_objects, hints=None):
    """``delayed_objects`` computed on the cluster and kept there (futures);
    the first error among them is raised, as the local checks would."""
    from distributed import wait

    futures = [
        client.compute(d, workers=None if hints is None else [hints[i]], allow_other_workers=True)
        for i, d in enumerate(delayed_objects)
    ]
    wait(futures)
    for future in futures:
        if future.status == "error":
            future.result()
    return futures


@limit_blas_threads_in_loops
def evaluate(
    model,
    x=None,
    y=None,
    batch_size=32,
    verbose="auto",
    return_dict=False,
    callbacks=None,
    sample_weight=None,
    client=None,
):
    """``model.evaluate`` on dask arrays: the local ``evaluate``'s figures.

    Parameters
    ----------
    model : Sequential or Model
        Compiled.
    x, y : dask.array.Array (or lists or dicts of them), or NumPy arrays
        ``(samples, ...)``, chunked alike along the batch axis.
    batch_size, verbose, return_dict, callbacks, sample_weight
        As in the local ``evaluate``; the batch callbacks run in order once
        the chunks are computed.
    client : dask.distributed.Client, optional
        Default: the active client; with none, dask's default scheduler.

    Returns
    -------
    float, list of float or dict
        As the local ``evaluate``.

    Raises
    ------
    ValueError
        For the local ``evaluate``'s bad arguments, a closed client, and
        arrays chunked differently along axis 0.
    WorkerMemoryError
        When the model does not fit a worker's memory limit.
    """
    _import_dask()
    model._require_compiled("evaluate")
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    verbose = _check_verbose(verbose)
    cb_list = callbacks_module.check_callbacks(callbacks)
    client = _resolve_client(client, False, "evaluate")
    parts = len(_worker_info(client)) if client is not None else 1
    xs, ys, sw = _dataset(model, x, y, sample_weight, parts)
    _check_not_stateful(model, "evaluate")
    _build_if_needed(model, xs)
    spec = _model_spec(model)
    if client is not None:
        _check_memory(client, model, spec)
    cbs = callbacks_module.CallbackList(cb_list, model, {"verbose": verbose}) if cb_list else None
    try:
        shared = _share(client, spec)
        data = _Evaluation(model, xs, ys, sw, batch_size, client, shared, "evaluate", "x")
        if cbs is not None:
            cbs.on_test_begin()
        logs = data.run(None, verbose, cbs)
        if cbs is not None:
            cbs.on_test_end(dict(logs))
    finally:
        _release(client, spec.token)
    if return_dict:
        return dict(logs)
    return logs["loss"] if len(logs) == 1 else [logs[k] for k in model.metrics_names]


def _retryable_errors() -> tuple[type[BaseException], ...]:
    """What a task fails with when its worker, or data it needed, was lost."""
    from concurrent.futures import CancelledError

    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker

    return (KilledWorker, CommClosedError, CancelledError)


class _Trainer:
    """The cluster's side of one ``fit``: the packed data grouped by worker,
    the step tasks and their retries, and the record of the fit
    (``history.distributed``)."""

    def __init__(self, client, model, spec, xs, ys, sw, class_weight):
        dask, _ = _import_dask()
        self.client, self.model, self.spec = client, model, spec
        self.shared = _share(client, spec)
        sizes = np.asarray(xs[0].chunks[0], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        workers = sorted(_worker_info(client))
        # Chunks the cluster holds already are packed where they are; the
        # others are spread over the workers, a contiguous run of chunks each.
        in_memory = bool(client.futures_of(xs[0]))
        hints = (
            None
            if in_memory
            else [workers[i * len(workers) // len(sizes)] for i in range(len(sizes))]
        )
        packs = [
            dask.delayed(_pack, pure=False)(self.shared, bx, by, bs, class_weight, "fit", "x")
            for bx, by, bs in _blocks((xs, ys), sw)
        ]
        self.packs = _computed(client, packs, hints)
        who = client.who_has(self.packs)
        by_worker: dict[str, list[int]] = {}
        for i, future in enumerate(self.packs):
            by_worker.setdefault(min(who.get(future.key) or ["?"]), []).append(i)
        self.hints = list(by_worker)
        self.group_of = np.empty(len(sizes), dtype=np.int64)
        for g, members in enumerate(by_worker.values()):
            self.group_of[members] = g
        self.sample_counts = None
        self.noise_base = int(new_generator(None).integers(2**32)) if _draws_noise(model) else None
        self.workers = set(workers)
        self.record = {
            "workers": workers,
            "groups": [len(members) for members in by_worker.values()],
            "steps": 0,
            "step_seconds": 0.0,
            "compute_seconds": 0.0,
            "steps_per_worker": {},
            "faults": [],
        }

    def count_positions(self, batch_size):
        """Count every sample's valid positions per output before the first
        step: for several outputs with masks, whose counts differ per batch,
        each step's totals then scale the outputs' gradients on the workers."""
        futures = [
            self.client.submit(_sample_counts, self.shared, pack, batch_size, pure=False)
            for pack in self.packs
        ]
        self.sample_counts = np.concatenate(self.client.gather(futures), axis=0)

    def plan(self, batches):
        """Per group: the packs it needs and, per micro-batch, ``[(pack index, rows)]``."""
        plans: dict[int, tuple[list[int], list[list]]] = {}
        for k, idx in enumerate(batches):
            chunk = np.searchsorted(self.starts, idx, side="right") - 1
            local = idx - self.starts[chunk]
            for c in np.unique(chunk):
                packs, micro = plans.setdefault(int(self.group_of[c]), ([], [[] for _ in batches]))
                if c not in packs:
                    packs.append(int(c))
                micro[k].append((packs.index(int(c)), local[chunk == c]))
        return dict(sorted(plans.items()))

    def step(self, batches, serial, where):
        """The groups' results for one step (a list, in group order), and
        whether the workers scaled the gradients to the batch's counts.

        Every group's task gets the driver's current weights. A step whose
        tasks failed outright (a worker lost, and with it data the step
        needed) is submitted again; a step whose outputs' counts differed
        from those counted before the fit (masks that depend on the weights)
        is computed again with the counts it found.
        """
        started = time.perf_counter()
        plans = self.plan(batches)
        weights = self.model.get_weights()
        totals = None
        if self.sample_counts is not None:
            totals = [float(t) for t in self.sample_counts[np.concatenate(batches)].sum(axis=0)]
        results = self._submit(plans, weights, serial, totals, where)
        if totals is not None:
            found = [sum(r["counts"][o] for r in results) for o in range(len(totals))]
            if found != totals:
                results = self._submit(plans, weights, serial, found, where)
        normalized = totals is not None
        record = self.record
        record["steps"] += 1
        record["step_seconds"] += time.perf_counter() - started
        record["compute_seconds"] += max(r["seconds"] for r in results)
        for r in results:
            record["steps_per_worker"][r["worker"]] = (
                record["steps_per_worker"].get(r["worker"], 0) + 1
            )
        return results, normalized

    def _submit(self, plans, weights, serial, totals, where):
        for attempt in range(MAX_STEP_ATTEMPTS):
            futures = [
                _submit_quietly(
                    self.client,
                    _train_group,
                    self.shared,
                    weights,
                    [self.packs[c] for c in packs],
                    micro,
                    None if self.noise_base is None else (self.noise_base, serial, g),
                    totals,
                    key=f"fastrnn-step-{self.spec.token}-{serial}-{g}-{attempt}",
                    workers=[self.hints[g]],
                    allow_other_workers=True,
                    pure=False,
                )
                for g, (packs, micro) in plans.items()
            ]
            try:
                results = self.client.gather(futures)
            except _retryable_errors():
                if attempt + 1 == MAX_STEP_ATTEMPTS:
                    raise
                self.note_losses(where)
                time.sleep(0.25 * 2**attempt)  # the scheduler may not have seen the loss yet
                continue
            if any(r["worker"] != self.hints[g] for r, g in zip(results, plans)):
                self.note_losses(where)
            return results
        raise AssertionError("unreachable")  # pragma: no cover

    def note_losses(self, where):
        """Record (and warn of) the workers gone since the last look, and move
        each group's hint to where its chunks are now."""
        try:
            now = set(_worker_info(self.client))
        except Exception:  # a scheduler that cannot answer has no news to give
            return
        lost, joined = sorted(self.workers - now), sorted(now - self.workers)
        self.workers = now
        for address in lost:
            self.record["faults"].append({**where, "worker": address, "joined": joined})
            warnings.warn(
                f"fit: worker {address} was lost by epoch {where['epoch'] + 1}, step "
                f"{where['step'] + 1}; its chunks and the step's tasks are recomputed on the "
                f"workers that remain",
                RuntimeWarning,
                stacklevel=5,
            )
        try:
            who = self.client.who_has(self.packs)
        except Exception:  # the hints are preferences only
            who = {}
        for g, hint in enumerate(self.hints):
            holders = who.get(self.packs[int(np.argmax(self.group_of == g))].key) or []
            if hint not in now:
                self.hints[g] = min(holders) if holders else min(now, default=hint)


def _combine_step(model, results, normalized):
    """The batch's per-output losses, its gradients (a RowGradient where rows
    were looked up) and its rows, from the groups' results; the gradients
    are divided by the first output's count unless ``normalized`` (the
    workers scaled them by the batch's counts already)."""
    outputs = len(results[0]["counts"])
    counts = [sum(r["counts"][o] for r in results) for o in range(outputs)]
    values = [
        sum(r["loss_sums"][o] for r in results) / counts[o] if counts[o] else 0.0
        for o in range(outputs)
    ]
    scale = 1.0 if normalized else (1.0 / counts[0] if counts[0] else 0.0)
    grads: list = [None] * len(model.trainable_weights)
    for i in range(len(grads)):
        dense = [r["grads"][i] for r in results if r["grads"][i] is not None]
        if not dense:
            continue
        total = dense[0].copy()
        for g in dense[1:]:
            total += g
        total *= total.dtype.type(scale)
        pairs = [r["occurrences"][i] for r in results if r["occurrences"][i] is not None]
        if pairs:
            rows, found = _join_occurrences(pairs)
            total = RowGradient(total, rows, found * found.dtype.type(scale))
        grads[i] = total
    return values, grads, sum(r["rows"] for r in results)


def _validation(model, train, validation_data, validation_split, parts):
    """``fit``'s training data and its validation data: ``(train, on_cluster,
    local)``, where ``on_cluster`` is ``(xs, ys, sw)`` of dask arrays (dask
    ``validation_data``, or ``validation_split``) and ``local`` the checked
    NumPy ``validation_data``; at most one of them is not None."""
    xs, ys, sw = train
    on_cluster = local = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val); got {type(validation_data).__name__}"
            )
        vx, vy = validation_data[:2]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        if _holds_dask_array(validation_data):
            names = ("validation_data x", "validation_data y")
            on_cluster = _dataset(model, vx, vy, vsw, parts, names)
        else:
            vxs, vys = model._check_xy(vx, vy, "validation_data x", "validation_data y")
            sparse = any(loss is not None and loss._checks_values for loss in model._losses)
            vsw = None if vsw is None else _sample_weights(vys[0], vsw, None, sparse)
            model._check_dataset(model._pack_x(vxs), "validation x")
            local = (vxs, vys, vsw)
    elif validation_split > 0:
        n = xs[0].shape[0]
        split_at = int(math.floor(n * (1.0 - validation_split)))
        if split_at in (0, n):
            raise ValueError(
                f"Training data contains {n} samples, which is not sufficient to split it "
                f"into a validation and training set as specified by "
                f"validation_split={validation_split}. Either provide more data, or a "
                f"different value for validation_split."
            )
        # As in Keras: the last fraction of the data (before any shuffling) is validation.
        val_sw = None if sw is None else sw[split_at:]
        on_cluster = ([a[split_at:] for a in xs], [a[split_at:] for a in ys], val_sw)
        xs, ys = [a[:split_at] for a in xs], [a[:split_at] for a in ys]
        sw = None if sw is None else sw[:split_at]
    checked = on_cluster if on_cluster is not None else local
    if checked is not None:
        for what, train_arrays, val_arrays in (("x", xs, checked[0]), ("y", ys, checked[1])):
            for i, (a, b) in enumerate(zip(train_arrays, val_arrays)):
                if tuple(a.shape[1:]) != tuple(b.shape[1:]):
                    which = what if len(train_arrays) == 1 else f"{what}[{i}]"
                    raise ValueError(
                        f"validation {which} has sample shape {tuple(b.shape[1:])}, but "
                        f"training {which} has {tuple(a.shape[1:])}"
                    )
    return (xs, ys, sw), on_cluster, local


@limit_blas_threads_in_loops
def fit(
    model,
    x=None,
    y=None,
    batch_size=32,
    epochs=1,
    verbose="auto",
    callbacks=None,
    validation_split=0.0,
    validation_data=None,
    shuffle=True,
    seed=None,
    initial_epoch=0,
    class_weight=None,
    sample_weight=None,
    steps_per_epoch=None,
    client=None,
    gradient_accumulation_steps=1,
):
    """``model.fit`` on dask arrays: synchronous data-parallel training.

    Parameters
    ----------
    model : Sequential or Model
        Compiled; its weights and optimizer stay on the driver.
    x, y : dask.array.Array (or lists or dicts of them), or NumPy arrays
        ``(samples, ...)``, chunked alike along the batch axis (NumPy arrays,
        when no argument is a dask array, are cut into one chunk per worker).
    batch_size, epochs, verbose, callbacks, validation_split, validation_data,
    shuffle, seed, initial_epoch, class_weight, sample_weight, steps_per_epoch
        As in the local ``fit``; the batches, their order (the seeded global
        permutation), the logs, the callbacks, the History and the progress
        bar are the local ``fit``'s.
    client : dask.distributed.Client, optional
        Default: the active client; one is required.
    gradient_accumulation_steps : int, default 1
        Batches per step (per round trip and optimizer update). Each worker
        runs its share of each batch as a separate forward and backward (the
        memory of one batch) and adds them up; the update is the local
        ``fit``'s with ``batch_size * gradient_accumulation_steps``, and a
        step counts as one batch for the callbacks and the progress bar.

    Returns
    -------
    History
        With ``history.distributed``: ``workers``, ``groups`` (chunks per
        group), ``steps``, ``step_seconds`` (the driver's wall time of the
        steps, round trips included), ``compute_seconds`` (the slowest
        group's compute, summed over the steps), ``steps_per_worker`` and
        ``faults`` (one dict per worker lost: ``epoch``, ``step``, ``worker``,
        ``joined``).

    Raises
    ------
    ValueError
        For the local ``fit``'s bad arguments; when no running client is
        there; when ``x``, ``y`` and ``sample_weight`` are chunked differently
        along axis 0.
    WorkerMemoryError
        When the model does not fit a worker's memory limit.
    NonFiniteLossError
        When the loss becomes NaN or infinite (the weights are those from
        before that step).

    Every check runs, and every chunk is checked on its worker, before the
    first step changes the model.
    """
    _import_dask()
    model._require_compiled("fit")
    batch_size, epochs, verbose, seed, steps_per_epoch = check_fit_arguments(
        batch_size, epochs, verbose, shuffle, seed, validation_split, steps_per_epoch
    )
    accumulation = check_int(gradient_accumulation_steps, "gradient_accumulation_steps", 1)
    initial_epoch = check_int(initial_epoch, "initial_epoch", 0)
    user_callbacks = callbacks_module.check_callbacks(callbacks)
    client = _resolve_client(client, True, "fit")
    if class_weight is not None and not model._single_output():
        raise ValueError(
            "class_weight is not supported for models with several outputs (as in "
            "Keras 3); pass sample_weight instead"
        )
    if sample_weight is not None and class_weight is not None:
        raise ValueError("fit: give `sample_weight` or `class_weight`, not both")
    parts = len(_worker_info(client))
    train = _dataset(model, x, y, sample_weight, parts)
    (xs, ys, sw), val_cluster, val_local = _validation(
        model, train, validation_data, validation_split, parts
    )
    _check_not_stateful(model, "fit")
    _build_if_needed(model, xs)
    if val_local is not None:
        outs, _ = model._forward([a[:1] for a in val_local[0]], training=False)
        model._check_all_labels(val_local[1], outs)
    spec = _model_spec(model)
    _check_memory(client, model, spec)
    try:
        trainer = _Trainer(client, model, spec, xs, ys, sw, class_weight)
        _, masks = model._forward([np.zeros((1, *a.shape[1:]), a.dtype) for a in xs], False)
        if len(masks) > 1 and any(mask is not None for mask in masks):
            trainer.count_positions(batch_size)
        val_data = None
        if val_cluster is not None:
            val_data = _Evaluation(
                model, *val_cluster, batch_size, client, trainer.shared, "fit", "validation x"
            )
        return _fit_loop(
            model,
            trainer,
            val_data,
            val_local,
            user_callbacks,
            _BatchStream(xs[0].shape[0], batch_size * accumulation, shuffle, new_generator(seed)),
            batch_size,
            epochs,
            initial_epoch,
            steps_per_epoch,
            verbose,
        )
    finally:
        _release(client, spec.token)


def _fit_loop(
    model,
    trainer,
    val_data,
    val_local,
    user_callbacks,
    stream,
    batch_size,
    epochs,
    initial_epoch,
    steps_per_epoch,
    verbose,
):
    """The local ``fit``'s epochs (:func:`fastrnn.training.run_fit_epochs`),
    with each step's gradients from ``trainer``."""
    state = {"serial": 0, "where": {"epoch": initial_epoch, "step": 0}, "metrics": None}

    def start_epoch():
        state["metrics"] = None

    def train_step(epoch, step, steps, idx):
        micro = [idx[k : k + batch_size] for k in range(0, len(idx), batch_size)]
        state["where"] = where = {"epoch": epoch, "step": step}
        results, normalized = trainer.step(micro, state["serial"], where)
        state["serial"] += 1
        values, grads, rows = _combine_step(model, results, normalized)
        value = _weighted(model, values)
        check_finite_loss(value, epoch, step, steps)
        model.optimizer.apply_gradients(grads, model.trainable_weights)
        state["metrics"] = _add_metrics(state["metrics"], [r["metrics"] for r in results])
        return value, values, rows, state["metrics"]

    def validate():
        if val_data is not None:
            return val_data.run(model.get_weights(), 0)
        if val_local is not None:
            vxs, vys, vsw = val_local
            return model._evaluate_arrays(vxs, vys, batch_size, verbose=0, sample_weight=vsw)
        return None

    history = callbacks_module.History()
    history.distributed = trainer.record
    return run_fit_epochs(
        model,
        stream,
        start_epoch,
        train_step,
        validate,
        batch_size=batch_size,
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        verbose=verbose,
        user_callbacks=user_callbacks,
        history=history,
        # a worker lost after the last step
        before_train_end=lambda: trainer.note_losses(state["where"]),
        stacklevel=4,
    )
