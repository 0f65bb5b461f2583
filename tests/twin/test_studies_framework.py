"""The study framework: studies register themselves, --quick is a declared reduction applied
by the framework, twin.system maps the scenario (reconstruction options included)."""

from __future__ import annotations

import pytest

from twin.scenario import ScenarioError, parse_scenario
from twin.schema import SCHEMA
from twin.studies import AtMost, Point, Study, get_study, study_names
from twin.system import build_system, depth_layers, reconstruction_options

SHIPPED = ("geometric_vs_optical", "kvp_and_filtration", "published", "scintillator", "tomosynthesis")


def test_every_module_of_the_package_is_a_registered_study_and_the_schema_offers_them():
    assert set(SHIPPED) <= set(study_names())
    assert SCHEMA["scenario"]["study"].choices == study_names()
    for name in study_names():
        study = get_study(name)
        assert isinstance(study, Study) and study.name == name
        for path in study.quick:  # a declared reduction names real scenario keys
            table, key = path.split(".")
            assert key in SCHEMA[table], f"{name}: quick reduction of unknown key {path}"
    with pytest.raises(ScenarioError, match="scenario.study"):
        parse_scenario({"scenario": {"study": "no_such_study"}})


def _study(quick):
    return Study("t", compute=lambda p: {}, report=lambda s: None, quick=quick)


def test_quick_reduction_is_applied_after_the_point_overrides():
    base = parse_scenario({"geometry": {"n_views": 21},
                           "sweep": {"geometry.n_views": [3, 9, 41], "acquisition.oversample": [2, 3]}})
    study = _study({"geometry.n_views": AtMost(5), "acquisition.oversample": 1})
    for point in base.points():
        full = study.point_scenario(base, point, quick=False)
        quick = study.point_scenario(base, point, quick=True)
        assert full["geometry"]["n_views"] == point["geometry.n_views"]
        assert quick["geometry"]["n_views"] == min(point["geometry.n_views"], 5)
        assert quick["acquisition"]["oversample"] == 1
    # an invalid reduction fails like any scenario value, naming the key
    with pytest.raises(ScenarioError, match="acquisition.oversample"):
        _study({"acquisition.oversample": 0}).point_scenario(base, base.points()[0], quick=True)


def test_a_point_knows_its_place_in_the_sweep(tmp_path):
    base = parse_scenario({"sweep": {"source.focal_spot_size": ["30 um", "1 um", "5 um"]}})
    extreme = {}
    for point in base.points():
        p = Point(scenario=base.with_values(point), overrides=point, base=base, quick=True, work_dir=tmp_path)
        extreme[point["source.focal_spot_size"]] = p.is_sweep_extreme("source.focal_spot_size")
        assert p.is_sweep_extreme("optics.na")  # not swept: every point is its own extreme
        assert p.folder.is_dir() and p.folder.parent == tmp_path / "points"
    assert extreme == {"30 um": True, "1 um": True, "5 um": False}


@pytest.mark.parametrize("method", ["sas", "fbp", "sart", "sirt", "grad"])
@pytest.mark.parametrize("positivity", [True, False])
def test_reconstruction_options_carry_every_key_the_method_takes(method, positivity):
    import inspect

    import recon.algorithms as algorithms

    scenario = parse_scenario({"reconstruction": {"method": method, "iterations": 7, "positivity": positivity}})
    options = reconstruction_options(scenario)
    assert options.pop("method") == method
    if method in ("sart", "sirt", "grad"):
        assert options == {"iterations": 7, "positivity": positivity}
    else:
        assert options == {}
    # every option is a parameter of the algorithm recon.reconstruct dispatches to
    function = {"sas": algorithms.shift_and_add, "fbp": algorithms.fbp, "sart": algorithms.sart,
                "sirt": algorithms.sirt, "grad": algorithms.gradient}[method]
    assert set(options) <= set(inspect.signature(function).parameters)


def test_screen_keys_reach_the_system():
    scenario = parse_scenario({"scintillator": {"material": "LuAG:Ce", "emission_wavelength": "520 nm",
                                                "depth_layers": 24}})
    system = build_system(scenario)
    assert system.detector.scintillator.emission_nm == pytest.approx(520.0)  # nm, not the um of the scenario
    assert system.detector.n_depth_layers == 24 == depth_layers(scenario)
    assert build_system(parse_scenario({})).detector.n_depth_layers == 16  # the chain's default, unchanged


def test_the_published_study_is_a_framework_study():
    """The published study registers like every study: its --quick is a declared reduction that the
    framework applies after the point's overrides, and pinned values (twin run --seeds) last."""
    from twin.studies import get_study, published

    assert get_study("published") is published.STUDY
    base = parse_scenario({"sweep": {"geometry.n_views": [9, 21]}})
    point = base.points()[1]
    quick = published.STUDY.point_scenario(base, point, quick=True)
    assert quick["geometry"]["n_views"] == 7 and quick["reconstruction"]["iterations"] <= 3
    assert quick["acquisition"]["oversample"] == 1 and quick["acquisition"]["seeds"] == published.QUICK_SEEDS
    full = published.STUDY.point_scenario(base, point, quick=False)
    assert full["geometry"]["n_views"] == 21 and full["acquisition"]["seeds"] == base["acquisition"]["seeds"]
    pinned = published.STUDY.point_scenario(base, point, quick=True, pinned={"acquisition.seeds": 4})
    assert pinned["acquisition"]["seeds"] == 4 and pinned["geometry"]["n_views"] == 7


def test_the_baseline_comparison_fails_on_a_changed_number():
    import copy

    from baselines import compare

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
