"""Timing: interleaved medians, the GEMM peak, the single step, cold start."""

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

perf = time.perf_counter

#: settle(): seconds between two looks at the threads, and the longest wait.
SETTLE_PROBE_S = 0.001
SETTLE_MAX_S = 0.5


def running_threads():
    """How many of this process's threads, the caller excluded, are on a CPU or want one.

    Reads the state letter of every ``/proc/self/task/*/stat`` (``R``:
    running or runnable; a thread blocked on a lock, a futex or a sleep is
    ``S``). The state changes at once, unlike the threads' CPU times, which
    the kernel brings up to date only at scheduler ticks and context
    switches (every tick: 4 ms at 250 Hz): a spinning thread can look idle
    for that long. Returns None where ``/proc`` is unavailable (not Linux).
    """
    me = str(threading.get_native_id())
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    return sum(_thread_state(tid) == "R" for tid in tids if tid != me)


def _thread_state(tid):
    """The state letter of this process's thread ``tid`` ("" if it has ended)."""
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return ""
    # "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")"
    return stat[stat.rindex(b")") + 2 :][:1].decode()


def settle(probe=SETTLE_PROBE_S, max_wait=SETTLE_MAX_S):
    """Wait until this process's other threads stop using the CPU.

    After a threaded call the worker threads of a runtime keep spinning for
    a while, waiting for more work (PyTorch's OpenMP threads for a few
    milliseconds, OpenBLAS's for up to ``OPENBLAS_THREAD_TIMEOUT``, the Eigen
    pools of TF and XLA briefly; docs/benchmarks.md, "Settle") and take a
    core from whatever runs next. In the interleaved rounds the next thing is another
    system's sample, so ``interleaved`` calls this before each sample: it
    returns as soon as no other thread of the process is running or
    runnable (one look when nothing spins), else looks again
    every ``probe`` seconds, giving up after ``max_wait``. Other processes
    are not considered (``wait_for_quiet`` is about them).

    Parameters
    ----------
    probe : float
        Seconds to sleep between two looks.
    max_wait : float
        Give up after this many seconds (a thread that never stops).

    Returns
    -------
    waited : float
        Seconds spent in the call; 0.0 without ``/proc`` (then a no-op).
    capped : bool
        True if some thread was still busy after ``max_wait``.
    """
    start = perf()
    while True:
        busy = running_threads()
        waited = perf() - start
        if not busy:  # 0, or None: no /proc
            return (0.0 if busy is None else waited), False
        if waited >= max_wait:
            return waited, True
        time.sleep(probe)


def settle_policy(enabled=True):
    """How ``interleaved`` separates the samples, for the JSON."""
    if not enabled:
        return {"method": None, "why": "--no-settle"}
    if running_threads() is None:
        return {"method": None, "why": "no /proc/self/task on this platform"}
    return {
        "method": "before each sample, wait until no other thread of the process is "
        "running or runnable (/proc/self/task/*/stat)",
        "probe_s": SETTLE_PROBE_S,
        "max_wait_s": SETTLE_MAX_S,
    }


def _no_settle():
    return 0.0, False


def interleaved(
    fns,
    repeat=21,
    warmup=3,
    target_sample=0.003,
    max_inner=2000,
    budget=3.0,
    min_samples=3,
    settle=settle,
):
    """Time zero-argument callables side by side.

    Each callable is called once (``first_call_s``: includes any JIT compile
    or tracing), then ``warmup`` more times to estimate its cost, which fixes
    how many calls make one sample (about ``target_sample`` seconds). Then
    ``repeat`` rounds: in each, every callable takes one sample, in an order
    shuffled round by round (seeded), so slow phases of a noisy machine, and
    what one system leaves behind for the next, hit all alike.
    A system that has spent more than ``budget`` seconds in timed samples
    (and has ``min_samples``) sits out the remaining rounds, so one very slow
    system cannot stretch the run; the JSON keeps each system's samples.

    Before each sample (and before each callable's first and warm-up calls)
    ``settle()`` waits until the threads the previous system left spinning
    are idle, so that no system is timed against another one's leftover
    worker threads; pass ``settle=None`` to time back to back.

    Returns {name: {"median_s", "samples_s", "inner", "first_call_s",
    "settle_s", "settle_capped"}} and {name: error message} for callables
    that raised; ``settle_s`` is the time waited before its samples and
    ``settle_capped`` how many of those waits gave up at the cap.
    """
    settle = settle or _no_settle
    results, errors, inner = {}, {}, {}
    live = {}
    for name, fn in fns.items():
        try:
            settle()
            t = perf()
            fn()
            first = perf() - t
            times = []
            settle()
            for _ in range(max(1, warmup)):
                t = perf()
                fn()
                times.append(perf() - t)
                if sum(times) > budget / 2:
                    break
        except Exception as exc:  # report, keep benchmarking the rest
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        live[name] = fn
        est = max(min(times), 1e-7)
        inner[name] = int(max(1, min(max_inner, round(target_sample / est))))
        results[name] = {
            "first_call_s": first,
            "samples_s": [],
            "inner": inner[name],
            "settle_s": 0.0,
            "settle_capped": 0,
        }
    order = list(live)
    spent = dict.fromkeys(order, 0.0)
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    # Each round in its own order, a seeded shuffle: a rotation keeps the
    # cyclic order, so one system would always follow the same other one
    # and pay for what it leaves behind (ONNX Runtime's freed arena means page
    # faults for the next allocations, docs/benchmarks.md, "Settle").
    shuffle = random.Random(0).shuffle
    try:
        for _ in range(repeat):
            round_order = list(order)
            shuffle(round_order)
            for name in round_order:
                if name not in live:
                    continue
                fn, n = live[name], inner[name]
                if spent[name] > budget and len(results[name]["samples_s"]) >= min_samples:
                    continue
                waited, capped = settle()
                results[name]["settle_s"] += waited
                results[name]["settle_capped"] += capped
                try:
                    t = perf()
                    for _ in range(n):
                        fn()
                    dt = perf() - t
                except Exception as exc:
                    errors[name] = f"{type(exc).__name__}: {exc}"
                    del live[name]
                    order.remove(name)
                    results.pop(name, None)
                    continue
                spent[name] += dt
                results[name]["samples_s"].append(dt / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    for res in results.values():
        res["median_s"] = statistics.median(res["samples_s"]) if res["samples_s"] else None
    return results, errors


class CpuMonitor:
    """How many cores other processes kept busy (Linux ``/proc/stat``; else None).

    ``others()`` is the machine's busy CPU time since ``start()`` minus this
    process's own CPU time, divided by the wall time: 0 on an idle machine,
    about 2 when the neighbours keep both cores of a 2-core machine busy.
    """

    def __init__(self):
        try:
            self.hz = os.sysconf("SC_CLK_TCK")
        except (AttributeError, ValueError, OSError):
            self.hz = 100
        self.start()

    @staticmethod
    def _stat():
        try:
            with open("/proc/stat") as fh:
                vals = [int(v) for v in fh.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        return sum(vals) - vals[3] - vals[4]  # busy = total - idle - iowait

    def start(self):
        self.t0, self.p0, self.s0 = perf(), time.process_time(), self._stat()

    def others(self):
        s1 = self._stat()
        if s1 is None or self.s0 is None:
            return None
        wall = perf() - self.t0
        if wall <= 0:
            return None
        busy = (s1 - self.s0) / self.hz
        return max(0.0, (busy - (time.process_time() - self.p0)) / wall)


def wait_for_quiet(max_wait, threshold=0.3, probe=0.5):
    """Wait (up to ``max_wait`` s) until other processes use < ``threshold`` cores.

    Returns (seconds waited, the last measured load of the others).
    """
    mon, waited, load = CpuMonitor(), 0.0, None
    while True:
        mon.start()
        time.sleep(probe)
        load = mon.others()
        waited += probe
        if load is None or load < threshold or waited >= max_wait:
            return waited, load


def gemm_peak(n=2048, repeat=7):
    """float32 n x n x n matmul with NumPy: GFLOP/s, from the median and the best call.

    The bound uses ``best_gflops`` (a peak is the best the machine can do;
    on a shared machine the median reflects the neighbours' load).
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        t = perf()
        np.matmul(a, b, out=out)
        times.append(perf() - t)
    med = statistics.median(times)
    return {
        "n": n,
        "median_s": med,
        "gflops": 2.0 * n**3 / med / 1e9,
        "best_gflops": 2.0 * n**3 / min(times) / 1e9,
    }


_COLD_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import fastrnn
t_import = time.perf_counter() - t0
from fastrnn.layers import LSTM
x = np.random.default_rng(0).standard_normal((1, 10, 4)).astype(np.float32)
t1 = time.perf_counter()
layer = LSTM(8, return_sequences=True, backend="numba")
y = layer(x)
t_first = time.perf_counter() - t1
t2 = time.perf_counter()
layer(x)
t_second = time.perf_counter() - t2
print("COLDSTART " + json.dumps(dict(import_s=t_import, first_call_s=t_first,
                                     second_call_s=t_second,
                                     in_process_s=time.perf_counter() - t0)))
"""


def cold_start(python=None, timeout=600):
    """Fresh processes: import fastrnn + first LSTM call (tiny, numba backend),
    once with an empty NUMBA_CACHE_DIR ("cold") and once after it ("warm")."""
    python = python or sys.executable
    out = {}
    with tempfile.TemporaryDirectory(prefix="fastrnn-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            t = perf()
            proc = subprocess.run(
                [python, "-c", _COLD_SCRIPT],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            wall = perf() - t
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("COLDSTART ")]
            if proc.returncode != 0 or not line:
                out[label] = {
                    "error": (proc.stderr.strip().splitlines() or ["no output"])[-1],
                    "process_wall_s": wall,
                }
                continue
            res = json.loads(line[-1][len("COLDSTART ") :])
            res["process_wall_s"] = wall
            out[label] = res
        out["cache_files"] = sum(len(files) for _, _, files in os.walk(cache))
    return out


def json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
