"""Loading and validating scenario files.

A scenario is a TOML file with one table per part of the system (see
:data:`twin.schema.SCHEMA`) and an optional ``[sweep]`` table. Everything is
checked up front: unknown tables and keys, wrong dimensions, out-of-range
values and cross-key constraints (NA below the screen's refractive index)
fail with a message naming the key and the value.

Example::

    [source]
    kvp = "50 kV"
    focal_spot_size = "40 um"

    [sweep]
    "source.focal_spot_size" = ["30 um", "55 um"]
    "optics.na" = {start = 0.2, stop = 0.8, num = 4}
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physics.errors import ScenarioError
from physics.units import UnitError, quantity_str, to_float
from twin.schema import SCHEMA, Field, SweepAxis

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario", "safe_name"]

#: Largest sweep (points of the Cartesian product). Every point is validated as a whole
#: scenario up front (~1 ms each) and simulated later (seconds to minutes each), so a
#: larger sweep is a typing mistake rather than a plan.
MAX_SWEEP_POINTS = 10_000
#: Largest scenario file read (a scenario is a few kB of TOML).
MAX_SCENARIO_BYTES = 1_000_000
_NAME_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")


def safe_name(name: str) -> str:
    """A folder name for a scenario name: letters, digits, ``.``, ``-``, ``_`` (others -> ``_``).

    Used for the default output folder ``runs/<safe name>``; never empty, never
    starting with a dot, so it cannot name a parent or hidden folder.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return slug[:80] or "unnamed"


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    values : dict
        ``values[table][key]`` in internal units (floats in um, keV, kV, mA, s, deg;
        ints, strings, booleans; lists of floats for quantity lists).
    raw : dict
        What the file said (after defaults), for reports and re-serialisation.
    sweep : tuple of SweepAxis
        Parameters to sweep (their Cartesian product), empty for one system.
    path : Path or None
        The file it came from.
    """

    values: dict
    raw: dict
    sweep: tuple[SweepAxis, ...] = ()
    path: Path | None = None
    units: dict = field(default_factory=dict, compare=False)

    def __getitem__(self, table: str) -> dict:
        return self.values[table]

    @property
    def name(self) -> str:
        return self.values["scenario"]["name"]

    @property
    def seed(self) -> int:
        return self.values["scenario"]["seed"]

    def with_values(self, overrides: dict[str, Any], *, keep_sweep: bool = False) -> "Scenario":
        """A copy with ``{"table.key": value-as-in-a-file}`` overrides, validated.

        The sweep is dropped (the copy is one point of it) unless ``keep_sweep``.
        """
        raw = copy.deepcopy(self.raw)
        sweep = raw.pop("sweep", None)
        raw.pop("calibration", None)  # changed values are no longer the calibrated ones
        if keep_sweep and sweep is not None:
            raw["sweep"] = sweep
        for path, value in overrides.items():
            table, key = _split_path(path, where="override")
            raw.setdefault(table, {})[key] = value
        return parse_scenario(raw, path=self.path, allow_sweep=keep_sweep)

    def points(self) -> list[dict[str, Any]]:
        """The sweep's points as override dicts (one empty dict when there is no sweep)."""
        if not self.sweep:
            return [{}]
        names = [axis.path for axis in self.sweep]
        return [dict(zip(names, combo)) for combo in itertools.product(*(a.values for a in self.sweep))]

    def resolved(self) -> dict:
        """Every parameter with its unit, as written to ``parameters.json``."""
        out: dict = {}
        for table, fields in SCHEMA.items():
            out[table] = {}
            for key, spec in fields.items():
                value = self.values[table][key]
                if value is None:
                    out[table][key] = "default"
                elif spec.kind == "quantity":
                    out[table][key] = quantity_str(value, _internal_unit(spec))
                elif spec.kind == "quantity_list":
                    out[table][key] = [quantity_str(v, _internal_unit(spec)) for v in value]
                elif spec.kind == "filters":
                    out[table][key] = [{"material": m, "thickness": quantity_str(t, "um")} for m, t in value]
                else:
                    out[table][key] = value
        return out


def _internal_unit(spec: Field) -> str:
    """Internal unit for a field: lengths in um whatever the file's display unit."""
    if spec.unit in ("mm", "nm", "cm"):
        return "um"
    return spec.unit


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario file.

    Raises
    ------
    ScenarioError
        For a missing file, invalid TOML, or any invalid key/value.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{path}: {path.stat().st_size} bytes is too large for a scenario "
                                f"file (at most {MAX_SCENARIO_BYTES})")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text (UTF-8 TOML) file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML ({exc})") from None
    except RecursionError:
        raise ScenarioError(f"{path}: invalid TOML (nested too deeply)") from None
    if not data:
        raise ScenarioError(f"{path}: the scenario file is empty; give at least a [scenario] "
                            f"table (run `twin run` without a file for the shipped default)")
    try:
        return parse_scenario(data, path=path)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None


def parse_scenario(data: dict, *, path: Path | None = None, allow_sweep: bool = True) -> Scenario:
    """Validate a scenario given as a dict (parsed TOML)."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a table of tables")
    unknown = set(data) - set(SCHEMA) - {"sweep", "calibration"}
    for table in sorted(unknown):
        raise ScenarioError(f"[{table}]: unknown table{_suggest(table, list(SCHEMA) + ['sweep', 'calibration'])}; "
                            f"known tables: {', '.join(SCHEMA)}, sweep, calibration")
    values: dict = {}
    raw: dict = {}
    for table, fields in SCHEMA.items():
        given = data.get(table, {})
        if not isinstance(given, dict):
            raise ScenarioError(f"[{table}] must be a table, got {given!r}")
        for key in given:
            if key not in fields:
                raise ScenarioError(f"{table}.{key}: unknown key{_suggest(key, fields)}; "
                                    f"known keys of [{table}]: {', '.join(fields)}")
        values[table] = {}
        raw[table] = {}
        for key, spec in fields.items():
            value = given.get(key, spec.default)
            raw[table][key] = copy.deepcopy(value)
            values[table][key] = convert_value(f"{table}.{key}", value, spec)
    _check_cross_constraints(values)
    if "calibration" in data:
        raw["calibration"] = _check_calibration(data["calibration"])
    sweep = ()
    if "sweep" in data:
        if not allow_sweep:
            raise ScenarioError("[sweep] is not allowed here")
        sweep = _parse_sweep(data["sweep"], raw)
        raw["sweep"] = copy.deepcopy(data["sweep"])
    return Scenario(values=values, raw=raw, sweep=sweep, path=path)


def convert_value(key: str, value: Any, spec: Field) -> Any:
    """Convert one file value to its internal form, raising ScenarioError naming ``key``."""
    try:
        return _convert(key, value, spec)
    except UnitError as exc:
        raise ScenarioError(str(exc)) from None


def _material(key: str, value: Any) -> str:
    from physics.materials import get_material

    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{key}: expected a material name, got {value!r}")
    try:
        get_material(value)
    except ValueError:
        from physics.materials import known_materials

        raise ScenarioError(f"{key}: unknown material {value!r}; use a chemical element symbol or "
                            f"one of {', '.join(known_materials())}") from None
    return value


def _convert(key: str, value: Any, spec: Field) -> Any:
    kind = spec.kind
    if value is None and spec.default is None:
        return None  # optional: "use the material's own value"
    if kind == "quantity":
        return _quantity(key, value, spec)
    if kind == "quantity_list":
        if not isinstance(value, list):
            raise ScenarioError(f"{key}: expected a list of quantities like [\"1 um\", \"2 um\"], got {value!r}")
        return [_quantity(f"{key}[{i}]", v, spec) for i, v in enumerate(value)]
    if kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{key}: expected a number, got {value!r}")
        if kind == "int" and not float(value).is_integer():
            raise ScenarioError(f"{key}: expected an integer, got {value!r}")
        number = int(value) if kind == "int" else float(value)
        if not np.isfinite(number):
            raise ScenarioError(f"{key}: {value!r} is not a finite number")
        _check_range(key, number, spec, unit="")
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(f"{key}: expected true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ScenarioError(f"{key}: expected a string, got {value!r}")
        return value
    if kind == "name":
        if not isinstance(value, str) or not value.strip():
            raise ScenarioError(f"{key}: expected a non-empty name, got {value!r}")
        if _NAME_FORBIDDEN.search(value) or value.strip() in (".", "..") or len(value) > 200:
            raise ScenarioError(f"{key}: {value!r} is not a name (no path separators or control "
                                "characters, at most 200 characters)")
        return value
    if kind == "file":
        if not isinstance(value, str):
            raise ScenarioError(f"{key}: expected a file name, got {value!r}")
        if value and (Path(value).is_absolute() or ".." in Path(value).parts or "\\" in value
                      or "\x00" in value):
            raise ScenarioError(f"{key}: {value!r} must be a file name relative to the scenario's "
                                "folder, inside it")
        return value
    if kind == "material":
        return _material(key, value)
    if kind == "choice":
        if value not in spec.choices:
            raise ScenarioError(f"{key}: {value!r} is not one of {', '.join(spec.choices)}")
        return value
    if kind == "filters":
        if not isinstance(value, list):
            raise ScenarioError(f"{key}: expected a list of {{material, thickness}} tables, got {value!r}")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"material", "thickness"}:
                raise ScenarioError(f"{key}[{i}]: expected {{material = \"Al\", thickness = \"0.1 mm\"}}, "
                                    f"got {item!r}")
            out.append((_material(f"{key}[{i}].material", item["material"]),
                        to_float(item["thickness"], "um", key=f"{key}[{i}].thickness", min_value=0.0)))
        return out
    raise AssertionError(f"unknown field kind {kind}")


def _quantity(key: str, value: Any, spec: Field) -> float:
    internal = _internal_unit(spec)
    # A quantity must carry its unit, except dimensionless ones.
    magnitude = to_float(value, internal, key=key)
    _check_range(key, magnitude, spec, unit=internal, shown=value)
    return magnitude


def _check_range(key, number, spec: Field, *, unit: str, shown=None) -> None:
    shown = number if shown is None else shown
    scale = 1.0
    if spec.unit in ("mm", "cm", "nm") and unit == "um":
        scale = {"mm": 1000.0, "cm": 1e4, "nm": 1e-3}[spec.unit]
    lo = None if spec.min is None else spec.min * scale
    hi = None if spec.max is None else spec.max * scale
    if lo is not None and (number < lo or (number == lo and not spec.inclusive_min)):
        op = ">=" if spec.inclusive_min else ">"
        raise ScenarioError(f"{key}: {shown!r} is out of range; must be {op} {spec.min:g} {spec.unit or ''}".rstrip())
    if hi is not None and number > hi:
        raise ScenarioError(f"{key}: {shown!r} is out of range; must be <= {spec.max:g} {spec.unit or ''}".rstrip())


def _check_cross_constraints(values: dict) -> None:
    na = values["optics"]["na"]
    n = values["scintillator"]["refractive_index"]
    if n is None:
        from physics.scintillator import SCINTILLATORS

        n = SCINTILLATORS[values["scintillator"]["material"]].refractive_index
    if na >= n:
        raise ScenarioError(
            f"optics.na: {na:g} must be below the scintillator's refractive index "
            f"(scintillator.refractive_index = {n:g}); light beyond it is trapped by total reflection"
        )
    cam = values["camera"]
    for roi, full in (("roi_rows", "rows"), ("roi_cols", "cols")):
        if cam[roi] > cam[full]:
            raise ScenarioError(f"camera.{roi}: {cam[roi]} exceeds the sensor's camera.{full} = {cam[full]}")
    height = values["object"]["height"]
    if height >= values["geometry"]["source_distance"]:
        raise ScenarioError(
            f"object.height: {height:g} um puts the object at or beyond the source "
            f"(geometry.source_distance = {values['geometry']['source_distance']:g} um)"
        )


#: Entries of [calibration] besides the per-key tables (written by ``twin calibrate``).
CALIBRATION_FIELDS = {"data": str, "chi2_per_dof": (int, float), "mtf50_measured": str, "mtf50_model": str}


def _check_calibration(table: Any) -> dict:
    """``[calibration]``: provenance of calibrated values (``twin calibrate``), not used to simulate.

    ``data``, ``chi2_per_dof``, ``mtf50_measured``/``mtf50_model`` and one table per
    fitted key, ``[calibration."table.key"]`` with ``std`` (a quantity in the key's
    unit) and ``correlation`` (``{"other.key" = r}``).
    """
    if not isinstance(table, dict):
        raise ScenarioError(f"[calibration] must be a table, got {table!r}")
    for name, value in table.items():
        if name in CALIBRATION_FIELDS:
            if isinstance(value, bool) or not isinstance(value, CALIBRATION_FIELDS[name]):
                raise ScenarioError(f"calibration.{name}: unexpected value {value!r}")
            continue
        t, k = _split_path(name, where="calibration")
        if not isinstance(value, dict) or "std" not in value or set(value) - {"std", "correlation"}:
            raise ScenarioError(f"calibration.{name}: expected a table with std (and correlation), got {value!r}")
        convert_value(f"calibration.{name}.std", value["std"], SCHEMA[t][k])
        corr = value.get("correlation", {})
        if not isinstance(corr, dict) or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) and -1.0 <= r <= 1.0 for r in corr.values()):
            raise ScenarioError(f"calibration.{name}.correlation: expected {{\"table.key\" = r}} with -1 <= r <= 1")
        for other in corr:
            _split_path(other, where=f"calibration.{name}.correlation")
    return copy.deepcopy(table)


def _parse_sweep(sweep: Any, raw: dict) -> tuple[SweepAxis, ...]:
    if not isinstance(sweep, dict) or not sweep:
        raise ScenarioError("[sweep] must map \"table.key\" to a list of values or {start, stop, num}")
    axes = []
    room = MAX_SWEEP_POINTS  # points still allowed by the axes so far
    for path, spec_values in sweep.items():
        table, key = _split_path(path, where="sweep")
        spec = SCHEMA[table][key]
        if isinstance(spec_values, dict):
            values = _expand_range(f"sweep.{path}", spec_values, spec, room=room)
        elif isinstance(spec_values, list) and spec_values:
            values = list(spec_values)
        else:
            raise ScenarioError(f"sweep.{path}: expected a non-empty list of values or "
                                f"{{start, stop, num}}, got {spec_values!r}")
        if len(values) > room:
            raise ScenarioError(f"sweep.{path}: {len(values)} values make the sweep larger than "
                                f"{MAX_SWEEP_POINTS} points")
        room //= len(values)
        for i, v in enumerate(values):
            convert_value(f"sweep.{path}[{i}]", v, spec)  # every point valid up front
            trial = copy.deepcopy(raw)
            trial[table][key] = v
            try:
                parse_scenario(trial, allow_sweep=False)
            except ScenarioError as exc:
                raise ScenarioError(f"sweep.{path}[{i}] = {v!r}: {exc}") from None
        axes.append(SweepAxis(path=path, values=tuple(values)))
    return tuple(axes)


def _split_path(path: str, *, where: str) -> tuple[str, str]:
    table, _, key = path.partition(".")
    if table not in SCHEMA or not key:
        raise ScenarioError(f"{where}: {path!r} does not name a parameter; write \"table.key\" with a "
                            f"table among {', '.join(SCHEMA)}{_suggest(table, SCHEMA)}")
    if key not in SCHEMA[table]:
        raise ScenarioError(f"{where}: {path!r} is not a parameter of [{table}]"
                            f"{_suggest(key, SCHEMA[table])}; known: {', '.join(SCHEMA[table])}")
    return table, key


def _expand_range(key: str, spec_values: dict, spec: Field, *, room: int = MAX_SWEEP_POINTS) -> list:
    if set(spec_values) - {"start", "stop", "num", "log"} or not {"start", "stop", "num"} <= set(spec_values):
        raise ScenarioError(f"{key}: a range needs exactly start, stop, num (and optional log), "
                            f"got {sorted(spec_values)}")
    num = spec_values["num"]
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ScenarioError(f"{key}.num: expected a positive integer, got {num!r}")
    if num > room:
        raise ScenarioError(f"{key}.num: {num} points make the sweep larger than {MAX_SWEEP_POINTS} "
                            "points")
    if spec_values.get("log") not in (None, True, False):
        raise ScenarioError(f"{key}.log: expected true or false, got {spec_values['log']!r}")
    if spec.kind == "quantity":
        unit = spec.unit
        start = convert_value(f"{key}.start", spec_values["start"], dataclasses.replace(spec, min=None, max=None))
        stop = convert_value(f"{key}.stop", spec_values["stop"], dataclasses.replace(spec, min=None, max=None))
        start, stop = (v / _unit_scale(spec) for v in (start, stop))
        _check_log(key, spec_values, start, stop)
        grid = np.geomspace(start, stop, num) if spec_values.get("log") else np.linspace(start, stop, num)
        return [quantity_str(float(v), unit) for v in grid]
    if spec.kind in ("number", "int"):
        bare = Field("number", 0.0)
        start = convert_value(f"{key}.start", spec_values["start"], bare)
        stop = convert_value(f"{key}.stop", spec_values["stop"], bare)
        _check_log(key, spec_values, start, stop)
        grid = np.geomspace(start, stop, num) if spec_values.get("log") else np.linspace(start, stop, num)
        if spec.kind == "int":
            return sorted({int(round(v)) for v in grid})
        return [float(v) for v in grid]
    raise ScenarioError(f"{key}: a {{start, stop, num}} range needs a numeric parameter")


def _unit_scale(spec: Field) -> float:
    """Internal unit per display unit of ``spec`` (e.g. 1000 um per mm)."""
    return {"mm": 1000.0, "cm": 1e4, "nm": 1e-3}.get(spec.unit, 1.0)


def _check_log(key, spec_values, start, stop) -> None:
    if spec_values.get("log") and not (start > 0 and stop > 0):
        raise ScenarioError(f"{key}: a log range needs start and stop > 0")


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
