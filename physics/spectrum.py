"""X-ray tube spectra: SpekPy for the tube, xraylib for filtration.

A :class:`Spectrum` holds the number of photons emitted **per energy bin per
steradian** during one exposure (tube current x exposure time), on a uniform grid
of bin centres in keV. Dividing by the squared distance in um gives photons per
bin per um^2 at that distance (:meth:`Spectrum.photons_per_um2`).

Tube output comes from SpekPy (Poludniowski et al.; reflection target, tungsten
by default). Added filtration (Be window, air path, Al...) is applied here with
xraylib coefficients, so any registered material can filter the beam.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from physics import materials

__all__ = ["Spectrum", "tube_spectrum", "load_spectrum", "air_mass_energy_absorption",
           "KVP_RANGE_KV"]

#: Tube voltages SpekPy models for a tungsten reflection target (its tabulated range).
KVP_RANGE_KV = (30.0, 300.0)

_CM2_PER_SR_AT_1M = 100.0**2  # SpekPy gives fluence per cm^2 at 100 cm

# Mass energy-absorption coefficient of dry air (cm^2/g) from NIST SRD 126 (Hubbell &
# Seltzer, Table 4), used for air kerma. xraylib's CS_Energy_CP for air is up to 35 %
# lower than NIST between 15 and 40 keV, which would shift the HVL by ~13 %; air kerma
# is defined against the NIST values, so they are used here (log-log interpolation).
_NIST_AIR_E_KEV = np.array([1.0, 1.5, 2.0, 3.0, 3.2028, 3.2030, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                            80.0, 100.0, 150.0, 200.0, 300.0])
_NIST_AIR_MU_EN = np.array([3599.0, 1188.0, 526.2, 161.4, 133.0, 146.0, 76.36, 39.31, 22.70, 9.446, 4.742, 1.334, 0.5389, 0.1537,
                            0.06833, 0.04098, 0.03041, 0.02407, 0.02325, 0.02496,
                            0.02672, 0.02872])


def air_mass_energy_absorption(energies_kev) -> np.ndarray:
    """mu_en/rho of dry air in cm^2/g (NIST SRD 126, Ar K-edge at 3.2029 keV), 1-300 keV."""
    e = np.asarray(energies_kev, dtype=float)
    if np.any(e < _NIST_AIR_E_KEV[0]) or np.any(e > _NIST_AIR_E_KEV[-1]):
        raise ValueError(f"air mu_en table covers {_NIST_AIR_E_KEV[0]:g}-{_NIST_AIR_E_KEV[-1]:g} keV")
    return np.exp(np.interp(np.log(e), np.log(_NIST_AIR_E_KEV), np.log(_NIST_AIR_MU_EN)))


@dataclass(frozen=True)
class Spectrum:
    """Photons per energy bin per steradian for one exposure.

    Attributes
    ----------
    energies_kev : np.ndarray
        Bin centres, uniform spacing, keV.
    photons : np.ndarray
        Photons emitted into one steradian in each bin over the exposure.
    bin_width_kev : float
        Width of every bin, keV.
    description : str
        Provenance (tube settings or file name), shown in reports.
    """

    energies_kev: np.ndarray
    photons: np.ndarray
    bin_width_kev: float
    description: str = field(default="", compare=False)

    def __post_init__(self):
        e = np.asarray(self.energies_kev, dtype=float)
        n = np.asarray(self.photons, dtype=float)
        if e.ndim != 1 or n.shape != e.shape or e.size == 0:
            raise ValueError(
                f"spectrum: energies_kev and photons must be 1D of equal length, got "
                f"{e.shape} and {n.shape}"
            )
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(n))):
            raise ValueError("spectrum: energies and photons must be finite (found NaN or inf)")
        if np.any(n < 0):
            raise ValueError(f"spectrum: photon numbers must be >= 0, got min {n.min():g}")
        if np.any(np.diff(e) <= 0):
            raise ValueError("spectrum: energies_kev must increase strictly")
        if not self.bin_width_kev > 0:
            raise ValueError(f"spectrum: bin_width_kev must be > 0, got {self.bin_width_kev!r}")
        object.__setattr__(self, "energies_kev", e)
        object.__setattr__(self, "photons", n)

    @property
    def total_photons(self) -> float:
        """Photons per steradian, all energies."""
        return float(self.photons.sum())

    @property
    def mean_energy_kev(self) -> float:
        """Fluence-weighted mean energy."""
        return float((self.photons * self.energies_kev).sum() / self.photons.sum())

    def photons_per_um2(self, distance_um: float) -> np.ndarray:
        """Photons per bin per um^2 at ``distance_um`` from the focal spot (inverse square)."""
        if not distance_um > 0:
            raise ValueError(f"distance_um must be > 0, got {distance_um!r}")
        return self.photons / distance_um**2

    def fluence_at(self, distance_um: float, *, air_path: bool) -> tuple[np.ndarray, np.ndarray]:
        """Energies (keV) and photons per um^2 per bin at ``distance_um`` on the central ray.

        The :meth:`trimmed` spectrum, inverse square (:meth:`photons_per_um2`), and the
        attenuation of the air over the distance when ``air_path``.
        """
        spec = self.trimmed()
        e = np.asarray(spec.energies_kev, float)
        n = np.asarray(spec.photons_per_um2(distance_um), float)
        if air_path:
            n = n * np.exp(-np.asarray(materials.linear_attenuation_per_um("Air", e)) * distance_um)
        return e, n

    def filtered(self, material: str | materials.Material, thickness_um: float) -> "Spectrum":
        """The spectrum after a filter of ``thickness_um`` (Beer-Lambert, narrow beam)."""
        if not thickness_um >= 0:
            raise ValueError(f"filter {material}: thickness must be >= 0 um, got {thickness_um!r}")
        mu = materials.linear_attenuation_per_um(material, self.energies_kev)
        return replace(self, photons=self.photons * np.exp(-mu * thickness_um))

    def trimmed(self, *, min_fraction: float = 1e-4) -> "Spectrum":
        """Drop the leading/trailing bins that carry less than ``min_fraction`` of the photons.

        Filtration leaves many empty low-energy bins; dropping them makes every
        polychromatic sum in the chain proportionally cheaper.
        """
        keep = self.photons >= min_fraction * self.photons.max()
        idx = np.flatnonzero(keep)
        sl = slice(idx[0], idx[-1] + 1)
        return replace(self, energies_kev=self.energies_kev[sl], photons=self.photons[sl])

    def hvl1_mm(self, material: str = "Al") -> float:
        """First half-value layer (air-kerma based, narrow beam) in mm of ``material``.
        """
        e = self.energies_kev
        mu = materials.linear_attenuation_per_um(material, e)
        w = self.photons * e * air_mass_energy_absorption(e)
        k0 = w.sum()

        def excess(t_um):
            return float((w * np.exp(-mu * t_um)).sum()) / k0 - 0.5

        return brentq(excess, 0.0, 1e6, xtol=1e-6) / 1000.0


def tube_spectrum(
    *,
    kvp: float = 50.0,
    anode_angle_deg: float = 12.0,
    target: str = "W",
    current_ma: float = 1.0,
    exposure_s: float = 1.0,
    filters: tuple[tuple[str, float], ...] = (("Be", 200.0),),
    bin_kev: float = 1.0,
) -> Spectrum:
    """Spectrum of a reflection-target tube from SpekPy, with added filtration.

    Parameters
    ----------
    kvp : float
        Tube voltage in kV (SpekPy's tungsten range, :data:`KVP_RANGE_KV`).
    anode_angle_deg : float
        Anode (target) angle in degrees. 12 degrees is SpekPy's default and an
        assumption for the paper's tube (Petrick P030-24-12F100W), whose datasheet
        value is not given in the publication.
    target : str
        Anode material (SpekPy targets: W, Mo, Rh, Cu, Ag, Au, Cr).
    current_ma, exposure_s : float
        Tube current (mA) and exposure time (s); photon numbers scale with their product.
    filters : tuple of (material, thickness_um)
        Added filtration in beam order, e.g. ``(("Be", 200.0), ("Air", 50_000.0))``.
    bin_kev : float
        Energy bin width in keV.

    Returns
    -------
    Spectrum
        Photons per bin per steradian for the exposure.
    """
    import spekpy

    lo, hi = KVP_RANGE_KV
    if not lo <= kvp <= hi:
        raise ValueError(f"kvp: {kvp!r} kV is outside SpekPy's range for the tube model ({lo:g}-{hi:g} kV)")
    if not 0 < anode_angle_deg < 90:
        raise ValueError(f"anode_angle_deg: {anode_angle_deg!r} must be between 0 and 90 degrees")
    if not current_ma > 0:
        raise ValueError(f"current_ma: {current_ma!r} must be > 0 mA")
    if not exposure_s > 0:
        raise ValueError(f"exposure_s: {exposure_s!r} must be > 0 s")
    if not 0 < bin_kev <= 5:
        raise ValueError(f"bin_kev: {bin_kev!r} must be in (0, 5] keV")
    spek = spekpy.Spek(kvp=kvp, th=anode_angle_deg, dk=bin_kev, targ=target,
                       mas=current_ma * exposure_s, z=100.0)
    energies, fluence_per_kev_cm2 = spek.get_spectrum()
    photons = np.asarray(fluence_per_kev_cm2) * bin_kev * _CM2_PER_SR_AT_1M
    spec = Spectrum(np.asarray(energies, dtype=float), photons, float(bin_kev),
                    description=f"SpekPy {target} {kvp:g} kVp, anode {anode_angle_deg:g} deg, "
                                f"{current_ma:g} mA x {exposure_s:g} s")
    for material, thickness_um in filters:
        spec = spec.filtered(material, thickness_um)
    if filters:
        text = ", ".join(f"{m} {t:g} um" for m, t in filters)
        spec = replace(spec, description=f"{spec.description}; filters: {text}")
    return spec


def load_spectrum(path: str | os.PathLike, *, per: str = "bin", scale: float = 1.0) -> Spectrum:
    """Read a measured spectrum from a two-column text file (energy keV, photons).

    Parameters
    ----------
    path : path-like
        Whitespace-, comma- or semicolon-separated columns; lines starting with ``#``
        are comments. Energies must be uniformly spaced bin centres.
    per : {"bin", "keV"}
        Whether the second column counts photons per bin or per keV.
    scale : float
        Factor taking the file's numbers to photons per steradian for one exposure.
    """
    from physics.errors import InputFileError  # file contents are never quoted in messages

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: spectrum file not found")
    if per not in ("bin", "keV"):
        raise ValueError(f"per: {per!r} must be 'bin' or 'keV'")
    if path.stat().st_size > 10_000_000:
        raise InputFileError(f"{path}: too large for a spectrum file (> 10 MB)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not a text file") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace(";", " ").split()
        try:
            rows.append([float(parts[0]), float(parts[1])])
        except (ValueError, IndexError):
            raise InputFileError(f"{path}, line {lineno}: expected two numbers (keV, photons)") from None
    if len(rows) < 2:
        raise InputFileError(f"{path}: a spectrum needs at least two rows, found {len(rows)}")
    data = np.array(rows)
    if not np.all(np.isfinite(data)):
        raise InputFileError(f"{path}: holds NaN or inf")
    energies, values = data[:, 0], data[:, 1]
    if np.any(values < 0) or np.any(energies <= 0):
        raise InputFileError(f"{path}: energies must be > 0 and photon numbers >= 0")
    steps = np.diff(energies)
    if np.any(steps <= 0) or not np.allclose(steps, steps[0], rtol=1e-3):
        raise InputFileError(f"{path}: energies must be uniformly spaced and increasing")
    width = float(steps[0])
    photons = values * scale * (width if per == "keV" else 1.0)
    return Spectrum(energies, photons, width, description=f"measured spectrum {path.name}")
