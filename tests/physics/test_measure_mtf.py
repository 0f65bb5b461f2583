"""The measurement toolkit against analytic results: Gaussian kernels, LSF -> MTF, crossings, FWHM, NPS, DQE."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import ndtr

from physics.measure import mtf as M


@settings(max_examples=10, deadline=None)
@given(sigma=st.floats(0.3, 6.0), pitch=st.floats(0.2, 2.0))
def test_gaussian_kernel_unit_sum_and_variance(sigma, pitch):
    for integrate, extra in ((False, 0.0), (True, pitch**2 / 12)):
        k = np.asarray(M.gaussian_kernel_1d(sigma, pitch=pitch, integrate=integrate), float)
        x = (np.arange(k.size) - k.size // 2) * pitch
        assert k.sum() == pytest.approx(1.0, abs=1e-5)
        if sigma >= pitch:  # well sampled: the discrete variance is the continuous one (+ the cell box)
            assert (k * x**2).sum() == pytest.approx(sigma**2 + extra, rel=2e-3)
    k2 = M.gaussian_kernel_2d(sigma, pitch=pitch, integrate=True)
    assert k2.shape[0] == k2.shape[1] and float(k2.sum()) == pytest.approx(1.0, abs=1e-5)


def test_gaussian_kernel_is_differentiable_with_a_static_half_width():
    f = lambda s: jnp.sum(M.gaussian_kernel_1d(s, half_width=8, integrate=True) * jnp.arange(-8, 9) ** 2)
    g = jax.grad(f)(1.5)
    assert float(g) == pytest.approx(2 * 1.5, rel=1e-2)  # d(s^2 + 1/12)/ds
    with pytest.raises(ValueError, match="half_width"):
        jax.jit(lambda s: M.gaussian_kernel_1d(s))(1.0)


@pytest.mark.parametrize("sigma", [0.8, 2.0])
def test_mtf_of_a_gaussian_lsf(sigma):
    pitch = 0.25
    x = (np.arange(257) - 128) * pitch
    sampled = np.exp(-0.5 * (x / sigma) ** 2)
    f, m = M.mtf_from_lsf(sampled, pitch)
    np.testing.assert_allclose(m, M.gaussian_mtf(sigma, f), atol=1e-6)
    # pixel-integrated samples: dividing the aperture gives the same curve below Nyquist
    cells = ndtr((x + pitch / 2) / sigma) - ndtr((x - pitch / 2) / sigma)
    f2, m2 = M.mtf_from_lsf(cells, pitch, freqs=np.linspace(0, 1.0, 41), aperture=pitch)
    np.testing.assert_allclose(m2, M.gaussian_mtf(sigma, f2), atol=1e-5)
    # a shift changes only the phase
    _, m3 = M.mtf_from_lsf(np.roll(cells, 7), pitch, freqs=f2, aperture=pitch)
    np.testing.assert_allclose(m3, m2, atol=1e-9)
    with pytest.raises(ValueError, match="Nyquist"):
        M.mtf_from_lsf(cells, pitch, freqs=[0.0, 3.0])
    assert M.equivalent_gaussian_sigma(f, m) == pytest.approx(sigma, rel=1e-4)
    m50, m10 = M.mtf_crossings(f, m)
    assert m50 == pytest.approx(math.sqrt(math.log(2) / 2) / (math.pi * sigma), rel=1e-3)
    assert m10 == pytest.approx(math.sqrt(math.log(10) / 2) / (math.pi * sigma), rel=1e-3)


def test_first_crossing_directions_and_edge_cases():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert M.first_crossing(x, [1.0, 0.8, 0.4, 0.1], 0.6) == pytest.approx(3.0)
    assert M.first_crossing(x, [0.1, 0.2, 0.6, 0.9], 0.4, rising=True) == pytest.approx(3.0)
    assert M.first_crossing(x, [0.1, 0.2, 0.6, 0.9], 0.4, rising=True, log_x=True) == pytest.approx(2 * 2**0.5)
    assert M.first_crossing(x, [1.0, 0.9, 0.8, 0.7], 0.5) is None      # never below
    assert M.first_crossing(x, [0.4, 0.3, 0.2, 0.1], 0.5) is None      # starts below


def test_fwhm_of_gaussian_profiles():
    x = np.linspace(-10, 10, 2001)
    assert M.fwhm(x, np.exp(-0.5 * (x / 1.7) ** 2)) == pytest.approx(M.FWHM_PER_SIGMA * 1.7, rel=1e-4)
    pitch, sigma = 0.5, 1.2
    c = (np.arange(64) - 32) * pitch
    cells = ndtr((c + pitch / 2) / sigma) - ndtr((c - pitch / 2) / sigma)
    assert M.lsf_fwhm(cells, pitch, aperture=pitch) == pytest.approx(M.FWHM_PER_SIGMA * sigma, rel=2e-3)
    with pytest.raises(ValueError, match="half maximum"):
        M.fwhm(x, np.ones_like(x))


def test_nps_of_white_noise_is_flat_and_sums_to_the_variance():
    rng = np.random.default_rng(0)
    sigma, pixel = 3.0, 0.5
    rois = 100.0 + sigma * rng.normal(size=(64, 32, 32))
    fy, fx, nps = M.noise_power_spectrum(rois, pixel)
    df = (fy[1] - fy[0]) * (fx[1] - fx[0])
    assert nps.sum() * df == pytest.approx(sigma**2, rel=0.02)         # Parseval
    f, radial = M.radial_average(fy, fx, nps)
    assert np.allclose(radial[1:], sigma**2 * pixel**2, rtol=0.15)     # white: flat at sigma^2 p^2
    # a plane (shading) is removed by detrend="plane", not by "mean"
    yy, xx = np.mgrid[:32, :32]
    shaded = rois + 0.5 * xx
    assert M.noise_power_spectrum(shaded, pixel, detrend="plane")[2].sum() * df == pytest.approx(sigma**2, rel=0.02)
    assert M.noise_power_spectrum(shaded, pixel)[2].sum() * df > 2 * sigma**2


def test_dqe_of_a_poisson_counter_is_one_and_of_a_gain_stage_the_cascade():
    # An ideal counter: Poisson counts of q per pixel, MTF 1 -> DQE(f) = 1 at every f.
    rng = np.random.default_rng(1)
    q, pixel = 400.0, 1.0
    fy, fx, nps = M.noise_power_spectrum(rng.poisson(q, size=(64, 32, 32)).astype(float), pixel)
    f, radial = M.radial_average(fy, fx, nps)
    d = M.dqe(np.ones_like(radial[1:]), radial[1:], mean_signal=q, quanta_per_area=q / pixel**2)
    assert np.allclose(d, 1.0, rtol=0.15) and abs(d.mean() - 1.0) < 0.03
    assert M.dqe0_poisson_gain(0.8, None) == 0.8
    assert M.dqe0_poisson_gain(0.8, 1.0) == pytest.approx(0.4)


def test_traced_mtf_and_crossing_are_the_numpy_ones_and_differentiable():
    """Under jax.grad the toolkit's LSF -> MTF and first crossing run the same sums in JAX:
    equal values (float32) and the derivative of MTF50 w.r.t. a Gaussian LSF's sigma that the
    analytic MTF50 = sqrt(ln 2 / 2) / (pi sigma) gives."""
    import jax
    import jax.numpy as jnp

    pitch, f = 0.1, np.linspace(0.0, 4.0, 401)

    def mtf50(sigma):
        lsf = M.gaussian_kernel_1d(sigma, pitch=pitch, half_width=60)
        m = M.mtf_from_lsf(lsf, pitch, freqs=jnp.asarray(f))[1]
        return M.first_crossing(jnp.asarray(f), m, 0.5, never=-1.0)

    sigma = 0.3
    lsf = np.asarray(M.gaussian_kernel_1d(sigma, pitch=pitch, half_width=60))
    f_np, m_np = M.mtf_from_lsf(lsf, pitch, freqs=f)
    assert float(jax.jit(mtf50)(sigma)) == pytest.approx(M.first_crossing(f_np, m_np, 0.5), rel=1e-4)
    analytic = lambda s: math.sqrt(math.log(2) / 2) / (math.pi * s)  # noqa: E731
    assert float(jax.grad(mtf50)(sigma)) == pytest.approx((analytic(sigma + 1e-4) - analytic(sigma - 1e-4)) / 2e-4,
                                                          rel=0.02)
    assert float(jax.jit(lambda s: M.first_crossing(jnp.asarray(f), jnp.ones(f.size) * s, 0.5, never=-1.0))(0.9)) == -1.0
