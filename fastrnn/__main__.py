"""``python -m fastrnn`` / the ``fastrnn`` command.

Subcommands:
    info    what this build runs on: backends, CPU, compilers, threads, BLAS
            (:func:`fastrnn.show_config`); ``--json`` prints it as JSON
    bench   benchmark the backends against PyTorch, TensorFlow/Keras, JAX and ONNX Runtime
            (see docs/benchmarks.md; ``python -m fastrnn bench --help``)
    tune    measure what "auto" runs each benchmark-grid signature on, up front
            (:func:`fastrnn.planner.tune`; ``python -m fastrnn tune --help``)
"""

import argparse
import sys

USAGE = """usage: fastrnn <command> [options]

commands:
  info     what this build runs on: the backends and whether they are available,
           the CPU and its SIMD features, compilers, threads, kernel settings and
           BLAS (fastrnn.show_config()); `fastrnn info --json` prints it as JSON
  bench    benchmark fastrnn's backends (and PyTorch, TensorFlow/Keras, JAX, ONNX
           Runtime when installed) on the standard grid; `fastrnn bench --help`
  tune     measure the backend "auto" takes for each signature of the grid and keep
           it in the plans file (fastrnn.planner); `fastrnn tune --help`
"""


def _info(argv):
    import json

    from fastrnn._info import show_config

    parser = argparse.ArgumentParser(
        prog="fastrnn info",
        description="Show what this fastrnn build runs on (fastrnn.show_config()).",
    )
    parser.add_argument("--json", action="store_true", help="print the information as JSON")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(show_config(mode="dicts"), indent=2))
    else:
        show_config()
    return 0


def _bench(argv):
    # Import the bench package only now: it sets the thread-count variables
    # before NumPy, Numba or any peer library is imported.
    from fastrnn.bench.cli import build_parser, run

    args = build_parser(argparse.ArgumentParser(prog="fastrnn bench")).parse_args(argv)
    args.argv = argv
    run(args)
    return 0


def _tune(argv):
    from fastrnn import planner
    from fastrnn.bench.grid import CELLS, FULL_SHAPES, parse_cell

    parser = argparse.ArgumentParser(
        prog="fastrnn tune",
        description='Measure which backend "auto" runs each signature of the benchmark '
        "grid on, and keep the choices in the plans file (fastrnn.planner).",
    )
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated cells")
    parser.add_argument("--shapes", default=",".join(FULL_SHAPES), help="comma-separated shapes")
    parser.add_argument("--dtypes", default="float32", help="float32, float64 or both")
    parser.add_argument(
        "--remeasure", action="store_true", help="measure signatures already in the file again"
    )
    args = parser.parse_args(argv)
    cells = tuple(parse_cell(c) for c in args.cells.split(",") if c)
    shapes = tuple(s.strip() for s in args.shapes.split(",") if s.strip())
    unknown = [s for s in shapes if s not in FULL_SHAPES]
    if unknown:
        parser.error(
            f"unknown shape(s) {unknown} in --shapes; expected some of {list(FULL_SHAPES)}"
        )
    dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    if not set(dtypes) <= {"float32", "float64"}:
        parser.error(f"--dtypes must be float32, float64 or both; got {args.dtypes!r}")
    planner.set_policy("measure")
    print(f"plans file: {planner.cache_path()}")
    for row in planner.tune(cells, shapes, dtypes, remeasure=args.remeasure):
        times = ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in row["seconds"].items())
        print(f"{row['signature']:<44} {row['backend']:<8} {times or '(from the file)'}")
    return 0


_COMMANDS = {"info": _info, "bench": _bench, "tune": _tune}


def main(argv=None):
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in _COMMANDS:
        return _COMMANDS[command](rest)
    print(f"fastrnn: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
