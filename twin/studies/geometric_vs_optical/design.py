"""The two set-ups of the geometric-vs-optical study: geometry, focal-spot penumbra MTF,
photon flux and the exposure for an SNR target (all lengths in um)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics import materials
from physics.focal_spot import FocalSpot, kernel_at_detector
from physics.measure.mtf import FWHM_PER_SIGMA, mtf_from_lsf
from physics.scintillator import Scintillator
from physics.spectrum import Spectrum
from twin.scenario import Scenario
from twin.system import build_system

SWEPT = "source.focal_spot_size"
SETUPS = ("optical", "geometric")
COMPONENTS = ("focal_spot", "scintillator", "optics", "pixel")
#: Level of the resolved criterion on the MTF (10 %, as for Koch's R and MTF10).
RESOLVED_MTF = 0.1
#: Objective parfocal distance (object to mounting shoulder), added to the optical
#: set-up's length. Assumed: Mitutoyo M Plan Apo objectives have a 95 mm parfocal length.
PARFOCAL_UM = 95_000.0
#: Largest half-width (cells) of a numerical focal-spot kernel; beyond it the grid coarsens.
MAX_KERNEL_HALF = 700


# ---------------------------------------------------------------------- the two set-ups
@dataclass(frozen=True)
class Design:
    """Geometry of one set-up, all lengths in um.

    Attributes
    ----------
    name : str
    magnification : float
        Object plane to detector plane (screen for the optical set-up).
    object_pixel_um : float
        Sampling pitch referred to the object plane.
    detector_pixel_um : float
        Pixel in the detector plane (the effective pixel in the screen plane for the
        optical set-up: camera pixel over the microscope magnification).
    source_object_um, source_detector_um : float
        Focal spot to object plane and to detector plane.
    length_um : float
        Source to image sensor.
    """

    name: str
    magnification: float
    object_pixel_um: float
    detector_pixel_um: float
    source_object_um: float
    source_detector_um: float
    length_um: float

    @property
    def penumbra_scale(self) -> float:
        """Focal spot to penumbra on the detector: ``(SDD - SOD) / SOD = M - 1``."""
        return (self.source_detector_um - self.source_object_um) / self.source_object_um


def optical_design(scenario: Scenario) -> Design:
    """The optical-lens set-up: object at ``h`` above the screen, source at ``R``."""
    system = build_system(scenario)
    r = scenario["geometry"]["source_distance"]
    h = scenario["object"]["height"]
    m = r / (r - h)
    tube_lens = scenario["optics"]["tube_lens"]
    return Design("optical", m, system.pixel_um / m, system.pixel_um, r - h, r,
                  r + PARFOCAL_UM + tube_lens)


def geometric_design(scenario: Scenario, optical: Design) -> Design:
    """Geometric set-up reaching ``geometric.target_pixel`` (0: the optical object pixel)."""
    g = scenario["geometric"]
    target = g["target_pixel"] or optical.object_pixel_um
    m = g["detector_pixel"] / target
    if m <= 1.0:
        raise ValueError(f"geometric.target_pixel: {target:g} um is not smaller than "
                         f"geometric.detector_pixel = {g['detector_pixel']:g} um; no magnification needed")
    sod = g["source_object_distance"]
    return Design("geometric", m, target, g["detector_pixel"], sod, m * sod, m * sod)


def tube_power_w(scenario: Scenario, spot_um: float) -> float:
    """Tube power allowed at a focal-spot size: ``min(kvp x current, k x spot)``."""
    rated = scenario["source"]["kvp"] * scenario["source"]["current"]  # kV x mA = W
    return min(rated, scenario["geometric"]["power_per_spot_size"] * spot_um)

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

# ---------------------------------------------------------------------- photons
def detector_flux(spectrum: Spectrum, *, distance_um: float, pixel_um: float, screen: Scintillator,
                  air_path: bool) -> tuple[float, float]:
    """Photons incident on and absorbed in one detector pixel on the central ray.

    ``spectrum`` is photons per bin per sr for the exposure; returns (incident, absorbed).
    """
    spec = spectrum.trimmed()
    e = spec.energies_kev
    n = np.asarray(spec.photons, float)
    if air_path:
        n = n * np.exp(-np.asarray(materials.linear_attenuation_per_um("Air", e)) * distance_um)
    incident = n * pixel_um**2 / distance_um**2
    absorbed = incident * np.asarray(screen.interaction_probability(e), float)
    return float(incident.sum()), float(absorbed.sum())


def exposure_for_snr_s(absorbed_per_s: float, snr: float, *, gain: float | None = None,
                       read_noise_e: float = 0.0, dark_e_per_s: float = 0.0) -> float:
    """Exposure time giving ``snr`` in one open-field pixel.

    Without ``gain``: quantum-limited, ``t = snr^2 / absorbed_per_s``. With a Poisson
    secondary stage of mean ``gain`` electrons per absorbed quantum, the signal ``a t g``
    has variance ``a t g (1 + g) + read^2 + dark t``; the positive root of the
    quadratic in ``t`` is returned.
    """
    if not (absorbed_per_s > 0 and snr > 0):
        raise ValueError(f"absorbed_per_s ({absorbed_per_s!r}) and snr ({snr!r}) must be > 0")
    if gain is None:
        return snr**2 / absorbed_per_s
    s = absorbed_per_s * gain
    b = snr**2 * (s * (1.0 + gain) + dark_e_per_s)
    return (b + math.sqrt(b**2 + 4.0 * s**2 * snr**2 * read_noise_e**2)) / (2.0 * s**2)

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
