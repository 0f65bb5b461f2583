"""The geometric-vs-optical study's own analysis: the focal-spot penumbra MTF of a set-up
(:class:`twin.system.Design`) and the best magnification of a flat panel (lengths in um)."""

from __future__ import annotations

import math

import numpy as np

from physics.focal_spot import FocalSpot, kernel_at_detector
from physics.measure.mtf import FWHM_PER_SIGMA, mtf_from_lsf
from twin.system import Design

SWEPT = "source.focal_spot_size"
SETUPS = ("optical", "geometric")
COMPONENTS = ("focal_spot", "scintillator", "optics", "pixel")
#: Level of the resolved criterion on the MTF (10 %, as for Koch's R and MTF10).
RESOLVED_MTF = 0.1
#: Largest half-width (cells) of a numerical focal-spot kernel; beyond it the grid coarsens.
MAX_KERNEL_HALF = 700


def penumbra_mtf(spot: FocalSpot, design: Design, freqs_per_um) -> np.ndarray:
    """Object-plane MTF of the focal-spot penumbra from the numerical kernel.

    The kernel is sampled on a detector grid whose pitch, referred to the object plane,
    resolves the penumbra (1/8 of its width) and keeps every frequency below Nyquist.
    """
    f_max = float(np.max(freqs_per_um))
    width = _spot_width_um(spot) * design.penumbra_scale / design.magnification
    pitch = min(width / 8.0, 0.25 / f_max)
    extent = 2.5 * width  # Gaussian: 4.2 sigma; disc/ellipse: 2.5 radii
    pitch = max(pitch, extent / MAX_KERNEL_HALF, 1e-6)
    half = int(math.ceil(extent / pitch)) + 1
    kernel = kernel_at_detector(spot, object_height_um=design.source_detector_um - design.source_object_um,
                                source_distance_um=design.source_detector_um,
                                pixel_um=pitch * design.magnification, half_width_px=half,
                                supersample=4 if half < 200 else 1)
    lsf = np.asarray(kernel, dtype=float).sum(axis=0)
    f = np.asarray(freqs_per_um, float)
    mtf = np.zeros_like(f)
    ok = f <= 0.5 / pitch  # beyond Nyquist of a coarsened grid the penumbra MTF is < 1e-6
    mtf[ok] = mtf_from_lsf(lsf, pitch, freqs=f[ok], aperture=pitch)[1]
    return mtf


def _spot_width_um(spot: FocalSpot) -> float:
    """Largest FWHM-like width of the spot in its own plane (um)."""
    if spot.shape == "gaussian":
        return float(spot.size_um)
    if spot.shape == "image":
        return float(max(spot.image.shape) * spot.image_pixel_um)
    return 2.0 * float(max(spot.semi_axes_um()))


def to_spot(value) -> float:
    """A swept focal-spot size as written in the file, in um."""
    from physics.units import to_float

    return to_float(value, "um", key=SWEPT)


def best_magnification(spot: FocalSpot, g: dict, geo: Design) -> dict:
    """Magnification minimising the object-plane blur for this spot and flat panel.

    Object-plane variance ``s^2 (1 - 1/M)^2 + D^2 / M^2`` (spot sigma ``s``; detector
    sigma ``D`` from the screen blur and the pixel, ``p^2/12``) is least at
    ``M = 1 + D^2 / s^2``, where the blur is ``s D / sqrt(s^2 + D^2)``: the geometric
    set-up never gets sharper than its focal spot, however long it is.
    """
    s = math.sqrt(float(np.asarray(spot.covariance_um2())[0, 0]))
    d = math.hypot(g["detector_psf_fwhm"] / FWHM_PER_SIGMA, g["detector_pixel"] / math.sqrt(12.0))
    m = 1.0 + d**2 / s**2
    return {"best_magnification": m, "best_sigma_um": s * d / math.hypot(s, d),
            "best_sdd_mm": m * geo.source_object_um / 1000.0,
            "best_object_pixel_um": g["detector_pixel"] / m}
