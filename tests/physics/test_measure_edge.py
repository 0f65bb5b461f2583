"""Slanted-edge measurement: analytic edges, ISO MTF, real X-ray edges, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from physics.imageio import read_tiff
from physics.measure.edge import EdgeResult, measure_edge

# The measured edges ship with the repository (tests/data/real-edges, README + licence there).
REAL = Path(__file__).resolve().parents[1] / "data" / "real-edges"


def _phi_second_antiderivative(u):
    """F2 with F2'' = Phi (standard normal CDF): ((u^2 + 1) Phi(u) + u phi(u)) / 2."""
    pdf = np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi)
    return 0.5 * ((u * u + 1.0) * ndtr(u) + u * pdf)


def render_edge(shape, sigma, angle_deg, *, low=0.1, high=0.9, x_edge=None):
    """Ideal straight edge blurred by a Gaussian of ``sigma`` px, integrated over each pixel.

    The blurred edge is ``Phi(n / sigma)`` with ``n`` the signed distance to the
    edge line ``x = x_edge + (y - rows/2) tan(angle)``; pixel (r, c) covers
    x in [c, c+1), y in [r, r+1). Its exact area average is a second difference
    of F2 (F2'' = Phi), so no supersampling error enters the expected values.
    """
    rows, cols = shape
    t = np.deg2rad(angle_deg)
    x_edge = cols / 2 if x_edge is None else x_edge
    a, b = np.cos(t) / sigma, -np.sin(t) / sigma
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    c = ((x - x_edge) * np.cos(t) - (y - rows / 2) * np.sin(t)) / sigma
    f = _phi_second_antiderivative
    mean = (f(c + a + b) - f(c + a) - f(c + b) + f(c)) / (a * b)
    return low + (high - low) * mean


def test_render_edge_matches_supersampling():
    """The analytic pixel average agrees with a 32x32 supersampled average."""
    s, ang, n = 0.7, 5.0, 32
    img = render_edge((6, 12), s, ang)
    t = np.deg2rad(ang)
    sub = (np.arange(n) + 0.5) / n
    y, x = np.mgrid[0:6, 0:12].astype(float)
    acc = np.zeros_like(img)
    for dy in sub:
        for dx in sub:
            d = (x + dx - 6) * np.cos(t) - (y + dy - 3) * np.sin(t)
            acc += 0.1 + 0.8 * ndtr(d / s)
    np.testing.assert_allclose(img, acc / n**2, atol=2e-4)


@settings(max_examples=12, deadline=None)
@given(sigma=st.floats(0.5, 5.0), angle=st.floats(3.0, 10.0), vertical=st.booleans(),
       rising=st.booleans())
def test_gaussian_edge_sigma_within_2_percent(sigma, angle, vertical, rising):
    """sigma_px of a Gaussian-blurred, pixel-integrated edge is sqrt(s^2 + 1/12) within 2 %.

    Physics: the image pixels integrate the blurred edge over a 1 px square, so
    the LSF the pixels carry (the presampled LSF) is the Gaussian PSF convolved
    with the pixel aperture; its variance is s^2 + 1/12 px^2 whatever the edge
    angle (the square projects on the edge normal as boxes of cos a and sin a,
    variances adding to 1/12). That is what sigma_px reports; psf_sigma_px is s.
    """
    img = render_edge((96, 128), sigma, angle)
    if not rising:
        img = 1.0 - img
    if not vertical:
        img = img.T
    r = measure_edge(img)
    expected = np.sqrt(sigma**2 + 1.0 / 12.0)
    assert r.sigma_px == pytest.approx(expected, rel=0.02)
    assert r.psf_sigma_px == pytest.approx(sigma, rel=0.03)
    assert r.fwhm_px == pytest.approx(2 * np.sqrt(2 * np.log(2)) * expected, rel=0.02)
    assert r.orientation == ("vertical" if vertical else "horizontal")
    assert r.polarity == ("rising" if rising else "falling")
    assert abs(r.edge_angle_deg) == pytest.approx(angle, abs=0.05)


@pytest.mark.parametrize("sigma", [0.6, 1.5, 3.0])
def test_mtf_matches_gaussian_times_pixel_and_bin_sinc(sigma):
    """MTF of a Gaussian edge = exp(-2 pi^2 s^2 f^2) |sinc(f)| |sinc(f cos a / 4)|.

    Gaussian PSF, times the 1 px pixel aperture, times the 1/4-px ISO bin aperture
    that ISO 12233 leaves in its MTF (the derivative filter is corrected).
    """
    angle = 5.0
    r = measure_edge(render_edge((100, 128), sigma, angle))
    f = r.frequency_cyc_per_px
    analytic = (np.exp(-2 * np.pi**2 * sigma**2 * f**2) * np.abs(np.sinc(f))
                * np.abs(np.sinc(f * np.cos(np.deg2rad(angle)) / 4)))
    band = f <= 0.5
    assert np.max(np.abs(r.mtf[band] - analytic[band])) < 0.015
    assert r.mtf[0] == pytest.approx(1.0)
    fine = np.linspace(0, 1, 100001)
    curve = (np.exp(-2 * np.pi**2 * sigma**2 * fine**2) * np.abs(np.sinc(fine))
             * np.abs(np.sinc(fine * np.cos(np.deg2rad(angle)) / 4)))
    assert r.mtf50_cyc_per_px == pytest.approx(fine[np.argmax(curve < 0.5)], rel=0.01)


def test_noisy_edge_mtf50_and_sigma():
    """With 2 % noise, sigma within 5 % and MTF50 within 5 % of the noise-free value."""
    clean = render_edge((120, 160), 1.2, 6.0)
    ref = measure_edge(clean)
    rng = np.random.default_rng(7)
    noisy = measure_edge(clean + 0.02 * rng.standard_normal(clean.shape))
    assert noisy.sigma_px == pytest.approx(ref.sigma_px, rel=0.05)
    assert noisy.mtf50_cyc_per_px == pytest.approx(ref.mtf50_cyc_per_px, rel=0.05)


def test_units_and_json_schema():
    r = measure_edge(render_edge((64, 96), 1.0, 5.0), pixel_size_um=0.40625)
    d = r.to_json()
    for key in ("sigma_px", "sigma_um", "fwhm_px", "fwhm_um", "pixel_size_um",
                "mtf50_cyc_per_px", "mtf10_cyc_per_px", "mtf50_lp_per_mm", "mtf10_lp_per_mm",
                "edge_angle_deg", "polarity", "mtf", "esf", "lsf"):
        assert key in d
    assert d["sigma_um"] == pytest.approx(d["sigma_px"] * 0.40625)
    # 1 cycle/pixel at 0.40625 um = 1 / 0.40625e-3 mm = 2461.5 lp/mm
    assert d["mtf50_lp_per_mm"] == pytest.approx(d["mtf50_cyc_per_px"] / 0.40625e-3)
    assert len(d["mtf"]["frequency_cyc_per_px"]) == len(d["mtf"]["value"])
    lsf = np.array(d["lsf"]["value"])
    pos = np.array(d["lsf"]["position_px"])
    assert np.sum(lsf) * (pos[1] - pos[0]) == pytest.approx(1.0)  # unit area
    json.dumps(d)  # plain JSON
    nopix = measure_edge(render_edge((64, 96), 1.0, 5.0)).to_json()
    assert nopix["sigma_um"] is None and nopix["mtf50_lp_per_mm"] is None


def test_roi_selects_the_edge():
    img = np.full((80, 200), 0.1)
    img[:, 100:] = render_edge((80, 100), 1.0, 5.0)
    r = measure_edge(img, roi=(100, 0, 200, 80))
    assert r.sigma_px == pytest.approx(np.sqrt(1 + 1 / 12), rel=0.02)


@pytest.mark.parametrize("bad, kwargs, match", [
    (np.full((40, 40), np.nan), {}, "NaN"),
    (np.ones((5, 40)), {}, "too small"),
    (np.ones((40, 40, 2)), {}, "2D"),
    (np.random.default_rng(0).normal(size=(60, 60)), {}, "no edge found"),
    (None, {"roi": (0, 0, 500, 20)}, "outside the image"),
    (None, {"pixel_size_um": -1.0}, "pixel_size_um"),
])
def test_bad_input_messages(bad, kwargs, match):
    img = render_edge((64, 64), 1.0, 5.0) if bad is None else bad
    with pytest.raises(ValueError, match=match):
        measure_edge(img, **kwargs)


def test_edge_on_pixel_axis_is_refused():
    img = np.zeros((40, 60))
    img[:, 30:] = 1.0
    with pytest.raises(ValueError, match="deg from the pixel"):
        measure_edge(img)


# -- real X-ray edges (30 um pixels, near-horizontal, ~6 deg, both polarities) -------------

def _real(name):
    path = REAL / f"dental_{name}.tif"
    if not path.is_file():
        pytest.fail(f"real edge data missing: {path}")
    return read_tiff(path)


@pytest.fixture(scope="module")
def real_results() -> dict[str, EdgeResult]:
    out = {}
    for name in ("Image9", "Image10", "Image5"):
        t = _real(name)
        out[name] = measure_edge(t.data, pixel_size_um=t.pixel_size_um)
    return out


def test_real_edges_geometry_and_polarity(real_results):
    for name, r in real_results.items():
        assert r.orientation == "horizontal", name
        assert 5.0 < abs(r.edge_angle_deg) < 7.0, name       # README: about 6 degrees
        assert r.pixel_size_um == 30.0
    # Image9/10: bright above, dark below (falling with row); Image5 the opposite.
    assert real_results["Image9"].polarity == "falling"
    assert real_results["Image10"].polarity == "falling"
    assert real_results["Image5"].polarity == "rising"


def test_real_edges_mtf_bands_and_ordering(real_results):
    """Sensible bands for a dental CMOS sensor (30 um pixels), and Image10 sharper than Image9.

    Reference: a separate literal transcription of sfrmat4 (ISO 12233) gave MTF50
    = 0.126, 0.200, 0.124 and MTF10 = 0.460, 0.523, 0.457 cy/px for Image9, 10, 5.
    """
    ref = {"Image9": (0.1261, 0.4596), "Image10": (0.2003, 0.5230), "Image5": (0.1237, 0.4566)}
    for name, r in real_results.items():
        m50, m10 = ref[name]
        assert r.mtf50_cyc_per_px == pytest.approx(m50, rel=0.03), name
        assert r.mtf10_cyc_per_px == pytest.approx(m10, rel=0.03), name
        assert 0.05 < r.mtf50_cyc_per_px < r.mtf10_cyc_per_px < 1.0
        assert r.mtf50_lp_per_mm == pytest.approx(r.mtf50_cyc_per_px / 0.030)
        assert np.all(np.isfinite(r.mtf)) and r.mtf[0] == pytest.approx(1.0)
    assert real_results["Image10"].mtf50_cyc_per_px > 1.2 * real_results["Image9"].mtf50_cyc_per_px
    assert real_results["Image10"].mtf10_cyc_per_px > real_results["Image9"].mtf10_cyc_per_px
    assert real_results["Image10"].sigma_px < real_results["Image9"].sigma_px


def test_real_edge_invariant_to_flips():
    """Flipping the image (which reverses line order or polarity) leaves the MTF unchanged."""
    t = _real("Image9")
    a = measure_edge(t.data)
    b = measure_edge(t.data[::-1])      # reverses polarity
    c = measure_edge(t.data[:, ::-1])   # reverses the slant
    assert b.polarity != a.polarity
    assert np.sign(c.edge_angle_deg) != np.sign(a.edge_angle_deg)
    for other in (b, c):
        assert other.mtf50_cyc_per_px == pytest.approx(a.mtf50_cyc_per_px, rel=0.02)
        assert other.sigma_px == pytest.approx(a.sigma_px, rel=0.02)


# -- the measurement checks itself (issue 8, point 5) ---------------------------------------

def _counts_edge(rng, *, bright, dark_transmission, sigma=1.2, shape=(96, 128)):
    """Poisson counts behind a Gaussian-blurred edge: ``bright`` per pixel open, x T behind it."""
    t = dark_transmission + (1.0 - dark_transmission) * render_edge(shape, sigma, 5.0, low=0.0, high=1.0)
    return rng.poisson(bright * np.clip(t, 0.0, None)).astype(np.float64)  # render round-off can dip below 0


def test_photon_starved_minus_log_edge_is_refused_with_reasons():
    # -ln T of a nearly opaque edge: ~0.02 counts per pixel behind it, so the logarithm sits
    # on its floor for most pixels (as twin simulate writes projections.tif, T >= 1e-4).
    rng = np.random.default_rng(1)
    counts = _counts_edge(rng, bright=200.0, dark_transmission=1e-4)
    minus_log = -np.log(np.clip(counts / 200.0, 1e-4, None))
    with pytest.raises(ValueError, match="photon-starved") as err:
        measure_edge(minus_log)
    assert str(err.value).startswith("image: ")
    r = measure_edge(minus_log, strict=False)
    q = r.quality
    assert max(q.clipped_fraction) > 0.5
    assert any("poor ESF fit" in m for m in q.refusals) or any("clipped" in m for m in q.refusals)
    # The same photons as a transmission image (linear, nothing clipped) measure cleanly and agree
    # with the blur that made them.
    t = measure_edge(counts / 200.0)
    assert not t.quality.refusals
    assert t.psf_sigma_px == pytest.approx(1.2, rel=0.1)


def test_starved_half_with_too_small_dynamic_range_is_refused():
    # Linear counts, 6 per pixel open: the step (6) is ~2.4x the open side's Poisson noise.
    rng = np.random.default_rng(2)
    counts = _counts_edge(rng, bright=6.0, dark_transmission=0.0, shape=(200, 160))
    r = measure_edge(counts, strict=False)
    assert any("pixel noise of the high side" in m for m in r.quality.refusals)
    assert r.quality.side_snr[1] == pytest.approx(np.sqrt(6.0), rel=0.25)


@settings(max_examples=6, deadline=None)
@given(sigma=st.floats(0.6, 3.0), bright=st.floats(2e3, 2e4), seed=st.integers(0, 2**16))
def test_well_exposed_gaussian_edges_pass_and_their_numbers_agree(sigma, bright, seed):
    """sigma, FWHM and the fit's MTF50 come from one fit and match the ISO curve on Gaussian edges."""
    counts = _counts_edge(np.random.default_rng(seed), bright=bright, dark_transmission=0.05, sigma=sigma)
    r = measure_edge(counts)
    q = r.quality
    assert not q.refusals and q.esf_r2 > 0.995
    assert r.fwhm_px == pytest.approx(2.3548 * r.sigma_px, rel=1e-4)
    # the fit's MTF50 is the Gaussian(psf sigma + narrow kernels) x pixel sinc crossing 0.5
    f = np.linspace(0, 1, 200001)
    model = np.exp(-2 * np.pi**2 * (r.psf_sigma_px**2 + 0.003) * f**2) * np.abs(np.sinc(f))
    assert q.fit_mtf50_cyc_per_px == pytest.approx(f[np.argmax(model < 0.5)], rel=0.02)
    assert r.mtf50_cyc_per_px == pytest.approx(q.fit_mtf50_cyc_per_px, rel=0.1)


def test_real_edges_are_accepted_and_flagged_as_non_gaussian(real_results):
    """Vendor-processed dental edges: good data (no refusal), but their LSF is not Gaussian."""
    for name, r in real_results.items():
        q = r.quality
        assert not q.refusals, name
        assert q.esf_r2 > 0.98 and min(q.side_snr) > 50 and max(q.clipped_fraction) < 1e-3, name
        assert any("core only" in m for m in q.flags), name
        assert r.to_json()["quality"]["flags"] == list(q.flags)
