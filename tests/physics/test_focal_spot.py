"""Focal spot: penumbra kernels and source-point quadrature against geometry and moments."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics.focal_spot import (
    FocalSpot,
    apparent_length_um,
    kernel_at_detector,
    penumbra_magnification,
    penumbra_mtf,
    source_points,
    source_positions,
)
from physics.measure.mtf import FWHM_PER_SIGMA
from physics.units import UnitError

PIXEL = 0.40625


def _moments(kernel, pixel):
    k = np.asarray(kernel, dtype=np.float64)
    n = k.shape[0]
    c = (np.arange(n) - n // 2) * pixel
    y, x = np.meshgrid(c, c, indexing="ij")
    mx, my = (k * x).sum(), (k * y).sum()
    cov = np.array([[(k * (x - mx) ** 2).sum(), (k * (x - mx) * (y - my)).sum()],
                    [(k * (x - mx) * (y - my)).sum(), (k * (y - my) ** 2).sum()]])
    return np.array([mx, my]), cov


SPOTS = [
    FocalSpot(shape="gaussian", size_um=40.0),
    FocalSpot(shape="disc", size_um=30.0),
    FocalSpot(shape="ellipse", size_um=40.0, line_length_um=150.0, axis_deg=30.0),
    FocalSpot(shape="image", image=np.arange(1.0, 16.0).reshape(3, 5), image_pixel_um=8.0),
]


@settings(max_examples=25, deadline=None)
@given(spot=st.sampled_from(SPOTS), height=st.floats(0.0, 3000.0), source=st.floats(2e4, 1e5))
def test_kernels_non_negative_and_normalised(spot, height, source):
    k = kernel_at_detector(spot, object_height_um=height, source_distance_um=source, pixel_um=PIXEL,
                           half_width_px=16)
    assert k.shape == (33, 33)
    assert float(k.min()) >= 0.0
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=12, deadline=None)
@given(spot=st.sampled_from(SPOTS[:3]), m=st.floats(0.08, 0.12), source=st.floats(2e4, 1e5))
def test_kernel_covariance_is_spot_covariance_scaled_by_penumbra_magnification(spot, m, source):
    """Penumbra = spot scaled by h / (D - h): variance grows as m^2 (pixel box adds p^2/12)."""
    height = source * m / (1 + m)  # h / (D - h) = m
    k = kernel_at_detector(spot, object_height_um=height, source_distance_um=source, pixel_um=PIXEL,
                           half_width_px=24)
    mean, cov = _moments(k, PIXEL)
    expected = np.asarray(spot.covariance_um2()) * m**2 + np.eye(2) * PIXEL**2 / 12
    np.testing.assert_allclose(mean, 0.0, atol=1e-3)
    np.testing.assert_allclose(cov, expected, rtol=0.03, atol=0.01 * np.trace(expected))


@settings(max_examples=10, deadline=None)
@given(h1=st.floats(1500.0, 3000.0), factor=st.floats(1.5, 3.0), source=st.floats(3e4, 5e4))
def test_blur_linear_in_object_height_and_inverse_in_source_to_object_distance(h1, factor, source):
    spot = FocalSpot(shape="gaussian", size_um=50.0)

    def width(h, d):  # penumbra sigma from the kernel, pixel box removed
        k = kernel_at_detector(spot, object_height_um=h, source_distance_um=d, pixel_um=PIXEL, half_width_px=80)  # >= 4.5 sigma at the largest penumbra
        _, cov = _moments(k, PIXEL)
        return math.sqrt(cov[0, 0] - PIXEL**2 / 12)

    sigma = 50.0 / FWHM_PER_SIGMA
    # object-to-scintillator distance scaled at fixed source-to-object distance
    d_obj = source - h1
    w1, w2 = width(h1, h1 + d_obj), width(factor * h1, factor * h1 + d_obj)
    assert w2 / w1 == pytest.approx(factor, rel=0.01)
    assert w1 == pytest.approx(sigma * h1 / d_obj, rel=0.01)
    # source-to-object distance scaled at fixed object height
    w3 = width(h1, h1 + factor * d_obj)
    assert w1 / w3 == pytest.approx(factor, rel=0.01)


def test_image_kernel_is_point_reflected_spot():
    """A source offset s moves the shadow by -s h/(D-h): the kernel centroid flips sign."""
    img = np.zeros((7, 7))
    img[1, 5] = 1.0  # one bright source pixel at (+2, -2) pixels from the centre
    spot = FocalSpot(shape="image", image=img, image_pixel_um=10.0)
    h, d = 4000.0, 44000.0
    m = penumbra_magnification(h, d)
    k = kernel_at_detector(spot, object_height_um=h, source_distance_um=d, pixel_um=PIXEL)
    mean, _ = _moments(k, PIXEL)
    np.testing.assert_allclose(mean, [-2 * 10.0 * m, +2 * 10.0 * m], atol=0.02)


def test_zero_height_gives_delta_kernel():
    for spot in SPOTS:
        k = kernel_at_detector(spot, object_height_um=0.0, source_distance_um=5e4, pixel_um=PIXEL,
                               half_width_px=2)
        assert float(k[2, 2]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("shape", ["gaussian", "disc"])
def test_kernel_differentiable_in_spot_size(shape):
    def centre_weight(size):
        spot = dataclasses.replace(FocalSpot(shape=shape), size_um=size)
        k = kernel_at_detector(spot, object_height_um=2000.0, source_distance_um=5e4, pixel_um=PIXEL,
                               half_width_px=6)
        return k[6, 6]

    g = jax.grad(centre_weight)(40.0)
    fd = (centre_weight(40.5) - centre_weight(39.5)) / 1.0
    assert float(g) < 0  # a larger spot spreads the penumbra
    assert float(g) == pytest.approx(float(fd), rel=0.05)


def test_line_focus_principle():
    assert apparent_length_um(200.0, 12.0) == pytest.approx(200.0 * math.sin(math.radians(12.0)))
    # towards the cathode the spot looks longer, towards the anode (heel) shorter
    assert apparent_length_um(200.0, 12.0, view_angle_deg=5.0) > apparent_length_um(200.0, 12.0)
    assert apparent_length_um(200.0, 12.0, view_angle_deg=-5.0) < apparent_length_um(200.0, 12.0)
    spot = FocalSpot(shape="ellipse", size_um=40.0, line_length_um=200.0, anode_angle_deg=12.0, axis_deg=90.0)
    cov = np.asarray(spot.covariance_um2())
    # along y (anode-cathode axis): uniform ellipse variance = (L sin(theta) / 2)^2 / 4
    assert cov[1, 1] == pytest.approx((200.0 * math.sin(math.radians(12.0)) / 2) ** 2 / 4, rel=1e-5)
    assert cov[0, 0] == pytest.approx(20.0**2 / 4, rel=1e-5)


@settings(max_examples=10, deadline=None)
@given(spot=st.sampled_from(SPOTS[:3]), n=st.sampled_from([4, 16, 64, 128]))
def test_source_points_reproduce_spot_mean_and_covariance(spot, n):
    off, w = source_points(spot, n=n)
    off, w = np.asarray(off, np.float64), np.asarray(w, np.float64)
    assert off.shape == (n, 2) and w.shape == (n,)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-6)
    mean = (w[:, None] * off).sum(0)
    cov = (w[:, None, None] * off[:, :, None] * off[:, None, :]).sum(0)
    scale = float(np.trace(np.asarray(spot.covariance_um2())))
    np.testing.assert_allclose(mean, 0.0, atol=1e-5 * math.sqrt(scale))
    np.testing.assert_allclose(cov, np.asarray(spot.covariance_um2()), rtol=1e-4, atol=1e-5 * scale)


def test_image_source_points_keep_centroid_and_total():
    img = np.zeros((9, 12))
    img[2:5, 3:10] = np.arange(21.0).reshape(3, 7)
    spot = FocalSpot(shape="image", image=img, image_pixel_um=4.0)
    off, w = source_points(spot, n=8)
    assert off.shape[0] <= 8 and float(w.sum()) == pytest.approx(1.0, abs=1e-6)
    y, x = np.meshgrid((np.arange(9) - 4) * 4.0, (np.arange(12) - 5.5) * 4.0, indexing="ij")
    centroid = np.array([(img * x).sum(), (img * y).sum()]) / img.sum()
    np.testing.assert_allclose((np.asarray(w)[:, None] * np.asarray(off)).sum(0), centroid, atol=1e-4)


def test_source_positions_lie_in_plane_perpendicular_to_central_ray():
    t = math.radians(25.0)
    s = np.array([5e4 * math.sin(t), 0.0, 5e4 * math.cos(t)])
    pos, w = source_positions(FocalSpot(shape="disc", size_um=40.0), s, n=16)
    rel = np.asarray(pos, np.float64) - s
    assert np.abs(rel @ (s / np.linalg.norm(s))).max() < 0.05  # um, float32 round-off at 5 cm
    assert np.abs(np.linalg.norm(rel, axis=1)).max() <= 20.0 + 0.05


def test_bad_input_names_the_key():
    with pytest.raises(ValueError, match="focal_spot.shape"):
        FocalSpot(shape="square")
    with pytest.raises(UnitError, match="focal_spot.size_um"):
        FocalSpot(size_um=-3.0)
    with pytest.raises(UnitError, match="focal_spot.size_um"):
        FocalSpot(size_um="40 keV")
    assert FocalSpot(size_um="0.04 mm").size_um == pytest.approx(40.0)
    with pytest.raises(ValueError, match="line_length_um"):
        FocalSpot(shape="ellipse")
    with pytest.raises(ValueError, match="focal_spot.image"):
        FocalSpot(shape="image", image=np.array([[1.0, np.nan]]), image_pixel_um=1.0)
    with pytest.raises(ValueError, match="source_distance_um"):
        penumbra_magnification(100.0, 50.0)
    with pytest.raises(ValueError, match="n:"):
        source_points(FocalSpot(), n=6)
    with pytest.raises(ValueError, match="half_width_px"):
        jax.grad(lambda s: kernel_at_detector(dataclasses.replace(FocalSpot(), size_um=s),
                                              object_height_um=10.0, source_distance_um=5e4,
                                              pixel_um=PIXEL).sum())(40.0)


def test_source_point_average_equals_penumbra_kernel_convolution():
    """Averaging thin-layer projections over the spot's source points = convolving with the kernel."""
    from jax.scipy.signal import convolve2d

    from physics.phantoms import slanted_edge
    from physics.projection import Layer, LayeredObject, path_lengths

    h, d, p = 2000.0, 20000.0, PIXEL
    spot = FocalSpot(shape="gaussian", size_um=20.0)
    edge, _ = slanted_edge(angle_deg=3.0, pixel_size_um=p, shape=(48, 48), thickness_um=1.0)
    obj = LayeredObject(("W",), (Layer(h, edge[None], p * (d - h) / d),))  # unit magnification grid
    pos, w = source_positions(spot, jnp.array([0.0, 0.0, d]), n=256)
    det = dict(det_shape=(48, 48), det_pixel_um=p)
    views = jax.vmap(lambda s: path_lengths(obj, s, **det)[0])(pos)  # one projection per source point
    averaged = jnp.tensordot(w, views, axes=1)
    centre = path_lengths(obj, jnp.array([0.0, 0.0, d]), **det)[0]
    k = kernel_at_detector(spot, object_height_um=h, source_distance_um=d, pixel_um=p)
    blurred = convolve2d(centre, k, mode="same")
    hw = k.shape[0] // 2 + 2  # compare away from the zero-padded border
    np.testing.assert_allclose(np.asarray(averaged)[hw:-hw, hw:-hw], np.asarray(blurred)[hw:-hw, hw:-hw],
                               atol=0.01)


@pytest.mark.parametrize("m", [2.0, 185.0])
def test_penumbra_mtf_gaussian_and_disc_match_analytic(m):
    """Object-plane penumbra MTF: a Gaussian spot gives exp(-2 pi^2 s^2 f^2) and a disc
    2 J1(v)/v, with the spot scaled by (M - 1)/M (M = SDD/SOD), at M = 2 and at M = 185
    (where the kernel grid coarsens)."""
    from scipy.special import j1

    f = np.linspace(0, 2.0, 81)
    sod = 5000.0
    geometry = dict(source_object_um=sod, source_detector_um=m * sod, freqs_per_um=f)
    scale = (m - 1) / m
    sigma = 3.0 / FWHM_PER_SIGMA * scale
    np.testing.assert_allclose(penumbra_mtf(FocalSpot("gaussian", 3.0), **geometry),
                               np.exp(-2 * np.pi**2 * sigma**2 * f**2), atol=2e-3)
    a = 1.5 * scale  # disc radius at the object plane
    v = 2 * np.pi * a * np.maximum(f, 1e-12)
    np.testing.assert_allclose(penumbra_mtf(FocalSpot("disc", 3.0), **geometry), np.abs(2 * j1(v) / v), atol=1e-2)
    with pytest.raises(ValueError, match="source_object_um"):
        penumbra_mtf(FocalSpot(), source_object_um=5.0, source_detector_um=4.0, freqs_per_um=f)
