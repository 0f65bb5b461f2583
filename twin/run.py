"""``twin run``: run a scenario (one system or a sweep) and write its report.

A scenario's ``[scenario] study`` names a :class:`twin.studies.Study`: every point's
numbers come from ``study.compute`` (through :func:`compute_point`, top-level and
picklable, so the sweep runner can send it to other processes or a Dask cluster), the
report from ``study.report``. ``--quick`` applies the study's declared reduction.

Finished points are cached under ``DIR/.cache`` (a killed run resumes); point
work files (images) live under ``DIR/points/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from twin.scenario import Scenario, load_scenario
from twin.studies import Sweep, get_study
from twin.sweep import SerialExecutor, make_executor, run_sweep

#: Folder of the shipped scenarios (beside the packages in a checkout).
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_SCENARIO = SCENARIO_DIR / "published_system.toml"


def compute_point(study_name: str, raw: dict, point: dict, *, quick: bool, work_dir: str,
                  pinned: dict | None = None) -> dict:
    """One point's numbers: the study's ``compute`` on the point's scenario."""
    from twin.scenario import parse_scenario
    from twin.studies import Point

    study = get_study(study_name)
    base = parse_scenario(raw)
    return study.compute(Point(scenario=study.point_scenario(base, point, quick=quick, pinned=pinned),
                               overrides=point,
                               base=base, quick=quick, work_dir=Path(work_dir)))


def point_dir(work_dir: str | Path, point: dict) -> Path:
    """Stable folder for one point's images (named by a hash of its overrides)."""
    text = json.dumps(point, sort_keys=True)
    name = hashlib.sha256(text.encode()).hexdigest()[:12] if point else "single"
    path = Path(work_dir) / "points" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_scenario(scenario: Scenario | str | Path, out_dir, *, quick: bool = False,
                 executor: str | None = None, show_progress: bool = True,
                 pinned: dict | None = None) -> dict:
    """Run a scenario end to end; returns the results dict written to results.json.

    ``pinned``: ``{"table.key": value}`` set on every point after the ``--quick`` reduction
    (what the user asked for explicitly, e.g. ``twin run --seeds N``).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = get_study(scenario["scenario"]["study"])
    points = scenario.points()
    # The scenario as written (sweep included: a study may treat points by their place in
    # the sweep); plain data, so the cache key changes with anything not swept.
    compute = functools.partial(compute_point, study.name, scenario.raw, quick=quick,
                                work_dir=str(out.resolve()), pinned=dict(pinned or {}))
    runner = SerialExecutor() if len(points) == 1 else make_executor(executor)
    results = run_sweep(points, compute, cache_dir=out / ".cache", executor=runner,
                        progress=show_progress, seed=scenario.seed)
    report = study.report(Sweep(scenario=scenario, points=points, results=results, out_dir=out,
                                quick=quick))
    report.write(out)
    return report.to_json()


def estimate_run(scenario: Scenario, *, executor: str | None = None):
    """Peak memory of :func:`run_scenario`: the largest point's simulation and volume, times
    the points computed at once (local processes; a Dask cluster's memory is its own)."""
    import copy
    import os

    from twin import sizing
    from twin.scenario import convert_value
    from twin.schema import SCHEMA

    points = scenario.points()
    if len(points) == 1 or executor == "serial":
        workers = 1
    elif executor is None or executor == "local":
        workers = min(len(points), os.cpu_count() or 1)
    else:
        workers = 1
    worst = None
    for point in points:
        values = copy.deepcopy(scenario.values) if point else scenario.values
        for path, value in point.items():
            table, key = path.split(".", 1)
            values[table][key] = convert_value(path, value, SCHEMA[table][key])
        est = sizing.simulation(values, what="the run", workers=workers)
        cam = values["camera"]
        rows, cols = cam["roi_rows"] or cam["rows"], cam["roi_cols"] or cam["cols"]
        n_slices = len(values["geometry"]["slice_heights"]) or 64
        est.add("reconstruction", workers * 4 * n_slices * rows * cols * sizing.F32,
                "geometry.slice_heights", "camera.roi_rows", "camera.roi_cols")
        if worst is None or est.total > worst.total:
            worst = est
    return worst
