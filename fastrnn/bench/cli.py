"""``python -m fastrnn bench``: the backend comparison on the standard grid."""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import fastrnn

from .grid import CELLS, DEFAULT_SHAPES, FULL_SHAPES, MODES, SHAPES, mode_flops, parse_cell
from .threads import THREADS, limit_thread_env, restore_env

_PEER_ALIASES = {
    "torch": "torch",
    "pytorch": "torch",
    "tf": "keras",
    "tensorflow": "keras",
    "keras": "keras",
    "jax": "jax",
    "onnxruntime": "onnxruntime",
    "ort": "onnxruntime",
    "onnx": "onnxruntime",
}


def _split(values):
    out = []
    for v in values or []:
        out += [p for p in v.split(",") if p.strip()]
    return [p.strip() for p in out]


def build_parser(parser=None):
    p = parser or argparse.ArgumentParser(prog="fastrnn bench")
    p.description = (
        "Benchmark fastrnn's backends against PyTorch, TensorFlow/Keras, JAX and "
        "ONNX Runtime (when installed) on the standard grid, side by side, "
        f"{THREADS} threads, medians after warm-up."
    )
    p.add_argument("--full", action="store_true", help="add the large shape to the grid")
    p.add_argument(
        "--cells", nargs="+", metavar="CELL", help="cells: simple_rnn,lstm,gru (default: all three)"
    )
    p.add_argument(
        "--shapes",
        nargs="+",
        metavar="SHAPE",
        help=f"shapes from {list(SHAPES)} (default: {','.join(DEFAULT_SHAPES)}; --full: all)",
    )
    p.add_argument("--modes", nargs="+", metavar="MODE", help="forward,train (default: both)")
    p.add_argument(
        "--backends", nargs="+", metavar="NAME", help="fastrnn backends (default: all available)"
    )
    p.add_argument(
        "--peers",
        nargs="+",
        metavar="NAME",
        help="peers to try: torch,tf,jax,onnxruntime (default: all)",
    )
    p.add_argument("--no-peers", action="store_true", help="fastrnn backends only")
    p.add_argument(
        "--repeat", type=int, default=21, help="interleaved rounds (samples per system); default 21"
    )
    p.add_argument("--warmup", type=int, default=3, help="warm-up calls after the first")
    p.add_argument(
        "--budget",
        type=float,
        default=3.0,
        help="seconds of timed samples per system and grid point after which "
        "a slow system stops sampling (it keeps at least 3); default 3",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help=f"threads per framework (default {THREADS}, the standard; 1 gives "
        "steadier numbers when other processes keep the CPUs busy)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each grid point wait up to SECONDS for other processes to "
        "leave the CPUs (< 0.3 cores busy); default 0 (do not wait)",
    )
    p.add_argument(
        "--no-settle",
        action="store_true",
        help="take each sample right after the previous one, without first waiting "
        "for the worker threads the previous system left busy to go idle",
    )
    p.add_argument("--no-step", action="store_true", help="skip the single-step benchmark")
    p.add_argument(
        "--no-packed",
        action="store_true",
        help="skip the packed variable-length LSTM (fastrnn.torch against torch.nn)",
    )
    p.add_argument("--no-cold-start", action="store_true", help="skip the cold-start runs")
    p.add_argument("--no-chart", action="store_true", help="do not write the PNG chart")
    p.add_argument("--out", default="bench-results", help="output directory (bench-results/)")
    return p


def _machine():
    from fastrnn._info import cpu_model

    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
    }
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def _loadavg():
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def _versions(peers):
    import numpy

    v = {"fastrnn": fastrnn.__version__, "numpy": numpy.__version__}
    for mod in ("numba", "scipy", "matplotlib"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:
            pass
    for s in peers:
        v[s.name] = s.version
    return v


def _numba_layer():
    """The threading layer Numba launched (None if Numba is absent or has not launched one)."""
    numba = sys.modules.get("numba")
    try:
        return numba.threading_layer() if numba is not None else None
    except ValueError:  # not launched yet
        return None


def _log(msg, quiet=False):
    if not quiet:
        print(msg, flush=True)


def run(args):
    """Run the benchmark described by parsed ``args``; return the JSON document.

    The thread-count variables and fastrnn's thread count are set for the run
    (``--threads``) and restored afterwards.
    """
    prev_env, notes = limit_thread_env(args.threads)
    prev_threads = fastrnn.get_num_threads()
    try:
        return _run(args, notes)
    finally:
        fastrnn.set_num_threads(prev_threads)
        restore_env(prev_env)


def _run(args, notes):
    import numpy as np  # noqa: F401  (after the thread variables are set)

    from . import runner
    from .threads import limit_runtime_threads

    t_start = time.perf_counter()
    cells, shapes, modes = _grid(args)
    backends, skipped = _fastrnn_backends(args)
    notes += limit_runtime_threads(args.threads)
    fast, bridges, peers = _systems(args, backends, skipped)

    load_start = _loadavg()
    if load_start and load_start[0] > (os.cpu_count() or 1):
        notes.append(
            f"machine busy at start (load average {load_start[0]:.1f} on "
            f"{os.cpu_count()} CPUs): timings are noisy; multi-threaded peers "
            "(torch's OpenMP) suffer most from contention"
        )
        _log("warning: " + notes[-1])
    gemm = runner.gemm_peak()
    _log(
        f"GEMM (float32 2048^3, numpy): best {gemm['best_gflops']:.1f} GFLOP/s, "
        f"median {gemm['gflops']:.1f}"
    )

    data = _document(args, fast, bridges, peers, backends, skipped, notes, gemm)
    settle = None if args.no_settle else runner.settle
    _measure_grid(data, args, cells, shapes, modes, fast, bridges, peers, settle)
    if not args.no_packed:
        data["packed"] = _packed(bridges, peers, modes, args, settle, skipped)
    if not args.no_step:
        data["step"] = _step(fast + peers, args, settle)
    if not args.no_cold_start:
        data["cold_start"] = _cold_start()
    _rebound(data, gemm, runner.gemm_peak())
    data["settle"]["total_s"] = _settle_total(data)
    data["elapsed_s"] = time.perf_counter() - t_start
    data["machine"]["loadavg_start"] = load_start
    data["machine"]["loadavg_end"] = _loadavg()
    _write(data, args)
    return data


def _grid(args):
    """The cells, shapes and modes of ``args``, checked."""
    cells = [parse_cell(c) for c in _split(args.cells)] or list(CELLS)
    shapes = _split(args.shapes) or list(FULL_SHAPES if args.full else DEFAULT_SHAPES)
    if args.full and args.shapes and "large" not in shapes:
        shapes.append("large")
    for s in shapes:
        if s not in SHAPES:
            raise SystemExit(f"Unknown shape {s!r} in --shapes; expected some of {list(SHAPES)}")
    modes = _split(args.modes) or list(MODES)
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"Unknown mode {m!r} in --modes; expected some of {list(MODES)}")
    return cells, shapes, modes


def _fastrnn_backends(args):
    """The fastrnn backends to measure, and {name: why skipped} for the others asked for."""
    available = fastrnn.available_backends()
    # "auto" first: what users get (the planner's choice), the row's headline.
    backends = _split(args.backends) or ["auto", *available]
    skipped = {}
    for b in list(backends):
        if b not in available and b != "auto":
            skipped[b] = f"fastrnn backend not available here (available: {available})"
            backends.remove(b)
    return backends, skipped


def _systems(args, backends, skipped):
    """The fastrnn backends, fastrnn.torch (beside the torch peer) and the peers
    that load; adds the others to ``skipped``."""
    from . import systems as sysmod

    fast = [sysmod.FastrnnSystem(b) for b in backends]
    peers = []
    if args.no_peers:
        skipped.update({n: "--no-peers" for n in sysmod.PEER_NAMES})
    else:
        wanted = [_PEER_ALIASES.get(p.lower(), p) for p in _split(args.peers)] or list(
            sysmod.PEER_NAMES
        )
        for p in wanted:
            if p not in sysmod.PEERS:
                raise SystemExit(f"Unknown peer {p!r} in --peers; expected torch, tf or jax")
        _log("loading peers: " + ", ".join(wanted))
        peers, peer_skipped = sysmod.load_peers(wanted, args.threads)
        skipped.update(peer_skipped)
    bridges = []
    if any(p.name == "torch" for p in peers):
        try:
            bridges.append(sysmod.FastrnnTorchSystem(args.threads))
        except Exception as exc:  # a broken install must not end the benchmark
            skipped["fastrnn.torch"] = f"failed to initialize: {type(exc).__name__}: {exc}"
    else:
        why = skipped.get("torch", "torch not in --peers")
        skipped["fastrnn.torch"] = f"runs beside the torch peer, which is skipped ({why})"
    for name, why in skipped.items():
        _log(f"skipped {name}: {why}")
    return fast, bridges, peers


def _document(args, fast, bridges, peers, backends, skipped, notes, gemm):
    """The JSON document before the measurements: the machine, the build, the settings."""
    from fastrnn._info import machine_line, show_config

    from . import runner

    config = show_config(mode="dicts")
    return {
        "schema": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if getattr(args, "argv", None) is None else list(args.argv),
        "machine": _machine(),
        "machine_line": machine_line(config),
        "config": config,
        "versions": _versions(bridges + peers),
        "threads": args.threads,
        "thread_env": {
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "NUMBA_NUM_THREADS",
                "NUMBA_THREADING_LAYER",
                "OPENBLAS_THREAD_TIMEOUT",
                "OMP_WAIT_POLICY",
            )
        },
        "numba_threading_layer": _numba_layer(),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "budget_s": args.budget,
        "settle": runner.settle_policy(not args.no_settle),
        "systems": [
            {
                "name": s.name,
                "label": s.label,
                "kind": s.kind,
                "threads": getattr(s, "threads", None),
            }
            for s in fast + bridges + peers
        ],
        "fastrnn_backends": backends,
        "skipped": skipped,
        "notes": notes,
        "gemm": gemm,
        "results": [],
    }


def _measure_grid(data, args, cells, shapes, modes, fast, bridges, peers, settle):
    """Time every system at every grid point; append the rows to ``data["results"]``."""
    from . import report, runner
    from . import systems as sysmod

    peak = data["gemm"]["best_gflops"] * 1e9  # re-measured at the end; the bound uses the best
    all_systems = fast + bridges + peers
    total = len(cells) * len(shapes) * len(modes)
    i = 0
    for cell in cells:
        for shape in shapes:
            x = sysmod.make_input(shape)
            for mode in modes:
                i += 1
                fns, errors = {}, {}
                for s in all_systems:
                    try:
                        fns[s.name] = s.make(cell, shape, mode, x)
                    except sysmod.SkipSystem as exc:  # e.g. an inference-only peer's train
                        errors[s.name] = f"n/a: {exc}"
                    except Exception as exc:
                        errors[s.name] = f"setup: {type(exc).__name__}: {exc}"
                waited = 0.0
                if args.wait_quiet > 0:
                    waited, _ = runner.wait_for_quiet(args.wait_quiet)
                monitor = runner.CpuMonitor()
                res, run_errors = runner.interleaved(
                    fns, repeat=args.repeat, warmup=args.warmup, budget=args.budget, settle=settle
                )
                others = monitor.others()
                errors.update(run_errors)
                row = _row(cell, shape, mode, res, errors, fast, peers, peak)
                row["others_cores"] = others
                row["waited_quiet_s"] = waited
                data["results"].append(row)
                _log(
                    f"[{i}/{total}] {cell} {shape} {mode}: "
                    + ", ".join(f"{n} {report.fmt_us(v)}" for n, v in row["medians_s"].items())
                    + "".join(f"; {n} ERROR {e}" for n, e in errors.items())
                )


def _cold_start():
    """Fresh-process import and first call (Numba's cache cold, then warm)."""
    from . import runner

    if "numba" not in fastrnn.available_backends():
        return {"skipped": "numba backend not available"}
    _log("cold start: fresh processes, empty then warm NUMBA_CACHE_DIR ...")
    return runner.cold_start()


def _rebound(data, gemm, gemm_end):
    """Record the closing GEMM peak; if it beats the opening one, recompute every bound."""
    data["gemm_end"] = gemm_end
    if gemm_end["best_gflops"] > gemm["best_gflops"]:
        # the machine was busier at the start: use the better peak for every bound
        new_peak = gemm_end["best_gflops"] * 1e9
        for r in data["results"]:
            r["bound_s"] = r["flops"] / new_peak
            if r["best_fastrnn_s"]:
                r["bound_ratio"] = r["best_fastrnn_s"] / r["bound_s"]
    data["peak_gflops"] = max(gemm["best_gflops"], gemm_end["best_gflops"])


def _write(data, args):
    """Write bench.json, bench.md and bench.png into ``args.out``; print the tables."""
    from . import report, runner

    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "bench.json")
    text = _text(data)
    chart_note = None
    if not args.no_chart:
        chart_note = report.write_chart(data, os.path.join(args.out, "bench.png"))
        if chart_note:
            data["notes"].append(chart_note)
    with open(json_path, "w") as fh:
        json.dump(data, fh, indent=1, default=runner.json_default)
    with open(os.path.join(args.out, "bench.md"), "w") as fh:
        fh.write(text + "\n")
    print()
    print(text)
    if chart_note:
        print(chart_note)
    print(
        f"\nwrote {json_path}, bench.md"
        + ("" if args.no_chart or chart_note else ", bench.png")
        + f" in {args.out}/ ({data['elapsed_s']:.0f} s)"
    )


def _row(cell, shape, mode, res, errors, fast, peers, peak):
    med = {n: r["median_s"] for n, r in res.items() if r.get("median_s") is not None}
    peer_t = {s.name: med[s.name] for s in peers if s.name in med}
    fast_t = {s.name: med[s.name] for s in fast if s.name in med}
    best_peer = min(peer_t, key=peer_t.get) if peer_t else None
    # The headline is "auto" (what users get) when it was measured, else the fastest.
    best_fast = "auto" if "auto" in fast_t else (min(fast_t, key=fast_t.get) if fast_t else None)
    flops = mode_flops(cell, shape, mode)
    bound = flops / peak
    return {
        "cell": cell,
        "shape": shape,
        **SHAPES[shape],
        "mode": mode,
        "flops": flops,
        "bound_s": bound,
        "medians_s": med,
        **_timings(res),
        "errors": errors,
        "best_peer": best_peer,
        "best_peer_s": peer_t.get(best_peer),
        "best_fastrnn": best_fast,
        "best_fastrnn_s": fast_t.get(best_fast),
        "speedup": (peer_t[best_peer] / fast_t[best_fast]) if best_peer and best_fast else None,
        "bound_ratio": (fast_t[best_fast] / bound) if best_fast else None,
        "torch_module_speedup": _torch_module_speedup(med),
    }


#: What ``runner.interleaved`` reports of each system, kept per row.
_TIMING_FIELDS = ("first_call_s", "inner", "samples_s", "settle_s", "settle_capped")


def _timings(res):
    """``runner.interleaved``'s results as ``{field: {system: value}}``."""
    return {field: {n: r[field] for n, r in res.items()} for field in _TIMING_FIELDS}


def _torch_module_speedup(medians):
    """torch.nn's median / fastrnn.torch's (> 1: the twin is faster), or None."""
    if medians.get("torch") and medians.get("fastrnn.torch"):
        return medians["torch"] / medians["fastrnn.torch"]
    return None


def _packed(bridges, peers, modes, args, settle, skipped):
    """The packed variable-length LSTM, fastrnn.torch against torch.nn, in ``modes``."""
    from . import report, runner
    from .grid import PACKED_SHAPE, packed_lengths

    systems = bridges + [p for p in peers if p.name == "torch"]
    if len(systems) < 2:
        why = skipped.get("fastrnn.torch") or skipped.get("torch", "torch not measured")
        return {"skipped": f"needs torch and fastrnn.torch: {why}"}
    lengths = packed_lengths()
    out = {"shape": dict(PACKED_SHAPE), "lengths": lengths.tolist(), "rows": []}
    for mode in modes:
        fns, errors = {}, {}
        for s in systems:
            try:
                fns[s.name] = s.make_packed(mode)
            except Exception as exc:
                errors[s.name] = f"setup: {type(exc).__name__}: {exc}"
        res, run_errors = runner.interleaved(
            fns, repeat=args.repeat, warmup=args.warmup, budget=args.budget, settle=settle
        )
        errors.update(run_errors)
        medians = {n: r["median_s"] for n, r in res.items() if r.get("median_s") is not None}
        out["rows"].append(
            {
                "mode": mode,
                "medians_s": medians,
                **_timings(res),
                "errors": errors,
                "speedup": _torch_module_speedup(medians),
            }
        )
        _log(
            f"packed LSTM {mode}: "
            + ", ".join(f"{n} {report.fmt_us(v)}" for n, v in medians.items())
            + "".join(f"; {n} ERROR {e}" for n, e in errors.items())
        )
    return out


def _settle_total(data):
    """Seconds ``settle`` waited before the samples, over the grid, the packed
    rows and the step."""
    grid = sum(sum(r["settle_s"].values()) for r in data["results"])
    packed = sum(sum(r["settle_s"].values()) for r in data.get("packed", {}).get("rows", []))
    return grid + packed + sum(r.get("settle_s", 0.0) for r in data.get("step", {}).values())


def _step(all_systems, args, settle):
    from . import runner
    from .systems import SkipSystem

    fns, out = {}, {}
    for s in all_systems:
        label = s.label
        try:
            fns[label] = s.make_step()
        except SkipSystem as exc:
            out[label] = {"skipped": str(exc)}
        except Exception as exc:
            out[label] = {"skipped": f"setup failed: {type(exc).__name__}: {exc}"}
    res, errors = runner.interleaved(
        fns, repeat=args.repeat, warmup=max(args.warmup, 10), budget=args.budget, settle=settle
    )
    for label, r in res.items():
        out[label] = {
            "median_s": r["median_s"],
            "first_call_s": r["first_call_s"],
            "inner": r["inner"],
            "samples_s": r["samples_s"],
            "settle_s": r["settle_s"],
            "settle_capped": r["settle_capped"],
        }
    for label, e in errors.items():
        out[label] = {"skipped": f"error: {e}"}
    return out


def _fmt_load(load):
    return "?" if not load else f"{load[0]:.1f}"


def _text(data):
    """The printed report (bench.md): each table headed by the machine line."""
    from . import report

    def headed(table):
        return ["", data["machine_line"], "", table]

    def section(label, result, table):
        """A measured section's table, or the reason it was skipped (nothing if not run)."""
        if not result:
            return []
        if "skipped" in result:
            return ["", f"{label} skipped: {result['skipped']}"]
        return headed(table(result))

    parts = [
        f"fastrnn bench: {data['threads']} threads, "
        f"median of up to {data['repeat']} interleaved samples; times in µs unless marked; "
        f"GEMM peak {data['peak_gflops']:.1f} GFLOP/s (best float32 2048^3 matmul); "
        f"load average {_fmt_load(data['machine'].get('loadavg_start'))} at start, "
        f"{_fmt_load(data['machine'].get('loadavg_end'))} at end",
        *headed(report.results_table(data)),
    ]
    if data["skipped"]:
        parts += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in data["skipped"].items())]
    errs = [
        (r["cell"], r["shape"], r["mode"], n, e)
        for r in data["results"]
        for n, e in r["errors"].items()
    ]
    if errs:
        parts += ["", "Errors:"] + [f"- {c} {s} {m} {n}: {e}" for c, s, m, n, e in errs]
    parts += section("Packed LSTM", data.get("packed"), report.packed_table)
    if "step" in data:
        parts += headed(report.step_table(data["step"]))
    parts += section("Cold start", data.get("cold_start"), report.cold_table)
    if data["notes"]:
        parts += ["", "Notes: " + "; ".join(data["notes"])]
    return "\n".join(parts)


def main(argv=None):
    """``python -m fastrnn bench`` with ``argv`` (the words after ``bench``)."""
    args = build_parser().parse_args(argv)
    args.argv = argv
    run(args)
    return 0
