"""twin simulate through the real console script and the Python API (resume, files, errors)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import recon.geometry
from physics.imageio import read_json, read_tiff
from twin import simulate as sim
from twin.scenario import parse_scenario

TINY = """
[scenario]
name = "tiny"
[object]
phantom = "siemens_star"
height = "20 um"
[geometry]
n_views = 3
arc = "20 deg"
[camera]
roi_rows = 48
roi_cols = 64
[acquisition]
oversample = 1
"""


def _twin():
    exe = Path(sys.executable).with_name("twin")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "twin.cli"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    scenario = root / "tiny.toml"
    scenario.write_text(TINY)
    out = root / "out"
    proc = subprocess.run(_twin() + ["simulate", str(scenario), "--out", str(out), "--json", "--no-progress"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_simulate_writes_calibrated_files(tiny_run):
    out, summary = tiny_run
    proj = read_tiff(out / "projections.tif")
    assert proj.data.shape == (3, 48, 64) and proj.data.dtype == np.float32
    assert proj.pixel_size_um == pytest.approx(6.5 / 16)
    raw = read_tiff(out / "raw.tif")
    assert raw.data.dtype == np.uint16
    geom = recon.geometry.load(out / "geometry.json")
    assert geom.n_views == 3 and tuple(geom.det_shape) == (48, 64)
    # The middle view's source sits on the axis at the source distance (50 mm default).
    np.testing.assert_allclose(geom.source_positions_um[1], [0.0, 0.0, 5e4], atol=1e-6)
    params = read_json(out / "parameters.json")
    assert params["scenario"]["source"]["kvp"] == "50 kV"
    assert summary["effective_pixel"]["value"] == pytest.approx(0.40625)
    phantom = read_tiff(out / "phantom.tif")
    assert phantom.metadata["plane_heights_um"] == [20.0]
    assert not list(out.glob(".*.part")) and not (out / ".views").exists()


def test_projections_are_line_integrals_of_the_star(tiny_run):
    out, _ = tiny_run
    proj = read_tiff(out / "projections.tif").data
    phantom = read_tiff(out / "phantom.tif").data[0]
    # Where the star's tungsten is, -ln T is larger than in the open spokes.
    assert phantom.max() > 0
    centre = proj[1]
    assert np.percentile(centre, 95) > np.percentile(centre, 5) + 0.01


def test_interrupted_simulation_resumes_without_redoing_views(tmp_path, monkeypatch):
    scenario = parse_scenario({**_tiny_dict(), "acquisition": {"oversample": 1, "noise": False}})
    calls = []
    real = sim.simulate_view

    def failing(setup, source, key, *, noise=True):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(setup, source, key, noise=noise)

    monkeypatch.setattr(sim, "simulate_view", failing)
    with pytest.raises(KeyboardInterrupt):
        sim.simulate_scenario(scenario, tmp_path, show_progress=False)
    assert len(list((tmp_path / ".views").glob("view_*.npz"))) == 1
    calls.clear()
    monkeypatch.setattr(sim, "simulate_view", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    sim.simulate_scenario(scenario, tmp_path, show_progress=False)
    assert len(calls) == 2  # only the two missing views
    assert read_tiff(tmp_path / "projections.tif").data.shape[0] == 3


def _tiny_dict():
    import tomllib

    return tomllib.loads(TINY)


@pytest.mark.parametrize("content, message", [
    ("[source]\nkvp = \"50 mm\"\n", "source.kvp: '50 mm' has dimension [length]"),
    ("[optics]\nnaa = 0.4\n", "optics.naa: unknown key (did you mean 'na'?)"),
    ("[scintillator]\nthickness = \"-3 um\"\n", "scintillator.thickness: '-3 um' is out of range"),
])
def test_bad_scenarios_fail_with_one_line_naming_the_key(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    proc = subprocess.run(_twin() + ["simulate", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "projections.tif").exists()


def test_missing_scenario_file(tmp_path):
    proc = subprocess.run(_twin() + ["simulate", str(tmp_path / "nope.toml"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not found" in proc.stderr
