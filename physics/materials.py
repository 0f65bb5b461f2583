"""Materials: composition, density and X-ray interaction coefficients.

Cross sections come from xraylib: ``CS_Total_CP`` (total mass attenuation,
coherent scattering included) and ``CS_Energy_CP`` (mass energy-absorption), both
in cm^2/g. Linear coefficients are returned per **micrometre** (the internal
length unit). Values are cached per (material, energy grid) because the
xraylib calls are scalar Python calls and the imaging chain asks for the same
grid many times.

Compounds whose density xraylib does not know (scintillators such as LuAG, GGG,
LSO, ZnWO4) are registered here with the source of each density.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import xraylib

__all__ = [
    "Material",
    "get_material",
    "register_material",
    "known_materials",
    "mass_attenuation",
    "mass_energy_absorption",
    "linear_attenuation_per_um",
    "linear_energy_absorption_per_um",
    "absorbed_dose_gy",
    "J_PER_KEV",
]

#: cm -> um, for turning (cm^2/g) x (g/cm^3) = 1/cm into 1/um.
_PER_CM_TO_PER_UM = 1e-4


@dataclass(frozen=True)
class Material:
    """A material known by composition and density.

    Attributes
    ----------
    name : str
        Name used in scenario files (``"ZnWO4"``, ``"W"``, ``"Air"``).
    formula : str
        A chemical formula xraylib's compound parser reads, or a NIST compound name
        from ``xraylib.GetCompoundDataNISTList()``.
    density_g_cm3 : float
        Mass density in g/cm^3.
    source : str
        Where the density comes from.
    """

    name: str
    formula: str
    density_g_cm3: float
    source: str = ""

    def __post_init__(self):
        if not (np.isfinite(self.density_g_cm3) and self.density_g_cm3 > 0):
            raise ValueError(
                f"material {self.name!r}: density must be positive, got {self.density_g_cm3!r} g/cm^3"
            )
        _check_formula(self.name, self.formula)


def _check_formula(name: str, formula: str) -> None:
    if formula in _NIST_NAMES:
        return
    try:
        xraylib.CompoundParser(formula)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(
            f"material {name!r}: formula {formula!r} is neither a chemical formula xraylib "
            f"can parse nor a NIST compound name ({exc})"
        ) from None


_NIST_NAMES = frozenset(xraylib.GetCompoundDataNISTList())

# Densities of compounds xraylib lacks, each with its source.
_REGISTRY: dict[str, Material] = {}


def register_material(name: str, formula: str, density_g_cm3: float, *, source: str) -> Material:
    """Register (or replace) a user-defined material.

    Parameters
    ----------
    name : str
        Name to refer to it by (case-sensitive).
    formula : str
        Chemical formula (``"Lu3Al5O12"``) or NIST compound name.
    density_g_cm3 : float
        Density in g/cm^3.
    source : str
        Where the density comes from (kept with the material and shown in reports).
    """
    material = Material(name, formula, float(density_g_cm3), source)
    _REGISTRY[name] = material
    _cached_coefficients.cache_clear()
    return material


for _name, _formula, _rho, _src in [
    # Scintillators
    ("ZnWO4", "ZnWO4", 7.87, "Jeong et al., ACS Omega 6 (2021) 33224 (paper ref. [1]); bulk crystal 7.87 g/cm3"),
    ("LuAG", "Lu3Al5O12", 6.73, "Martin & Koch, J. Synchrotron Rad. 13 (2006) 180, table 1"),
    ("GGG", "Gd3Ga5O12", 7.08, "Martin & Koch 2006, table 1"),
    ("LSO", "Lu2SiO5", 7.4, "Martin & Koch 2006, table 1"),
    ("YAG", "Y3Al5O12", 4.55, "Martin & Koch 2006, table 1"),
    ("CsI", "CsI", 4.51, "CRC Handbook of Chemistry and Physics"),
    ("GOS", "Gd2O2S", 7.32, "CRC Handbook; Gd2O2S:Tb (Gadox) phosphor"),
    ("CdWO4", "CdWO4", 7.9, "Martin & Koch 2006, table 1"),
    # Substrates, filters, objects
    ("Air", "Air, Dry (near sea level)", 0.001205, "NIST (xraylib NIST compound list)"),
    ("Water", "Water, Liquid", 1.0, "NIST (xraylib NIST compound list)"),
    ("PMMA", "Polymethyl Methacralate (Lucite, Perspex)", 1.19, "NIST (xraylib NIST compound list)"),
    ("Kapton", "Kapton Polyimide Film", 1.42, "NIST (xraylib NIST compound list)"),
    ("SiO2", "SiO2", 2.2, "fused silica, CRC Handbook"),
    ("Glass", "Glass, Pyrex", 2.23, "NIST (xraylib NIST compound list)"),
    ("SiN", "Si3N4", 3.17, "CRC Handbook (silicon nitride membrane)"),
]:
    _REGISTRY[_name] = Material(_name, _formula, _rho, _src)


def known_materials() -> list[str]:
    """Names of the registered materials (chemical elements are also accepted)."""
    return sorted(_REGISTRY)


def get_material(name: str | Material) -> Material:
    """Look up a material by name: the registry first, then chemical elements.

    Raises
    ------
    ValueError
        When the name is neither registered nor a chemical element symbol; the
        message lists how to register a new material.
    """
    if isinstance(name, Material):
        return name
    if name in _REGISTRY:
        return _REGISTRY[name]
    try:
        z = xraylib.SymbolToAtomicNumber(name)
    except ValueError:
        z = 0
    if z > 0:
        return Material(name, name, float(xraylib.ElementDensity(z)), "xraylib ElementDensity")
    raise ValueError(
        f"unknown material {name!r}: use a chemical element symbol, one of {known_materials()}, "
        "or register it with physics.materials.register_material(name, formula, density, source=...)"
    )


@functools.lru_cache(maxsize=256)
def _cached_coefficients(formula: str, energies: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    total = np.array([xraylib.CS_Total_CP(formula, e) for e in energies])
    absorbed = np.array([xraylib.CS_Energy_CP(formula, e) for e in energies])
    total.setflags(write=False)
    absorbed.setflags(write=False)
    return total, absorbed


def _energy_tuple(energies_kev) -> tuple[float, ...]:
    e = np.atleast_1d(np.asarray(energies_kev, dtype=float))
    if e.ndim != 1:
        raise ValueError(f"energies_kev must be 1D, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e < 1.0) or np.any(e > 800.0):
        raise ValueError(
            f"energies_kev must be finite and within 1..800 keV (xraylib's range), got "
            f"min={e.min():g}, max={e.max():g}"
        )
    return tuple(float(x) for x in e)


def mass_attenuation(material: str | Material, energies_kev) -> np.ndarray:
    """Total mass attenuation coefficient mu/rho in cm^2/g (xraylib ``CS_Total_CP``)."""
    m = get_material(material)
    return _cached_coefficients(m.formula, _energy_tuple(energies_kev))[0]


def mass_energy_absorption(material: str | Material, energies_kev) -> np.ndarray:
    """Mass energy-absorption coefficient mu_en/rho in cm^2/g (xraylib ``CS_Energy_CP``)."""
    m = get_material(material)
    return _cached_coefficients(m.formula, _energy_tuple(energies_kev))[1]


def linear_attenuation_per_um(material: str | Material, energies_kev) -> np.ndarray:
    """Linear attenuation coefficient mu in 1/um."""
    m = get_material(material)
    return mass_attenuation(m, energies_kev) * m.density_g_cm3 * _PER_CM_TO_PER_UM


def linear_energy_absorption_per_um(material: str | Material, energies_kev) -> np.ndarray:
    """Linear energy-absorption coefficient mu_en in 1/um."""
    m = get_material(material)
    return mass_energy_absorption(m, energies_kev) * m.density_g_cm3 * _PER_CM_TO_PER_UM


#: Joules per keV.
J_PER_KEV = 1.602176634e-16


def absorbed_dose_gy(energies_kev, photons_per_um2, material: str, thickness_um: float) -> float:
    """Mean absorbed dose (Gy) in a slab of ``material`` facing the fluence ``photons_per_um2``.

    Beer-Lambert energy absorption: of the quanta entering, ``1 - exp(-mu t)`` interact and
    a fraction ``mu_en / mu`` of their energy stays (the rest escapes as fluorescence and
    scatter); divided by the slab's mass per um^2. For a thin slab this tends to
    ``sum phi E mu_en/rho`` (the kerma approximation).
    """
    e = np.asarray(energies_kev, float)
    mu = np.asarray(linear_attenuation_per_um(material, e), float)
    mu_en = np.asarray(linear_energy_absorption_per_um(material, e), float)
    deposited_kev = np.sum(np.asarray(photons_per_um2, float) * e * mu_en / mu * -np.expm1(-mu * thickness_um))
    kg_per_um2 = get_material(material).density_g_cm3 * 1e-15 * thickness_um  # g/cm^3 -> kg/um^3
    return float(deposited_kev * J_PER_KEV / kg_per_um2)
