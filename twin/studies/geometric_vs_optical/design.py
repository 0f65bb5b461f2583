"""The geometric-vs-optical study's own analysis: the best magnification of a flat panel
(lengths in um); the penumbra MTF of a set-up is :func:`physics.focal_spot.penumbra_mtf`."""

from __future__ import annotations

import math

import numpy as np

from physics.focal_spot import FocalSpot
from physics.measure.mtf import FWHM_PER_SIGMA
from twin.system import Design

SWEPT = "source.focal_spot_size"
SETUPS = ("optical", "geometric")
COMPONENTS = ("focal_spot", "scintillator", "optics", "pixel")
#: Level of the resolved criterion on the MTF (10 %, as for Koch's R and MTF10).
RESOLVED_MTF = 0.1


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
