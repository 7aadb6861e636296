"""``python -m fastrnn`` / the ``fastrnn`` command.

Subcommands:
    info    what this build runs on: backends, CPU, compilers, threads, BLAS
            (:func:`fastrnn.show_config`); ``--json`` prints it as JSON
    bench   benchmark the backends against PyTorch, TensorFlow/Keras, JAX and ONNX Runtime
            (see docs/benchmarks.md; ``python -m fastrnn bench --help``)
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


_COMMANDS = {"info": _info, "bench": _bench}


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
