"""The ``twin`` console script: one entry point, one module per subcommand.

Each module in :mod:`twin.commands` exposes ``add_parser(subparsers)`` and
``run(args) -> int``; heavy imports (jax, flax) stay inside ``run`` so that
``twin --help`` answers at once.

Exit status: 0 on success; 2 for a user error (a :class:`physics.errors.InputError`,
or an OS or archive error on a file the user named), printed as one line
``twin: error: <file or key>: <what>``; 1 for an internal error (a bug), printed
with its traceback and a request to report it; 130 when interrupted.
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

ISSUES_URL = "https://github.com/xray-lens-twin/xray-lens-twin/issues"


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` once, only for options with a real default not already stated."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is False
                or default == [] or default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class TwinParser(argparse.ArgumentParser):
    """ArgumentParser with one help style and one-line usage errors (``twin: error: ...``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # noqa: D102 - argparse hook
        from twin.console import print_error

        if message.startswith("argument "):
            message = message[len("argument "):]
        print_error(f"{message} (see {self.prog} --help)")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = TwinParser(
        prog="twin",
        description="Digital twin of an optical-lens-coupled X-ray micro-imaging system.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=TwinParser)
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
    """Run the CLI and return its exit status (see the module docstring)."""
    from twin.console import print_error, user_error_message

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return int(exc.code or 0)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print_error("interrupted; finished work is kept and a re-run resumes it")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that sorts every failure
        message = user_error_message(exc)
        if message is not None:
            print_error(message)
            return 2
        import traceback

        traceback.print_exc()
        print(f"twin: internal error ({type(exc).__name__}); this is a bug in twin, not in your "
              f"input. Please report it with the command line and the traceback above at "
              f"{ISSUES_URL}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
