"""The studies give the numbers they gave before the studies were refactored (issue 11).

``tests/data/study_baselines/<scenario>.json`` holds every number of each shipped study's
``twin run --quick`` (results.json without the report's text), produced by the code
before the refactor (see the README there). Each test takes the quick run of a few
points of the sweep (the extremes, so the points' place in the sweep is kept; fixtures in
conftest.py, shared with the study tests) and compares every number the run reports
with the stored one.

Tolerances: numbers of noise-free computations (MTFs, PSFs, photon budgets, depth
profiles of noiseless views) agree to ``TIGHT`` relative (float32 JAX on another
build); the smallest resolved group of a simulated noisy chart may move by one group
(the noise draw changes when the frame model does), ``CHART_STEP_UM``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

from physics.imageio import read_json

# the session's study quick runs (tests/twin/conftest.py) are shared with the other study modules
pytestmark = pytest.mark.xdist_group("study_quick_runs")

BASELINES = Path(__file__).resolve().parents[1] / "data" / "study_baselines"
TIGHT = 1e-4
#: One step of the geometric study's chart groups (0.5, 1, 1.5, 2, 3 um).
CHART_STEP_UM = 1.0
NOISY_LEAVES = ("smallest_group_sim",)
SWEEP_DEPENDENT = ("best_for_target",)
#: Numbers the refactor changed on purpose, each checked against the physics of the change
#: in the test that removes them: the geometric study's flat panel is now the Detector
#: (physics.detector.FlatPanel) with its Poisson gain stage and a-Si electronic noise,
#: where the old study took it as quantum-limited.
GEOMETRIC_BY_DESIGN = ("dqe0", "exposure_for_snr_s")
ADDED = (("geometric", "electrons_per_quantum"),)


def _leaves(tree, prefix=()):
    """``{path: value}`` of every number/bool/None leaf ({"value", "unit"} dicts are one leaf)."""
    if isinstance(tree, dict) and set(tree) == {"value", "unit"}:
        yield prefix, tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, prefix + (k,))
    else:
        yield prefix, tree


def _value(leaf):
    return leaf["value"] if isinstance(leaf, dict) else leaf


def compare(run: dict, baseline: dict) -> int:
    """Assert every number of ``run`` (results.json) equals the baseline's; returns how many.

    Skipped: the report's own content, and tables that depend on which points were swept
    (:data:`SWEEP_DEPENDENT`: a reduced sweep has other "best" points)."""
    stored = dict(_leaves({k: v for k, v in baseline.items() if k != "report"}))
    compared = 0
    for path, leaf in _leaves({k: v for k, v in run.items() if k not in ("report", *SWEEP_DEPENDENT)}):
        where = ".".join(path)
        if path in ADDED:
            continue
        assert path in stored, f"{where}: not in the baseline (renamed or new number)"
        old = stored[path]
        if isinstance(leaf, dict):
            assert isinstance(old, dict) and old["unit"] == leaf["unit"], f"{where}: unit changed"
        new, ref = _value(leaf), _value(old)
        if new is None or ref is None or isinstance(ref, (bool, str)):
            assert new == ref, f"{where}: {new!r} != baseline {ref!r}"
        elif path[-1] in NOISY_LEAVES:
            assert abs(new - ref) <= CHART_STEP_UM, f"{where}: {new} vs baseline {ref}"
        else:
            assert math.isclose(new, ref, rel_tol=TIGHT, abs_tol=1e-12), f"{where}: {new!r} vs baseline {ref!r}"
        compared += 1
    return compared


@pytest.mark.slow
def test_geometric_vs_optical_matches_its_baseline(gvo_quick_run):
    from physics.detector import exposure_for_snr_s
    from twin.system import build_flat_panel

    scenario, _, run = gvo_quick_run
    run, base = copy.deepcopy(run), read_json(BASELINES / "geometric_vs_optical.json")
    g = _value(run["geometric"]["electrons_per_quantum"])
    readout = build_flat_panel(scenario).camera
    assert 100 < g < 2000  # CsI:Tl: ~54 photons/keV x 0.5 coupling x 0.7 photodiode QE x ~25 keV
    for spot, point in run["points"].items():
        new, old = point["geometric"], base["points"][spot]["geometric"]
        # old: quantum-limited DQE(0) = eta; now the Poisson gain stage keeps g/(1+g) of it
        assert math.isclose(new["dqe0"], old["dqe0"] * g / (1 + g), rel_tol=1e-5)
        # old: t = SNR^2 / absorbed; now the noise equation with the gain and the panel's read noise
        absorbed = _value(old["absorbed_per_pixel_per_s"])
        t = exposure_for_snr_s(absorbed, scenario["geometric"]["snr_target"], gain=g,
                               read_noise_e=readout.read_noise_e, dark_e_per_s=readout.dark_current_e_per_s)
        assert math.isclose(_value(new["exposure_for_snr_s"]), t, rel_tol=1e-6)
        assert _value(new["exposure_for_snr_s"]) > _value(old["exposure_for_snr_s"])
        for key in GEOMETRIC_BY_DESIGN:
            del new[key], old[key]
    assert compare(run, base) > 80


@pytest.mark.slow
def test_scintillator_matches_its_baseline(scintillator_quick_run):
    assert compare(scintillator_quick_run[2], read_json(BASELINES / "scintillator_thickness.json")) > 100


@pytest.mark.slow
def test_tomosynthesis_matches_its_baseline(tomosynthesis_quick_run):
    assert compare(tomosynthesis_quick_run[2], read_json(BASELINES / "tomosynthesis_arc.json")) > 20


def test_the_comparison_fails_on_a_changed_number():
    base = {"points": {"a": {"x": {"value": 1.0, "unit": "um"}, "smallest_group_sim": {"value": 1.0, "unit": "um"}}}}
    assert compare(copy.deepcopy(base), base) == 2
    changed = copy.deepcopy(base)
    changed["points"]["a"]["x"]["value"] = 1.001
    with pytest.raises(AssertionError, match="points.a.x"):
        compare(changed, base)
    noisy = copy.deepcopy(base)
    noisy["points"]["a"]["smallest_group_sim"]["value"] = 1.5  # one chart group: allowed
    assert compare(noisy, base) == 2
    renamed = {"points": {"a": {"y": 1.0}}}
    with pytest.raises(AssertionError, match="not in the baseline"):
        compare(renamed, base)
