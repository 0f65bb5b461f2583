"""`twin reconstruct` on a tiny case through the real console script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import recon
from physics.imageio import read_tiff, write_tiff
from recon import geometry as geo

TWIN = Path(sys.executable).with_name("twin")


def _run(*args):
    cmd = [str(TWIN)] if TWIN.exists() else [sys.executable, "-m", "twin.cli"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    geom = recon.tomosynthesis(n_views=5, arc_deg=40, source_distance_um=2000, det_shape=(20, 24),
                               det_pixel_um=1.0, vol_shape=(4, 12, 14), voxel_um=(2.0, 1.0, 1.0),
                               z_range=(10, 18))
    x = np.zeros(geom.vol_shape, np.float32)
    x[2, 5, 9] = 0.5
    proj = np.asarray(recon.forward_project(x, geom))
    geo.save(tmp / "geometry.json", geom)
    write_tiff(tmp / "projections.tif", proj, pixel_size_um=1.0)
    write_tiff(tmp / "intensities.tif", 1000.0 * np.exp(-proj), pixel_size_um=1.0)
    return tmp, geom


def test_reconstruct_writes_slices_with_heights(case):
    tmp, geom = case
    out = tmp / "slices.tif"
    proc = _run("reconstruct", tmp / "projections.tif", "--geometry", tmp / "geometry.json",
                "--method", "sirt", "--iterations", "5", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["shape"] == [4, 12, 14] and summary["final_relative_residual"] < 1
    img = read_tiff(out)
    assert img.data.dtype == np.float32 and img.data.shape == (4, 12, 14)
    assert img.pixel_size_um == pytest.approx(1.0)
    np.testing.assert_allclose(img.metadata["slice_heights_um"], geom.heights_um)
    assert np.unravel_index(np.argmax(img.data), img.data.shape)[1:] == (5, 9)


def test_reconstruct_log_input_matches_line_integrals(case):
    tmp, _ = case
    a, b = tmp / "a.tif", tmp / "b.tif"
    common = ["--geometry", tmp / "geometry.json", "--method", "sas", "--no-progress",
              "--heights", "12:16:2 um"]
    assert _run("reconstruct", tmp / "projections.tif", *common, "--out", a).returncode == 0
    proc = _run("reconstruct", tmp / "intensities.tif", *common, "--log", "--i0", "1000", "--out", b)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(read_tiff(a).data, read_tiff(b).data, rtol=1e-4, atol=1e-6)
    assert read_tiff(b).metadata["slice_heights_um"] == [12.0, 14.0, 16.0]


@pytest.mark.parametrize("extra, message", [
    (["--log"], "--log and --i0"),
    (["--heights", "1:x:2 um"], "--heights"),
    (["--heights", "12:16:2"], "--heights"),
    (["--geometry", "missing.json"], "missing.json"),
])
def test_reconstruct_errors_are_one_line(case, extra, message):
    tmp, _ = case
    args = ["reconstruct", tmp / "projections.tif", "--geometry", tmp / "geometry.json",
            "--out", tmp / "never.tif", *extra]
    proc = _run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp / "never.tif").exists()
