"""The image-based noise estimator against known noise, over blur and noise ranges."""

from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from learn import Degradation, degrade, estimate_noise_sigma, heldout_synthetic, load_testset

TESTSET = Path(__file__).resolve().parents[1] / "data" / "sr_testset"

SCENES = heldout_synthetic(3, size=128, seed=5)


#: Blur values drawn (a few, so the blur kernels compile once each).
BLURS = (1.0, 1.5, 2.5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=st.floats(0.002, 0.1), blur=st.sampled_from(BLURS), scene=st.integers(0, 2),
       seed=st.integers(0, 2 ** 16))
def test_estimate_matches_known_noise_on_degraded_scenes(noise, blur, scene, seed):
    # A 64x64 LR image holds ~3800 residual pixels: MAD error ~ 1/sqrt(0.37 * 2 * 3800) = 2 %.
    # Structure surviving the filter adds in quadrature; the bound 0.0015 (of the range) is
    # above what these scenes leave at zero noise (checked below), so 12 % + 0.0015 holds.
    lr = np.asarray(degrade(jax.random.PRNGKey(seed), SCENES[scene], Degradation(2, blur, noise)))
    assert estimate_noise_sigma(lr) == pytest.approx(noise, rel=0.12, abs=0.0015)


def test_blurred_structure_without_noise_reads_as_almost_no_noise():
    for blur in BLURS:
        lr = np.asarray(degrade(None, SCENES, Degradation(2, blur, 0.0)))
        assert max(estimate_noise_sigma(x) for x in lr) < 0.0015, blur


def test_sharp_structure_biases_high_never_low():
    # At 0.5 LR px the sharp synthetic edges survive the filter: the estimate is high
    # (the network then smooths a little more), never below the true noise.
    lr = np.asarray(degrade(jax.random.PRNGKey(1), SCENES, Degradation(2, 0.5, 0.01)))
    est = [estimate_noise_sigma(x) for x in lr]
    assert min(est) > 0.0095 and max(est) < 0.03


def test_smooth_intensity_is_annihilated_and_scale_carries_through():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    quad = 0.3 + 0.01 * xx - 0.002 * yy + 1e-4 * xx * yy + 2e-4 * xx ** 2
    assert estimate_noise_sigma(quad) < 1e-9  # the filter annihilates polynomials of degree 2
    noise = np.random.default_rng(0).normal(0, 1, (200, 200))
    assert estimate_noise_sigma(noise) == pytest.approx(1.0, rel=0.04)
    assert estimate_noise_sigma(1000 * noise + quad[0, 0]) == pytest.approx(
        1000 * estimate_noise_sigma(noise), rel=1e-9)


@pytest.mark.parametrize("noise", [0.005, 0.01, 0.03])
def test_estimate_on_real_test_images_at_the_product_blur(noise):
    # The acceptance degradation (blur 1 LR px) on the photographs, text and micrographs.
    for i, (name, hr) in enumerate(sorted(load_testset(TESTSET).items())):
        hr = hr[:hr.shape[0] // 2 * 2, :hr.shape[1] // 2 * 2]
        lr = np.asarray(degrade(jax.random.PRNGKey(i), hr, Degradation(2, 1.0, noise)))
        assert estimate_noise_sigma(lr) == pytest.approx(noise, rel=0.08), name


def test_bad_input():
    with pytest.raises(ValueError, match="too small"):
        estimate_noise_sigma(np.zeros((10, 10)))
    with pytest.raises(ValueError, match="2D slice"):
        estimate_noise_sigma(np.zeros((3, 40, 40)))
    x = np.zeros((40, 40))
    x[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        estimate_noise_sigma(x)
