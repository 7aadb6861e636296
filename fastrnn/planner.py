"""What backend ``"auto"`` runs a call on: decided by measurement, remembered.

A call signature is (cell, dtype, mode, shape bucket): ``mode`` is
"forward" (inference) or "train" (forward recorded, then backward); the
bucket rounds batch, timesteps, features and units up to powers of two.
The first time a signature is seen, each compiled backend available runs
the call's shapes a few times (the real batch, features and units; as many
timesteps as keep a trial near :data:`TRIAL_MULTIPLY_ADDS`, at least
:data:`MIN_TRIAL_STEPS`, and twice as many, extrapolated to the real
length), interleaved, and the fastest by its best times wins, unless the
prior (the first available of :data:`fastrnn.backends.AUTO_ORDER`) is
within :data:`KEEP_PRIOR_MARGIN` of it. The choice is kept in memory and
in a small JSON file (like FFTW's wisdom or cuDNN's benchmark mode):

    ``$FASTRNN_CACHE_DIR/plans-<key>.json``, else
    ``$XDG_CACHE_HOME/fastrnn/...`` or ``~/.cache/fastrnn/...``,

where ``<key>`` names the machine (CPU model and features, the Cython
backend's dispatched instruction set) and the versions of fastrnn and
Numba, so another machine or release measures again. A directory that
cannot be written only costs the file: choices then last for the process.

``python -m fastrnn tune`` measures the benchmark grid up front.
``FASTRNN_AUTO=static`` (or :func:`set_policy`) turns measuring off:
``"auto"`` is then the prior everywhere. Either way ``set_backend`` and a
layer's ``backend=`` pin a backend; "auto" results are not bit-identical
across machines, because the backend may differ.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import tempfile
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np

from . import __version__, backends

__all__ = [
    "MIN_TRIAL_STEPS",
    "TRIAL_MULTIPLY_ADDS",
    "KEEP_PRIOR_MARGIN",
    "cache_path",
    "choose",
    "clear",
    "get_policy",
    "set_policy",
    "signature",
]

#: A trial runs about this many multiply-adds (whole sequences when smaller).
TRIAL_MULTIPLY_ADDS = 1 << 25
#: Timesteps of a truncated trial at least.
MIN_TRIAL_STEPS = 4
#: Repetitions per candidate, interleaved, after one untimed warm-up each.
REPEATS = 3
#: The prior stays the choice when it is at most this much slower than the fastest.
KEEP_PRIOR_MARGIN = 0.05
POLICIES = ("measure", "static")

_lock = threading.RLock()
_choices: dict[str, str] = {}  # signature -> backend name, for this process
_loaded_file: str | None = None
_policy: str | None = None


def get_policy() -> str:
    """``"measure"`` (the default) or ``"static"`` (``FASTRNN_AUTO``, :func:`set_policy`)."""
    global _policy
    if _policy is None:
        value = os.environ.get("FASTRNN_AUTO", "measure").strip().lower() or "measure"
        if value not in POLICIES:
            raise ValueError(f"FASTRNN_AUTO must be one of {list(POLICIES)}; got {value!r}")
        _policy = value
    return _policy


def set_policy(policy: str) -> None:
    """Measure new signatures (``"measure"``) or always take the prior (``"static"``).

    Plans made before keep their backend; ``set_backend`` makes them anew.
    """
    global _policy
    if policy not in POLICIES:
        raise ValueError(f"`policy` must be one of {list(POLICIES)}; got {policy!r}")
    _policy = policy


def _bucket(n: int) -> int:
    """``n`` rounded up to a power of two (0 stays 0)."""
    return 0 if n <= 0 else 1 << (int(n) - 1).bit_length()


def signature(cell: str, mode: str, shape: tuple[int, int, int], dtype: Any, units: int) -> str:
    """The key of a call: ``"lstm/float32/forward/b32/t64/f128/u128"``."""
    batch, timesteps, features = shape
    return (
        f"{cell}/{np.dtype(dtype).name}/{mode}/b{_bucket(batch)}/t{_bucket(timesteps)}"
        f"/f{_bucket(features)}/u{_bucket(units)}"
    )


@functools.lru_cache(maxsize=1)
def _machine_key() -> tuple[str, str]:
    """(a short hash, the text it hashes): machine, dispatch and versions (once
    per process: the backends are loaded first, so the key is complete)."""
    from . import _info

    backends.available_backends()

    parts = [f"fastrnn {__version__}", _info.cpu_model(), " ".join(sorted(_info.cpu_features()))]
    try:
        import numba

        parts.append(f"numba {numba.__version__}")
    except ImportError:
        parts.append("no numba")
    cython = backends._loaded.get("cython")
    if cython is not None and hasattr(cython, "build_info"):
        parts.append(f"cython dispatch {cython.build_info().get('dispatch')}")
    text = " | ".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16], text


def cache_path() -> str:
    """The file the choices of this machine and version are kept in."""
    directory = os.environ.get("FASTRNN_CACHE_DIR", "").strip()
    if not directory:
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        directory = os.path.join(base, "fastrnn")
    return os.path.join(directory, f"plans-{_machine_key()[0]}.json")


def _read_file(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        choices = data.get("choices", {})
    except (OSError, ValueError, AttributeError):
        return {}
    known = set(backends.BACKEND_NAMES)
    return {
        str(k): v["backend"]
        for k, v in choices.items()
        if isinstance(v, dict) and v.get("backend") in known
    }


def _write_file(path: str, entries: dict[str, dict]) -> None:
    """Merge ``entries`` into the file (atomically); a directory that cannot
    be written is skipped."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or not isinstance(data.get("choices"), dict):
            data = {"choices": {}}
        data["machine"] = _machine_key()[1]
        data["choices"].update(entries)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".plans-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass


def _load_choices() -> None:
    global _loaded_file
    path = cache_path()
    if _loaded_file != path:
        _choices.update(_read_file(path))
        _loaded_file = path


def clear(memory: bool = True, file: bool = False) -> None:
    """Forget the choices made (in this process; on disk too with ``file=True``)."""
    global _loaded_file
    with _lock:
        if memory:
            _choices.clear()
            _loaded_file = None
        if file:
            try:
                os.remove(cache_path())
            except OSError:
                pass


def _prior() -> str:
    return backends.auto_choice()


def _candidates() -> list[str]:
    available = backends.available_backends()
    compiled = [name for name in backends.AUTO_ORDER if name in available and name != "numpy"]
    return compiled or ["numpy"]


def trial_steps(shape: tuple[int, int, int], units: int, gates: int) -> int:
    """Timesteps of a trial of ``shape``: the whole sequence when it is small."""
    batch, timesteps, features = shape
    per_step = max(1, batch * gates * units * (units + features))
    return int(min(timesteps, max(MIN_TRIAL_STEPS, TRIAL_MULTIPLY_ADDS // per_step)))


def _runner(module: ModuleType, cell: str, mode: str, x, weights, units: int, options):
    from . import ops

    plan = ops.ForwardPlan(cell, x.shape, x.dtype, units, options, module)
    if mode == "forward":
        return lambda: plan(x, None, weights, None, False)
    d_outputs = np.ones((x.shape[0], x.shape[1], units), x.dtype)
    no_state_grads = [None] * len(ops.CELLS[cell].state_names)

    def train():
        record = plan.record(x, None, None, weights)
        ops.recurrent_backward(record, d_outputs, no_state_grads)

    return train


def _best_times(runs: dict[str, Any]) -> dict[str, float]:
    """Best seconds of each run over :data:`REPEATS` interleaved repetitions, after
    one untimed warm-up each (compiled-code caches, scratch, page faults)."""
    best = dict.fromkeys(runs, float("inf"))
    for run in runs.values():
        run()
    for _ in range(REPEATS):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(
    cell: str, mode: str, shape: tuple[int, int, int], dtype: Any, units: int, options
) -> dict[str, float]:
    """Seconds per candidate backend for the call, from trials of its shapes.

    A sequence longer than a trial is timed at ``s`` and ``2 s`` steps
    (``s`` from :func:`trial_steps`) and extrapolated linearly to its length,
    so that what a call pays once (packing weights, starting threads) weighs
    as much as in the real call.
    """
    from . import ops

    gates = ops.CELLS[cell].gates
    batch, timesteps, features = shape
    steps = trial_steps(shape, units, gates)
    lengths = [steps] if steps >= timesteps else [steps, min(timesteps, 2 * steps)]
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(units + features)
    x = (0.5 * rng.standard_normal((batch, lengths[-1], features))).astype(dtype)
    kernel = (scale * rng.standard_normal((features, gates * units))).astype(dtype)
    recurrent = (scale * rng.standard_normal((units, gates * units))).astype(dtype)
    bias = np.zeros((2, gates * units) if cell == "gru" else (gates * units,), dtype)
    weights = (kernel, recurrent, bias)
    modules = {name: backends.resolve_backend(name) for name in _candidates()}
    per_length = []
    for length in lengths:
        trial = np.ascontiguousarray(x[:, :length])
        runs = {
            name: _runner(module, cell, mode, trial, weights, units, options)
            for name, module in modules.items()
        }
        per_length.append(_best_times(runs))
    if len(lengths) == 1:
        return per_length[0]
    (s1, s2), (t1, t2) = lengths, per_length
    return {
        name: max(t1[name], t1[name] + (t2[name] - t1[name]) * (timesteps - s1) / (s2 - s1))
        for name in t1
    }


def _decide(times: dict[str, float]) -> str:
    fastest = min(times, key=times.__getitem__)
    prior = _prior()
    if prior in times and times[prior] <= times[fastest] * (1 + KEEP_PRIOR_MARGIN):
        return prior
    return fastest


def choose(
    cell: str, mode: str, shape: tuple[int, int, int], dtype: Any, units: int, options
) -> ModuleType:
    """The kernel module ``"auto"`` runs this call on (measuring it if new)."""
    if get_policy() == "static" or min(shape[0], shape[1]) <= 0 or len(_candidates()) < 2:
        return backends.resolve_backend(_prior())
    key = signature(cell, mode, shape, dtype, units)
    with _lock:
        _load_choices()
        name = _choices.get(key)
        if name is None or name not in backends.available_backends():
            name, _ = _measure_and_keep(key, cell, mode, shape, dtype, units, options)
    return backends.resolve_backend(name)


def _measure_and_keep(key, cell, mode, shape, dtype, units, options):
    """Measure signature ``key``, keep the choice in memory and in the file;
    (the backend chosen, the seconds per candidate). Call with ``_lock`` held."""
    times = measure(cell, mode, shape, dtype, units, options)
    name = _choices[key] = _decide(times)
    entry = {"backend": name, "seconds": {k: float(f"{v:.4g}") for k, v in times.items()}}
    _write_file(cache_path(), {key: entry})
    return name, times


def tune(
    cells: tuple[str, ...] | None = None,
    shapes: tuple[str, ...] | None = None,
    dtypes: tuple[str, ...] = ("float32",),
    remeasure: bool = False,
) -> list[dict[str, Any]]:
    """Measure the benchmark grid up front (``python -m fastrnn tune``).

    Parameters
    ----------
    cells, shapes : tuple of str, optional
        From ``fastrnn.bench.CELLS`` and ``fastrnn.bench.SHAPES`` (default: all).
    dtypes : tuple of str
    remeasure : bool
        Measure signatures already chosen again.

    Returns
    -------
    list of dict
        Per signature: ``signature``, ``backend`` and ``seconds`` per candidate
        (empty when the choice came from the file).
    """
    from . import ops
    from .bench.grid import CELLS, FULL_SHAPES, MODES, SHAPES

    # Keras's default activations, the options every grid row runs with.
    options = ops.KernelOptions(1, 2, True, False, False)
    rows = []
    with _lock:
        _load_choices()
        grid = itertools.product(cells or CELLS, shapes or FULL_SHAPES, dtypes, MODES)
        for cell, shape_name, dtype, mode in grid:
            s = SHAPES[shape_name]
            shape, units = (s["batch"], s["timesteps"], s["input_dim"]), s["units"]
            key = signature(cell, mode, shape, dtype, units)
            times: dict[str, float] = {}
            if remeasure or key not in _choices:
                _, times = _measure_and_keep(key, cell, mode, shape, dtype, units, options)
            rows.append({"signature": key, "backend": _choices[key], "seconds": times})
    return rows
