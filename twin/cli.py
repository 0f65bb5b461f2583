"""The ``twin`` console script: one entry point, one module per subcommand.

Each module in :mod:`twin.commands` exposes ``add_parser(subparsers)`` and
``run(args) -> int``; heavy imports (jax, flax) stay inside ``run`` so that
``twin --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand name -> module in twin.commands, in the order ``twin --help`` lists them.
COMMANDS = {
    "simulate": "simulate",
    "reconstruct": "reconstruct",
    "measure": "measure",
    "dataset": "dataset",
    "train": "train",
    "enhance": "enhance",
    "evaluate": "evaluate",
    "run": "run",
    "calibrate": "calibrate",
    "optimize": "optimize",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twin",
        description="Digital twin of an optical-lens-coupled X-ray micro-imaging system.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in COMMANDS.items():
        importlib.import_module(f"twin.commands.{module}").add_parser(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"twin {version('xray-lens-twin')}"
    except PackageNotFoundError:
        return "twin (not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line naming the problem and exit with status 2."""
    from twin.console import UserError, print_error

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        print_error("interrupted; finished work is kept and a re-run resumes it")
        return 130


if __name__ == "__main__":
    sys.exit(main())
