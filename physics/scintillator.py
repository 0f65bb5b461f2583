"""Thin transparent scintillator: where X-ray energy is deposited and how much light it makes.

Frame and units: the X-ray entrance face is depth ``d = 0``; depth runs to the
thickness ``T`` (um); the substrate lies behind it (``d > T``) and the objective looks
through the substrate. Energies in keV, lengths in um, emission wavelength in nm.

Model (stated approximations)
-----------------------------
* A photon of energy ``E`` interacts at depth ``d`` with density ``mu exp(-mu d)``,
  ``mu = CS_Total x rho`` (xraylib, coherent scattering included).
* The energy deposited *locally* per interaction is ``E mu_en / mu`` (``mu_en`` from
  xraylib ``CS_Energy_CP``). No electron transport (the photo-electron range, ~1-3 um
  at 20-40 keV in ZnWO4, adds blur not modelled here), no fluorescence transport: the
  energy ``mu_en`` removes (K/L fluorescence, bremsstrahlung, Compton photon) is treated
  as escaping and the rest as absorbed at the interaction point. Fluorescence
  re-absorbed elsewhere in a thin film is neglected.
* Light yield is proportional to deposited energy (no non-proportionality, no
  quenching), emitted isotropically at one wavelength (the emission peak). Secondary
  photons scattered out of the beam and parasitic substrate luminescence are ignored.
* Energy deposited in layer ``i`` (edges ``d_i, d_{i+1}``) per incident photon is the
  exact integral ``E (mu_en/mu) (exp(-mu d_i) - exp(-mu d_{i+1}))``, so layers sum
  exactly to the total ``E (mu_en/mu) (1 - exp(-mu T))``.

Everything returned is jax.numpy and differentiable w.r.t. the thickness (a traced
thickness passes through :class:`Scintillator` without validation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from physics import materials
from physics.tracing import is_concrete
from physics.units import to_float

__all__ = [
    "ScintillatorProperties",
    "SCINTILLATORS",
    "Substrate",
    "Scintillator",
    "layer_edges_um",
    "deposited_energy_per_layer",
]


@dataclass(frozen=True)
class ScintillatorProperties:
    """Tabulated optical/scintillation properties of a scintillator material.

    Attributes
    ----------
    absorber : str
        Name in :mod:`physics.materials` (composition + density for X-ray absorption).
    light_yield_per_kev : float
        Optical photons emitted per keV deposited.
    emission_nm : float
        Emission peak wavelength, nm.
    refractive_index : float
        Refractive index at the emission wavelength.
    source : str
        Where each number comes from; "assumed" marks values not confirmed.
    """

    absorber: str
    light_yield_per_kev: float
    emission_nm: float
    refractive_index: float
    source: str


#: Registry of scintillators. Bulk-crystal values: thin films are usually somewhat
#: less efficient; override ``light_yield_per_kev`` when a measured value is known.
SCINTILLATORS: dict[str, ScintillatorProperties] = {
    "ZnWO4": ScintillatorProperties(
        "ZnWO4", 9.5, 480.0, 2.2,
        "paper ref. [1] (Jeong et al., ACS Omega 6 (2021) 33224) uses ZnWO4 films; emission "
        "480 nm: Foldvari et al., J. Phys. Chem. Solids 51 (1990) 953 (intrinsic band at 480 nm); "
        "light yield ~9.5 ph/keV: bulk-crystal value (Holl et al., IEEE TNS 35 (1988) 105 report "
        "~25% of NaI:Tl), not confirmed for nano-polycrystalline films; n = 2.2 assumed as the "
        "middle of the biaxial crystal's 2.1-2.3 range"),
    "LuAG:Ce": ScintillatorProperties(
        "LuAG", 25.0, 535.0, 1.84,
        "Martin & Koch, J. Synchrotron Rad. 13 (2006) 180 and Crytur/ESRF data: ~25 ph/keV bulk, "
        "535 nm, n = 1.84"),
    "GGG:Eu": ScintillatorProperties(
        "GGG", 20.0, 595.0, 1.97,
        "emission 595 nm (Eu3+) and n = 1.97: Martin & Koch 2006; light yield 20 ph/keV assumed "
        "(thin-film values vary; not confirmed)"),
    "LSO:Tb": ScintillatorProperties(
        "LSO", 20.0, 544.0, 1.82,
        "emission 544 nm (Tb3+) and n = 1.82: Martin & Koch 2006 / Cecilia et al. 2011; light "
        "yield 20 ph/keV assumed (not confirmed)"),
    "YAG:Ce": ScintillatorProperties(
        "YAG", 18.0, 550.0, 1.82,
        "emission 550 nm, n = 1.82: Martin & Koch 2006; light yield 18 ph/keV assumed (reported "
        "8-35 ph/keV depending on growth)"),
    "CdWO4": ScintillatorProperties(
        "CdWO4", 13.0, 475.0, 2.25,
        "Saint-Gobain CdWO4 data sheet: 12-15 ph/keV, 475 nm, n = 2.2-2.3"),
    "CsI:Tl": ScintillatorProperties(
        "CsI", 54.0, 550.0, 1.79,
        "Holl et al. 1988 / Saint-Gobain CsI(Tl) data sheet: 54 ph/keV, 550 nm, n = 1.79 "
        "(structured/columnar screens scatter light; this transparent-layer model ignores it)"),
    "GOS:Tb": ScintillatorProperties(
        "GOS", 60.0, 545.0, 2.2,
        "Gd2O2S:Tb: ~60 ph/keV, 545 nm, n = 2.2 (common literature values; powder screens "
        "scatter light, which this transparent-layer model ignores)"),
}


def _length_um(value, key, *, positive=True):
    """Accept floats in um, quantity strings, or traced values (passed through)."""
    if not is_concrete(value):
        return value
    if isinstance(value, str) or hasattr(value, "units"):
        return to_float(value, "um", key=key, min_value=0.0, inclusive_min=not positive)
    v = float(value)
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        raise ValueError(f"{key}: {value!r} must be a {'positive' if positive else 'non-negative'} "
                         "finite length in um")
    return v


@dataclass(frozen=True)
class Substrate:
    """The optical window the film sits on (light passes it on the way to the objective).

    Defaults are *assumed* (the paper does not describe the substrate): 500 um of fused
    silica, n = 1.46 at 480 nm. Only the Fresnel losses use it; its X-ray absorption and
    luminescence are ignored because it lies behind the film.
    """

    material: str = "SiO2"
    thickness_um: float = 500.0
    refractive_index: float = 1.46

    def __post_init__(self):
        materials.get_material(self.material)
        object.__setattr__(self, "thickness_um", _length_um(self.thickness_um, "substrate.thickness",
                                                            positive=False))
        n = self.refractive_index
        if is_concrete(n) and not (math.isfinite(float(n)) and float(n) >= 1.0):
            raise ValueError(f"substrate.refractive_index: {n!r} must be >= 1")


@dataclass(frozen=True)
class Scintillator:
    """A transparent scintillator film of given thickness on a substrate.

    Parameters
    ----------
    material : str
        A key of :data:`SCINTILLATORS` (``"ZnWO4"``, ``"LuAG:Ce"``, ...) or, with all
        three optical properties given, any :mod:`physics.materials` name.
    thickness_um : float or str
        Film thickness (um, or a quantity such as ``"10 um"``). Default 10 um, *assumed*:
        the paper does not give the film thickness; thermally evaporated ZnWO4 films of
        ref. [1] are a few um to ~10 um thick.
    light_yield_per_kev, emission_nm, refractive_index : float, optional
        Override the registry values.
    substrate : Substrate or None
        ``None`` means the film faces the objective directly.
    """

    material: str = "ZnWO4"
    thickness_um: float = 10.0
    light_yield_per_kev: float | None = None
    emission_nm: float | None = None
    refractive_index: float | None = None
    substrate: Substrate | None = field(default_factory=Substrate)

    def __post_init__(self):
        props = SCINTILLATORS.get(self.material)
        given = (self.light_yield_per_kev, self.emission_nm, self.refractive_index)
        if props is None and any(v is None for v in given):
            raise ValueError(
                f"scintillator.material: {self.material!r} is not in the registry "
                f"{sorted(SCINTILLATORS)}; give light_yield_per_kev, emission_nm and "
                "refractive_index for a custom material"
            )
        absorber = props.absorber if props is not None else self.material
        materials.get_material(absorber)  # raises naming the material if unknown
        object.__setattr__(self, "thickness_um", _length_um(self.thickness_um, "scintillator.thickness"))
        for name in ("light_yield_per_kev", "emission_nm", "refractive_index"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(props, name))
        if isinstance(self.emission_nm, str) or hasattr(self.emission_nm, "units"):
            object.__setattr__(self, "emission_nm", to_float(self.emission_nm, "nm",
                                                             key="scintillator.emission"))
        checks = [("scintillator.light_yield_per_kev", self.light_yield_per_kev, 0.0, math.inf),
                  ("scintillator.emission_nm", self.emission_nm, 200.0, 1100.0),
                  ("scintillator.refractive_index", self.refractive_index, 1.0, 4.0)]
        for key, v, lo, hi in checks:
            if is_concrete(v) and not (math.isfinite(float(v)) and lo <= float(v) <= hi):
                raise ValueError(f"{key}: {v!r} is out of range; must be within [{lo:g}, {hi:g}]")
        if self.substrate is not None and not isinstance(self.substrate, Substrate):
            raise ValueError(f"scintillator.substrate: expected a Substrate or None, got {self.substrate!r}")

    # ----------------------------------------------------------------- properties
    @property
    def absorber(self) -> str:
        """Name of the X-ray absorbing material in :mod:`physics.materials`."""
        props = SCINTILLATORS.get(self.material)
        return props.absorber if props is not None else self.material

    @property
    def emission_um(self) -> float:
        return self.emission_nm * 1e-3

    @property
    def substrate_index(self):
        return None if self.substrate is None else self.substrate.refractive_index

    def attenuation_per_um(self, energies_kev) -> jax.Array:
        """Linear attenuation ``mu`` (1/um) on the energy grid."""
        return jnp.asarray(materials.linear_attenuation_per_um(self.absorber, energies_kev),
                           dtype=jnp.result_type(float))

    def energy_absorption_per_um(self, energies_kev) -> jax.Array:
        """Linear energy-absorption ``mu_en`` (1/um) on the energy grid."""
        return jnp.asarray(materials.linear_energy_absorption_per_um(self.absorber, energies_kev),
                           dtype=jnp.result_type(float))

    # ----------------------------------------------------------------- depth profile
    def layer_edges_um(self, n_layers: int) -> jax.Array:
        """``n_layers + 1`` equally spaced depths from 0 to the thickness."""
        return layer_edges_um(self.thickness_um, n_layers)

    def layer_depths_um(self, n_layers: int) -> jax.Array:
        """Mid-depths of the ``n_layers`` layers."""
        e = self.layer_edges_um(n_layers)
        return 0.5 * (e[:-1] + e[1:])

    def interaction_probability(self, energies_kev) -> jax.Array:
        """Fraction of incident photons that interact in the film, ``1 - exp(-mu T)``."""
        mu = self.attenuation_per_um(energies_kev)
        return -jnp.expm1(-mu * self.thickness_um)

    def absorbed_energy_fraction(self, energies_kev) -> jax.Array:
        """Fraction of the incident energy deposited, ``(mu_en/mu)(1 - exp(-mu T))``."""
        mu = self.attenuation_per_um(energies_kev)
        mu_en = self.energy_absorption_per_um(energies_kev)
        return mu_en / mu * self.interaction_probability(energies_kev)

    def energy_deposited_per_layer(self, energies_kev, n_layers: int) -> jax.Array:
        """Energy (keV) deposited in each layer per incident photon, shape ``(n_E, n_layers)``."""
        e = jnp.asarray(energies_kev, dtype=jnp.result_type(float))
        return deposited_energy_per_layer(
            e, self.attenuation_per_um(energies_kev), self.energy_absorption_per_um(energies_kev),
            self.thickness_um, n_layers)

    def light_per_layer(self, energies_kev, n_layers: int) -> jax.Array:
        """Optical photons emitted in each layer per incident photon, ``(n_E, n_layers)``."""
        return self.energy_deposited_per_layer(energies_kev, n_layers) * self.light_yield_per_kev

    def layer_light(self, energies_kev, photons, n_layers: int) -> jax.Array:
        """Light emitted per layer for an incident spectrum ``photons`` (any scale), ``(n_layers,)``."""
        w = jnp.asarray(photons, dtype=jnp.result_type(float))
        if w.shape != jnp.shape(energies_kev):
            raise ValueError(f"photons shape {w.shape} must match energies_kev shape "
                             f"{jnp.shape(energies_kev)}")
        return w @ self.light_per_layer(energies_kev, n_layers)

    def light_per_interaction(self, energies_kev, photons) -> jax.Array:
        """Mean optical photons emitted per interacting X-ray photon for a spectrum (scalar).

        ``sum_E N_E P_E E (mu_en/mu) LY / sum_E N_E P_E`` with ``P_E`` the interaction
        probability: the gain the noise chain applies to each absorbed quantum.
        """
        e = jnp.asarray(energies_kev, dtype=jnp.result_type(float))
        w = jnp.asarray(photons, dtype=e.dtype) * self.interaction_probability(energies_kev)
        mu = self.attenuation_per_um(energies_kev)
        mu_en = self.energy_absorption_per_um(energies_kev)
        return jnp.sum(w * e * mu_en / mu) / jnp.sum(w) * self.light_yield_per_kev


def layer_edges_um(thickness_um, n_layers: int) -> jax.Array:
    """``n_layers + 1`` equally spaced depths in ``[0, thickness]`` (differentiable in thickness)."""
    if not isinstance(n_layers, (int, np.integer)) or n_layers < 1:
        raise ValueError(f"n_layers: {n_layers!r} must be a positive integer")
    return jnp.linspace(0.0, 1.0, n_layers + 1) * thickness_um


def deposited_energy_per_layer(energies_kev, mu_per_um, mu_en_per_um, thickness_um, n_layers: int):
    """Energy deposited per incident photon in each depth layer, keV, ``(n_E, n_layers)``.

    ``E (mu_en/mu) (exp(-mu d_i) - exp(-mu d_{i+1}))`` for layer edges ``d_i``: the exact
    integral of ``mu exp(-mu d)`` over each layer, times the locally deposited fraction.
    Pure jax; differentiable in ``thickness_um``.
    """
    e = jnp.asarray(energies_kev)
    mu = jnp.asarray(mu_per_um)[:, None]
    mu_en = jnp.asarray(mu_en_per_um)[:, None]
    if not (e.ndim == 1 and mu.shape[0] == e.shape[0] and mu_en.shape[0] == e.shape[0]):
        raise ValueError(f"energies_kev, mu_per_um and mu_en_per_um must be 1D of equal length, got "
                         f"{e.shape}, {jnp.shape(mu_per_um)}, {jnp.shape(mu_en_per_um)}")
    edges = layer_edges_um(thickness_um, n_layers)[None, :]
    # fraction reaching each layer's front times the fraction interacting within it;
    # expm1 avoids the float32 cancellation of exp(-mu d_i) - exp(-mu d_{i+1})
    interacting = jnp.exp(-mu * edges[:, :-1]) * -jnp.expm1(-mu * jnp.diff(edges, axis=1))
    return e[:, None] * (mu_en / mu) * interacting
