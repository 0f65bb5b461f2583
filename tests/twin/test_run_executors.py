"""`twin run` sweeps: local processes and serial execution give identical results; an
interrupted sweep resumes without recomputing finished points (on a real study)."""

import json

from twin.run import SCENARIO_DIR, run_scenario
from twin.scenario import load_scenario

TWO_POINTS = {"scintillator.thickness": ["5 um", "20 um"]}


def _two_point_scenario():
    base = load_scenario(SCENARIO_DIR / "scintillator_thickness.toml")
    raw = json.loads(json.dumps(base.raw))
    raw["sweep"] = dict(TWO_POINTS)
    from twin.scenario import parse_scenario

    return parse_scenario(raw, path=base.path)


def _numbers(out):
    results = json.loads((out / "results.json").read_text())
    results.pop("report", None)
    return results


def test_local_processes_and_serial_give_identical_results(tmp_path):
    scenario = _two_point_scenario()
    run_scenario(scenario, tmp_path / "serial", quick=True, executor="serial", show_progress=False)
    run_scenario(scenario, tmp_path / "local", quick=True, executor="local", show_progress=False)
    assert _numbers(tmp_path / "serial") == _numbers(tmp_path / "local")


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    # A run stopped after its first point leaves exactly that point in the cache; running
    # the full sweep again computes only the second point.
    raw = json.loads(json.dumps(_two_point_scenario().raw))
    raw["sweep"] = {"scintillator.thickness": ["5 um"]}
    from twin.scenario import parse_scenario

    run_scenario(parse_scenario(raw), tmp_path, quick=True, executor="serial", show_progress=False)
    cached = sorted((tmp_path / ".cache").glob("*.json"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    run_scenario(_two_point_scenario(), tmp_path, quick=True, executor="serial", show_progress=False)
    after = sorted((tmp_path / ".cache").glob("*.json"))
    assert len(after) == 2
    assert cached[0].stat().st_mtime_ns == stamp  # the finished point was not recomputed
