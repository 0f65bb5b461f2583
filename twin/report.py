"""Writing a scenario's answer: ``report.md`` for people, ``results.json`` for programs.

Both files are rendered from the same values: a table cell holding a :class:`Quantity`
is formatted into the markdown and written with full precision and its unit into
results.json, so the two cannot disagree. :func:`verify_report` checks that from the
files alone (parsing the markdown tables back with :func:`read_tables` and
:func:`parse_value`).

Example
-------
>>> rep = Report("Published system", "Which chart groups does the twin resolve?")
>>> rep.add_setup("focal spot size", Quantity(40.0, "um"), "assumed: middle of 30-55 um (paper)")
>>> c = rep.result(("chart", "before", "1.0", "contrast"), 0.123)
>>> rep.add_table("Chart before the network", ["line width", "contrast"], [["1.0 um", c]])
>>> rep.add_conclusion("The 1 um group is not resolved before the network.")
>>> rep.write(out_dir)  # doctest: +SKIP

Numbers are shown with 4 significant digits by default; a non-finite value is shown as
``n/a`` and written as ``null``. Units are spelled as in scenario files (``um``, ``keV``).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from physics.imageio import atomic_path, read_json

REPORT_NAME = "report.md"
RESULTS_NAME = "results.json"
#: results.json key holding the report's own content (setup, tables, figures, conclusions).
REPORT_KEY = "report"
_FIGURE_FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class Quantity:
    """A number with its unit and the significant digits the report shows.

    Parameters
    ----------
    value : float, int, bool or None
        None (or a non-finite float) means "not available" and is shown as ``n/a``.
    unit : str
        Unit as in scenario files (``"um"``, ``"keV"``, ``"s"``); ``""`` for none.
    digits : int
        Significant digits shown in report.md (results.json keeps full precision).
    """

    value: float | int | bool | None
    unit: str = ""
    digits: int = 4

    def __post_init__(self):
        value = self.value
        if isinstance(value, np.generic):
            object.__setattr__(self, "value", value.item())
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise ValueError(f"Quantity value: expected a number, bool or None, got {value!r}")
        if not isinstance(self.unit, str):
            raise ValueError(f"Quantity unit: expected a string like 'um', got {self.unit!r}")
        if isinstance(self.digits, bool) or not isinstance(self.digits, int) or not 1 <= self.digits <= 17:
            raise ValueError(f"Quantity digits: expected an integer in 1..17, got {self.digits!r}")

    def __str__(self) -> str:
        text = format_number(self.value, digits=self.digits)
        numeric = text not in ("n/a", "yes", "no")
        return f"{text} {self.unit}" if self.unit and numeric else text

    def to_json(self) -> Any:
        """``{"value": v, "unit": u}`` with a unit, the bare value without one."""
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return {"value": value, "unit": self.unit} if self.unit else value


def format_number(value, *, digits: int = 4) -> str:
    """How report.md shows a value: ``yes``/``no``, integers in full, floats to ``digits``
    significant digits (trailing zeros kept), ``n/a`` for None and non-finite values."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    # "#" keeps trailing zeros (0.5000 says four digits were measured), then drop a bare ".".
    mantissa, e, exponent = f"{value:#.{digits}g}".partition("e")
    return mantissa.rstrip(".") + e + exponent


@dataclass(frozen=True)
class ShownValue:
    """A value as read back from report.md: the number, its unit, and half a unit in the
    last shown digit (the rounding the display allows)."""

    value: float | bool | None
    unit: str = ""
    tolerance: float = 0.0

    def agrees(self, value) -> bool:
        """Whether ``value`` (as stored in results.json) is what this cell shows."""
        if value is None or isinstance(value, bool) or self.value is None or isinstance(self.value, bool):
            return self.value is value  # None, True and False are singletons
        # A tie rounded to even sits exactly half a step away: allow the floats' own error.
        slack = 4 * math.ulp(max(abs(value), abs(self.value)))
        return abs(self.value - value) <= self.tolerance + slack


_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\s+(\S.*))?$")


def parse_value(text: str) -> ShownValue | None:
    """Parse a report.md cell back: ``"1.235 um"``, ``"0.5"``, ``"yes"``, ``"n/a"``.

    Returns None for a cell that is text rather than a value.
    """
    text = text.strip()
    if text in ("yes", "no"):
        return ShownValue(text == "yes")
    if text == "n/a":
        return ShownValue(None)
    match = _NUMBER.match(text)
    if match is None:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    half_step = 0.5 * 10.0 ** number.as_tuple().exponent
    return ShownValue(float(number), match.group(2) or "", half_step)


def read_tables(markdown: str) -> dict[str, list[dict[str, str]]]:
    """The markdown tables of a report, by the heading above each: rows as ``{header: cell}``."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading = ""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|( *:?-+:? *\|)+", lines[i + 1].strip()):
            header = _split_row(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(dict(zip(header, _split_row(lines[i].strip()))))
                i += 1
            tables[heading] = rows
            continue
        i += 1
    return tables


def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
    return [c.strip().replace("\\|", "|") for c in cells]


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


Cell = str | int | float | bool | None | Quantity

#: Comparisons a finding's test may use.
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b}


@dataclass(frozen=True)
class Finding:
    """A conclusion as data: a claim about named numbers and the test that decides it.

    Parameters
    ----------
    claim : str
        The statement, with ``{name}`` / ``{name:.3g}`` fields filled from ``numbers``.
    numbers : dict
        ``name -> number`` the claim is about (taken from the study's results).
    test : tuple
        ``(name, op, other)`` with op one of ``< <= > >=``; ``other`` a name in ``numbers``
        or a number. The verdict is the comparison on ``numbers`` - never written by hand.

    Example
    -------
    >>> f = Finding("MTF50 falls by {drop:.0%} over the sweep", {"drop": 0.02}, ("drop", "<", 0.1))
    >>> f.verdict, f.text()
    (True, 'MTF50 falls by 2% over the sweep [holds: drop < 0.1]')
    """

    claim: str
    numbers: dict
    test: tuple

    def __post_init__(self):
        name, op, other = self.test
        if op not in _OPS:
            raise ValueError(f"finding test {self.test!r}: op must be one of {', '.join(_OPS)}")
        for key in (name, other) if isinstance(other, str) else (name,):
            if key not in self.numbers:
                raise ValueError(f"finding test {self.test!r}: {key!r} is not among its numbers "
                                 f"{sorted(self.numbers)}")
        self.claim.format(**_shown(self.numbers))  # every field of the claim is a number given

    @property
    def verdict(self) -> bool | None:
        """Whether the test holds; None when a number it compares is missing (None/NaN)."""
        name, op, other = self.test
        a = self.numbers[name]
        b = self.numbers[other] if isinstance(other, str) else other
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            return None
        return bool(_OPS[op](a, b))

    def text(self) -> str:
        name, op, other = self.test
        word = {True: "holds", False: "does not hold", None: "undecided"}[self.verdict]
        return f"{self.claim.format(**_shown(self.numbers))} [{word}: {name} {op} {other}]"

    def to_json(self) -> dict:
        return {"claim": self.claim, "numbers": _to_json(self.numbers, "finding"),
                "test": list(self.test), "verdict": self.verdict}

    @classmethod
    def from_json(cls, data: dict) -> "Finding":
        return cls(data["claim"], data["numbers"], tuple(data["test"]))


class _NA(float):
    """A missing number in a claim: formats as ``n/a`` whatever the format spec."""

    def __format__(self, spec):
        return "n/a"


def _shown(numbers: dict) -> dict:
    return {k: _NA("nan") if v is None else v for k, v in numbers.items()}


@dataclass
class Report:
    """Builds a self-contained report; :meth:`write` renders report.md and results.json.

    Parameters
    ----------
    title : str
        The report's title (the scenario name, say).
    question : str
        The design question the report answers, in one or two sentences.
    results : dict, optional
        Every number of the report with its unit, nested as results.json should hold it
        (values may be :class:`Quantity`, numbers, bools, strings, lists and dicts).
        :meth:`result` adds to it and returns a cell for the tables.
    """

    title: str
    question: str
    results: dict = field(default_factory=dict)
    _setup: list = field(default_factory=list, init=False, repr=False)
    _body: list = field(default_factory=list, init=False, repr=False)
    _conclusions: list = field(default_factory=list, init=False, repr=False)
    _findings: list = field(default_factory=list, init=False, repr=False)

    def __post_init__(self):
        for key in ("title", "question"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key).strip():
                raise ValueError(f"report {key}: expected a non-empty string, got {getattr(self, key)!r}")
        if not isinstance(self.results, dict):
            raise ValueError(f"report results: expected a dict, got {type(self.results).__name__}")

    def add_setup(self, name: str, value: Cell, source: str = "") -> None:
        """One row of the setup table: parameter, value with unit, where the value comes from."""
        self._setup.append((str(name), _cell(value, where=f"setup {name!r}"), str(source)))

    def result(self, path: str | tuple, value, unit: str = "", *, digits: int = 4) -> Quantity:
        """Store a number in results.json at ``path`` and return it as a table cell.

        ``path`` is a tuple of keys, or a dotted string when no key holds a dot
        (``("chart", "before", "1.0", "contrast")`` vs ``"mtf.mtf50"``).
        """
        keys = tuple(path.split(".")) if isinstance(path, str) else tuple(str(k) for k in path)
        if not keys or not all(keys):
            raise ValueError(f"result path: expected non-empty keys, got {path!r}")
        if keys[0] == REPORT_KEY:
            raise ValueError(f"result path {path!r}: {REPORT_KEY!r} is reserved for the report's content")
        quantity = value if isinstance(value, Quantity) else Quantity(value, unit, digits)
        node = self.results
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"result path {path!r}: {key!r} already holds a value, not a table")
        node[keys[-1]] = quantity
        return quantity

    def add_table(self, title: str, header: list[str], rows: list[list[Cell]], *, note: str = "") -> None:
        """A results table; cells are text, numbers, bools or :class:`Quantity`."""
        where = f"table {title!r}"
        if title == "Setup" or any(kind == "table" and item[0] == title for kind, item in self._body):
            raise ValueError(f"{where}: a table with this title exists already")
        if not header or not rows:
            raise ValueError(f"{where}: needs a header and at least one row")
        cells = []
        for r, row in enumerate(rows):
            if len(row) != len(header):
                raise ValueError(f"{where} row {r}: {len(row)} cells for {len(header)} columns")
            cells.append([_cell(c, where=f"{where} row {r}") for c in row])
        self._body.append(("table", (str(title), [str(h) for h in header], cells, str(note))))

    def add_figure(self, path: str | os.PathLike, caption: str) -> None:
        """A figure shown inline; ``path`` is relative to the report folder."""
        rel = PurePosixPath(Path(path).as_posix())
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"figure {str(path)!r}: give the path relative to the report folder")
        self._body.append(("figure", (str(rel), str(caption))))

    def add_text(self, text: str) -> None:
        """A paragraph between the results tables and figures (method notes, say)."""
        self._body.append(("text", str(text)))

    def add_conclusion(self, text: str) -> None:
        """One conclusion in words (prefer :meth:`add_finding`, whose verdict is computed)."""
        self._conclusions.append(str(text))

    def add_finding(self, claim: str, numbers: dict, test: tuple) -> Finding:
        """A conclusion as data (see :class:`Finding`): listed under Conclusions with its
        verdict, and stored in results.json (``report.findings``) for tests to re-check."""
        finding = Finding(claim, {k: _plain(v) for k, v in numbers.items()}, tuple(test))
        self._findings.append(finding)
        self._conclusions.append(finding.text())
        return finding

    # ------------------------------------------------------------------ rendering

    def to_json(self) -> dict:
        """The content of results.json: the results plus the report's own content."""
        tables, figures = [], []
        for kind, item in self._body:
            if kind == "table":
                title, header, cells, note = item
                tables.append({"title": title, "header": header,
                               "rows": [[_json_cell(c) for c in row] for row in cells]})
            elif kind == "figure":
                figures.append({"path": item[0], "caption": item[1]})
        content = {"title": self.title, "question": self.question,
                   "setup": [{"name": n, "value": _json_cell(v), "source": s} for n, v, s in self._setup],
                   "tables": tables, "figures": figures, "conclusions": list(self._conclusions),
                   "findings": [f.to_json() for f in self._findings]}
        if REPORT_KEY in self.results:
            raise ValueError(f"results: the key {REPORT_KEY!r} is reserved for the report's content")
        return {**_to_json(self.results, "results"), REPORT_KEY: content}

    def to_markdown(self) -> str:
        """The content of report.md."""
        out = [f"# {self.title}", "", f"**Question.** {self.question}", ""]
        if self._setup:
            out += ["## Setup", "", *_table(["parameter", "value", "source"],
                                            [[n, str(v), s] for n, v, s in self._setup]), ""]
        out += ["## Results", ""]
        n_figure = 0
        for kind, item in self._body:
            if kind == "table":
                title, header, cells, note = item
                out += [f"### {title}", "", *_table(header, [[str(c) for c in row] for row in cells]), ""]
                if note:
                    out += [note, ""]
            elif kind == "figure":
                n_figure += 1
                path, caption = item
                out += [f"![Figure {n_figure}]({path})", "",
                        f"*Figure {n_figure}.* {caption}", ""]
            else:
                out += [item, ""]
        if self._conclusions:
            out += ["## Conclusions", "", *[f"- {c}" for c in self._conclusions], ""]
        out += ["---", "", f"Every number in this report is in `{RESULTS_NAME}` beside it, with its unit "
                f"and full precision; tables are shown to 4 significant digits unless stated.", ""]
        return "\n".join(out)

    def write(self, directory: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``report.md`` and ``results.json`` into ``directory``, atomically.

        Both are rendered (and every figure checked to exist) before either file is
        written, so a failure leaves no new file under a final name.

        Returns
        -------
        (Path, Path)
            The paths of report.md and results.json.
        """
        directory = Path(directory)
        for kind, item in self._body:
            if kind == "figure" and not (directory / item[0]).is_file():
                raise ValueError(f"figure {item[0]!r}: no such file in {directory}")
        results_text = json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n"
        report_text = self.to_markdown()
        report_path, results_path = directory / REPORT_NAME, directory / RESULTS_NAME
        with atomic_path(results_path) as tmp_results, atomic_path(report_path) as tmp_report:
            tmp_results.write_text(results_text)
            tmp_report.write_text(report_text)
        return report_path, results_path


def _plain(value):
    """A finding's number as a plain float/int/bool/None (Quantity and numpy unwrapped)."""
    if isinstance(value, Quantity):
        value = value.value
    if isinstance(value, np.generic):
        value = value.item()
    if value is not None and not isinstance(value, (bool, int, float)):
        raise ValueError(f"finding number: expected a number, got {value!r}")
    return value


def _cell(value, *, where: str) -> Quantity | str:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float, np.generic)):
        return Quantity(value)
    raise ValueError(f"{where}: a cell must be text, a number, a bool or a Quantity, got {value!r}")


def _json_cell(cell: Quantity | str):
    return cell.to_json() if isinstance(cell, Quantity) else cell


def _to_json(obj, where: str):
    """Results as plain JSON: Quantities to value/unit, numpy to Python, non-finite to null."""
    if isinstance(obj, Quantity):
        return obj.to_json()
    if isinstance(obj, dict):
        return {str(k): _to_json(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return _to_json(obj.tolist(), where)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    raise ValueError(f"{where}: {type(obj).__name__} cannot go into {RESULTS_NAME}")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |",
             "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return lines


def verify_report(directory: str | os.PathLike) -> int:
    """Check that every table in report.md shows the numbers results.json holds.

    Returns the number of values compared; raises ValueError naming the first table,
    row and column that disagree (or a figure that is missing).
    """
    directory = Path(directory)
    shown = read_tables((directory / REPORT_NAME).read_text())
    content = read_json(directory / RESULTS_NAME)[REPORT_KEY]
    expected = [("Setup", ["parameter", "value", "source"],
                 [[s["name"], s["value"], s["source"]] for s in content["setup"]])] if content["setup"] else []
    expected += [(t["title"], t["header"], t["rows"]) for t in content["tables"]]
    compared = 0
    for title, header, rows in expected:
        if title not in shown or len(shown[title]) != len(rows):
            raise ValueError(f"{REPORT_NAME}: table {title!r} missing or with another number of rows")
        for r, (row, shown_row) in enumerate(zip(rows, shown[title])):
            for column, stored in zip(header, row):
                where = f"{REPORT_NAME} table {title!r} row {r} column {column!r}"
                compared += _compare(shown_row.get(column, ""), stored, where)
    for figure in content["figures"]:
        if not (directory / figure["path"]).is_file():
            raise ValueError(f"{RESULTS_NAME}: figure {figure['path']!r} is missing")
    for stored in content.get("findings", []):
        finding = Finding.from_json(stored)
        if finding.verdict != stored["verdict"]:
            raise ValueError(f"{RESULTS_NAME}: finding {stored['claim']!r} says {stored['verdict']} but "
                             f"its test {stored['test']} gives {finding.verdict} on its numbers")
        compared += 1
    return compared


def _compare(text: str, stored, where: str) -> int:
    if isinstance(stored, str):
        if text != stored:
            raise ValueError(f"{where}: shows {text!r}, {RESULTS_NAME} holds {stored!r}")
        return 0
    value, unit = (stored["value"], stored["unit"]) if isinstance(stored, dict) else (stored, "")
    parsed = parse_value(text)
    numeric = parsed is not None and parsed.value is not None and not isinstance(parsed.value, bool)
    if parsed is None or (numeric and parsed.unit != unit):
        raise ValueError(f"{where}: shows {text!r}, {RESULTS_NAME} holds {value!r} {unit}".rstrip())
    if not parsed.agrees(value):
        raise ValueError(f"{where}: shows {text!r}, {RESULTS_NAME} holds {value!r} {unit}".rstrip())
    return 1


# ---------------------------------------------------------------------- figures


def new_figure(*, width: float = 6.4, height: float = 4.0):
    """A matplotlib Figure that needs no display and no pyplot state (Agg canvas)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def log_ticks(axis) -> None:
    """Readable log-axis labels (one look for every study plot): 1, 2, 5 x 10^k as plain
    numbers, no minor labels."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically; the format comes from the suffix (png, svg, pdf)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in _FIGURE_FORMATS:
        raise ValueError(f"figure {path}: the name must end in one of "
                         f"{', '.join('.' + f for f in _FIGURE_FORMATS)}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path
