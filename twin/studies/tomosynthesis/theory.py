"""Tomosynthesis theory: where a thin grating spreads along height.

Geometric expectation (derived here, stated in the report). The tube moves on an arc in
the x-z plane; view ``k`` sees the source at angle ``theta_k``. A thin structure at
height ``h`` appears in a slice at ``h + dz`` displaced along x by ``dz tan(theta_k)``
(to O(h/R) ~ 1e-3), so shift-and-add - and FBP, whose filter acts identically on every
view - averages copies displaced by ``dz tan(theta_k)``. A grating of line width ``w``
(period ``2w``) keeps, at its fundamental frequency ``1/(2w)``, the modulation

    SSP(dz) = (1/N) sum_k cos(pi dz tan(theta_k) / w)

independent of the detector blur (which scales every height alike). For a continuous
arc this is ``~ sinc(dz tan(arc/2) / w)`` (``sinc(x) = sin(pi x)/(pi x)``, uniform
spread of ``tan theta``), whose FWHM is

    FWHM = 2 x 0.6034 w / tan(arc/2) = 1.207 w / tan(arc/2),

i.e. ~1.2 px / tan(arc/2) for the finest grating the pixel samples (w = 1 px). The
discrete sum repeats (a ghost of the grating) where ``dz Delta(tan theta) / w = 2``:
``dz_ghost ~ w (N - 1) / tan(arc/2)``. Lines parallel to the arc's motion (x) do not move
between views and have no depth resolution at all.
"""

from __future__ import annotations

import math

import numpy as np

#: Half maximum of sinc: sinc(x) = 0.5 at x = 0.6034.
SINC_HALF = 0.60335


def view_angles_deg(geometry) -> np.ndarray:
    """Angle of each source from the detector normal (x-z plane), degrees."""
    src = np.asarray(geometry.source_positions_um, dtype=float)
    return np.degrees(np.arctan2(src[:, 0], src[:, 2]))


def predicted_ssp(dz_um, line_width_um: float, angles_deg) -> np.ndarray:
    """Fundamental-frequency SSP of a grating of line width ``w`` for discrete views."""
    t = np.tan(np.radians(np.asarray(angles_deg, dtype=float)))
    dz = np.asarray(dz_um, dtype=float)
    return np.mean(np.cos(np.pi * dz[..., None] * t / line_width_um), axis=-1)


def continuous_fwhm_um(line_width_um: float, arc_deg: float) -> float:
    """FWHM of the continuous-arc SSP, ``2 x 0.6034 w / tan(arc/2)`` (inf for no arc)."""
    t = math.tan(math.radians(arc_deg) / 2.0)
    return math.inf if t <= 0 else 2.0 * SINC_HALF * line_width_um / t


def ghost_offset_um(line_width_um: float, angles_deg) -> float:
    """Height offset of the first grating ghost, ``2 w / mean step of tan(theta)``."""
    t = np.tan(np.radians(np.sort(np.asarray(angles_deg, dtype=float))))
    if t.size < 2:
        return math.inf
    return float(2.0 * line_width_um / np.mean(np.diff(t)))


def main_lobe(profile, heights, k0: int):
    """FWHM of the lobe of ``profile`` around index ``k0`` (peak normalised to 1 there) and
    the indices where it first changes sign on each side; FWHM None if it never falls to
    half within the stack."""
    from physics.measure.mtf import first_crossing

    p = np.asarray(profile, dtype=float)
    h = np.asarray(heights, dtype=float)
    right = first_crossing(h[k0:], p[k0:], 0.5)
    left = first_crossing(h[k0::-1], p[k0::-1], 0.5)
    if right is None or left is None:
        return None, None
    zeros = []
    for step in (-1, 1):
        below = np.flatnonzero(p[k0::step] < 0.0)
        zeros.append(None if below.size == 0 else k0 + step * int(below[0]))
    return float(right - left), zeros


def predicted_fwhm_um(line_width_um: float, angles_deg, *, half_range_um: float = 200.0,
                      step_um: float = 0.01) -> float | None:
    """FWHM of :func:`predicted_ssp` (numerically, on a fine grid)."""
    dz = np.arange(-half_range_um, half_range_um + step_um / 2, step_um)
    fwhm, _ = main_lobe(predicted_ssp(dz, line_width_um, angles_deg), dz, int(np.argmin(np.abs(dz))))
    return fwhm
