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
    # A run killed during its second point leaves exactly the first point in the cache
    # (results are written atomically when a point finishes); the re-run computes only
    # the missing point.
    scenario = _two_point_scenario()
    run_scenario(scenario, tmp_path, quick=True, executor="serial", show_progress=False)
    cached = sorted((tmp_path / ".cache").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert len(cached) == 2
    kept, lost = cached
    kept_stamp = kept.stat().st_mtime_ns
    lost.unlink()
    (tmp_path / "results.json").unlink()
    run_scenario(scenario, tmp_path, quick=True, executor="serial", show_progress=False)
    assert kept.stat().st_mtime_ns == kept_stamp  # the finished point was not recomputed
    assert lost.exists()  # the missing one was
    assert (tmp_path / "results.json").exists()
