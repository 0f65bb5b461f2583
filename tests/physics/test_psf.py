"""Depth-integrated scintillator-optics PSF: normalisation, Koch formula, convolution adjoint."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import j1

from physics import psf as P
from physics.optics import Microscope, Objective
from physics.scintillator import Scintillator

ENERGIES = np.array([10.0, 20.0, 30.0, 40.0])
PHOTONS = np.array([1.0, 3.0, 2.0, 1.0])


def _uniform_screen_psf(na, lam, n, z, *, px=0.05, size=192, layers=32):
    depths = (jnp.arange(layers) + 0.5) / layers * z
    return P.depth_integrated_psf(na, lam, n, depths, jnp.ones(layers), pixel_um=px, size=size)


@settings(max_examples=6, deadline=None)
@given(st.floats(0.2, 0.9), st.floats(0.5, 40.0), st.floats(0.42, 0.62), st.sampled_from(["ZnWO4", "LuAG:Ce"]))
def test_psf_nonnegative_unit_sum(na, thickness, lam_um, name):
    scint = Scintillator(name, thickness_um=thickness, emission_nm=lam_um * 1e3)
    mic = Microscope(Objective(numerical_aperture=na))
    psf = P.scintillator_optics_psf(scint, mic, ENERGIES, PHOTONS, pixel_um=0.2, size=32, n_layers=8,
                                    supersample=4)
    assert psf.shape == (32, 32)
    assert float(psf.min()) >= 0
    assert float(psf.sum()) == pytest.approx(1.0, abs=1e-5)


def test_koch_formula_values():
    assert float(P.koch_resolution_um(na=0.4, thickness_um=0.0)) == pytest.approx(0.45)
    assert float(P.koch_resolution_um(na=0.4, thickness_um=10.0)) == pytest.approx(
        math.hypot(0.18 / 0.4, 0.075 * 10 * 0.4))


def test_thin_screen_limit_matches_koch_diffraction_term():
    # R = 1/(2 f10) of an aberration-free objective is 0.3104 lambda/NA; Koch's p = 0.18 um
    # corresponds to lambda = 0.58 um.
    for na in (0.2, 0.42, 0.75):
        r = P.mtf_resolution_um(_uniform_screen_psf(na, 0.58, 1.84, 0.1), 0.05)
        assert r == pytest.approx(float(P.koch_resolution_um(na=na, thickness_um=0.0)), rel=0.03)
        assert r == pytest.approx(0.3104 * 0.58 / na, rel=0.02)


@pytest.mark.parametrize("na,z", [(0.2, 10.0), (0.42, 2.0), (0.42, 5.0), (0.75, 1.0), (0.75, 2.0)])
def test_thin_screens_agree_with_koch_within_ten_percent(na, z):
    # thin-screen regime: the thickness term q z NA at most half the diffraction term p/NA
    assert 0.075 * z * na <= 0.5 * 0.18 / na
    r = P.mtf_resolution_um(_uniform_screen_psf(na, 0.58, 1.84, z), 0.05)
    assert r == pytest.approx(float(P.koch_resolution_um(na=na, thickness_um=z)), rel=0.10)


def test_thick_screen_reaches_geometric_limit():
    # uniform emission over z, focus at mid-depth: the depth average of blur discs of radius
    # up to r_max = (z/2) tan(theta_in) has MTF (2/U) int_0^U J1(u)/u du, U = 2 pi f r_max
    mtf = lambda u_: 2 / u_ * quad(lambda u: j1(u) / u, 0, u_, limit=200)[0]
    u10 = brentq(lambda u_: mtf(u_) - 0.1, 5, 40)
    na, n, z = 0.75, 1.84, 20.0
    r_max = z / 2 * math.tan(math.asin(na / n))
    r = P.mtf_resolution_um(_uniform_screen_psf(na, 0.55, n, z, px=0.1, size=160, layers=48), 0.1)
    assert r == pytest.approx(math.pi * r_max / u10, rel=0.05)


def test_width_grows_with_thickness():
    widths = [P.mtf_resolution_um(_uniform_screen_psf(0.6, 0.55, 2.2, z, px=0.05, size=128, layers=16), 0.05)
              for z in (1.0, 5.0, 10.0, 20.0)]
    assert widths == sorted(widths) and widths[-1] > 1.5 * widths[0]


def test_default_focus_is_light_centroid_and_sharpest_nearby():
    scint = Scintillator(thickness_um=20.0)
    depths = scint.layer_depths_um(16)
    w = scint.layer_light(ENERGIES, PHOTONS, 16)
    f = float(P.best_focus_depth_um(depths, w))
    assert 0 < f < 10.0  # exponential absorption pulls the light toward the entrance face
    mic = Microscope(Objective(numerical_aperture=0.6))
    kw = dict(pixel_um=0.1, size=64, n_layers=16)
    peak = lambda focus: float(P.scintillator_optics_psf(scint, mic, ENERGIES, PHOTONS, focus_depth_um=focus,
                                                         **kw).max())
    assert peak(f) > peak(0.0) and peak(f) > peak(20.0)


def test_layer_count_converged():
    scint = Scintillator(thickness_um=10.0)
    mic = Microscope()
    kw = dict(pixel_um=0.203125, size=48)
    a = P.scintillator_optics_psf(scint, mic, ENERGIES, PHOTONS, n_layers=16, **kw)
    b = P.scintillator_optics_psf(scint, mic, ENERGIES, PHOTONS, n_layers=64, **kw)
    assert float(jnp.abs(a - b).sum()) < 1e-3


def test_psf_differentiable_in_thickness_na_and_focus():
    mic = Microscope()

    def peak(t, na, focus):
        scint = Scintillator(thickness_um=t)
        m = Microscope(Objective(numerical_aperture=na))
        return P.scintillator_optics_psf(scint, m, ENERGIES, PHOTONS, pixel_um=0.2, size=32, n_layers=8,
                                         focus_depth_um=focus, supersample=2)[16, 16]

    g = jax.grad(peak, argnums=(0, 1, 2))(10.0, 0.42, 3.0)
    assert all(np.isfinite(float(x)) for x in g)
    assert float(g[0]) < 0  # a thicker film blurs more
    assert float(g[1]) > 0  # a larger NA sharpens (thin film, diffraction-limited regime)
    h = 0.2
    fd = (peak(10.0 + h, 0.42, 3.0) - peak(10.0 - h, 0.42, 3.0)) / (2 * h)
    assert float(g[0]) == pytest.approx(float(fd), rel=0.1)
    assert mic.numerical_aperture == 0.42


@settings(max_examples=5, deadline=None)
@given(st.integers(5, 40), st.integers(5, 40), st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_apply_psf_adjoint_dot_test(h, w, p, q, seed):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(h, w)))
    y = jnp.asarray(rng.normal(size=(h, w)))
    k = jnp.asarray(rng.random((p, q)))
    lhs = float(jnp.vdot(P.apply_psf(x, k), y))
    rhs = float(jnp.vdot(x, P.apply_psf_adjoint(y, k)))
    assert lhs == pytest.approx(rhs, rel=1e-4, abs=1e-4)


def test_apply_psf_centre_and_conservation():
    field = jnp.zeros((21, 21)).at[10, 10].set(1.0)
    k = jnp.arange(25.0).reshape(5, 5)
    k = k / k.sum()
    out = P.apply_psf(field, k)
    np.testing.assert_allclose(np.asarray(out[8:13, 8:13]), np.asarray(k), atol=1e-6)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="2D"):
        P.apply_psf(jnp.zeros(5), k)
