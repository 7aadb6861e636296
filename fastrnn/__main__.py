"""``python -m fastrnn`` / the ``fastrnn`` command.

Subcommands:
    bench   benchmark the backends against PyTorch, TensorFlow/Keras and JAX
            (see docs/benchmarks.md; ``python -m fastrnn bench --help``)
"""
import sys

USAGE = """usage: fastrnn <command> [options]

commands:
  bench    benchmark fastrnn's backends (and PyTorch, TensorFlow/Keras, JAX when
           installed) on the standard grid; `fastrnn bench --help` for options
"""


def main(argv=None):
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "bench":
        # Import the bench package only now: it sets the thread-count variables
        # before NumPy, Numba or any peer library is imported.
        from fastrnn.bench.cli import build_parser, run
        import argparse
        args = build_parser(argparse.ArgumentParser(prog="fastrnn bench")).parse_args(rest)
        args.argv = rest
        run(args)
        return 0
    print(f"fastrnn: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
