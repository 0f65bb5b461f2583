"""Geometry builders, ASTRA conversion, JSON round trip and input validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recon
from helpers import general2d, general3d, tomo2d, tomo3d
from recon import geometry as geo


def test_tomosynthesis_follows_the_fixed_conventions():
    g = recon.tomosynthesis(n_views=5, arc_deg=40, source_distance_um=1e4, det_shape=(8, 10),
                            vol_shape=(3, 4, 6), voxel_um=(2.0, 1.0, 0.5), heights_um=[10, 12, 14])
    theta = np.deg2rad(np.linspace(-20, 20, 5))
    np.testing.assert_allclose(g.source_positions_um,
                               np.stack([1e4 * np.sin(theta), 0 * theta, 1e4 * np.cos(theta)], 1))
    np.testing.assert_allclose(g.detector_centres_um, 0)
    np.testing.assert_allclose(g.vectors[:, 6:9], [[6.5 / 16, 0, 0]] * 5)  # u along x (columns)
    np.testing.assert_allclose(g.vectors[:, 9:12], [[0, 6.5 / 16, 0]] * 5)  # v along y (rows)
    np.testing.assert_allclose(g.heights_um, [10, 12, 14])
    assert g.voxel_um == (2.0, 1.0, 0.5) and g.proj_shape == (5, 8, 10)
    assert g.vol_window[2] == (-1.5, 1.5) and g.units == "um"


def test_2d_uses_astra_xy_as_our_xz():
    g = recon.tomosynthesis_2d(n_views=3, arc_deg=20, source_distance_um=500, det_cols=16,
                               det_pixel_um=1.0, vol_shape=(2, 8), voxel_um=1.0, z_range=(3, 5))
    np.testing.assert_allclose(g.vectors[1], [0, 500, 0, 0, 1, 0])  # (src x, z, det x, z, u x, z)
    np.testing.assert_allclose(g.source_positions_um[:, 1], 0)
    np.testing.assert_allclose(g.heights_um, [3.5, 4.5])


@pytest.mark.parametrize("make", [tomo2d, tomo3d, lambda: general2d([0.3, 2.0]),
                                  lambda: general3d([0.1, 1.7], tilt=0.2)])
def test_json_round_trip(tmp_path, make):
    g = make()
    path = geo.save(tmp_path / "geometry.json", g)
    back = geo.load(path)
    np.testing.assert_array_equal(back.vectors, g.vectors)
    assert (back.det_shape, back.vol_shape, back.vol_window) == (g.det_shape, g.vol_shape, g.vol_window)
    d = g.to_json_dict()
    assert len(d["source_positions_um"]) == g.n_views and len(d["slice_heights_um"]) == g.vol_shape[0]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(arc=st.floats(0, 150), n=st.integers(1, 9), three_d=st.booleans())
def test_astra_dict_round_trip(arc, n, three_d):
    g = (tomo3d if three_d else tomo2d)(n_views=n, arc_deg=arc)
    back = recon.from_astra(*g.to_astra())
    np.testing.assert_allclose(back.vectors, g.vectors, atol=1e-12)
    assert back.vol_shape == g.vol_shape and back.det_shape == g.det_shape
    np.testing.assert_allclose(back.vol_window, g.vol_window)


def test_from_astra_2d_maps_row_zero_to_the_top():
    """ASTRA 2D row 0 is at y = WindowMaxY; ours is the lowest z: (x, y) -> (x, -y)."""
    vg = {"GridRowCount": 4, "GridColCount": 6,
          "option": {"WindowMinX": -3.0, "WindowMaxX": 3.0, "WindowMinY": 1.0, "WindowMaxY": 5.0}}
    pg = {"type": "fanflat_vec", "DetectorCount": 8, "Vectors": [[0.0, 100.0, 0.0, -50.0, 1.0, 0.0]]}
    g = recon.from_astra(pg, vg)
    assert g.vol_window[0] == (-5.0, -1.0)
    np.testing.assert_allclose(g.vectors[0], [0, -100, 0, 50, 1, 0])


def test_astra_2d_sinogram_agrees(rng):
    astra = pytest.importorskip("astra")
    g = general2d(np.linspace(0, 2 * np.pi, 8, endpoint=False), width=0.5)
    x = np.zeros(g.vol_shape, np.float32)
    yy, xx = np.mgrid[: g.vol_shape[0], : g.vol_shape[1]]
    x[(yy - 9.5) ** 2 + (xx - 12.5) ** 2 < 49] = 1.0
    pg, vg = g.to_astra()
    pid = astra.create_projector("line_fanflat", pg, vg)
    sid, sino = astra.create_sino(x, pid)
    astra.data2d.delete(sid)
    astra.projector.delete(pid)
    ours = np.asarray(recon.forward_project(x, g))
    inner = sino > 0.5 * sino.max()
    # different discretisations (line vs distance-driven): agree in the interior, same total
    assert np.median(np.abs(ours - sino)[inner] / sino[inner]) < 0.02
    np.testing.assert_allclose(ours.sum(axis=1), sino.sum(axis=1), rtol=0.01)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_views=0), "n_views"),
    (dict(arc_deg=180), "arc_deg"),
    (dict(arc_deg=float("nan")), "arc_deg"),
    (dict(source_distance_um=-5), "source_distance_um"),
    (dict(source_distance_um=3.2), "not above the volume top"),
    (dict(voxel_um=(1.0, -1.0, 1.0)), "voxel_um"),
    (dict(det_shape=(0, 4)), "det_shape"),
    (dict(heights_um=[1, 2, 4]), "evenly spaced"),
    (dict(heights_um=[1, 2], z_range=(0, 3)), "exactly one"),
])
def test_tomosynthesis_rejects_bad_input(kwargs, message):
    base = dict(n_views=3, arc_deg=30, source_distance_um=1e4, det_shape=(4, 4), vol_shape=(3, 4, 4),
                voxel_um=1.0, heights_um=[1, 2, 3])
    if "z_range" in kwargs or "heights_um" in kwargs:
        base.pop("heights_um")
    with pytest.raises(ValueError, match=message):
        recon.tomosynthesis(**(base | kwargs))


def test_geometry_rejects_bad_vectors():
    window = ((1.0, 3.0), (-2.0, 2.0))
    with pytest.raises(ValueError, match="zero views"):
        recon.Geometry(vectors=np.zeros((0, 6)), det_shape=(4,), vol_shape=(2, 4), vol_window=window)
    with pytest.raises(ValueError, match="source lies in the detector plane"):
        recon.Geometry(vectors=[[5.0, 0.0, 0.0, 0.0, 1.0, 0.0]], det_shape=(4,), vol_shape=(2, 4),
                       vol_window=window)
    with pytest.raises(ValueError, match="NaN"):
        recon.Geometry(vectors=[[np.nan, 9.0, 0.0, 0.0, 1.0, 0.0]], det_shape=(4,), vol_shape=(2, 4),
                       vol_window=window)
    with pytest.raises(ValueError, match="inside the volume"):
        recon.Geometry(vectors=[[0.0, 2.0, 0.0, 0.0, 1.0, 0.0]], det_shape=(4,), vol_shape=(2, 4),
                       vol_window=window)
    with pytest.raises(ValueError, match="vectors: expected shape"):
        recon.Geometry(vectors=np.zeros((2, 7)), det_shape=(4,), vol_shape=(2, 4), vol_window=window)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="g.json"):
        geo.load(path)
    with pytest.raises(ValueError, match="not found"):
        geo.load(tmp_path / "missing.json")
