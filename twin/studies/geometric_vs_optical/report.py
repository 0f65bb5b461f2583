"""Report of the geometric-vs-optical study: tables, figures and findings over the focal-spot sweep."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from physics.measure.mtf import first_crossing
from twin.studies.geometric_vs_optical import figures
from twin.studies.geometric_vs_optical.design import COMPONENTS, SETUPS
from twin.studies.geometric_vs_optical.figures import LABEL, nan_if_none


def report(sweep):
    """Tables, figures and findings over the focal-spot sweep (both set-ups per point)."""
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
    res(("geometric", "electrons_per_quantum"), rows[0]["geometric"]["electrons_per_quantum"])
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
         "t_opt": o["exposure_for_snr_s"], "snr": scenario["geometric"]["snr_target"]}, ("t_geo", "<", "t_opt"))
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
    g, gp = o["electrons_per_quantum"], rows[0]["geometric"]
    rep.add_finding(
        "The lens-coupled detector yields {g:.2g} photoelectrons per absorbed X-ray, so its DQE(0) = eta g/(1+g) "
        "= {dqe:.2g} (absorbed fraction {eta:.2g}); the flat panel absorbs {eta_fp:.2g} with {g_fp:.3g} "
        "photoelectrons per X-ray: DQE(0) = {dqe_fp:.2g}",
        {"g": g, "dqe": o["dqe0"], "eta": o["absorbed_fraction"], "eta_fp": gp["absorbed_fraction"],
         "g_fp": gp["electrons_per_quantum"], "dqe_fp": gp["dqe0"]}, ("dqe", "<", "dqe_fp"))
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
