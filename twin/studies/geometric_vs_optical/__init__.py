"""Design study: geometric magnification against optical-lens magnification.

The question behind the published system: for the same object and the same
object-plane pixel, how does a geometric-magnification micro-CT set-up (small
focal spot, flat panel far away) compare with the optical-lens set-up (focal spot
at ``R = geometry.source_distance`` from a thin screen, object at
``h = object.height`` above it, microscope onto the sCMOS) as the focal spot grows?

Per sweep point (one focal-spot size, applied to both set-ups) this module computes

* **system MTF** at the object plane: the product of the focal-spot penumbra MTF
  (the numerical kernel of :func:`physics.focal_spot.kernel_at_detector`, scaled by
  ``M - 1`` for the geometric set-up and ``h / (R - h)`` for the optical one, referred
  to the object plane by dividing by the object-to-detector magnification), the
  detector MTF (flat panel: Gaussian screen blur ``geometric.detector_psf_fwhm`` and the
  pixel aperture, both divided by ``M``; optical: the depth-integrated
  scintillator-optics PSF of :func:`physics.chain.view_response` and the effective
  pixel aperture), its MTF50 and MTF10;
* the **blur budget**: an equivalent Gaussian sigma per component (focal spot,
  detector/scintillator, optics, pixel), their quadrature sum and the system's own;
* the **smallest resolved chart group** by the 10 % MTF criterion and from a
  simulated, noisy chart image of each set-up measured with
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

Noise models (stated approximations): the flat panel is taken as quantum-limited
(DQE(0) = absorbed fraction; Swank factor and electronic noise neglected, since a
CsI:Tl panel gives hundreds of electrons per absorbed X-ray); the lens-coupled
detector has a Poisson secondary stage of mean ``g`` photoelectrons per absorbed
X-ray (the chain's ``electrons_per_quantum``), so ``DQE(0) = eta g / (1 + g)``, plus
the sCMOS read noise and dark current.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from physics.chain import view_response
from physics.measure.mtf import (FWHM_PER_SIGMA, dqe0_poisson_gain, equivalent_gaussian_sigma, first_crossing,
                                 gaussian_mtf, mtf_from_lsf)
from physics.optics import airy_psf
from physics.scintillator import Scintillator
from physics.spectrum import Spectrum
from twin.budget import detector_flux, exposure_for_snr_s
from twin.studies import Study
from twin.studies.geometric_vs_optical import figures
from twin.studies.geometric_vs_optical.charts import simulate_geometric_chart, simulate_optical_chart
from twin.studies.geometric_vs_optical.design import (COMPONENTS, RESOLVED_MTF, SETUPS, SWEPT, best_magnification,
                                                      penumbra_mtf)
from twin.studies.geometric_vs_optical.figures import LABEL, nan_if_none
from twin.system import Design, build_spectrum, build_system, geometric_design, optical_design, tube_power_w

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
        raise ValueError("source.spectrum_file: this study scales the tube output with the power "
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
    airy = np.asarray(airy_psf(system.microscope.numerical_aperture, system.scintillator.emission_um,
                               pixel_um=system.cell_um, size=psf.shape[0]), float)
    opt_parts = {"focal_spot": penumbra_mtf(spot, opt, freqs),
                 "scintillator_optics": mtf_from_lsf(psf.sum(axis=0), cell_obj, freqs=freqs, aperture=cell_obj)[1],
                 "pixel": np.sinc(freqs * opt.object_pixel_um)}
    airy_mtf = mtf_from_lsf(airy.sum(axis=0), cell_obj, freqs=freqs, aperture=cell_obj)[1]
    incident_o, absorbed_o = detector_flux(system.spectrum, distance_um=opt.source_detector_um,
                                           pixel_um=opt.detector_pixel_um, detector=system.scintillator,
                                           air_path=scenario["spectrum"]["air_path"])
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

    # Geometric set-up: same tube power law, flat panel at SDD.
    g = scenario["geometric"]
    sigma_screen = g["detector_psf_fwhm"] / FWHM_PER_SIGMA / geo.magnification
    geo_parts = {"focal_spot": penumbra_mtf(spot, geo, freqs),
                 "scintillator": gaussian_mtf(sigma_screen, freqs),
                 "pixel": np.sinc(freqs * geo.object_pixel_um)}
    spectrum_g = build_spectrum(per_second)
    screen_g = Scintillator(g["detector_scintillator"], g["detector_scintillator_thickness"], substrate=None)
    incident_g, absorbed_g = detector_flux(spectrum_g, distance_um=geo.source_detector_um,
                                           pixel_um=geo.detector_pixel_um, detector=screen_g,
                                           air_path=scenario["spectrum"]["air_path"])
    t_geo = exposure_for_snr_s(absorbed_g, snr)
    chart_g = None
    if simulate:
        chart_g = simulate_geometric_chart(scenario, geo, spot, _scaled(spectrum_g, t_geo),
                                           key=jax.random.fold_in(key, 1), out_dir=out_dir)
    geometric = _setup_result(geo, freqs, geo_parts, widths=widths, power_w=power, current_ma=current,
                              incident=incident_g, absorbed=absorbed_g, gain=None,
                              exposure_s=t_geo, chart=chart_g)
    geometric.update(best_magnification(spot, g, geo))
    return {"focal_spot_um": spot_um, "freqs_lp_mm": [float(1000.0 * f) for f in freqs],
            "simulated": simulate, "optical": optical, "geometric": geometric}


def _scaled(spectrum: Spectrum, factor: float) -> Spectrum:
    from dataclasses import replace

    return replace(spectrum, photons=np.asarray(spectrum.photons) * factor)


def to_spot(value) -> float:
    from physics.units import to_float

    return to_float(value, "um", key=SWEPT)

def report(sweep):
    """Tables, figures and findings over the focal-spot sweep (both set-ups per point)."""
    from pathlib import Path

    from twin.report import Quantity, Report

    scenario, results, out_dir = sweep.scenario, sweep.results, Path(sweep.out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    rows = sorted(results, key=lambda r: r["focal_spot_um"])
    spots = np.array([r["focal_spot_um"] for r in rows])
    rep = Report(scenario.name, scenario["scenario"]["question"] or "Geometric vs optical magnification")
    _setup_rows(rep, scenario, rows[0])
    if sweep.quick:
        rep.add_text("Quick run (--quick): chart images are simulated only at the smallest and largest "
                     "focal spot (geometric.simulate_charts = \"extremes\"); everything else is computed at "
                     "every point.")
    skey = [f"{s:g}" for s in spots]

    def res(path, value, unit="", digits=4):
        return rep.result(path, value, unit, digits=digits)

    # -- sharpness ----------------------------------------------------------------
    table = []
    for k, r in zip(skey, rows):
        row = [Quantity(r["focal_spot_um"], "um")]
        for name in ("mtf50_lp_mm", "mtf10_lp_mm"):
            for setup in SETUPS:
                row.append(res(("points", k, setup, name), r[setup][name], "lp/mm"))
        for setup in SETUPS:
            row.append(res(("points", k, setup, "smallest_group_mtf"), r[setup]["smallest_group_mtf_um"], "um"))
        for setup in SETUPS:
            row.append(res(("points", k, setup, "smallest_group_sim"), r[setup]["smallest_group_sim_um"], "um")
                       if r["simulated"] else "not simulated")
        table.append(row)
    rep.add_table("Sharpness at the object plane",
                  ["focal spot", "MTF50 optical", "MTF50 geometric", "MTF10 optical", "MTF10 geometric",
                   "smallest group (MTF 10 %) optical", "smallest group (MTF 10 %) geometric",
                   "smallest group (simulated chart) optical", "smallest group (simulated chart) geometric"],
                  table, note="Smallest group: the finest chart line width resolved (n/a: none); by the MTF, "
                  "a group of line width w is resolved when w is at least one object-plane pixel and the "
                  "system MTF at 1/(2w) is at least 10 %; the simulated chart is measured with "
                  "physics.measure.measure_chart (Rayleigh-dip criterion, every orientation).")

    # -- blur budget ----------------------------------------------------------------
    for setup in SETUPS:
        table = []
        for k, r in zip(skey, rows):
            sig = r[setup]["sigma_um"]
            row = [Quantity(r["focal_spot_um"], "um")]
            row += [res(("points", k, setup, "sigma", c), sig[c], "um") for c in
                    (*COMPONENTS, "quadrature", "system")]
            if setup == "geometric":
                row.append(res(("points", k, setup, "best_sigma_any_magnification"), r[setup]["best_sigma_um"], "um"))
            table.append(row)
        header = ["focal spot", "focal spot sigma", "detector/scintillator sigma", "optics sigma", "pixel sigma",
                  "quadrature sum", "system sigma"] + (["best over M"] if setup == "geometric" else [])
        rep.add_table(f"Blur budget, {LABEL[setup]} set-up (object plane, equivalent Gaussian sigma)",
                      header, table)
    rep.add_text("Equivalent sigma: the Gaussian sigma whose MTF best fits the component's MTF where it is "
                 "at least 0.5. Optical set-up: 'optics' is the in-focus objective (Airy) alone, "
                 "'detector/scintillator' the quadrature remainder of the depth-integrated "
                 "scintillator-optics PSF. 'best over M' is the geometric set-up's least blur at any "
                 "magnification with this flat panel (M = 1 + D^2/s^2): never below the spot's own sigma.")

    # -- photons --------------------------------------------------------------------
    table = []
    for k, r in zip(skey, rows):
        row = [Quantity(r["focal_spot_um"], "um"), res(("points", k, "tube_power"), r["optical"]["tube_power_w"], "W")]
        for name, unit in (("incident_per_pixel_per_s", "1/s"), ("absorbed_per_pixel_per_s", "1/s"),
                           ("dqe0", ""), ("exposure_for_snr_s", "s")):
            for setup in SETUPS:
                row.append(res(("points", k, setup, name), r[setup][name], unit))
        table.append(row)
    g = rows[0]["optical"]["electrons_per_quantum"]
    rep.add_table("Photon budget per object-plane pixel",
                  ["focal spot", "tube power", "incident optical", "incident geometric", "absorbed optical",
                   "absorbed geometric", "DQE(0) optical", "DQE(0) geometric", "exposure for SNR optical",
                   "exposure for SNR geometric"], table,
                  note="Photons per object-plane pixel per second on the central ray, open field. Exposure: "
                  f"the time for an open-field SNR of {scenario['geometric']['snr_target']:g} per pixel.")
    res(("optical", "electrons_per_quantum"), g)
    res(("optical", "absorbed_fraction"), rows[0]["optical"]["absorbed_fraction"])
    res(("geometric", "absorbed_fraction"), rows[0]["geometric"]["absorbed_fraction"])

    # -- lengths --------------------------------------------------------------------
    opt0, geo0 = rows[0]["optical"], rows[0]["geometric"]
    sod = geo0["source_object_mm"]
    target = geo0["object_pixel_um"]
    table = [["optical-lens (source-screen + parfocal + tube lens)", "n/a",
              res(("optical", "magnification"), opt0["magnification"]),
              res(("optical", "length"), opt0["length_mm"], "mm")]]
    for pixel in sorted({50.0, 75.0, 100.0, 150.0, scenario["geometric"]["detector_pixel"]}):
        m = pixel / target
        table.append([f"geometric, {pixel:g} um flat-panel pixel", Quantity(pixel, "um"),
                      res(("geometric", "lengths", f"{pixel:g}", "magnification"), m),
                      res(("geometric", "lengths", f"{pixel:g}", "sdd"), m * sod, "mm")])
    rep.add_table("Source-to-detector length for the target pixel",
                  ["set-up", "detector pixel", "magnification", "length"], table,
                  note=f"Geometric: SDD = M x SOD with M = detector pixel / {target:.4g} um and SOD = {sod:g} mm; "
                       "independent of the focal spot.")

    # -- figures --------------------------------------------------------------------
    figures.summary_figure(rep, out_dir, spots, rows)
    figures.mtf_figure(rep, out_dir, rows)
    figures.chart_figure(rep, out_dir, rows, scenario)
    _conclusions(rep, scenario, spots, rows)
    return rep


def _setup_rows(rep, scenario, first):
    from twin.report import Quantity

    src, geo, g = scenario["source"], scenario["geometry"], scenario["geometric"]
    rows = [("tube voltage", Quantity(src["kvp"], "kV"), "paper"),
            ("rated tube power (kvp x current)", Quantity(src["kvp"] * src["current"], "W"), "paper: 50 kV x 1 mA"),
            ("power per um of focal spot", Quantity(g["power_per_spot_size"], "W/um"),
             "assumed order of magnitude (twin/schema.py)"),
            ("focal-spot shape", src["focal_spot_shape"], "assumed"),
            ("optical: source to screen R", Quantity(geo["source_distance"] / 1000.0, "mm"), "assumed"),
            ("optical: object height h", Quantity(scenario["object"]["height"], "um"), "assumed"),
            ("optical: screen", f"{scenario['scintillator']['material']}, "
                                f"{scenario['scintillator']['thickness']:g} um", "paper ref. [1]; thickness assumed"),
            ("optical: NA", Quantity(scenario["optics"]["na"]), "assumed: Mitutoyo 20x"),
            ("optical: object-plane pixel", Quantity(first["optical"]["object_pixel_um"], "um"),
             "paper: 6.5 um / 16, over R/(R-h)"),
            ("geometric: flat-panel pixel", Quantity(g["detector_pixel"], "um"), "assumed"),
            ("geometric: flat-panel screen", f"{g['detector_scintillator']}, "
                                             f"{g['detector_scintillator_thickness']:g} um", "assumed"),
            ("geometric: flat-panel blur FWHM", Quantity(g["detector_psf_fwhm"], "um"), "assumed"),
            ("geometric: source-object distance", Quantity(g["source_object_distance"] / 1000.0, "mm"), "assumed"),
            ("geometric: magnification", Quantity(first["geometric"]["magnification"]),
             "detector pixel / target pixel"),
            ("SNR target", Quantity(g["snr_target"]), "assumed")]
    for name, value, source in rows:
        rep.add_setup(name, value, source)

def _conclusions(rep, scenario, spots, rows):
    opt50 = np.array([nan_if_none(r["optical"]["mtf50_lp_mm"]) for r in rows])
    geo50 = np.array([nan_if_none(r["geometric"]["mtf50_lp_mm"]) for r in rows])
    # 1. Up to which spot the geometric set-up is as sharp as the optical one (ratio falls through 1;
    #    None when it is already below 1 at the smallest spot or never falls below it).
    ratio = geo50 / opt50
    rep.add_finding(
        "The geometric set-up is as sharp as the optical one (MTF50 ratio >= 1) only up to a focal spot of "
        "{cross:.2g} um (log interpolation); at {spot:g} um its MTF50 is {geo:.3g} lp/mm, {ratio:.2g} of the "
        "optical set-up's {opt:.3g} lp/mm",
        {"cross": first_crossing(spots, ratio, 1.0, log_x=True), "spot": spots[-1], "geo": geo50[-1],
         "opt": opt50[-1], "ratio": ratio[-1], "one": 1.0}, ("ratio", "<", "one"))
    # 2. The optical set-up hardly feels the spot: its penumbra is scaled by h/(R-h).
    so, sg = rows[-1]["optical"]["sigma_um"], rows[-1]["geometric"]["sigma_um"]
    rep.add_finding(
        "The optical set-up's MTF50 changes by {change:.2%} over {s0:g}-{s1:g} um of focal spot: the penumbra "
        "is scaled by h/(R-h), so at {s1:g} um it adds a sigma of {spot:.2g} um against {optics:.2g} um "
        "(objective) and {screen:.2g} um (screen depth); the geometric set-up's spot sigma is {geo_spot:.3g} um",
        {"change": (np.nanmax(opt50) - np.nanmin(opt50)) / np.nanmax(opt50), "s0": spots[0], "s1": spots[-1],
         "spot": so["focal_spot"], "optics": so["optics"], "screen": so["scintillator"],
         "geo_spot": sg["focal_spot"]}, ("change", "<", 0.1))
    # 3. Photons at equal sharpness: the largest spot at which the geometric set-up still reaches the
    #    optical MTF50 at the scenario's spot (None: no swept spot does).
    ref = int(np.argmin(np.abs(spots - scenario["source"]["focal_spot_size"])))
    ok = np.nonzero(geo50 >= opt50[ref])[0]
    o = rows[ref]["optical"]
    gq = rows[int(ok[-1])]["geometric"] if ok.size else {}
    rep.add_finding(
        "At equal sharpness (the optical MTF50 at {ref:g} um, {opt50:.3g} lp/mm) the geometric set-up needs a "
        "spot of at most {spot:g} um, where the tube may run {p_geo:.3g} W against {p_opt:.3g} W; with its object "
        "{sod_geo:g} mm from the source (optical: {sod_opt:.4g} mm) it absorbs {a_geo:.3g} X-rays per object-plane "
        "pixel per second against {a_opt:.3g}, and needs {t_geo:.3g} s against {t_opt:.3g} s for SNR {snr:g}",
        {"ref": spots[ref], "opt50": opt50[ref], "spot": spots[int(ok[-1])] if ok.size else None,
         "p_geo": gq.get("tube_power_w"), "p_opt": o["tube_power_w"], "sod_geo": gq.get("source_object_mm"),
         "sod_opt": o["source_object_mm"], "a_geo": gq.get("absorbed_per_pixel_per_s"),
         "a_opt": o["absorbed_per_pixel_per_s"], "t_geo": gq.get("exposure_for_snr_s"),
         "t_opt": o["exposure_for_snr_s"], "snr": scenario["geometric"]["snr_target"]}, ("t_geo", ">", "t_opt"))
    # 4. The optical set-up's own lever: its source distance (assumed, not in the paper).
    rest = math.sqrt(o["sigma_um"]["quadrature"] ** 2 - o["sigma_um"]["focal_spot"] ** 2)
    r_now, h_mm = o["source_detector_mm"], o["source_detector_mm"] - o["source_object_mm"]
    r_min = o["sigma_um"]["focal_spot"] * r_now / rest  # object-plane penumbra sigma = s_spot h / R
    rep.add_finding(
        "The optical set-up's penumbra sigma would equal the rest of its blur budget ({rest:.2g} um) only at a "
        "source distance of {r_min:.2g} mm (now {r_now:g} mm) for the {ref:g} um spot, where the inverse-square "
        "law gives {gain:.3g}x more photons per pixel (if the tube housing allows it)",
        {"rest": rest, "r_min": r_min, "r_now": r_now, "ref": spots[ref], "gain": (r_now / r_min) ** 2,
         "h": h_mm}, ("r_min", ">", "h"))
    # 5. DQE of the lens-coupled detector: the optical stage's Poisson gain g.
    g = o["electrons_per_quantum"]
    rep.add_finding(
        "The lens-coupled detector yields {g:.2g} photoelectrons per absorbed X-ray, so its DQE(0) = eta g/(1+g) "
        "= {dqe:.2g} (absorbed fraction {eta:.2g}); the flat panel absorbs {eta_fp:.2g} and is taken as "
        "quantum-limited", {"g": g, "dqe": o["dqe0"], "eta": o["absorbed_fraction"],
                            "eta_fp": rows[0]["geometric"]["absorbed_fraction"]}, ("dqe", "<", "eta_fp"))
    # 6. Length.
    g0 = rows[0]["geometric"]
    rep.add_finding(
        "Reaching the {pixel:.3g} um object-plane pixel with {det:g} um flat-panel pixels needs M = {m:.4g} and "
        "SDD = {geo:.4g} mm from a {sod:g} mm SOD, {ratio:.2g}x the optical set-up's {opt:.4g} mm",
        {"pixel": g0["object_pixel_um"], "det": scenario["geometric"]["detector_pixel"], "m": g0["magnification"],
         "geo": g0["length_mm"], "sod": g0["source_object_mm"], "opt": rows[0]["optical"]["length_mm"],
         "ratio": g0["length_mm"] / rows[0]["optical"]["length_mm"], "one": 1.0}, ("ratio", ">", "one"))
    # 7. Simulated charts against the 10 % MTF criterion.
    pairs = [(r[s]["smallest_group_sim_um"], r[s]["smallest_group_mtf_um"]) for r in rows if r["simulated"]
             for s in SETUPS]
    if pairs:
        rep.add_finding(
            "The simulated charts agree with the 10 % MTF criterion on the smallest resolved group in {same} of "
            "{n} set-up/spot cases, resolve less in {coarser} (the chart's Rayleigh-dip criterion with noise is "
            "stricter than 10 % modulation) and more in {finer}",
            {"same": sum(a == b for a, b in pairs), "n": len(pairs),
             "finer": sum(a is not None and (b is None or a < b) for a, b in pairs),
             "coarser": sum(b is not None and (a is None or a > b) for a, b in pairs)}, ("finer", "<=", "coarser"))


STUDY = Study("geometric_vs_optical", compute=compute, report=report,
              quick={"geometric.simulate_charts": "extremes"},
              doc="geometric against optical-lens magnification as the focal spot grows")
