"""`twin calibrate`: the parameters `twin simulate` used are recovered from its own frames, the
calibrated scenario loads, and on real X-ray edges the fitted blur reproduces the measured MTF50."""

import json
from pathlib import Path

import pytest

from twin.cli import main
from twin.scenario import load_scenario
from twin.simulate import simulate_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "calibrate_edge.toml"
REAL_EDGES = ROOT / "tests" / "data" / "real-edges"

#: A scenario for the dental sensor of the real edges: 30 um pixels (the TIFF metadata), a CsI
#: screen read out at unit magnification. Its blur is the light spread in the screen
#: (scatter_blur, fitted); NA 0.02 stands for the sensor's non-imaging coupling (its Airy
#: disc, ~17 um, is below the pixel). Edge: an opaque metal plate on the sensor.
DENTAL = """
[scenario]
name = "dental_sensor"
[source]
kvp = "60 kV"
[object]
phantom = "edge"
material = "W"
thickness = "1000 um"
height = "0 um"
[geometry]
mode = "projection"
source_distance = "300 mm"
[scintillator]
material = "CsI:Tl"
thickness = "100 um"
scatter_blur = "30 um"
substrate = false
[optics]
magnification = 1
design_tube_lens = "200 mm"
tube_lens = "200 mm"
na = 0.02
[camera]
pixel = "30 um"
[acquisition]
exposure = "0.1 s"
oversample = 2
"""


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    out = tmp_path_factory.mktemp("edge_sim")
    simulate_scenario(load_scenario(SCENARIO), out, show_progress=False)
    return out


def _calibrate(capsys, frames, out, key, start):
    argv = ["calibrate", str(SCENARIO), "--edge", str(frames / "raw.tif"), "--flat", str(frames / "flat.tif"),
            "--dark", str(frames / "dark.tif"), "--fit", key, "--set", f"{key}=\"{start}\"", "--out", str(out),
            "--json"]
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("key, start", [("scintillator.scatter_blur", "1 um"),
                                        ("scintillator.thickness", "14 um")])
def test_recovers_the_simulated_value_within_5_percent(capsys, frames, tmp_path, key, start):
    truth = {"scintillator.scatter_blur": 1.5, "scintillator.thickness": 10.0}[key]
    result = _calibrate(capsys, frames, tmp_path, key, start)
    fit = result["fitted"][key]
    assert fit["unit"] == "um"
    assert fit["value"] == pytest.approx(truth, rel=0.05)
    assert abs(fit["value"] - truth) <= 3.0 * fit["std"]
    assert 0.5 < result["loss"] < 2.0
    assert result["mtf50_model_lp_per_mm"] == pytest.approx(result["mtf50_measured_lp_per_mm"], rel=0.05)
    # The calibrated scenario is a scenario: it loads, holds the fitted value and its uncertainty.
    calibrated = load_scenario(tmp_path / "calibrated.toml")
    table, name = key.split(".")
    assert calibrated[table][name] == pytest.approx(fit["value"], rel=1e-5)
    assert f"{key}" in calibrated.raw["calibration"]
    report = (tmp_path / "report.md").read_text()
    assert "Fitted values" in report and (tmp_path / "edge.png").is_file()


def test_real_edge_calibration_reports_what_a_gaussian_screen_blur_cannot_fit(capsys, tmp_path):
    """Real dental X-ray edge (tests/data/real-edges): the fit runs on a vendor image as it is
    (12-bit grey levels, unknown flat, either polarity) and says when the model does not fit.

    The measured LSF has a sharp core and a long one-sided tail on the dark side (a
    non-linear grey-level response or glare, not a symmetric screen blur), so a Gaussian
    screen blur leaves a misfit far above the noise (chi2/dof > 3) and a model MTF50 well
    below the measured one. The issue's "MTF50 within 3 %" on these edges is NOT met by the
    lens-coupled chain (see the branch report)."""
    scenario = tmp_path / "dental.toml"
    scenario.write_text(DENTAL)
    capsys.readouterr()
    assert main(["calibrate", str(scenario), "--edge", str(REAL_EDGES / "dental_Image10.tif"),
                 "--roi", "352,117,448,181", "--fit", "scintillator.scatter_blur", "--out", str(tmp_path / "out"),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    blur = result["fitted"]["scintillator.scatter_blur"]
    assert 30.0 < blur["value"] < 300.0 and 0 < blur["std"] < 0.1 * blur["value"]
    assert result["loss"] > 3.0
    assert result["mtf50_model_lp_per_mm"] < 0.9 * result["mtf50_measured_lp_per_mm"]


def test_user_errors_are_one_line(capsys, tmp_path):
    assert main(["calibrate", str(SCENARIO), "--edge", str(tmp_path / "missing.tif"),
                 "--fit", "scintillator.thickness", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("twin: error:")
    img = tmp_path / "e.tif"
    from physics.imageio import write_tiff
    import numpy as np
    write_tiff(img, np.ones((8, 8), np.float32), pixel_size_um=0.40625)
    assert main(["calibrate", str(SCENARIO), "--edge", str(img), "--fit", "optics.magnification",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "optics.magnification" in err
    assert main(["calibrate", str(ROOT / "scenarios" / "optimize_screen.toml"), "--edge", str(img),
                 "--fit", "scintillator.thickness", "--out", str(tmp_path)]) == 2
    assert "object.phantom" in capsys.readouterr().err


def test_camera_gain_from_noise_frames(capsys, tmp_path):
    """--noise: open-beam frames drawn with the chain's flat-frame mean and variance for a gain
    of 0.6 e-/ADU are fitted back from the scenario's 0.46 e-/ADU."""
    import jax.numpy as jnp
    import numpy as np

    from physics import chain
    from physics.calibrate import uniform_frame_moments
    from physics.imageio import write_tiff
    from twin.system import build_system

    scenario = load_scenario(SCENARIO)
    system = chain.with_params(build_system(scenario), roi_shape=(8, 8), detector__camera__gain_e_per_adu=0.6)
    source = jnp.asarray([0.0, 0.0, scenario["geometry"]["source_distance"]], jnp.float32)
    mean, var = (float(x) for x in uniform_frame_moments(system, source))
    frames = np.random.default_rng(3).normal(mean, np.sqrt(var), size=(2, 96, 96)).astype(np.float32)
    write_tiff(tmp_path / "flats.tif", frames, pixel_size_um=0.40625)
    capsys.readouterr()
    assert main(["calibrate", str(SCENARIO), "--noise", str(tmp_path / "flats.tif"), "--fit", "camera.gain",
                 "--out", str(tmp_path / "out"), "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)["fitted"]["camera.gain"]
    assert fit["value"] == pytest.approx(0.6, rel=0.02)
    assert abs(fit["value"] - 0.6) <= 4 * fit["std"]
    assert load_scenario(tmp_path / "out" / "calibrated.toml")["camera"]["gain"] == pytest.approx(fit["value"])
