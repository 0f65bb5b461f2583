"""``twin measure`` through the real console script."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physics.imageio import write_json, write_tiff

TWIN = Path(sys.executable).with_name("twin")
# The measured edges ship with the repository (tests/data/real-edges, README + licence there).
REAL = Path(__file__).resolve().parents[1] / "data" / "real-edges"


def _console() -> list[str]:
    """The installed ``twin`` script (or the same entry point through ``python -m``)."""
    return [str(TWIN)] if TWIN.exists() else [sys.executable, "-m", "twin.cli"]


@pytest.fixture(scope="module")
def twin():
    cmd = _console()

    def run(*args):
        return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True)

    return run


def test_edge_real_image_json_and_out(twin, tmp_path):
    out = tmp_path / "edge.json"
    r = twin("measure", "edge", REAL / "dental_Image10.tif", "--json", "--out", out)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    written = json.loads(out.read_text())
    assert printed == written
    assert written["pixel_size_um"] == 30.0
    assert 0.15 < written["mtf50_cyc_per_px"] < 0.25
    assert written["sigma_um"] == pytest.approx(written["sigma_px"] * 30.0)


def test_edge_pixel_size_override_and_slice(twin, tmp_path):
    from scipy.special import ndtr

    y, x = np.mgrid[0:64, 0:96].astype(float)
    edge = 0.1 + 0.8 * ndtr(((x - 48) - (y - 32) * np.tan(np.deg2rad(5))) / 1.5)
    path = tmp_path / "edges.tif"
    write_tiff(path, np.stack([np.zeros_like(edge), edge]), pixel_size_um=1.0)
    r = twin("measure", "edge", path, "--slice", 1, "--pixel-size", "0.5 um", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["pixel_size_um"] == 0.5
    assert d["sigma_um"] == pytest.approx(0.5 * d["sigma_px"])
    assert d["mtf50_lp_per_mm"] == pytest.approx(d["mtf50_cyc_per_px"] / 0.5e-3)
    r = twin("measure", "edge", path, "--slice", 0)
    assert r.returncode == 2 and "no edge found" in r.stderr


def test_noise_and_table_output(twin, tmp_path):
    rng = np.random.default_rng(0)
    img = 100 + 4.0 * rng.standard_normal((2, 64, 64))
    img[1] += 50
    path = tmp_path / "stack.tif"
    write_tiff(path, img, pixel_size_um=0.40625)
    r = twin("measure", "noise", path, "--roi", "0,0,64,64", "--slice", 1, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["mean"] == pytest.approx(150, abs=0.3)
    assert d["sigma"] == pytest.approx(4.0, rel=0.05)
    r = twin("measure", "noise", path, "--roi", "0,0,64,64", "--slice", 0)
    assert r.returncode == 0 and "sigma_normalized" in r.stdout


@pytest.mark.parametrize("args, match", [
    (("measure", "noise", "{stack}", "--roi", "0,0,64,64"), "--slice"),
    (("measure", "noise", "{img}", "--roi", "0,0,99,10"), "outside the image"),
    (("measure", "edge", "{missing}"), "file not found"),
    (("measure", "edge", "{nan}"), "NaN"),
    (("measure", "edge", "{img}"), "no edge found"),
    (("measure", "edge", "{img}", "--pixel-size", "3 kg"), "--pixel-size"),
    (("measure", "chart", "{img}", "--layout", "{badlayout}"), r"groups\[0\].n_lines"),
])
def test_errors_are_one_line_exit_2(twin, tmp_path, args, match):
    rng = np.random.default_rng(1)
    files = {"stack": tmp_path / "s.tif", "img": tmp_path / "i.tif", "nan": tmp_path / "n.tif",
             "tiny": tmp_path / "t.tif", "missing": tmp_path / "nope.tif",
             "badlayout": tmp_path / "chart.json"}
    write_tiff(files["stack"], rng.normal(size=(3, 64, 64)), pixel_size_um=1.0)
    write_tiff(files["img"], rng.normal(size=(64, 64)), pixel_size_um=1.0)
    nan = np.zeros((32, 32), np.float32)
    nan[3, 4] = np.nan
    import tifffile

    tifffile.imwrite(files["nan"], nan)
    write_tiff(files["tiny"], rng.normal(size=(4, 64)), pixel_size_um=1.0)
    write_json(files["badlayout"], {"pixel_size_um": 1.0, "image_shape": [64, 64], "groups": [
        {"name": "g", "line_width_um": 2.0, "n_lines": 1, "orientation": "vertical",
         "bbox_px": [0, 0, 10, 10], "bbox_um": [-32.0, -32.0, -22.0, -22.0], "height_um": 0.0}]})
    r = twin(*[a.format(**files) if isinstance(a, str) else a for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twin: error:")
    assert re.search(match, err[0]), err[0]


def test_chart_through_cli(twin, tmp_path):
    from physics.phantoms import line_pair_chart

    tmap, layout = line_pair_chart(line_widths_um=(1.0, 3.0), n_lines=5, pixel_size_um=0.40625)
    img = np.exp(-0.1 * np.asarray(tmap))
    write_tiff(tmp_path / "chart.tif", img, pixel_size_um=0.40625)
    write_json(tmp_path / "chart.json", layout)
    r = twin("measure", "chart", tmp_path / "chart.tif", "--layout", tmp_path / "chart.json",
             "--json")
    assert r.returncode == 0, r.stderr
    groups = json.loads(r.stdout)["groups"]
    assert len(groups) == 4
    for g in groups:
        assert {"line_width_um", "contrast", "peaks_found", "peaks_expected", "resolved"} <= set(g)
        assert g["resolved"] and g["peaks_found"] == g["peaks_expected"] == 5
    r = twin("measure", "chart", tmp_path / "chart.tif", "--layout", tmp_path / "chart.json")
    assert r.returncode == 0 and "resolved" in r.stdout


def test_roi_and_slice_parsing_messages():
    """The same validators the CLI uses, checked in-process (no subprocess needed)."""
    from physics.measure._common import parse_roi, select_slice

    assert parse_roi("1, 2,30,40") == (1, 2, 30, 40)
    with pytest.raises(ValueError, match="x0,y0,x1,y1"):
        parse_roi("0,0,10")
    with pytest.raises(ValueError, match="out of range"):
        select_slice(np.zeros((3, 4, 4)), 5)
    with pytest.raises(ValueError, match="only slice 0"):
        select_slice(np.zeros((4, 4)), 2)


def test_edge_refuses_a_photon_starved_minus_log_image_and_force_flags_it(twin, tmp_path):
    # -ln T of Poisson counts (200 open, ~0.02 behind a nearly opaque edge), floored at T = 1e-4.
    from scipy.special import ndtr

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:96, 0:128].astype(float)
    t = 1e-4 + (1 - 1e-4) * ndtr(((x - 64) - (y - 48) * np.tan(np.deg2rad(5))) / 1.2)
    minus_log = -np.log(np.clip(rng.poisson(200 * t) / 200.0, 1e-4, None))
    path = tmp_path / "projections.tif"
    write_tiff(path, minus_log.astype(np.float32), pixel_size_um=0.40625)
    r = twin("measure", "edge", path)
    assert r.returncode == 2
    assert r.stderr.startswith("twin: error: image: ") and "photon-starved" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = twin("measure", "edge", path, "--force", "--json")
    assert r.returncode == 0
    quality = json.loads(r.stdout)["quality"]
    assert quality["refusals"] and "twin: warning: " in r.stderr
