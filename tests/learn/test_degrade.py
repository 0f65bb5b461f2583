"""Degradation chain: order, sigma units (LR pixels), noise level, shapes, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from learn import Degradation, bicubic_downsample, degrade, gaussian_blur
from physics.imageio import write_json


def lsf_sigma(row):
    """Second-moment width of the derivative of an edge profile (the LSF), in pixels."""
    lsf = np.diff(np.asarray(row, dtype=np.float64))
    t = np.arange(lsf.size)
    m = (lsf * t).sum() / lsf.sum()
    return float(np.sqrt((lsf * (t - m) ** 2).sum() / lsf.sum()))


def edge(n=128):
    return jnp.zeros((n, n)).at[:, n // 2:].set(1.0)


@settings(max_examples=6, deadline=None)
@given(sigma=st.floats(0.8, 3.0))
def test_blur_sigma_is_remeasured_in_pixels_of_its_input(sigma):
    # An ideal edge blurred by sigma has an LSF of standard deviation sigma. (Below
    # ~0.7 px a sampled Gaussian's discrete variance itself drops by > 1 %.)
    out = gaussian_blur(edge(), sigma)
    assert lsf_sigma(out[10]) == pytest.approx(sigma, rel=0.01)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_blur_sigma_is_in_low_resolution_pixels_after_downsampling(scale):
    hr = edge(96 * scale // 2 * 2)
    sigma = 1.5
    base = lsf_sigma(degrade(None, hr, Degradation(scale, 0.0, 0.0))[5])  # bicubic's own width
    lr = degrade(None, hr, Degradation(scale, sigma, 0.0))
    # Widths add in quadrature; the blur is applied after down-sampling, in LR pixels.
    assert np.sqrt(lsf_sigma(lr[5]) ** 2 - base ** 2) == pytest.approx(sigma, rel=0.03)


def test_order_is_downsample_then_blur_then_noise():
    key = jax.random.PRNGKey(1)
    hr = jax.random.uniform(jax.random.PRNGKey(0), (64, 64))
    d = Degradation(2, 1.2, 0.05)
    expected = gaussian_blur(bicubic_downsample(hr, 2), 1.2) + 0.05 * jax.random.normal(key, (32, 32))
    np.testing.assert_allclose(degrade(key, hr, d), expected, atol=1e-6)
    other_order = bicubic_downsample(gaussian_blur(hr, 1.2), 2) + 0.05 * jax.random.normal(key, (32, 32))
    assert np.abs(np.asarray(degrade(key, hr, d) - other_order)).max() > 1e-2


def test_noise_sigma_is_remeasured():
    flat = jnp.full((256, 256), 0.5)
    lr = degrade(jax.random.PRNGKey(0), flat, Degradation(2, 1.0, 0.02))
    assert float(jnp.std(lr)) == pytest.approx(0.02, rel=0.03)
    assert float(jnp.mean(lr)) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_and_batches(scale):
    hr = jnp.ones((3, 12 * scale, 8 * scale))
    lr = degrade(jax.random.PRNGKey(0), hr, Degradation(scale, 1.0, 0.01))
    assert lr.shape == (3, 12, 8)
    # A flat image stays flat (kernels are normalised).
    np.testing.assert_allclose(degrade(None, hr, Degradation(scale, 1.0, 0.0)), 1.0, atol=1e-5)


def test_degradation_from_measurement_files(tmp_path):
    write_json(tmp_path / "edge.json", {"sigma_px": 1.3, "pixel_size_um": 0.40625})
    write_json(tmp_path / "noise.json", {"sigma_normalized": 0.02})
    d = Degradation.from_measurements(scale=3, edge_json=tmp_path / "edge.json",
                                      noise_json=tmp_path / "noise.json")
    assert (d.scale, d.blur_sigma_px, d.noise_sigma) == (3, 1.3, 0.02)
    with pytest.raises(ValueError, match="blur_sigma_px: give either"):
        Degradation.from_measurements(edge_json=tmp_path / "edge.json", blur_sigma_px=1.0)
    write_json(tmp_path / "bad.json", {"sigma": 1.0})
    with pytest.raises(ValueError, match="has no key 'sigma_px'"):
        Degradation.from_measurements(edge_json=tmp_path / "bad.json")


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=5), "scale: must be one of"),
    (dict(blur_sigma_px=-1.0), "blur_sigma_px"),
    (dict(noise_sigma=float("nan")), "noise_sigma"),
])
def test_bad_degradation_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Degradation(**kwargs)


def test_bad_images():
    with pytest.raises(ValueError, match="at least 2x2"):
        degrade(None, jnp.ones((1, 1)), Degradation())
    with pytest.raises(ValueError, match="not a multiple of scale"):
        degrade(None, jnp.ones((9, 10)), Degradation())
    with pytest.raises(ValueError, match="NaN"):
        degrade(None, jnp.ones((8, 8)).at[2, 2].set(jnp.nan), Degradation())


@settings(max_examples=5, deadline=None)
@given(blur=st.floats(0.5, 3.0), noise=st.floats(0.0, 0.1), seed=st.integers(0, 1000))
def test_per_sample_degradation_equals_the_fixed_chain(blur, noise, seed):
    # The training path (traced sigmas, fixed kernel radius) is the same chain as
    # degrade(): same blur (truncation beyond 4 sigma < 1e-4) and the same noise level.
    from learn.degrade import degrade_per_sample

    hr = jax.random.uniform(jax.random.PRNGKey(seed), (2, 64, 64))
    clean = degrade_per_sample(jax.random.PRNGKey(0), hr, 2, jnp.array([blur, 1.0]),
                               jnp.zeros(2))
    np.testing.assert_allclose(clean[0], degrade(None, hr[0], Degradation(2, blur, 0.0)), atol=2e-4)
    np.testing.assert_allclose(clean[1], degrade(None, hr[1], Degradation(2, 1.0, 0.0)), atol=2e-4)
    noisy = degrade_per_sample(jax.random.PRNGKey(1), hr, 2, jnp.array([blur, blur]),
                               jnp.array([noise, 0.0]))
    assert float(jnp.std(noisy[0] - clean[0])) == pytest.approx(noise, rel=0.1, abs=1e-6)
    np.testing.assert_allclose(noisy[1], degrade(None, hr[1], Degradation(2, blur, 0.0)), atol=2e-4)


def test_degradation_range_sampling_and_validation():
    from learn import DegradationRange

    r = DegradationRange(2, (0.5, 2.5), (0.002, 0.08))
    blur, noise = r.sample(jax.random.PRNGKey(0), 4000)
    assert 0.5 <= float(blur.min()) and float(blur.max()) <= 2.5
    assert float(jnp.mean(blur)) == pytest.approx(1.5, abs=0.05)  # uniform
    logn = np.log(np.asarray(noise))
    assert logn.min() >= np.log(0.002) - 1e-6 and logn.max() <= np.log(0.08) + 1e-6
    assert float(np.mean(logn)) == pytest.approx(np.log(np.sqrt(0.002 * 0.08)), abs=0.06)  # log-uniform
    assert r.contains(blur_sigma_px=1.0, noise_sigma=0.1) == {"blur_sigma_px": True, "noise_sigma": False}
    fixed = DegradationRange.fixed(Degradation(2, 1.3, 0.02))
    assert fixed.blur_sigma_px == (1.3, 1.3)
    b, n = fixed.sample(jax.random.PRNGKey(1), 3)
    np.testing.assert_allclose(b, 1.3, rtol=1e-6)
    np.testing.assert_allclose(n, 0.02, rtol=1e-5)
    assert DegradationRange.from_dict(r.to_dict()) == r
    for bad in ((2.5, 0.5), (0.0, 1.0), (1.0, 4.0), (1.0,)):
        with pytest.raises(ValueError, match="blur_sigma_px"):
            DegradationRange(2, bad, (0.002, 0.08))
