"""Optics: magnification, collection efficiency limits, Airy and defocus PSFs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import j1

from physics import optics as o

FAST = settings(max_examples=12, deadline=None)
PSF_CASES = settings(max_examples=6, deadline=None)  # each example costs FFTs


def test_paper_magnification_and_effective_pixel():
    m = o.Microscope(o.Objective(magnification=20, design_tube_lens_mm=200), tube_lens_mm=160)
    assert m.magnification == pytest.approx(16.0)
    assert m.effective_pixel_um(6.5) == pytest.approx(0.40625)
    assert m.objective.focal_length_mm == pytest.approx(10.0)
    # quantities at the boundary
    assert o.Microscope(tube_lens_mm="16 cm").magnification == pytest.approx(16.0)


@FAST
@given(st.floats(2, 100), st.floats(50, 400), st.floats(50, 400), st.floats(1, 20))
def test_magnification_scales_with_tube_lens(mag, design, tube, pixel):
    m = o.Microscope(o.Objective(magnification=mag, design_tube_lens_mm=design), tube_lens_mm=tube)
    assert m.magnification == pytest.approx(mag * tube / design)
    assert m.effective_pixel_um(pixel) * m.magnification == pytest.approx(pixel)


def test_bad_optics_inputs_name_the_key():
    with pytest.raises(ValueError, match="numerical_aperture"):
        o.Objective(numerical_aperture=1.2)
    with pytest.raises(ValueError, match="tube_lens"):
        o.Microscope(tube_lens_mm="160 keV")
    with pytest.raises(ValueError, match="below the refractive index"):
        o.collection_fraction(1.5, 1.2)
    with pytest.raises(ValueError, match="size"):
        o.airy_psf(0.4, 0.5, pixel_um=0.1, size=0)


@FAST
@given(st.floats(0.05, 0.95), st.floats(1.3, 2.5))
def test_collection_fraction_limits(na, n):
    f = float(o.collection_fraction(na, n))
    theta = math.asin(na / n)
    assert f == pytest.approx((1 - math.cos(theta)) / 2, rel=1e-5)
    assert 0 < f < 0.5
    # sin^2(theta/2) >= sin^2(theta)/4 = (NA/n)^2/4, equality in the small-angle limit
    assert f >= (na / n) ** 2 / 4 * (1 - 1e-5)


def test_collection_fraction_analytic_limits():
    # small NA: (NA/n)^2 / 4
    assert float(o.collection_fraction(0.01, 2.0)) == pytest.approx(0.01**2 / 2**2 / 4, rel=1e-3)
    # NA -> n: half of the emission (the whole forward hemisphere)
    assert float(o.collection_fraction(0.9999, 1.0)) == pytest.approx(0.5, rel=0.02)
    # more NA collects more, higher index collects less
    assert o.collection_fraction(0.5, 2.0) > o.collection_fraction(0.4, 2.0)
    assert o.collection_fraction(0.4, 2.2) < o.collection_fraction(0.4, 1.8)


def test_fresnel_and_total_efficiency():
    n = 2.2
    assert float(o.fresnel_transmission(n)) == pytest.approx(1 - ((n - 1) / (n + 1)) ** 2)
    assert float(o.fresnel_transmission(1.5, substrate_index=1.5)) == pytest.approx(0.96)
    m = o.Microscope()
    eff = float(m.collection_efficiency(n, substrate_index=1.46))
    assert eff < float(o.collection_fraction(m.numerical_aperture, n))
    assert eff == pytest.approx(float(o.collection_fraction(0.42, n) * o.fresnel_transmission(
        n, substrate_index=1.46)) * 0.8)


def test_bessel_j1_matches_scipy():
    x = np.linspace(-30, 30, 601)
    assert np.abs(np.asarray(o.bessel_j1(jnp.asarray(x))) - j1(x)).max() < 5e-6


def test_airy_psf_matches_analytic_fwhm_and_encircled_energy():
    lam, na, px = 0.5, 0.5, 0.025
    psf = np.asarray(o.airy_psf(na, lam, pixel_um=px, size=161, supersample=3))
    c = 80
    prof = psf[c] / psf[c, c]
    above = np.nonzero(prof >= 0.5)[0]
    fwhm = (above[-1] - above[0] + 1) * px
    assert fwhm == pytest.approx(0.5145 * lam / na, abs=px)
    # encircled energy EE(v) = 1 - J0(v)^2 - J1(v)^2 (Rayleigh); inside the first dark ring
    # 83.8 %; compared relative to the largest circle inside the window (the PSF is
    # normalised over its window)
    from scipy.special import j0
    x = (np.arange(161) - c) * px
    r = np.hypot(x[:, None], x[None, :])
    r0, rw = 3.8317 * lam / (2 * np.pi * na), c * px
    ee = lambda rad: 1 - j0(2 * np.pi * na * rad / lam) ** 2 - j1(2 * np.pi * na * rad / lam) ** 2
    assert psf[r <= r0].sum() / psf[r <= rw].sum() == pytest.approx(ee(r0) / ee(rw), abs=0.01)


@PSF_CASES
@given(st.floats(0.1, 0.95), st.floats(0.4, 0.7), st.floats(0.05, 0.5), st.sampled_from([15, 32]))
def test_airy_psf_nonnegative_unit_sum(na, lam, px, size):
    psf = o.airy_psf(na, lam, pixel_um=px, size=size, supersample=4)
    assert psf.shape == (size, size)
    assert float(psf.min()) >= 0
    assert float(psf.sum()) == pytest.approx(1.0, abs=1e-5)


@PSF_CASES
@given(st.floats(0.1, 0.9), st.floats(0.4, 0.7), st.floats(-15, 15), st.floats(1.5, 2.4),
       st.sampled_from([0.1, 0.2, 0.40625]))
def test_defocus_psf_nonnegative_unit_sum(na, lam, dz, n, px):
    psf = o.defocus_psf(na, lam, dz, refractive_index=n, pixel_um=px, size=32,
                        supersample=o.supersampling_for(px, 0.4))
    assert psf.shape == (32, 32)
    assert float(psf.min()) >= 0
    assert float(psf.sum()) == pytest.approx(1.0, abs=1e-5)
    assert bool(jnp.all(jnp.isfinite(psf)))


def test_defocus_psf_in_focus_is_airy():
    kw = dict(pixel_um=0.1, size=64)
    a = o.airy_psf(0.42, 0.48, **kw)
    d = o.defocus_psf(0.42, 0.48, 0.0, refractive_index=2.2, **kw)
    assert float(jnp.abs(a - d).sum()) < 0.02
    assert float(d.max()) == pytest.approx(float(a.max()), rel=0.02)


def test_defocus_psf_symmetric_in_sign_of_defocus():
    kw = dict(refractive_index=2.0, pixel_um=0.1, size=48)
    p = o.defocus_psf(0.5, 0.5, 3.0, **kw)
    m = o.defocus_psf(0.5, 0.5, -3.0, **kw)
    assert float(jnp.abs(p - m).max()) < 1e-5


def test_defocus_psf_reaches_geometric_blur_disc():
    # far from focus the PSF is a uniform disc of radius dz tan(theta_in)
    na, n, dz, px = 0.42, 2.2, 40.0, 0.2
    psf = np.asarray(o.defocus_psf(na, 0.49, dz, refractive_index=n, pixel_um=px, size=128, pad=1))
    x = (np.arange(128) - 64) * px
    r = np.hypot(x[:, None], x[None, :])
    radius = dz * math.tan(math.asin(na / n))
    assert psf[r <= 0.5 * radius].sum() == pytest.approx(0.25, abs=0.02)
    assert psf[r <= 1.1 * radius].sum() > 0.93
    # and the blur grows with defocus
    # and the energy outside a fixed small radius grows with defocus
    stack = np.asarray(o.defocus_psf_stack(na, 0.49, jnp.array([0.0, 5.0, 10.0, 20.0]),
                                           refractive_index=n, pixel_um=px, size=64))
    xx = (np.arange(64) - 32) * px
    rr = np.hypot(xx[:, None], xx[None, :])
    outside = [float(p[rr > 0.5].sum()) for p in stack]
    assert outside == sorted(outside) and outside[-1] > outside[0] + 0.3


def test_defocus_psf_gradients_finite_and_match_finite_differences():
    depths = jnp.linspace(-4.0, 4.0, 6)

    def peak(na, dz0):
        psf = o.defocus_psf_stack(na, 0.49, depths + dz0, refractive_index=2.2, pixel_um=0.2, size=32,
                                  weights=jnp.ones(6), supersample=2, pad=4)
        return psf[16, 16]

    g_na, g_dz = jax.grad(peak, argnums=(0, 1))(0.42, 0.5)
    assert np.isfinite(float(g_na)) and np.isfinite(float(g_dz))
    h = 1e-2
    fd_na = (peak(0.42 + h, 0.5) - peak(0.42 - h, 0.5)) / (2 * h)
    # the anti-aliased pupil edge makes the PSF piecewise smooth in NA: the gradient is the
    # local slope, a central difference over 2h averages a few kinks
    assert float(g_na) == pytest.approx(float(fd_na), rel=0.2, abs=1e-4)
    fd_dz = (peak(0.42, 0.5 + h) - peak(0.42, 0.5 - h)) / (2 * h)
    assert float(g_dz) == pytest.approx(float(fd_dz), rel=0.05, abs=1e-5)
    assert float(g_na) > 0  # a larger aperture sharpens the peak
