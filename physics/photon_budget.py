"""Photon budget of a set-up: quanta reaching and absorbed in a detector pixel, the dose in
the object, and the exposure that gives a target SNR (used by the studies).

Spectra are :class:`physics.spectrum.Spectrum` (photons per bin per sr); lengths in um,
energies in keV; detectors are :class:`physics.detector.Detector` (anything with
``interaction_probability(E)``).
"""

from __future__ import annotations

import math

import numpy as np

from physics import materials
from physics.spectrum import Spectrum

#: Joules per keV.
J_PER_KEV = 1.602176634e-16


def photons_at(spectrum: Spectrum, distance_um: float, *, air_path: bool) -> tuple[np.ndarray, np.ndarray]:
    """Energies (keV) and photons per um^2 per bin at ``distance_um`` from the focal spot, on the
    central ray (inverse square; air attenuation over the distance when ``air_path``)."""
    spec = spectrum.trimmed()
    e = np.asarray(spec.energies_kev, float)
    n = np.asarray(spec.photons, float) / distance_um**2
    if air_path:
        n = n * np.exp(-np.asarray(materials.linear_attenuation_per_um("Air", e)) * distance_um)
    return e, n


def detector_flux(spectrum: Spectrum, *, distance_um: float, pixel_um: float, detector,
                  air_path: bool) -> tuple[float, float]:
    """Quanta incident on and absorbed in one detector pixel on the central ray (open field).

    Returns (incident, absorbed) for the exposure the spectrum is given for.
    """
    e, n = photons_at(spectrum, distance_um, air_path=air_path)
    incident = n * pixel_um**2
    absorbed = incident * np.asarray(detector.interaction_probability(e), float)
    return float(incident.sum()), float(absorbed.sum())


def absorbed_dose_gy(energies_kev, photons_per_um2, material: str, thickness_um: float) -> float:
    """Mean absorbed dose (Gy) in a slab of ``material`` facing the fluence ``photons_per_um2``.

    Beer-Lambert energy absorption: of the quanta entering, ``1 - exp(-mu t)`` interact and
    a fraction ``mu_en / mu`` of their energy stays (the rest escapes as fluorescence and
    scatter); divided by the slab's mass per um^2. For a thin slab this tends to
    ``sum phi E mu_en/rho`` (the kerma approximation).
    """
    e = np.asarray(energies_kev, float)
    mu = np.asarray(materials.linear_attenuation_per_um(material, e), float)
    mu_en = np.asarray(materials.linear_energy_absorption_per_um(material, e), float)
    deposited_kev = np.sum(np.asarray(photons_per_um2, float) * e * mu_en / mu * -np.expm1(-mu * thickness_um))
    kg_per_um2 = materials.get_material(material).density_g_cm3 * 1e-15 * thickness_um  # g/cm^3 -> kg/um^3
    return float(deposited_kev * J_PER_KEV / kg_per_um2)


def exposure_for_snr_s(absorbed_per_s: float, snr: float, *, gain: float | None = None,
                       read_noise_e: float = 0.0, dark_e_per_s: float = 0.0) -> float:
    """Exposure time giving ``snr`` in one open-field pixel.

    Without ``gain``: quantum-limited, ``t = snr^2 / absorbed_per_s``. With a Poisson
    secondary stage of mean ``gain`` electrons per absorbed quantum, the signal ``a t g``
    has variance ``a t g (1 + g) + read^2 + dark t``; the positive root of the quadratic
    in ``t`` is returned.
    """
    if not (absorbed_per_s > 0 and snr > 0):
        raise ValueError(f"absorbed_per_s ({absorbed_per_s!r}) and snr ({snr!r}) must be > 0")
    if gain is None:
        return snr**2 / absorbed_per_s
    s = absorbed_per_s * gain
    b = snr**2 * (s * (1.0 + gain) + dark_e_per_s)
    return (b + math.sqrt(b**2 + 4.0 * s**2 * snr**2 * read_noise_e**2)) / (2.0 * s**2)
