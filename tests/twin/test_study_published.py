"""The published-system study end to end in --quick mode."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twin.report import verify_report
from twin.studies import published
from twin.studies.published import report as published_report
from twin.run import DEFAULT_SCENARIO, run_scenario
from twin.scenario import load_scenario


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    run_scenario(DEFAULT_SCENARIO, out, quick=True, show_progress=False)
    return out, json.loads((out / "results.json").read_text())


STAT_KEYS = {"contrast", "resolved", "resolved_fraction", "dip_mean", "dip_sd", "seeds"}


def _value(x):
    return x["value"] if isinstance(x, dict) and "value" in x else x


def test_results_are_statistics_over_seeds(quick_run):
    _, results = quick_run
    assert _value(results["seeds"]) == published.QUICK_SEEDS
    for stage in ("before", "after"):
        groups = results["chart"][stage]
        assert set(groups) == {"1.0", "2.0", "3.0"}
        for entry in groups.values():
            for table in (entry, entry["vertical"], entry["horizontal"]):
                assert STAT_KEYS <= set(table)
                assert isinstance(table["resolved"], bool)
                fraction = _value(table["resolved_fraction"])
                assert 0.0 <= fraction <= 1.0
                # the majority call agrees with the fraction
                assert table["resolved"] == (fraction > 0.5)
                assert _value(table["seeds"]) == published.QUICK_SEEDS
                assert _value(table["dip_sd"]) >= 0.0


def test_the_network_loses_no_group_the_slice_resolves(quick_run):
    # issue 8.4: in no seed is a group resolved in the slice and not after the network
    _, results = quick_run
    assert results["lost_by_network"] == []


def _seed_rows(dips, resolved):
    return {"1.0": {"vertical": {"contrast": 0.5, "dip": dips[0], "resolved": resolved[0]},
                    "horizontal": {"contrast": 0.3, "dip": dips[1], "resolved": resolved[1]}}}


def test_chart_statistics_by_hand():
    seeds = [_seed_rows((0.4, 0.1), (True, False)), _seed_rows((0.2, 0.3), (False, True)),
             _seed_rows((0.6, 0.5), (True, True))]
    table = published.chart_statistics(seeds)["1.0"]
    v = table["vertical"]
    assert v["seeds"] == 3 and v["resolved_fraction"] == pytest.approx(2 / 3) and v["resolved"] is True
    assert v["dip_mean"] == pytest.approx(0.4) and v["dip_sd"] == pytest.approx(0.2)
    h = table["horizontal"]
    assert h["resolved_fraction"] == pytest.approx(2 / 3) and h["dip_mean"] == pytest.approx(0.3)
    # the width as a whole: per seed the worse orientation; resolved only where both are
    assert table["resolved_fraction"] == pytest.approx(1 / 3) and table["resolved"] is False
    assert table["dip_mean"] == pytest.approx((0.1 + 0.2 + 0.5) / 3)
    assert table["contrast"] == pytest.approx(0.3)


def test_lost_by_network_names_every_lost_seed():
    before = [_seed_rows((0.4, 0.4), (True, True)), _seed_rows((0.4, 0.0), (True, False))]
    after = [_seed_rows((0.5, 0.1), (True, False)), _seed_rows((0.1, 0.5), (False, True))]
    assert published.lost_by_network(before, after) == [
        {"seed": 0, "width": "1.0", "orientation": "horizontal"},
        {"seed": 1, "width": "1.0", "orientation": "vertical"}]


def _verdicts(res):
    from twin.report import Finding

    return [Finding(*f) for f in published_report.findings(res)]


@pytest.mark.parametrize("fraction, holds", [(1.0, True), (0.75, True), (0.5, False), (0.0, False)])
def test_findings_follow_the_numbers(fraction, holds):
    entry = {"resolved": fraction > 0.5, "resolved_fraction": fraction, "dip_mean": 0.3, "dip_sd": 0.1,
             "seeds": 4, "contrast": 0.2}
    chart = {stage: {"1.0": {o: dict(entry) for o in published.ORIENTATIONS}} for stage in ("before", "after")}
    res = {"chart": chart, "seeds": 4, "lost_by_network": [],
           "model": {"blur_sigma_px": [0.5, 2.5], "noise_sigma": [0.002, 0.08]},
           "degradation_measured": {"blur_sigma_px": 1.0, "blur_sigma_px_sd": 0.01,
                                    "noise_sigma": 0.01, "noise_sigma_sd": 0.0005}}
    found = _verdicts(res)
    one_um = [f for f in found if f.claim.startswith("The 1 um group")]
    assert len(one_um) == 2 and all(f.verdict is holds for f in one_um)
    assert all(f"{fraction:.0%}" in f.text() for f in one_um)
    others = [f for f in found if f not in one_um]
    assert len(others) == 4 and all(f.verdict for f in others)  # nothing lost, same draws, in range
    # a lost group, an out-of-range noise and the unstable noise a corrupt view once caused
    # (0.056, 0.27, 0.069 over three seeds) each turn their finding false
    res["lost_by_network"] = [{"seed": 1, "width": "2.0", "orientation": "vertical"}]
    res["degradation_measured"].update(noise_sigma=0.133, noise_sigma_sd=0.12)
    failed = [f.text() for f in _verdicts(res) if f.verdict is False and not f.claim.startswith("The 1 um")]
    assert len(failed) == 3
    assert any("2.0 um vertical in seed 1" in t for t in failed)
    assert any("noise sigma" in t and "90.2%" in t for t in failed)
    assert any("trained ranges" in t for t in failed)


def test_report_numbers_agree_with_results_json(quick_run):
    out, _ = quick_run
    assert verify_report(out) > 20
    for name in ("edge.png", "noise.png", "chart.png", "dips.png"):
        assert (out / "figures" / name).stat().st_size > 1000
    for name in ("chart_slice.tif", "chart_slice_enhanced.tif", "edge.json", "noise.json", "chart.json"):
        assert (out / "images" / name).exists()


def test_physics_of_the_slice(quick_run):
    _, results = quick_run
    before = results["chart"]["before"]
    # The coarsest group is resolved, and finer groups never have deeper dips than coarser ones.
    assert before["3.0"]["resolved"] is True
    for orientation in ("vertical", "horizontal"):
        dips = [_value(before[w][orientation]["dip_mean"]) for w in ("1.0", "2.0", "3.0")]
        assert dips[0] <= dips[1] + 0.05 and dips[0] <= dips[2] + 0.05, orientation
    # The slice cannot be sharper than the screen's light-scatter blur alone.
    scenario = load_scenario(DEFAULT_SCENARIO)
    scatter_sigma = scenario["scintillator"]["scatter_blur"] / 2.3548
    blur_px = results["degradation"]["blur_sigma_px"]["value"]  # without the pixel aperture, mean over seeds
    assert blur_px * scenario["camera"]["pixel"] / 16.0 >= 0.8 * scatter_sigma


def test_rerun_resumes_from_the_cache(quick_run):
    out, results = quick_run
    slices = out / "points" / "single" / "slices.tif"
    stamp = slices.stat().st_mtime_ns
    again = run_scenario(DEFAULT_SCENARIO, out, quick=True, show_progress=False)
    assert slices.stat().st_mtime_ns == stamp  # nothing recomputed
    assert again["chart"] == results["chart"]


def test_a_killed_run_resumes_with_the_seeds_it_finished(quick_run, tmp_path):
    out, results = quick_run
    # A run killed after its first draw: only seed 0's file and images survive.
    import shutil
    shutil.copytree(out / "points", tmp_path / "points")
    for f in (tmp_path / "points" / "single").glob("seed-1-*.json"):
        f.unlink()
    stamp = (tmp_path / "points" / "single" / "slices.tif").stat().st_mtime_ns
    again = run_scenario(DEFAULT_SCENARIO, tmp_path, quick=True, show_progress=False)
    assert (tmp_path / "points" / "single" / "slices.tif").stat().st_mtime_ns == stamp  # seed 0 reused
    assert again["chart"] == results["chart"]  # seed 1 drawn again, identically


def test_seeds_option_sets_the_number_of_draws():
    scenario = load_scenario(DEFAULT_SCENARIO)
    assert scenario["acquisition"]["seeds"] >= 3  # the default run is a statistic
    study = published.STUDY
    assert study.point_scenario(scenario, {}, quick=True)["acquisition"]["seeds"] == published.QUICK_SEEDS
    pinned = study.point_scenario(scenario, {}, quick=True, pinned={"acquisition.seeds": 5})
    assert pinned["acquisition"]["seeds"] == 5  # twin run --seeds 5 --quick draws 5


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
