"""Console helpers shared by the subcommands: errors, JSON output and progress bars."""

from __future__ import annotations

import contextlib
import json
import sys

from physics.errors import InputError

#: Exceptions that are the user's input being wrong (reported as one line, exit 2).
UserError = (InputError,)


def print_error(message: str) -> None:
    """Print ``twin: error: <message>`` on one line of stderr."""
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"twin: error: {text}", file=sys.stderr)


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for a user-caused failure, or None for an internal error.

    User-caused: any :class:`physics.errors.InputError`; an ``OSError`` naming a file
    (missing, permission, a folder where a file is expected, disk full); a damaged
    archive (``zipfile.BadZipFile``, ``EOFError`` from a truncated ``.npz``);
    ``MemoryError`` (the machine could not give what the budget allowed).
    """
    import zipfile

    from twin.sweep import SweepPointError

    if isinstance(exc, SweepPointError):  # a sweep point failed: the cause decides
        inner = user_error_message(exc.__cause__) if exc.__cause__ is not None else None
        return None if inner is None else f"{str(exc).split(' failed: ')[0]}: {inner}"
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno is not None):
        name = exc.filename2 if exc.filename2 is not None else exc.filename
        what = exc.strerror or type(exc).__name__
        return f"{name}: {what}" if name is not None else what
    if isinstance(exc, (zipfile.BadZipFile, EOFError)):
        return f"damaged archive ({exc.__class__.__name__}); delete or replace the file named above"
    if isinstance(exc, MemoryError):
        return ("out of memory: the machine could not provide the memory this needs; lower "
                "--max-memory or the sizes of the inputs")
    return None


def check_finite(result, what: str) -> None:
    """Refuse a result (nested dicts/lists of numbers) holding NaN or inf, naming ``what``."""
    import math

    from physics.errors import ResultError

    def finite(v) -> bool:
        if isinstance(v, dict):
            return all(finite(x) for x in v.values())
        if isinstance(v, (list, tuple)):
            return all(finite(x) for x in v)
        return not isinstance(v, float) or math.isfinite(v)

    if not finite(result):
        raise ResultError(f"{what} came out NaN or inf; nothing reported (check the inputs)")


def emit(result: dict, *, as_json: bool, title: str = "") -> None:
    """Print ``result`` as JSON (``--json``) or as a readable table."""
    if as_json:
        print(json.dumps(result, indent=2, default=_default))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None, show_header=True)
    table.add_column("quantity")
    table.add_column("value")
    for key, value in _flatten(result):
        table.add_row(key, _fmt(value))
    Console().print(table)


def _flatten(d, prefix=""):
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and set(v) == {"value", "unit"}:
            yield name, f"{_fmt(v['value'])} {v['unit']}".strip()
        elif isinstance(v, dict):
            yield from _flatten(v, name + ".")
        elif isinstance(v, list) and len(v) > 8:
            yield name, f"[{len(v)} values]"
        else:
            yield name, v


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list) and len(v) <= 8:
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _default(o):
    import numpy as np

    if hasattr(o, "tolist"):
        return np.asarray(o).tolist()
    return str(o)


@contextlib.contextmanager
def progress(description: str, total: int, *, enabled: bool = True):
    """A rich progress bar; yields ``advance(n=1, **fields)``. Silent when disabled."""
    if not enabled:
        yield lambda n=1, **_: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str = "") -> None:
            bar.update(task, advance=n, info=info)

        yield advance
