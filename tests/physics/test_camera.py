"""sCMOS noise chain: EMVA 1288 photon transfer, clipping, binning adjoint, X-ray quantum noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from physics import camera as C

KEY = jax.random.PRNGKey(7)


def test_defaults_are_pco_edge_42_class():
    cam = C.SCMOS()
    assert cam.shape == (2048, 2048) and cam.pixel_um == 6.5 and cam.max_adu == 65535
    assert 0.70 <= cam.qe_at(480.0) <= 0.75 and 0.70 <= cam.qe_at(530.0) <= 0.80
    assert cam.qe_at(600.0) == pytest.approx(0.82)
    assert C.SCMOS(quantum_efficiency=0.5).qe_at(480.0) == 0.5


def test_bad_camera_inputs_name_the_key():
    with pytest.raises(ValueError, match="gain_e_per_adu"):
        C.SCMOS(gain_e_per_adu=0.0)
    with pytest.raises(ValueError, match="quantum_efficiency"):
        C.SCMOS(quantum_efficiency=1.5)
    with pytest.raises(ValueError, match="wavelength_nm"):
        C.SCMOS().qe_at(1500.0)
    with pytest.raises(ValueError, match="exposure_s"):
        C.expected_adu(jnp.ones((2, 2)), camera=C.SCMOS(), exposure_s=-1.0)
    with pytest.raises(ValueError, match="multiple of oversample"):
        C.bin_to_pixels(jnp.ones((5, 4)), 2)


def test_photon_transfer_recovers_gain_and_read_noise():
    # EMVA 1288: temporal variance from the difference of two frames vs mean, linear fit;
    # slope = 1/K (ADU/e-); the dark temporal noise (read^2 / K^2 + quantisation 1/12) is
    # read from the zero-illumination pair, as the standard does
    cam = C.SCMOS(gain_e_per_adu=0.8, read_noise_e=2.0, dark_current_e_per_s=0.0, offset_adu=100.0)
    means, variances = [], []
    keys = jax.random.split(KEY, 12)
    for i, level in enumerate([0.0, 50.0, 200.0, 500.0, 1000.0, 2000.0]):
        mu_e = jnp.full((256, 256), level)
        a = np.asarray(C.sample_adu(keys[2 * i], mu_e, camera=cam, exposure_s=1.0), dtype=float)
        b = np.asarray(C.sample_adu(keys[2 * i + 1], mu_e, camera=cam, exposure_s=1.0), dtype=float)
        means.append(0.5 * (a.mean() + b.mean()) - cam.offset_adu)
        variances.append(np.var(a - b) / 2)
    slope, intercept = np.polyfit(means, variances, 1)
    assert 1 / slope == pytest.approx(cam.gain_e_per_adu, rel=0.03)
    read_adu = np.sqrt(variances[0] - 1 / 12)
    assert intercept == pytest.approx(variances[0], abs=0.1 * variances[-1] ** 0.5 * 4)
    assert read_adu * cam.gain_e_per_adu == pytest.approx(cam.read_noise_e, rel=0.05)
    # mean response is linear with the configured gain
    assert means[-1] == pytest.approx(2000.0 / cam.gain_e_per_adu, rel=0.01)


def test_dark_frames_have_dark_current_and_offset():
    cam = C.SCMOS(dark_current_e_per_s=5.0, read_noise_e=0.0, gain_e_per_adu=1.0)
    dark = np.asarray(C.sample_adu(KEY, jnp.zeros((256, 256)), camera=cam, exposure_s=2.0), dtype=float)
    assert dark.mean() == pytest.approx(cam.offset_adu + 10.0, rel=0.01)
    assert dark.var() == pytest.approx(10.0 + 1 / 12, rel=0.05)


@settings(max_examples=3, deadline=None)
@given(st.floats(1e5, 1e7), st.integers(0, 2**31 - 1))
def test_saturation_and_16_bit_clipping(level, seed):
    key = jax.random.PRNGKey(seed)
    cam = C.SCMOS()
    frame = C.sample_adu(key, jnp.full((32, 32), level), camera=cam, exposure_s=1.0)
    assert frame.dtype == jnp.uint16
    assert int(frame.max()) <= 65535
    # full well caps the electrons: 30000 e- / 0.46 + 100 ADU, within read noise
    assert float(frame.mean()) == pytest.approx(30000 / 0.46 + 100, abs=2)
    # without full-well cap the ADC clips at 2^16 - 1, and at 0 below the offset
    big = C.SCMOS(full_well_e=1e9, gain_e_per_adu=1.0)
    assert int(C.sample_adu(key, jnp.full((32, 32), level), camera=big, exposure_s=1.0).min()) == 65535
    neg = C.SCMOS(offset_adu=0.0, read_noise_e=5.0, dark_current_e_per_s=0.0)
    low = C.sample_adu(key, jnp.zeros((32, 32)), camera=neg, exposure_s=1.0)
    assert int(low.min()) == 0
    assert float(C.expected_adu(jnp.full((2, 2), level), camera=big, exposure_s=1.0).max()) == 65535


def test_inverse_mapping_and_flat_dark_correction():
    cam = C.SCMOS()
    e = jnp.array([[0.0, 100.0], [1000.0, 20000.0]])
    adu = C.expected_adu(e, camera=cam, exposure_s=0.0)
    np.testing.assert_allclose(np.asarray(C.adu_to_electrons(adu, camera=cam)), np.asarray(e), rtol=1e-5,
                               atol=1e-3)
    dark = jnp.full((2, 2), 100.0)
    flat = jnp.full((2, 2), 1100.0)
    raw = jnp.array([[100.0, 600.0], [1100.0, 350.0]])
    np.testing.assert_allclose(np.asarray(C.flat_dark_correct(raw, flat=flat, dark=dark)),
                               [[0.0, 0.5], [1.0, 0.25]])
    with pytest.raises(ValueError, match="not positive in 1 pixel"):
        C.flat_dark_correct(raw, flat=flat.at[0, 0].set(100.0), dark=dark)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_binning_adjoint_dot_test_and_conservation(o, h, w, seed):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(h * o, w * o)))
    y = jnp.asarray(rng.normal(size=(h, w)))
    bx = C.bin_to_pixels(x, o)
    assert bx.shape == (h, w)
    assert float(bx.sum()) == pytest.approx(float(x.sum()), rel=1e-4, abs=1e-4)
    assert float(jnp.vdot(bx, y)) == pytest.approx(float(jnp.vdot(x, C.bin_to_pixels_adjoint(y, o))),
                                                   rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("lam", [0.3, 4.0, 9.5, 60.0])
def test_poisson_counts_mean_and_variance(lam):
    x = np.asarray(C.poisson_counts(KEY, jnp.full((400, 400), lam)))
    assert x.mean() == pytest.approx(lam, rel=0.01)
    assert x.var() == pytest.approx(lam, rel=0.03)
    assert x.min() >= 0
    if lam < 10:
        assert np.all(x == np.round(x))
        # P(0) = exp(-lam)
        assert np.mean(x == 0) == pytest.approx(np.exp(-lam), abs=0.005)


def test_xray_quantum_noise_before_blur_is_compound_poisson():
    # delta PSF: electrons per pixel = g x Poisson(q) thinned to Poisson -> var = g q (1 + g)
    cam = C.SCMOS(read_noise_e=0.0, dark_current_e_per_s=0.0, gain_e_per_adu=1.0, offset_adu=0.0)
    q, g = 20.0, 4.0
    delta = jnp.ones((1, 1))
    frame = np.asarray(C.sample_frame(KEY, jnp.full((256, 256), q), psf=delta, electrons_per_quantum=g,
                                      oversample=1, camera=cam, exposure_s=1.0), dtype=float)
    assert frame.mean() == pytest.approx(g * q, rel=0.01)
    assert frame.var() == pytest.approx(g * q * (1 + g) + 1 / 12, rel=0.05)
    # a wide PSF correlates the X-ray noise: neighbouring pixels become correlated
    wide = jnp.ones((5, 5)) / 25.0
    blurred = np.asarray(C.sample_frame(KEY, jnp.full((256, 256), q), psf=wide, electrons_per_quantum=g,
                                        oversample=1, camera=cam, exposure_s=1.0), dtype=float)[8:-8, 8:-8]
    d = blurred - blurred.mean()
    corr = np.mean(d[:, 1:] * d[:, :-1]) / d.var()
    # covariance of neighbours g^2 q sum(k k_shifted) over variance g^2 q sum(k^2) + g q
    k = np.asarray(wide)
    expected_corr = g * g * q * (k[:, 1:] * k[:, :-1]).sum() / (g * g * q * (k**2).sum() + g * q)
    assert corr == pytest.approx(expected_corr, abs=0.02)
    assert expected_corr > 0.1
    expected = C.expected_frame(jnp.full((16, 16), q), psf=delta, electrons_per_quantum=g, oversample=1,
                                camera=cam, exposure_s=1.0)
    assert float(expected.mean()) == pytest.approx(g * q)


# -- the fast sampler against the exact one -------------------------------------------------

def test_hash_uniform_is_uniform_and_independent():
    from scipy.stats import kstest

    u = np.asarray(C.hash_uniform(KEY, (512, 512)), dtype=float)
    assert 0.0 < u.min() and u.max() < 1.0
    assert kstest(u.ravel(), "uniform").pvalue > 1e-3
    d = u - 0.5
    for lag in [(0, 1), (1, 0), (1, 1)]:  # neighbours along rows, columns, diagonal
        corr = np.mean(d[lag[0]:, lag[1]:] * d[:d.shape[0] - lag[0], :d.shape[1] - lag[1]]) / d.var()
        assert abs(corr) < 5 / 512  # 5 sigma of a correlation over 512^2 pairs
    # keys split from one parent, fold_in, and raw keys sharing a word give unrelated streams
    a, b = jax.random.split(KEY)
    pairs = [(a, b), (KEY, jax.random.fold_in(KEY, 1)), (jax.random.PRNGKey(0), jax.random.PRNGKey(1))]
    for k1, k2 in pairs:
        x = np.asarray(C.hash_uniform(k1, (512, 512))) - 0.5
        y = np.asarray(C.hash_uniform(k2, (512, 512))) - 0.5
        assert abs(np.mean(x * y)) / x.var() < 5 / 512


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_every_hash_maps_inside_the_open_unit_interval(dtype):
    # Regression: with 24 bits, the largest hash rounded to 1.0 in float32, its normal
    # quantile was inf, and one such cell (p = 6e-8 per cell) turned a whole frame into NaN
    # after the PSF's FFT (the camera then wrote a frame of zeros).
    with jax.enable_x64(dtype == jnp.float64):
        h = jnp.array([0, 1, 2**31, 0xFFFFFE00, 0xFFFFFFFF], dtype=jnp.uint32)
        u = np.asarray(C._unit_interval(h, dtype))
        assert u.dtype == np.dtype(dtype)
        assert np.all(u > 0) and np.all(u < 1)
        z = np.asarray(C._inverse_normal(jnp.asarray(u)))
        assert np.all(np.isfinite(z)) and np.max(np.abs(z)) < 5.4
        assert np.all(np.diff(u) >= 0)


def test_poisson_counts_stay_finite_over_many_cells():
    # 2^24 cells: with the old 24-bit uniforms about one cell per draw came out inf
    lam = jnp.full((4096, 4096), 50.0, jnp.float32)
    for seed in range(3):
        counts = C.poisson_counts(jax.random.PRNGKey(seed), lam)
        assert bool(jnp.all(jnp.isfinite(counts)))
        assert float(jnp.max(counts)) < 50 + 6 * 50**0.5 + 5


def _sampler_cdf(lam, ks):
    """CDF of round(lam + sqrt(lam - 5/36) z + (z^2 - 1)/6), z standard normal, by quadrature in z."""
    from scipy.stats import norm

    z = np.linspace(-8, 8, 400001)
    x = np.maximum(np.floor(lam + np.sqrt(lam - 5 / 36) * z + (z * z - 1) / 6 + 0.5), 0)
    w = norm.pdf(z) * (z[1] - z[0])
    return np.array([w[x <= k].sum() for k in ks])


@pytest.mark.parametrize("lam,tol", [(10.0, 1.1e-3), (20.0, 5e-4), (100.0, 1e-4)])
def test_large_mean_branch_kolmogorov_distance_is_within_the_stated_tolerance(lam, tol):
    from scipy.stats import poisson

    ks = np.arange(0, int(lam + 10 * np.sqrt(lam)))
    assert np.max(np.abs(_sampler_cdf(lam, ks) - poisson.cdf(ks, lam))) < tol


@pytest.mark.parametrize("lam", [0.05, 2.0, 9.9, 10.0, 14.0, 300.0])
def test_fast_poisson_mean_variance_and_tails_match_the_exact_law(lam):
    from scipy.stats import poisson

    n = 1 << 20
    x = np.asarray(C.poisson_counts(KEY, jnp.full((1024, 1024), lam)), dtype=float)
    assert np.all(x == np.round(x)) and x.min() >= 0
    se = np.sqrt(lam / n)
    assert abs(x.mean() - lam) < 5 * se + 1e-3 * lam       # mean: 5 sigma (+0.1 % bias bound)
    assert x.var() == pytest.approx(lam, rel=5 * np.sqrt(2 / n) + 1e-3)  # 5 sigma (+0.1 % bias bound)
    # tails: P(X >= lam + 3 sqrt(lam)) and P(X <= lam - 2 sqrt(lam)) within 5 binomial sigmas
    # of the exact probability, plus the branch's stated Kolmogorov tolerance
    for k in (np.ceil(lam + 3 * np.sqrt(lam)), np.floor(lam - 2 * np.sqrt(lam))):
        if k < 0:
            continue
        upper = k > lam
        p_exact = poisson.sf(k - 1, lam) if upper else poisson.cdf(k, lam)
        observed = np.mean(x >= k) if upper else np.mean(x <= k)
        assert abs(observed - p_exact) < 5 * np.sqrt(p_exact * (1 - p_exact) / n) + 1.1e-3


def test_poisson_branches_draw_the_same_large_mean_counts():
    """The bright-field branch (no mean below 10, CDF inversion skipped) and the mixed branch
    give identical counts in the large-mean cells: one uniform per cell, same quantile."""
    lam = jnp.full((64, 64), 250.0)
    bright = np.asarray(C.poisson_counts(KEY, lam))
    mixed = np.asarray(C.poisson_counts(KEY, lam.at[0, 0].set(3.0)))
    np.testing.assert_array_equal(mixed.ravel()[1:], bright.ravel()[1:])


def test_sample_frame_is_the_composition_of_its_steps():
    """The compiled frame equals Poisson quanta -> exact blur-then-bin -> camera, step by step."""
    from physics.psf import apply_psf_binned

    cam = C.SCMOS()
    q = jnp.asarray(np.random.default_rng(3).uniform(5.0, 40.0, (64, 64)), jnp.float32)
    psf = jnp.ones((5, 5)) / 25.0
    frame = C.sample_frame(KEY, q, psf=psf, electrons_per_quantum=0.7, oversample=2, camera=cam, exposure_s=2.0)
    k_xray, k_cam = jax.random.split(KEY)
    e = apply_psf_binned(C.poisson_counts(k_xray, q), psf, 2) * 0.7
    step = np.asarray(C.sample_adu(k_cam, e, camera=cam, exposure_s=2.0), float)
    d = np.abs(np.asarray(frame, float) - step)  # fused float32 sums may round 1 ADU apart, rarely
    assert d.max() <= 1 and np.mean(d > 0) < 1e-3


def test_photon_transfer_curve_at_2x_oversampling_has_slope_one_plus_gain():
    # EMVA 1288 photon transfer through the frame model with a delta PSF: per pixel
    # var(e-) = mu (1 + g) + read^2 + 1/12 (ADC rounding at 1 e-/ADU), mu = g o^2 q.
    read, g, o = 2.0, 3.0, 2
    cam = C.SCMOS(read_noise_e=read, dark_current_e_per_s=0.0, gain_e_per_adu=1.0, offset_adu=100.0)
    delta = jnp.ones((1, 1))
    means, variances = [], []
    for i, q in enumerate([0.0, 2.0, 8.0, 30.0, 120.0]):
        f = np.asarray(C.sample_frame(jax.random.fold_in(KEY, i), jnp.full((512, 512), q), psf=delta,
                                      electrons_per_quantum=g, oversample=o, camera=cam, exposure_s=1.0),
                       dtype=float) - 100.0
        means.append(f.mean())
        variances.append(f.var())
    assert variances[0] == pytest.approx(read**2 + 1 / 12, rel=0.03)  # dark frame: read noise + ADC
    slope, _ = np.polyfit(means[1:], variances[1:], 1)
    assert slope == pytest.approx(1 + g, rel=0.03)
    assert means[-1] == pytest.approx(g * o * o * 120.0, rel=0.005)


@pytest.mark.parametrize("g", [0.5, 4.0])
def test_frame_dqe0_from_block_sums_matches_the_cascade(g):
    # Block sums of a flat frame: var = g^2 q sum_j w_j^2 + g Q, with w_j the share of cell j's
    # light that lands in the block (blur across the block border) and Q = q o^2 b^2; for blocks
    # much wider than the PSF this tends to Q g (1 + g), i.e. DQE(0) = g / (1 + g)
    # (physics.measure.mtf.dqe0_poisson_gain): X-ray noise correlated by the blur, then binned.
    from scipy.signal import fftconvolve

    from physics.measure.mtf import dqe0_poisson_gain, gaussian_kernel_2d

    cam = C.SCMOS(read_noise_e=0.0, dark_current_e_per_s=0.0, gain_e_per_adu=1.0, offset_adu=0.0)
    q, o, b = 50.0, 2, 16
    psf = gaussian_kernel_2d(1.5, half_width=5, integrate=True)
    f = np.asarray(C.sample_frame(KEY, jnp.full((1024, 1024), q), psf=psf, electrons_per_quantum=g,
                                  oversample=o, camera=cam, exposure_s=1.0), dtype=float)[16:-16, 16:-16]
    n = f.shape[0] // b
    blocks = f[:n * b, :n * b].reshape(n, b, n, b).sum(axis=(1, 3))
    quanta = q * o * o * b * b
    block = np.pad(np.ones((o * b, o * b)), 8)
    w = fftconvolve(block, np.asarray(psf)[::-1, ::-1], mode="same")   # share of each cell's light in the block
    expected_var = g * g * q * np.sum(w**2) + g * quanta
    assert blocks.var() == pytest.approx(expected_var, rel=5 * np.sqrt(2 / blocks.size))
    assert blocks.mean() == pytest.approx(g * quanta, rel=1e-3)
    dqe_block = (g * quanta) ** 2 / (quanta * expected_var)
    assert dqe_block == pytest.approx(dqe0_poisson_gain(1.0, g), rel=0.1)  # border leakage < 10 %
    assert dqe_block >= dqe0_poisson_gain(1.0, g)


@settings(max_examples=8, deadline=None)
@given(o=st.integers(1, 4), h=st.integers(2, 12), w=st.integers(2, 12), p=st.integers(0, 6), q=st.integers(0, 6),
       seed=st.integers(0, 2**31 - 1))
def test_binned_blur_equals_blur_then_bin(o, h, w, p, q, seed):
    from physics.psf import apply_psf, apply_psf_binned

    rng = np.random.default_rng(seed)
    field = jnp.asarray(rng.random((h * o, w * o)), jnp.float32)
    psf = jnp.asarray(rng.random((2 * p + 1, 2 * q + 1)), jnp.float32)
    ref = np.asarray(C.bin_to_pixels(apply_psf(field, psf), o))
    np.testing.assert_allclose(np.asarray(apply_psf_binned(field, psf, o)), ref, rtol=1e-4, atol=1e-4 * ref.max())
