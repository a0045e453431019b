"""``mlh-ipi`` console script: one subcommand per module in this package.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and
sets ``func`` to a callable taking the parsed ``argparse.Namespace``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mlh_ipi.threads import configure_threads

# subcommand modules, in data-flow order; each one is imported only when listed here
SUBCOMMANDS = (
    "mlh_ipi.cli.build",
    "mlh_ipi.cli.label",
    "mlh_ipi.cli.serve",
    "mlh_ipi.cli.train_h",
    "mlh_ipi.cli.eval_h",
    "mlh_ipi.cli.single_point",
    "mlh_ipi.cli.train_mace",
    "mlh_ipi.cli.al_mace",
    "mlh_ipi.cli.al_mlh",
    "mlh_ipi.cli.md",
    "mlh_ipi.cli.stream",
    "mlh_ipi.cli.formation",
    "mlh_ipi.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlh-ipi", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenMP/BLAS/torch threads (default: cores available)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S")
    configure_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # clear one-line message for bad input; tracebacks with -v
        if args.verbose:
            raise
        print(f"mlh-ipi {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
