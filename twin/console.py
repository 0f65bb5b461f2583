"""Console helpers shared by the subcommands: errors, JSON output and progress bars."""

from __future__ import annotations

import contextlib
import json
import sys

from physics.imageio import ImageFileError
from physics.units import UnitError

#: Exceptions that are the user's input being wrong (reported as one line, exit 2).
UserError = (ValueError, FileNotFoundError, UnitError, ImageFileError)


def print_error(message: str) -> None:
    print(f"twin: error: {message}", file=sys.stderr)


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
