"""Noise histogram fit and the normalisation convention."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics.measure.noise import measure_noise, normalization_range, normalize


@settings(max_examples=25, deadline=None)
@given(sigma=st.floats(0.05, 200.0), mean=st.floats(-100.0, 5000.0),
       seed=st.integers(0, 2**31 - 1), n_outliers=st.integers(0, 30))
def test_sigma_recovered_within_3_percent(sigma, mean, seed, n_outliers):
    """Gaussian background of known sigma (128x128 = 16384 px: statistical error
    1/sqrt(2N) = 0.55 %), plus up to 30 hot/dead pixels far outside."""
    rng = np.random.default_rng(seed)
    img = mean + sigma * rng.standard_normal((128, 128))
    idx = rng.choice(img.size, n_outliers, replace=False)
    img.flat[idx] = mean + sigma * rng.choice([-1, 1], n_outliers) * rng.uniform(20, 1e3, n_outliers)
    r = measure_noise(img, (0, 0, 128, 128))
    assert r.sigma == pytest.approx(sigma, rel=0.03)
    assert r.mean == pytest.approx(mean, abs=0.05 * sigma)
    assert r.n_pixels == 128 * 128
    assert r.n_outliers == n_outliers


def test_integer_data_recovers_underlying_sigma():
    """uint16 data with sigma = 1.5 ADU: integer-aligned bins integrate the Gaussian exactly,
    so the fit returns the sigma before quantisation (rounding alone would add 1/12 ADU^2)."""
    rng = np.random.default_rng(3)
    img = np.round(1000 + 1.5 * rng.standard_normal((128, 128))).astype(np.uint16)
    r = measure_noise(img, (0, 0, 128, 128))
    assert r.sigma == pytest.approx(1.5, rel=0.03)


def test_roi_only_and_json():
    rng = np.random.default_rng(1)
    img = np.zeros((100, 200))
    img[:, :100] = 50 + 2.0 * rng.standard_normal((100, 100))
    img[:, 100:] = 500 + 20.0 * rng.standard_normal((100, 100))
    r = measure_noise(img, (0, 0, 100, 100))
    assert r.sigma == pytest.approx(2.0, rel=0.03)
    lo, hi = np.percentile(img, [0.5, 99.5])
    d = r.to_json()
    assert d["roi"] == [0, 0, 100, 100]
    assert d["image_range"] == {"lo": pytest.approx(lo), "hi": pytest.approx(hi)}
    assert d["sigma_normalized"] == pytest.approx(d["sigma"] / (hi - lo))
    assert d["n_pixels"] == 10000


def test_normalization_range_convention():
    img = np.arange(1000.0).reshape(20, 50)
    lo, hi = normalization_range(img)
    assert (lo, hi) == (pytest.approx(np.percentile(img, 0.5)), pytest.approx(np.percentile(img, 99.5)))
    n = normalize(img, (lo, hi))
    assert np.mean(n < 0) == pytest.approx(0.005, abs=0.002)
    assert np.mean(n > 1) == pytest.approx(0.005, abs=0.002)
    # A few extreme pixels do not move the range.
    img2 = img.copy()
    img2.flat[:3] = -1e9
    assert normalization_range(img2)[1] == pytest.approx(hi)


@pytest.mark.parametrize("roi, match", [
    ((0, 0, 300, 10), "outside the image"),
    ((10, 10, 5, 20), "x0 < x1"),
    ((0, 0, 5, 5), "too few"),
    ((0, 0, 1.5, 5), "integers"),
])
def test_bad_roi(roi, match):
    img = np.random.default_rng(0).normal(size=(50, 50))
    with pytest.raises(ValueError, match=match):
        measure_noise(img, roi)


def test_bad_images():
    with pytest.raises(ValueError, match="NaN"):
        measure_noise(np.full((20, 20), np.nan), (0, 0, 20, 20))
    with pytest.raises(ValueError, match="no noise"):
        measure_noise(np.ones((20, 20)), (0, 0, 20, 20))
    with pytest.raises(ValueError, match="flat image"):
        normalization_range(np.ones((5, 5)))
