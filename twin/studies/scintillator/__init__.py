"""Scintillator design study: resolution against detection efficiency.

For each (material, thickness, NA) point the composed system of the scenario
(:func:`twin.system.build_system`) gives, through :func:`physics.chain.view_response`
for the central view and an object in contact with the screen (no focal-spot
penumbra), the published spectrum as it reaches the screen (tube window, air
path, inverse square), the depth-integrated scintillator-optics PSF, the
absorbed quanta and the photoelectrons per absorbed quantum. From them:

* ``R``: half the period at which the PSF's MTF falls to 10 % - the measure
  Koch's ``R`` is read as (:func:`physics.psf.mtf_resolution_um`); MTF50; the
  FWHM of the line spread function (field-cell aperture divided out);
* ``R_Koch = sqrt((0.18/NA)^2 + (0.075 z NA)^2)`` (:func:`physics.psf.koch_resolution_um`);
* absorbed fractions, quanta-weighted ``eta_q = sum N P(E) / sum N`` and
  energy-weighted ``eta_E = sum N E (mu_en/mu) P(E) / sum N E``;
* ``g`` photoelectrons per absorbed quantum and the zero-frequency DQE of the
  two-stage cascade (Poisson absorption, Poisson optical gain; no Swank factor,
  no read noise): ``DQE(0) = eta_q g / (1 + g)``, so ``g < 1`` is a secondary
  quantum sink;
* ``NEQ per resolution element = fluence x DQE(0) x R^2``: noise-equivalent quanta
  in an ``R x R`` square for the scenario's exposure, the SNR^2 a detail of the
  detector's own resolution gets.

Numerics (why): the field grid is refined per point until its Nyquist frequency
exceeds the optical cut-off ``2 NA / lambda`` (``supersampling_for``), because the
MTF is read from the sampled PSF; the depth layers come from ``scintillator.depth_layers``
(the shipped scenario: 0 = spacing below half the depth of field, see
:func:`twin.system.depth_layers`); PSF supports are rounded up to a short ladder so
points share compiled kernels. ``--quick`` declares 16 depth layers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from twin.studies import Study
from twin.studies.scintillator.report import report

#: MTF level of Koch's R (see physics.psf.koch_resolution_um).
KOCH_LEVEL = 0.1
#: PSF supports (odd, ratio ~sqrt 2) the chain's own support is rounded up to: the
#: support is a static shape of the jit-compiled PSF, so points share compiled kernels.
PSF_SIZES = tuple(2 * int(16 * 2 ** (k / 2)) + 1 for k in range(12))


def psf_support(system) -> int:
    """The chain's PSF support rounded up to :data:`PSF_SIZES` (a larger window changes nothing
    but the compile cache)."""
    from physics import chain  # the chain's own coverage rule (defocus disc + Airy rings)

    need = chain.psf_support(system)
    return next((n for n in PSF_SIZES if n >= need), need)


def compute(point) -> dict:
    """Resolution, absorption and DQE(0) of one (material, thickness, NA) screen."""
    import jax.numpy as jnp

    from physics.chain import view_response
    from physics.measure.mtf import dqe0_poisson_gain, lsf_fwhm
    from physics.optics import supersampling_for
    from physics.psf import koch_resolution_um, mtf_resolution_um
    from twin.system import build_system

    scenario = point.scenario
    system = build_system(scenario)
    scint = system.detector.scintillator
    na = float(system.detector.microscope.numerical_aperture)
    thickness = float(scint.thickness_um)
    n_index, wavelength = float(scint.refractive_index), float(scint.emission_um)
    oversample = max(system.oversample, supersampling_for(system.pixel_um, wavelength, max_na=na))
    system = dataclasses.replace(system, oversample=oversample)
    layers = system.detector.n_depth_layers
    source = (0.0, 0.0, scenario["geometry"]["source_distance"])
    response = view_response(system, source, object_plane_um=0.0, psf_size=psf_support(system))
    cell = system.cell_um
    psf = np.asarray(response.psf, dtype=float)

    energies = np.asarray(response.energies_kev, dtype=float)
    p_interact = np.asarray(scint.interaction_probability(energies), dtype=float)
    absorbed = np.asarray(response.quanta_weights, dtype=float)       # quanta per cell per bin
    incident = absorbed / p_interact
    eta_q = absorbed.sum() / incident.sum()
    energy_in = incident * energies
    eta_e = float(np.sum(energy_in * np.asarray(scint.absorbed_energy_fraction(energies)))) / energy_in.sum()
    gain = float(response.electrons_per_quantum)
    fluence = incident.sum() / cell**2                                 # photons / um^2 per exposure
    dqe0 = dqe0_poisson_gain(eta_q, gain)

    depths = np.asarray(scint.layer_depths_um(layers), dtype=float)
    light = np.asarray(scint.layer_light(energies, jnp.asarray(incident), layers), dtype=float)
    mean_depth = float(np.sum(light * depths) / light.sum())
    rms_depth = float(np.sqrt(np.sum(light * (depths - mean_depth) ** 2) / light.sum()))

    resolution = mtf_resolution_um(psf, cell, level=KOCH_LEVEL)
    r50 = mtf_resolution_um(psf, cell, level=0.5)
    return {
        "material": scint.material, "thickness_um": thickness, "na": na,
        "refractive_index": n_index, "emission_um": wavelength,
        "cell_um": cell, "oversample": oversample, "depth_layers": layers, "psf_size": int(psf.shape[0]),
        "resolution_um": resolution,
        "koch_um": float(koch_resolution_um(na=na, thickness_um=thickness)),
        "mtf50_lp_per_mm": 1000.0 / (2.0 * r50),
        "fwhm_um": lsf_fwhm(psf.sum(axis=0), cell, aperture=cell),
        "eta_quanta": float(eta_q), "eta_energy": float(eta_e),
        "electrons_per_quantum": gain, "dqe0": float(dqe0),
        "fluence_per_um2": float(fluence),
        "neq_per_resolution_element": float(fluence * dqe0 * resolution**2),
        "light_mean_depth_um": mean_depth,
        # equivalent uniform thickness of the light's depth distribution (sqrt(12) sigma)
        "light_depth_spread_um": math.sqrt(12.0) * rms_depth,
    }


STUDY = Study("scintillator", compute=compute, report=report, quick={"scintillator.depth_layers": 16},
              doc="screen material, thickness and NA: resolution against detection efficiency")
