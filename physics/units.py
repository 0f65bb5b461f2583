"""Units at the boundary.

Inside the product every length is a plain float in **micrometres (um)**, every
photon energy in **keV**, tube voltage in **kV**, current in **mA**, time in
**seconds**, angles in **degrees** at the boundary and radians inside formulas.
Pint quantities (or strings such as ``"40 um"``) are accepted only at the boundary:
scenario files, the CLI and public constructors. :func:`to_float` converts them
and names the offending key when the value does not fit.
"""

from __future__ import annotations

import math
import re
from numbers import Real

import pint

from physics.errors import OptionError

ureg = pint.UnitRegistry()
ureg.define("kVp = kilovolt")
Q_ = ureg.Quantity

#: The internal unit of each kind of quantity (what plain floats mean inside).
INTERNAL_UNITS = {
    "length": "um",
    "energy": "keV",
    "voltage": "kV",
    "current": "mA",
    "time": "s",
    "angle": "deg",
    "density": "g/cm^3",
}


class UnitError(OptionError):
    """A value has the wrong dimension, cannot be parsed, or is out of range."""


#: One number, then a unit expression. Pint alone would read "2 0 um" as 2 x 0 um = 0 um,
#: so the number is matched here and the rest must be a pure unit (no scaling factor).
_QUANTITY = re.compile(
    r"^\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan))"
    r"\s*(?P<unit>.*?)\s*$", re.IGNORECASE)


def parse_quantity(text: str, *, key: str) -> pint.Quantity:
    """Parse ``"<number> <unit>"`` strictly: exactly one number, then a unit (or none).

    Raises
    ------
    UnitError
        Naming ``key`` when the text is not one number followed by a known unit.
    """
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(f"{key}: cannot parse {text!r} as a quantity; write one number and a "
                        f"unit, e.g. \"40 um\"")
    number, unit = float(match["number"]), match["unit"]
    if not unit:
        return Q_(number)
    try:
        return Q_(number, ureg.parse_units(unit))
    except Exception:  # pint raises several types (undefined unit, scaling factor, syntax)
        raise UnitError(f"{key}: cannot parse {text!r} as a quantity; {unit!r} is not a unit "
                        f"(one number, then one unit, e.g. \"40 um\")") from None


def to_float(
    value,
    unit: str,
    *,
    key: str,
    min_value: float | None = None,
    max_value: float | None = None,
    inclusive_min: bool = True,
    allow_bare: bool = False,
) -> float:
    """Convert a quantity (pint object or string like ``"40 um"``) to a float in ``unit``.

    Parameters
    ----------
    value : str, pint.Quantity or float
        The value to convert. Plain numbers are refused unless ``allow_bare`` is set
        or ``unit`` is dimensionless, because a bare number hides its unit.
    unit : str
        Target unit, e.g. ``"um"`` or ``"keV"``.
    key : str
        Name of the setting, used in error messages (e.g. ``"scintillator.thickness"``).
    min_value, max_value : float, optional
        Allowed range, in ``unit``.
    inclusive_min : bool
        Whether ``min_value`` itself is allowed.
    allow_bare : bool
        Accept a plain number as already being in ``unit``.

    Returns
    -------
    float

    Raises
    ------
    UnitError
        With a message naming ``key`` and the offending value.
    """
    target = ureg.Unit(unit)
    dimensionless = target.dimensionless
    if isinstance(value, bool):
        raise UnitError(f"{key}: expected a quantity in {unit}, got boolean {value!r}")
    if isinstance(value, Real) and not isinstance(value, pint.Quantity):
        if not (allow_bare or dimensionless):
            raise UnitError(
                f"{key}: {value!r} has no unit; write it with a unit, e.g. \"{value} {unit}\""
            )
        magnitude = float(value)
    else:
        if isinstance(value, str):
            q = parse_quantity(value, key=key)
        elif isinstance(value, pint.Quantity):
            q = value
        else:
            raise UnitError(f"{key}: expected a quantity such as \"1 {unit}\", got "
                            f"{type(value).__name__} {value!r}")
        if q.unitless and not dimensionless:
            if not allow_bare:
                raise UnitError(f"{key}: {value!r} has no unit; expected a quantity in {unit}")
            q = Q_(float(q.magnitude), unit)
        try:
            magnitude = float(q.to(target).magnitude)
        except pint.DimensionalityError:
            raise UnitError(
                f"{key}: {value!r} has dimension {q.dimensionality}, expected a quantity "
                f"convertible to {unit}"
            ) from None
    if not math.isfinite(magnitude):
        raise UnitError(f"{key}: {value!r} is not a finite number")
    if min_value is not None:
        bad = magnitude < min_value if inclusive_min else magnitude <= min_value
        if bad:
            op = ">=" if inclusive_min else ">"
            raise UnitError(f"{key}: {value!r} is out of range; must be {op} {min_value:g} {unit}")
    if max_value is not None and magnitude > max_value:
        raise UnitError(f"{key}: {value!r} is out of range; must be <= {max_value:g} {unit}")
    return magnitude


def parse_bytes(text: str, *, key: str) -> int:
    """A memory size such as ``"2 GB"`` or ``"512 MiB"`` as a number of bytes (>= 1 MiB)."""
    return int(to_float(text, "byte", key=key, min_value=2.0**20))


def quantity_str(magnitude: float, unit: str) -> str:
    """Format an internal float back as a unit string that :func:`to_float` reads."""
    return f"{magnitude:.9g} {unit}"
