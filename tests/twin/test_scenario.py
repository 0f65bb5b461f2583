"""Scenario loading: every class of bad input fails up front with a message naming key and value."""

import pytest
from hypothesis import given, settings, strategies as st

from physics.units import to_float, ureg
from twin.scenario import ScenarioError, load_scenario, parse_scenario
from twin.schema import SCHEMA


def test_defaults_are_the_published_system():
    s = parse_scenario({})
    assert s["source"]["kvp"] == 50.0
    assert s["source"]["current"] == 1.0
    assert 30.0 <= s["source"]["focal_spot_size"] <= 55.0
    assert s["optics"]["magnification"] * s["optics"]["tube_lens"] / s["optics"]["design_tube_lens"] == pytest.approx(16.0)
    assert s["camera"]["pixel"] == 6.5


def test_every_default_with_a_unit_or_range_has_a_source_or_doc():
    for table, fields in SCHEMA.items():
        for key, spec in fields.items():
            assert spec.doc or spec.source, f"{table}.{key} lacks documentation"


def test_units_are_converted_to_internal_ones():
    s = parse_scenario({"optics": {"tube_lens": "16 cm"}, "scintillator": {"thickness": "0.02 mm"},
                        "acquisition": {"exposure": "500 ms"}})
    assert s["optics"]["tube_lens"] == pytest.approx(160_000.0)
    assert s["scintillator"]["thickness"] == pytest.approx(20.0)
    assert s["acquisition"]["exposure"] == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 1e4), st.sampled_from(["nm", "um", "mm", "cm", "m"]))
def test_length_units_round_trip(value, unit):
    um = to_float(f"{value!r} {unit}", "um", key="k")
    back = ureg.Quantity(um, "um").to(unit).magnitude
    assert back == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"source": {"kvpp": "50 kV"}}, "source.kvpp: unknown key (did you mean 'kvp'?)"),
        ({"sourse": {}}, "[sourse]: unknown table (did you mean 'source'?)"),
        ({"source": {"kvp": "50 mm"}}, "source.kvp: '50 mm' has dimension [length]"),
        ({"source": {"kvp": "50"}}, "source.kvp"),
        ({"source": {"kvp": 50}}, "source.kvp: 50 has no unit"),
        ({"source": {"kvp": "5 kV"}}, "source.kvp: '5 kV' is out of range; must be >= 30 kV"),
        ({"source": {"kvp": "500 kV"}}, "source.kvp: '500 kV' is out of range; must be <= 300 kV"),
        ({"scintillator": {"thickness": "-5 um"}}, "scintillator.thickness: '-5 um' is out of range"),
        ({"source": {"focal_spot_size": "nan um"}}, "source.focal_spot_size"),
        ({"optics": {"na": 1.0}, "scintillator": {"refractive_index": 1.0}},
         "optics.na: 1 must be below the scintillator's refractive index"),
        ({"optics": {"na": "0.4"}}, "optics.na: expected a number, got '0.4'"),
        ({"object": {"phantom": "teapot"}}, "object.phantom: 'teapot' is not one of"),
        ({"object": {"line_widths": ["0.1 um"]}}, "object.line_widths[0]: '0.1 um' is out of range"),
        ({"camera": {"roi_rows": 4096}}, "camera.roi_rows: 4096 exceeds"),
        ({"geometry": {"n_views": 2.5}}, "geometry.n_views: expected an integer"),
        ({"sweep": {"source.focal": ["1 um"]}}, "sweep: 'source.focal' is not a parameter of [source]"),
        ({"sweep": {"nothing.here": [1]}}, "sweep: 'nothing.here' does not name a parameter"),
        ({"sweep": {"source.focal_spot_size": ["1 kg"]}}, "sweep.source.focal_spot_size[0]: '1 kg'"),
        ({"sweep": {"source.focal_spot_size": []}}, "sweep.source.focal_spot_size: expected a non-empty list"),
    ],
)
def test_bad_scenarios_name_key_and_value(data, message):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert message in str(info.value)


def test_sweep_expands_ranges_and_lists():
    s = parse_scenario({"sweep": {"source.focal_spot_size": {"start": "30 um", "stop": "50 um", "num": 3},
                                  "optics.na": [0.3, 0.5]}})
    points = s.points()
    assert len(points) == 6
    sizes = sorted({s.with_values(p)["source"]["focal_spot_size"] for p in points})
    assert sizes == pytest.approx([30.0, 40.0, 50.0])


def test_file_errors(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[source\nkvp = 1")
    with pytest.raises(ScenarioError, match="invalid TOML"):
        load_scenario(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[optics]\nnaa = 0.4\n')
    with pytest.raises(ScenarioError, match=r"unknown.toml: optics.naa: unknown key"):
        load_scenario(unknown)
