"""The published-system study end to end in --quick mode."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twin.report import verify_report
from twin.run import DEFAULT_SCENARIO, run_scenario
from twin.scenario import load_scenario


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    run_scenario(DEFAULT_SCENARIO, out, quick=True, show_progress=False)
    return out, json.loads((out / "results.json").read_text())


def test_results_hold_before_and_after_per_group(quick_run):
    _, results = quick_run
    for stage in ("before", "after"):
        groups = results["chart"][stage]
        assert set(groups) == {"1.0", "2.0", "3.0"}
        for entry in groups.values():
            assert {"contrast", "resolved"} <= set(entry)
            assert isinstance(entry["resolved"], bool)


def test_report_numbers_agree_with_results_json(quick_run):
    out, _ = quick_run
    assert verify_report(out) > 20
    for name in ("edge.png", "noise.png", "chart.png", "contrast.png"):
        assert (out / "figures" / name).stat().st_size > 1000
    for name in ("chart_slice.tif", "chart_slice_enhanced.tif", "edge.json", "noise.json", "chart.json"):
        assert (out / "images" / name).exists()


def test_physics_of_the_slice(quick_run):
    _, results = quick_run
    before = results["chart"]["before"]
    # The coarsest group is resolved, and finer groups never have deeper dips than coarser ones.
    assert before["3.0"]["resolved"] is True
    for orientation in ("vertical", "horizontal"):
        dips = [before[w][orientation]["modulation"] for w in ("1.0", "2.0", "3.0")]
        assert dips[0] <= dips[1] + 0.05 and dips[0] <= dips[2] + 0.05, orientation
    # The slice cannot be sharper than the screen's light-scatter blur alone.
    scenario = load_scenario(DEFAULT_SCENARIO)
    scatter_sigma = scenario["scintillator"]["scatter_blur"] / 2.3548
    edge = results["edge"]
    assert edge["psf_sigma_px"]["value"] * scenario["camera"]["pixel"] / 16.0 >= 0.8 * scatter_sigma


def test_rerun_resumes_from_the_cache(quick_run):
    out, results = quick_run
    slices = out / "points" / "single" / "slices.tif"
    stamp = slices.stat().st_mtime_ns
    again = run_scenario(DEFAULT_SCENARIO, out, quick=True, show_progress=False)
    assert slices.stat().st_mtime_ns == stamp  # nothing recomputed
    assert again["chart"] == results["chart"]


def test_twin_run_errors_are_one_line(tmp_path):
    exe = Path(sys.executable).with_name("twin")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "twin.cli"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\n"source.focal_spotsize" = ["30 um"]\n')
    proc = subprocess.run(cmd + ["run", str(bad), "--out", str(tmp_path / "o")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "sweep: 'source.focal_spotsize' is not a parameter of [source]" in proc.stderr
    proc = subprocess.run(cmd + ["run", str(tmp_path / "none.toml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not found" in proc.stderr
