"""Algorithms: a point object comes back at the right (x, y, height); iterations converge."""

import jax.numpy as jnp
import numpy as np
import pytest

import recon
from recon.filters import fbp_filter

GEOM = dict(n_views=9, arc_deg=60, source_distance_um=2000, det_shape=(40, 48), det_pixel_um=1.0,
            vol_shape=(8, 24, 28), voxel_um=(2.0, 1.0, 1.0), z_range=(10, 26))
POINT = (4, 10, 17)  # (z, y, x) voxel index


@pytest.fixture(scope="module")
def point_case():
    geom = recon.tomosynthesis(**GEOM)
    x = np.zeros(geom.vol_shape, np.float32)
    x[POINT] = 1.0
    return geom, recon.forward_project(x, geom)


@pytest.mark.parametrize("method, options", [
    ("sas", {}), ("fbp", {"slice_thickness_um": 4.0}), ("sirt", {"iterations": 20}),
    ("sart", {"iterations": 3, "n_subsets": 3}), ("grad", {"iterations": 20, "tv_weight": 1e-4}),
])
def test_point_object_found_at_its_position(point_case, method, options):
    geom, proj = point_case
    steps = []
    result = recon.reconstruct(proj, geom, method=method, callback=lambda i, n, info: steps.append(i),
                               **options)
    data = np.asarray(result.data)
    peak = np.unravel_index(np.argmax(data), data.shape)
    assert all(abs(int(p) - q) <= 1 for p, q in zip(peak, POINT)), peak
    assert (peak[1], peak[2]) == POINT[1:]  # in-plane position is sharp in tomosynthesis
    np.testing.assert_allclose(result.heights_um[POINT[0]], 10 + 2.0 * (POINT[0] + 0.5))
    assert result.voxel_um == (2.0, 1.0, 1.0) and steps and steps[-1] == options.get("iterations", 1)


def test_sirt_residual_decreases_and_positivity_holds(point_case):
    geom, proj = point_case
    result = recon.sirt(proj, geom, iterations=8)
    res = result.info["relative_residual"]
    assert all(b <= a + 1e-6 for a, b in zip(res, res[1:])) and res[-1] < 0.5 * res[0]
    assert float(jnp.min(result.data)) >= 0.0


def test_grad_reduces_the_loss_with_tv(point_case):
    geom, proj = point_case
    result = recon.gradient(proj, geom, iterations=10, tv_weight=1e-3)
    loss = result.info["relative_loss"]
    assert loss[-1] < 0.2 * loss[0]


def test_uniform_object_recovered_by_shift_and_add():
    geom = recon.tomosynthesis(**GEOM)
    value = 0.01
    proj = recon.forward_project(np.full(geom.vol_shape, value, np.float32), geom)
    data = np.asarray(recon.shift_and_add(proj, geom).data)
    np.testing.assert_allclose(data[:, 8:16, 8:20], value, rtol=1e-4)


def test_reconstruct_at_requested_heights(point_case):
    geom, proj = point_case
    heights = [17.0, 19.0, 21.0]  # point centre at 19 um
    result = recon.shift_and_add(proj, geom, heights_um=heights)
    assert result.data.shape == (3, 24, 28)
    np.testing.assert_allclose(result.heights_um, heights)
    assert int(np.argmax(np.asarray(result.data).max(axis=(1, 2)))) == 1


def test_fbp_filter_is_a_ramp_at_low_frequency():
    tau = 0.5
    n_fft, h = fbp_filter(256, tau, arc_deg=40)
    f = np.fft.rfftfreq(n_fft, d=tau)
    assert abs(h[0]) < 0.01 * h.max()  # discrete Ram-Lak keeps a tiny positive DC
    low = slice(5, n_fft // 16)
    np.testing.assert_allclose(h[low], f[low], rtol=0.05)  # Hann at full band ~1 here
    _, h_thick = fbp_filter(256, tau, arc_deg=40, slice_thickness_um=10.0)
    f_t = 1 / (2 * 10.0 * np.tan(np.deg2rad(20)))
    assert np.all(h_thick[f >= f_t] == 0) and np.all(h_thick[(f > 0) & (f < 0.9 * f_t)] > 0)


@pytest.mark.parametrize("call, message", [
    (lambda p, g: recon.sirt(p, g, iterations=0), "iterations"),
    (lambda p, g: recon.sart(p, g, n_subsets=99), "n_subsets"),
    (lambda p, g: recon.sirt(p, g, relaxation=2.5), "relaxation"),
    (lambda p, g: recon.reconstruct(p, g, method="art"), "method"),
    (lambda p, g: recon.fbp(p[:1], g.subset([0])), "at least 2 views"),
    (lambda p, g: recon.shift_and_add(p[:, :3], g), "does not match"),
    (lambda p, g: recon.shift_and_add(p, g, heights_um=[1, 2, 5]), "evenly spaced"),
])
def test_algorithms_reject_bad_options(point_case, call, message):
    geom, proj = point_case
    with pytest.raises(ValueError, match=message):
        call(proj, geom)
