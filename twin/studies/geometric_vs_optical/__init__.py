"""Design study: geometric magnification against optical-lens magnification.

The question behind the published system: for the same object and the same
object-plane pixel, how does a geometric-magnification micro-CT set-up (small
focal spot, flat panel far away) compare with the optical-lens set-up (focal spot
at ``R = geometry.source_distance`` from a thin screen, object at
``h = object.height`` above it, microscope onto the sCMOS) as the focal spot grows?

Per sweep point (one focal-spot size, applied to both set-ups) this module computes

* **system MTF** at the object plane: the product of the focal-spot penumbra MTF
  (:func:`physics.focal_spot.penumbra_mtf`: the numerical kernel, scaled by
  ``M - 1`` for the geometric set-up and ``h / (R - h)`` for the optical one, referred
  to the object plane by dividing by the object-to-detector magnification), the
  detector MTF (flat panel: Gaussian screen blur ``geometric.detector_psf_fwhm`` and the
  pixel aperture, both divided by ``M``; optical: the depth-integrated
  scintillator-optics PSF of :func:`physics.chain.view_response` and the effective
  pixel aperture), its MTF50 and MTF10;
* the **blur budget**: an equivalent Gaussian sigma per component (focal spot,
  detector/scintillator, optics, pixel), their quadrature sum and the system's own;
* the **smallest resolved chart group** by the 10 % MTF criterion and from a
  simulated, noisy chart image of each set-up - both through the imaging chain
  (:mod:`physics.chain`), the geometric one with the scenario's flat panel
  (:func:`twin.system.build_geometric_system`) - measured with
  :func:`physics.measure.measure_chart`;
* the **photon budget**: photons per object-plane pixel per second (incident and
  absorbed), the detective quantum efficiency at zero frequency and the exposure
  time for ``geometric.snr_target``, with the tube power limited by the spot size;
* the **length**: source-to-detector distance of the geometric set-up
  (``SDD = M x SOD``) against the optical set-up's source-to-sensor length.

Equivalent sigma (used for every blur-budget entry): the sigma of the Gaussian whose
MTF ``exp(-2 pi^2 sigma^2 f^2)`` fits ``-ln MTF`` in the least-squares sense over the
band where the MTF is at least 0.5 (exact for a Gaussian; ``p / sqrt(12)`` for a pixel
of width ``p`` in the low-frequency limit). Sigmas of independent blurs add in
quadrature only approximately for non-Gaussian shapes, so the report shows both the
quadrature sum and the system's own value.

Noise model (both detectors, :class:`physics.detector.Detector`): a Poisson secondary
stage of mean ``g`` photoelectrons per absorbed X-ray (``electrons_per_quantum``: a few
tenths for the lens-coupled film, hundreds for the CsI:Tl panel), so
``DQE(0) = eta g / (1 + g)``, plus the readout's read noise and dark current (sCMOS;
the a-Si panel's ~1500 e- electronic noise). Swank factor neglected.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from physics.chain import view_response
from physics.errors import ScenarioError
from physics.focal_spot import penumbra_mtf
from physics.measure.mtf import (FWHM_PER_SIGMA, dqe0_poisson_gain, equivalent_gaussian_sigma, first_crossing,
                                 gaussian_mtf, mtf_from_lsf)
from physics.optics import airy_psf
from physics.detector import exposure_for_snr_s
from twin.studies import Study
from twin.studies.geometric_vs_optical.charts import simulate_geometric_chart, simulate_optical_chart
from twin.studies.geometric_vs_optical.design import COMPONENTS, RESOLVED_MTF, SWEPT, best_magnification
from twin.studies.geometric_vs_optical.report import report
from twin.system import Design, build_flat_panel, build_system, geometric_design, optical_design, tube_power_w

#: Frequency samples of every MTF (linear and log grids each), up to the pixel aperture's first zero.
N_FREQ = 401


# ---------------------------------------------------------------------- one sweep point


def _smallest_resolved(widths, resolved) -> float | None:
    ok = [w for w, r in zip(widths, resolved) if r]
    return min(ok) if ok else None


def _mtf_resolved_groups(widths, freqs, mtf, object_pixel_um):
    """10 % criterion: the group's fundamental 1/(2w) is sampled (w >= pixel) and MTF >= 0.1."""
    out = []
    for w in widths:
        f = 1.0 / (2.0 * w)
        out.append(bool(w >= object_pixel_um and np.interp(f, freqs, mtf) >= RESOLVED_MTF))
    return out


def _setup_result(design: Design, freqs, parts: dict, *, widths, power_w, current_ma, incident, absorbed,
                  gain, exposure_s, chart, optics_mtf=None) -> dict:
    """Everything reported for one set-up at one point; ``parts`` maps component -> MTF.

    With ``optics_mtf`` (the in-focus objective alone), ``parts["scintillator_optics"]``
    is split into "optics" and "scintillator" (the quadrature remainder: what the
    depth integration through the screen adds to the in-focus blur).
    """
    system = np.prod(list(parts.values()), axis=0)
    sigmas = {k: (equivalent_gaussian_sigma(freqs, parts[k]) if k in parts else 0.0) for k in COMPONENTS}
    if optics_mtf is not None:
        total = equivalent_gaussian_sigma(freqs, parts["scintillator_optics"])
        sigmas["optics"] = equivalent_gaussian_sigma(freqs, optics_mtf)
        sigmas["scintillator"] = math.sqrt(max(total**2 - sigmas["optics"] ** 2, 0.0))
    f50, f10 = first_crossing(freqs, system, 0.5), first_crossing(freqs, system, RESOLVED_MTF)
    resolved = _mtf_resolved_groups(widths, freqs, system, design.object_pixel_um)
    w10 = None if f10 is None else max(1.0 / (2.0 * f10), design.object_pixel_um)
    out = {
        "magnification": design.magnification,
        "object_pixel_um": design.object_pixel_um,
        "source_object_mm": design.source_object_um / 1000.0,
        "source_detector_mm": design.source_detector_um / 1000.0,
        "length_mm": design.length_um / 1000.0,
        "mtf": [float(v) for v in system],
        "mtf50_lp_mm": None if f50 is None else 1000.0 * f50,
        "mtf10_lp_mm": None if f10 is None else 1000.0 * f10,
        "sigma_um": {**sigmas,
                     "quadrature": math.sqrt(sum(sigmas[k] ** 2 for k in COMPONENTS)),
                     "system": equivalent_gaussian_sigma(freqs, system)},
        "min_line_width_mtf_um": w10,
        "smallest_group_mtf_um": _smallest_resolved(widths, resolved),
        "tube_power_w": power_w,
        "tube_current_ma": current_ma,
        "incident_per_pixel_per_s": incident,
        "absorbed_per_pixel_per_s": absorbed,
        "absorbed_fraction": absorbed / incident,
        "dqe0": dqe0_poisson_gain(absorbed / incident, gain),
        "exposure_for_snr_s": exposure_s,
        "chart": chart,
        "smallest_group_sim_um": None if chart is None else _smallest_resolved(
            [v["line_width_um"] for v in chart.values()], [v["resolved"] for v in chart.values()]),
    }
    return out


def compute(point) -> dict:
    """Both set-ups at one focal-spot size: MTFs, blur budget, photons, lengths, charts."""
    scenario = point.scenario
    if scenario["source"]["spectrum_file"]:
        raise ScenarioError("source.spectrum_file: this study scales the tube output with the power "
                         "allowed at each focal spot; give the tube as kvp/current, not a measured spectrum")
    spot_um = scenario["source"]["focal_spot_size"]
    kvp = scenario["source"]["kvp"]
    power = tube_power_w(scenario, spot_um)
    current = power / kvp  # W / kV = mA
    snr = scenario["geometric"]["snr_target"]
    widths = sorted(scenario["object"]["line_widths"])
    key = jax.random.PRNGKey(scenario.seed)
    charts = scenario["geometric"]["simulate_charts"]
    simulate = charts == "all" or (charts == "extremes" and point.is_sweep_extreme(SWEPT))
    out_dir = point.folder

    # Optical set-up: the chain's own PSF, gain and absorbed quanta for 1 s at this power.
    per_second = scenario.with_values({"source.current": f"{current:.9g} mA", "acquisition.exposure": "1 s"})
    opt = optical_design(per_second)
    system = build_system(per_second)
    spot = system.focal_spot
    response = view_response(system, jnp.array([0.0, 0.0, scenario["geometry"]["source_distance"]]),
                             object_plane_um=0.0)  # h = 0: no penumbra, the scintillator-optics PSF alone
    geo = geometric_design(scenario, opt)
    cell_obj = system.cell_um / opt.magnification
    # Up to the first zero of the coarser pixel's aperture, within the optical PSF grid's Nyquist.
    f_max = min(1.0 / max(opt.object_pixel_um, geo.object_pixel_um), 0.5 / cell_obj)
    # Linear for the curves, plus log-spaced so MTF50 of a large penumbra (~10 lp/mm) is resolved too.
    freqs = np.unique(np.concatenate([np.linspace(0.0, f_max, N_FREQ), np.geomspace(1e-3 * f_max, f_max, N_FREQ)]))

    psf = np.asarray(response.psf, float)
    airy = np.asarray(airy_psf(system.detector.microscope.numerical_aperture, system.detector.scintillator.emission_um,
                               pixel_um=system.cell_um, size=psf.shape[0]), float)
    opt_parts = {"focal_spot": penumbra_mtf(spot, source_object_um=opt.source_object_um,
                                            source_detector_um=opt.source_detector_um, freqs_per_um=freqs),
                 "scintillator_optics": mtf_from_lsf(psf.sum(axis=0), cell_obj, freqs=freqs, aperture=cell_obj)[1],
                 "pixel": np.sinc(freqs * opt.object_pixel_um)}
    airy_mtf = mtf_from_lsf(airy.sum(axis=0), cell_obj, freqs=freqs, aperture=cell_obj)[1]
    air = scenario["spectrum"]["air_path"]
    e_o, n_o = system.spectrum.fluence_at(opt.source_detector_um, air_path=air)
    budget_o = system.detector.photon_budget(e_o, n_o * opt.detector_pixel_um**2)
    incident_o, absorbed_o = budget_o.incident, budget_o.absorbed
    gain = float(response.electrons_per_quantum)
    cam = scenario["camera"]
    t_opt = exposure_for_snr_s(absorbed_o, snr, gain=gain, read_noise_e=cam["read_noise"],
                               dark_e_per_s=cam["dark_current"])
    chart_o = None
    if simulate:
        chart_o = simulate_optical_chart(scenario, current_ma=current, exposure_s=t_opt,
                                         key=jax.random.fold_in(key, 0), out_dir=out_dir)
    optical = _setup_result(opt, freqs, opt_parts, widths=widths, power_w=power, current_ma=current,
                            incident=incident_o, absorbed=absorbed_o, gain=gain,
                            exposure_s=t_opt, chart=chart_o, optics_mtf=airy_mtf)
    optical["electrons_per_quantum"] = gain

    # Geometric set-up: the scenario's flat panel (twin.system.build_flat_panel) at SDD, same tube law.
    panel = build_flat_panel(scenario)
    geo_parts = {"focal_spot": penumbra_mtf(spot, source_object_um=geo.source_object_um,
                                            source_detector_um=geo.source_detector_um, freqs_per_um=freqs),
                 "scintillator": gaussian_mtf(panel.blur_fwhm_um / FWHM_PER_SIGMA / geo.magnification, freqs),
                 "pixel": np.sinc(freqs * geo.object_pixel_um)}
    e_g, n_g = system.spectrum.fluence_at(geo.source_detector_um, air_path=air)
    budget_g = panel.photon_budget(e_g, n_g * geo.detector_pixel_um**2)
    incident_g, absorbed_g, gain_g = budget_g.incident, budget_g.absorbed, budget_g.gain
    t_geo = budget_g.exposure_for_snr_s(snr)
    chart_g = None
    if simulate:
        chart_g = simulate_geometric_chart(scenario, geo, current_ma=current, exposure_s=t_geo,
                                           key=jax.random.fold_in(key, 1), out_dir=out_dir)
    geometric = _setup_result(geo, freqs, geo_parts, widths=widths, power_w=power, current_ma=current,
                              incident=incident_g, absorbed=absorbed_g, gain=gain_g,
                              exposure_s=t_geo, chart=chart_g)
    geometric.update(best_magnification(spot, scenario["geometric"], geo), electrons_per_quantum=gain_g)
    return {"focal_spot_um": spot_um, "freqs_lp_mm": [float(1000.0 * f) for f in freqs],
            "simulated": simulate, "optical": optical, "geometric": geometric}


STUDY = Study("geometric_vs_optical", compute=compute, report=report,
              quick={"geometric.simulate_charts": "extremes"},
              doc="geometric against optical-lens magnification as the focal spot grows")
