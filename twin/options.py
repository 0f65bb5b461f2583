"""Command-line option types and output-path checks shared by the subcommands.

Types raise :class:`argparse.ArgumentTypeError`, which the parser reports as one line
``twin: error: --option: ...`` (exit 2). Output paths are checked before any work
starts, so a wrong ``--out`` costs nothing and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from physics.errors import OptionError


def _integer(text: str, *, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _integer(text, low=1, what="a positive integer")


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _integer(text, low=0, what="an integer >= 0")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def quantity(unit: str, *, positive: bool = True):
    """An argparse type for a unit string (e.g. ``"0.406 um"``), returning a float in ``unit``."""

    def parse(text: str) -> float:
        from physics.units import UnitError, to_float

        try:
            return to_float(text, unit, key="value", min_value=0.0, inclusive_min=not positive)
        except UnitError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    parse.__name__ = f"quantity in {unit}"
    return parse


def output_file(path, *, key: str = "--out") -> Path:
    """Check that ``path`` can be written as a file (not a folder; its parent not a file)."""
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"{key} {os.fspath(path)}: is a folder; expected a file name")
    _check_parents(path, key)
    return path


def output_dir(path, *, key: str = "--out") -> Path:
    """Check that ``path`` is (or can become) a folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OptionError(f"{key} {os.fspath(path)}: is a file; expected a folder")
    _check_parents(path, key)
    return path


def _check_parents(path: Path, key: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OptionError(f"{key} {os.fspath(path)}: {os.fspath(parent)} is a file, not a folder")
            break
