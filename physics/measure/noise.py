"""Background noise from a histogram fit, and the product's intensity normalisation.

Normalisation convention (the one used everywhere in the product)
-----------------------------------------------------------------
``lo, hi = normalization_range(image)`` are the 0.5th and 99.5th percentiles of
the whole image; ``normalized = (x - lo) / (hi - lo)``. Percentiles rather than
min/max so that a few hot or dead pixels do not set the scale. A noise sigma in
normalised units is ``sigma / (hi - lo)``; the learn part uses it as the noise
of its degradation model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.errors import InputFileError, OptionError
from scipy.optimize import minimize
from scipy.special import ndtr

from physics.measure._common import as_image, check_roi

#: Percentiles of the normalisation range (see module docstring).
NORMALIZATION_PERCENTILES = (0.5, 99.5)
#: Histogram window: median +- 5 robust sigmas; values beyond are outliers
#: (hot/dead pixels, dust), which a Gaussian puts at < 6e-7 of the pixels.
WINDOW_ROBUST_SIGMAS = 5.0
#: Fewer pixels than this give a sigma worse than ~10 % (1/sqrt(2N)); refuse.
MIN_PIXELS = 50
#: MAD -> sigma for a Gaussian.
MAD_TO_SIGMA = 1.4826


def normalization_range(image) -> tuple[float, float]:
    """The product's intensity scale: 0.5th and 99.5th percentiles of ``image``.

    Raises
    ------
    ValueError
        NaNs, or an image whose percentiles coincide (flat image).
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise InputFileError(f"image: expected a 2D image or 3D stack, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputFileError("image: contains NaN/inf pixels; cannot compute its normalization range")
    lo, hi = np.percentile(arr, NORMALIZATION_PERCENTILES)
    if not hi > lo:
        raise InputFileError(f"image: flat image (0.5th and 99.5th percentiles both {lo:g}); "
                         "no normalization range")
    return float(lo), float(hi)


def normalize(image, value_range: tuple[float, float]) -> np.ndarray:
    """``(image - lo) / (hi - lo)`` with ``value_range = (lo, hi)``."""
    lo, hi = value_range
    if not hi > lo:
        raise OptionError(f"value_range: need hi > lo, got {value_range!r}")
    return (np.asarray(image, dtype=np.float64) - lo) / (hi - lo)


@dataclass(frozen=True)
class NoiseResult:
    """Gaussian fit of a background ROI's histogram.

    Attributes
    ----------
    mean, sigma : float
        Fitted Gaussian, in the image's grey levels.
    roi : (x0, y0, x1, y1)
        The ROI, x along columns, x1/y1 exclusive.
    image_range : (lo, hi)
        :func:`normalization_range` of the whole image.
    n_pixels : int
        Pixels in the ROI (outliers included in the count).
    n_outliers : int
        Pixels outside the fitted histogram window (median +- 5 robust sigmas).
    """

    mean: float
    sigma: float
    roi: tuple[int, int, int, int]
    image_range: tuple[float, float]
    n_pixels: int
    n_outliers: int

    @property
    def sigma_normalized(self) -> float:
        lo, hi = self.image_range
        return self.sigma / (hi - lo)

    def to_json(self) -> dict:
        """The content of ``noise.json``."""
        lo, hi = self.image_range
        return {
            "mean": self.mean,
            "sigma": self.sigma,
            "roi": list(self.roi),
            "image_range": {"lo": lo, "hi": hi},
            "sigma_normalized": self.sigma_normalized,
            "n_pixels": self.n_pixels,
            "n_outliers": self.n_outliers,
        }


def measure_noise(image, roi) -> NoiseResult:
    """Mean and sigma of a background region by a Gaussian fit to its histogram.

    The fit is a binned maximum-likelihood fit (Poisson counts, expected counts
    from the exact Gaussian integral over each bin) inside a window of median
    +- 5 robust (MAD) sigmas, so a few outliers do not move it and the bin width
    does not bias sigma.

    Parameters
    ----------
    image : array-like, 2D
        The whole image (its normalisation range is reported too).
    roi : (x0, y0, x1, y1)
        A region of uniform background; x along columns, x1/y1 exclusive.

    Returns
    -------
    NoiseResult
    """
    img = as_image(image, name="image")
    x0, y0, x1, y1 = check_roi(roi, img.shape, name="roi")
    values = img[y0:y1, x0:x1].ravel()
    if values.size < MIN_PIXELS:
        raise OptionError(f"roi: {values.size} pixels is too few for a noise fit; "
                         f"need at least {MIN_PIXELS}")
    median = float(np.median(values))
    robust = MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    if robust == 0.0:  # mostly one value, e.g. integer data with tiny noise
        robust = float(np.std(values))
    if not robust > 0:
        raise OptionError(f"roi: all {values.size} pixels have the value {median:g}; "
                         "no noise to measure")
    lo_hi = normalization_range(img)
    half = WINDOW_ROBUST_SIGMAS * robust
    inside = values[np.abs(values - median) <= half]
    edges = _bin_edges(inside, median - half, median + half, robust,
                       integer=bool(np.all(values == np.round(values))))
    counts, _ = np.histogram(inside, bins=edges)
    mean, sigma = _fit_binned_gaussian(edges, counts, median, robust)
    return NoiseResult(mean=mean, sigma=sigma, roi=(x0, y0, x1, y1), image_range=lo_hi,
                       n_pixels=int(values.size), n_outliers=int(values.size - inside.size))


def _bin_edges(values, lo, hi, robust, *, integer: bool) -> np.ndarray:
    """About 4 bins per sigma; integer data get integer-aligned bins of whole widths."""
    width = robust / 4.0
    if integer:
        width = max(1.0, math.floor(width))
        lo = math.floor(lo) - 0.5
        hi = math.ceil(hi) + 0.5
    n = max(int(math.ceil((hi - lo) / width)), 3)
    return lo + width * np.arange(n + 1)


def _fit_binned_gaussian(edges, counts, mean0, sigma0) -> tuple[float, float]:
    """Poisson maximum-likelihood Gaussian (truncated to the window) on a histogram."""
    total = counts.sum()

    def nll(p):  # p = ((mu - mean0) / sigma0, log(sigma / sigma0)), both of order 1
        mu, s = mean0 + p[0] * sigma0, sigma0 * math.exp(p[1])
        cdf = ndtr((edges - mu) / s)
        prob = np.diff(cdf) / max(cdf[-1] - cdf[0], 1e-300)  # truncated to the window
        expected = np.maximum(total * prob, 1e-300)
        return float(np.sum(expected - counts * np.log(expected)))

    fit = minimize(nll, [0.0, 0.0], method="Nelder-Mead",
                   options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
    if not fit.success:
        raise OptionError(f"roi: the Gaussian fit of the histogram did not converge ({fit.message})")
    return float(mean0 + fit.x[0] * sigma0), float(sigma0 * math.exp(fit.x[1]))
