"""Noise sigma of an image from the image itself (no background ROI needed).

Method: the Laplacian-difference residual of Immerkaer (1996, "Fast noise variance
estimation", Computer Vision and Image Understanding 64:300), made robust with the
median absolute deviation (MAD)::

    r = (x * M) / 6,   M = [[1, -2, 1], [-2, 4, -2], [1, -2, 1]]
    sigma = 1.4826 * median(|r - median(r)|)

``M`` is the difference of two Laplacians; it annihilates constant, linear and
quadratic intensity (so smooth and blurred structure leaves almost nothing in ``r``),
and white noise of std ``sigma`` gives ``r`` std ``sigma`` (``||M||_2 = 6``). The
median ignores the few pixels on edges and lines where structure survives the filter,
which the mean of Immerkaer's original estimator does not. The product's X-ray slices
are blurred by at least ~0.5 px (the LSF), so little structure survives ``M``; on a
sharp, highly textured image the estimate is biased high (tested limits in
``tests/learn/test_noise_estimate.py``).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import convolve2d

from physics.measure.noise import MAD_TO_SIGMA

_M = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]) / 6.0
#: The residual needs this many pixels for a sigma good to ~5 % (MAD efficiency 37 %:
#: relative error ~ 1 / sqrt(0.37 * 2 N)).
MIN_PIXELS = 500


def estimate_noise_sigma(image) -> float:
    """Standard deviation of additive white noise in ``image`` (same units as ``image``).

    Parameters
    ----------
    image : array (H, W)
        One slice, at least 3x3 and with at least :data:`MIN_PIXELS` interior pixels.

    Returns
    -------
    float
    """
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"image: expected a 2D slice, got shape {x.shape}")
    if (x.shape[0] - 2) * (x.shape[1] - 2) < MIN_PIXELS:
        raise ValueError(f"image: {x.shape[0]}x{x.shape[1]} is too small to estimate its noise "
                         f"(needs {MIN_PIXELS} interior pixels); give the noise sigma")
    if not np.all(np.isfinite(x)):
        raise ValueError("image: contains NaN or inf")
    r = convolve2d(x, _M, mode="valid")
    return float(MAD_TO_SIGMA * np.median(np.abs(r - np.median(r))))
