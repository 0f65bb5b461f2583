"""Studies that ``twin run`` can answer: one module per ``[scenario] study`` value.

A study is a module in this package that defines ``STUDY = Study(...)``; adding the
module registers it (the schema lists the modules found here, without importing them).
A study is three things:

``compute(point: Point) -> dict``
    The numbers of one sweep point, from ``point.scenario`` (the scenario as written,
    with the point's overrides and, in ``--quick`` mode, the study's reduction applied;
    validated). JSON-serialisable; randomness derives only from the scenario seed.
``report(sweep: Sweep) -> twin.report.Report``
    Tables, figures and findings (claims computed as data, see
    :meth:`twin.report.Report.add_finding`) from every point's numbers.
``quick``
    The declared ``--quick`` reduction: ``{"table.key": value}`` overrides, a value as
    in a scenario file or :class:`AtMost` (``min(current, limit)``). The framework
    applies it after the point's own overrides, so it always holds.

The shortest complete example is :mod:`twin.studies.kvp_and_filtration`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from physics.errors import ScenarioError

if TYPE_CHECKING:
    from twin.report import Report
    from twin.scenario import Scenario


@dataclass(frozen=True)
class AtMost:
    """A ``--quick`` reduction of a number: ``min(current value, limit)``."""

    limit: float

    def __call__(self, value):
        return min(value, self.limit)


@dataclass(frozen=True)
class Point:
    """One sweep point as a study's ``compute`` sees it.

    Attributes
    ----------
    scenario : Scenario
        The point's validated scenario (overrides and quick reduction applied).
    overrides : dict
        The point's own ``{"table.key": value}`` overrides (empty without a sweep).
    base : Scenario
        The scenario as written, sweep included (a study may treat points by their
        place in the sweep, see :meth:`is_sweep_extreme`).
    quick : bool
    work_dir : Path
        The run's output folder; :attr:`folder` is this point's own.
    """

    scenario: Scenario
    overrides: dict
    base: Scenario
    quick: bool
    work_dir: Path

    @property
    def folder(self) -> Path:
        from twin.run import point_dir

        return point_dir(self.work_dir, self.overrides)

    def is_sweep_extreme(self, path: str) -> bool:
        """Whether this point holds the smallest or largest value of the swept ``path``
        (True when ``path`` is not swept)."""
        axis = next((a for a in self.base.sweep if a.path == path), None)
        if axis is None:
            return True
        table, key = path.split(".")
        values = [self.base.with_values({path: v})[table][key] for v in axis.values]
        here = self.scenario[table][key]
        return here == min(values) or here == max(values)


@dataclass(frozen=True)
class Sweep:
    """Every point's numbers, as a study's ``report`` sees them.

    Attributes
    ----------
    scenario : Scenario
        As written (sweep included).
    points : list of dict
        Override dicts, in sweep order.
    results : list of dict
        ``results[i]`` is ``compute``'s numbers for ``points[i]`` (as read back from JSON).
    out_dir : Path
    quick : bool
    """

    scenario: Scenario
    points: list
    results: list
    out_dir: Path
    quick: bool


@dataclass(frozen=True)
class Study:
    """A registered study (see the module docstring)."""

    name: str
    compute: Callable[[Point], dict]
    report: Callable[[Sweep], "Report"]
    quick: dict = field(default_factory=dict)
    doc: str = ""

    def point_scenario(self, base: "Scenario", overrides: dict, *, quick: bool,
                       pinned: dict | None = None) -> "Scenario":
        """The scenario of one point: ``base`` + the point's overrides (+ the quick reduction)
        + ``pinned`` (values the user set explicitly, e.g. ``twin run --seeds``, which hold even
        in ``--quick`` mode)."""
        scenario = base.with_values(overrides)
        if quick and self.quick:
            scenario = scenario.with_values(_reduction(scenario, self.quick))
        if pinned:
            scenario = scenario.with_values(pinned)
        return scenario


def _reduction(scenario: "Scenario", quick: dict) -> dict[str, Any]:
    out = {}
    for path, value in quick.items():
        if callable(value):
            table, key = path.split(".")
            value = value(scenario[table][key])
        out[path] = value
    return out


def study_names() -> tuple[str, ...]:
    """The study modules of this package (found without importing them)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                        if not m.name.startswith("_")))


def get_study(name: str) -> Study:
    """The :class:`Study` a module of this package registers as ``STUDY``."""
    module = importlib.import_module(f"twin.studies.{name}")
    study = getattr(module, "STUDY", None)
    if not isinstance(study, Study):
        raise ScenarioError(f"scenario.study: twin/studies/{name}.py defines no STUDY = Study(...)")
    return study
