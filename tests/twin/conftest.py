"""Quick runs of the shipped studies on a few sweep points, shared by the study tests and
the regression test against the stored baselines (tests/data/study_baselines): each
study is run once per session."""

from __future__ import annotations

import copy

import pytest

from physics.imageio import read_json
from twin.run import SCENARIO_DIR, run_scenario
from twin.scenario import load_scenario, parse_scenario

#: Reduced sweeps: the extremes of the shipped sweeps (so every point is in the baselines).
GVO_SPOTS = ["0.5 um", "5 um", "55 um"]
TOMO_SWEEP = {"geometry.n_views": [5], "geometry.arc": ["20 deg", "60 deg"]}


def scintillator_sweep() -> dict:
    thickness = load_scenario(SCENARIO_DIR / "scintillator_thickness.toml").sweep[1].values
    return {"scintillator.material": ["ZnWO4", "CsI:Tl"], "scintillator.thickness": [thickness[0], thickness[-1]],
            "optics.na": [0.2, 0.75]}


def _quick_run(name: str, sweep: dict, out):
    """``twin run --quick`` of ``scenarios/<name>.toml`` with ``sweep`` in place of its own;
    returns (scenario, output folder, results.json)."""
    scenario = load_scenario(SCENARIO_DIR / f"{name}.toml")
    raw = copy.deepcopy(scenario.raw)
    raw["sweep"] = sweep
    scenario = parse_scenario(raw, path=scenario.path)
    run_scenario(scenario, out, quick=True, executor="serial", show_progress=False)
    return scenario, out, read_json(out / "results.json")


@pytest.fixture(scope="session")
def quick_run():
    """:func:`_quick_run`, for tests with their own reduced sweep."""
    return _quick_run


@pytest.fixture(scope="session")
def gvo_quick_run(tmp_path_factory):
    return _quick_run("geometric_vs_optical", {"source.focal_spot_size": GVO_SPOTS}, tmp_path_factory.mktemp("gvo"))


@pytest.fixture(scope="session")
def scintillator_quick_run(tmp_path_factory):
    return _quick_run("scintillator_thickness", scintillator_sweep(), tmp_path_factory.mktemp("scint"))


@pytest.fixture(scope="session")
def tomosynthesis_quick_run(tmp_path_factory):
    return _quick_run("tomosynthesis_arc", TOMO_SWEEP, tmp_path_factory.mktemp("tomo"))
