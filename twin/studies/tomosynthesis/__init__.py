"""Tomosynthesis design study: slice sharpness and depth resolution against views and arc.

Per point (number of views, arc angle), the scenario's system images its chart
stack (line-and-space chart at ``object.height``, random clutter at 0.4x and 2.4x
that height; :func:`twin.system.build_setup`) from every source position on the arc
(:func:`twin.simulate.simulate_view`), and the views are reconstructed by the
distance-driven method of ``[reconstruction]`` on a fine stack of heights around the
chart plane. Measured:

* **In-plane sharpness** in the chart slice: the resolved call of every group
  (:func:`physics.measure.measure_chart`), and its signal-to-clutter ratio: line-pair
  modulation over the RMS of the chart-free background, where out-of-plane clutter
  and ghosts land (noiseless views: nothing else is there).
* **Slice sensitivity profile (SSP)** of each group: its line-pair modulation (mean
  slice value on the line centres minus on the space centres, a linear functional of
  the slice) against height, normalised at the chart plane; its FWHM is the depth
  resolution, the spread of the in-plane structure along height.
* **Ghost level**: the largest ``|SSP|`` outside the main lobe within the stack.
* **Clutter suppression**: the signal-to-clutter ratio of the widest vertical group in
  the slice over the same in the central projection (a plain radiograph).

The geometric expectation of the depth resolution is derived in
:mod:`twin.studies.tomosynthesis.theory`; the measures are in
:mod:`twin.studies.tomosynthesis.measures`, the figures in ``figures``.

``--quick`` (declared in :data:`STUDY`): at most 5 views, 1 um slice spacing, no field
oversampling.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from twin.studies import AtMost, Study
from twin.studies.tomosynthesis import figures
from twin.studies.tomosynthesis.measures import background_mask, background_rms, group_modulation
from twin.studies.tomosynthesis.theory import (continuous_fwhm_um, ghost_offset_um, main_lobe, predicted_fwhm_um,
                                               predicted_ssp, view_angles_deg)

#: Half-height of the slice stack around the chart plane (um; assumed: covers the main
#: lobe of the widest group at the smallest arc of the shipped sweep, 2 um at 10 deg:
#: first zero at w / tan(5 deg) = 23 um); the spacing is ``geometry.slice_step``.
HALF_RANGE_UM = 25.0

# --------------------------------------------------------------------------- per point
def slice_heights(scenario, planes_um) -> tuple[np.ndarray, int]:
    """Heights to reconstruct and the index of the chart plane among them.

    ``geometry.slice_heights`` when given; else the chart height +- HALF_RANGE_UM in steps of
    ``geometry.slice_step``. Iterative methods (which need every object plane inside the volume)
    extend the same grid over the clutter planes.
    """
    h0 = scenario["object"]["height"]
    given = list(scenario["geometry"]["slice_heights"])
    if given:
        heights = np.asarray(sorted(given), dtype=float)
    else:
        step = scenario["geometry"]["slice_step"]
        n = int(round(HALF_RANGE_UM / step))
        lo, hi = -n, n
        if scenario["reconstruction"]["method"] not in ("fbp", "sas"):
            lo = min(lo, int(math.floor((min(planes_um) - h0) / step)) - 2)
            hi = max(hi, int(math.ceil((max(planes_um) - h0) / step)) + 2)
        heights = h0 + step * np.arange(lo, hi + 1)
        heights = heights[heights >= 0]
    k0 = int(np.argmin(np.abs(heights - h0)))
    if not math.isclose(heights[k0], h0, abs_tol=1e-6):
        raise ValueError(f"geometry.slice_heights: {given} must include the chart height object.height = {h0:g} um")
    return heights, k0


def compute(point) -> dict:
    """Views on the arc -> slices -> SSP, ghosts, clutter and resolved calls of every group."""
    import jax

    from physics.imageio import write_json, write_tiff
    from physics.measure import ChartLayout, measure_chart
    from twin.simulate import simulate_projections
    from twin.system import build_geometry, build_setup, reconstruct

    scenario = point.scenario
    if scenario["geometry"]["mode"] != "tomosynthesis":
        raise ValueError("geometry.mode: the tomosynthesis study needs mode = \"tomosynthesis\"")
    setup = build_setup(scenario)
    if setup.layout is None:
        raise ValueError(f"object.phantom: {scenario['object']['phantom']!r} has no line-pair groups; "
                         "the tomosynthesis study needs \"chart\" or \"chart_stack\"")
    planes = [layer.height_um for layer in setup.obj.layers]
    heights, k0 = slice_heights(scenario, planes)
    stack = scenario.with_values({"geometry.slice_heights": [f"{h:.6g} um" for h in heights]})
    geometry = build_geometry(stack, setup.system, planes)
    pixel = setup.system.pixel_um
    projections = simulate_projections(setup, jax.random.PRNGKey(scenario.seed),
                                       noise=scenario["acquisition"]["noise"], geometry=geometry)

    slices = np.asarray(reconstruct(projections, geometry, scenario).data)
    chart = slices[k0]
    layout = setup.layout
    groups = layout["groups"]
    angles = view_angles_deg(geometry)
    arc = float(scenario["geometry"]["arc"])

    per_group = {}
    for g in groups:
        modulation = group_modulation(slices, g, pixel)
        ssp = modulation / modulation[k0]
        fwhm, zeros = main_lobe(ssp, heights, k0)
        outside = np.ones(ssp.size, bool)
        if zeros is not None and None not in zeros:
            outside[zeros[0] + 1:zeros[1]] = False
            ghost = float(np.max(np.abs(ssp[outside]))) if outside.any() else None
        else:
            ghost = None
        w = g["line_width_um"]
        per_group[g["name"]] = {
            "line_width_um": w, "orientation": g["orientation"],
            "modulation_at_chart": float(modulation[k0]),
            "ssp": ssp.tolist(),
            "fwhm_um": fwhm,
            "ghost_level": ghost,
            "predicted_ssp": (predicted_ssp(heights - heights[k0], w, angles).tolist()
                              if g["orientation"] == "vertical" else None),
            "predicted_fwhm_um": predicted_fwhm_um(w, angles) if g["orientation"] == "vertical" else None,
            "continuous_fwhm_um": continuous_fwhm_um(w, arc) if g["orientation"] == "vertical" else None,
            "ghost_offset_um": ghost_offset_um(w, angles) if g["orientation"] == "vertical" else None,
        }
    # resolved calls: measure_chart judges line signal against the local background, which an
    # offset does not change; the offset keeps its Michelson contrast (not used: FBP slices
    # are zero-mean) defined
    offset_slice = chart - float(chart.min()) + 1e-6
    measured = measure_chart(offset_slice, ChartLayout.from_json(layout), pixel_size_um=pixel)
    for m in measured:
        per_group[m.name]["resolved"] = bool(m.resolved)

    # clutter: chart-free background of the chart slice and of the central view
    mask = background_mask(layout, chart.shape)
    central = int(np.argmin(np.abs(angles)))
    rms_slice = background_rms(chart, mask)
    rms_proj = background_rms(projections[central], mask)
    for g in groups:
        entry = per_group[g["name"]]
        entry["signal_to_clutter"] = abs(entry["modulation_at_chart"]) / rms_slice
        in_projection = float(group_modulation(projections[central][None], g, pixel)[0])
        entry["signal_to_clutter_projection"] = abs(in_projection) / rms_proj
    reference = max((g for g in groups if g["orientation"] == "vertical"), key=lambda g: g["line_width_um"])
    ref = per_group[reference["name"]]

    work = point.folder
    write_tiff(work / "chart_slice.tif", chart, pixel_size_um=pixel,
               metadata={"height_um": float(heights[k0]), "quantity": "attenuation, 1/um"})
    row = (reference["bbox_px"][1] + reference["bbox_px"][3]) // 2
    write_tiff(work / "xz_section.tif", slices[:, row, :], pixel_size_um=pixel,
               metadata={"slice_heights_um": heights.tolist(), "row": int(row),
                         "quantity": "attenuation, 1/um; rows = heights, columns = x"})
    write_json(work / "chart.json", layout)
    return {
        "n_views": int(geometry.n_views), "arc_deg": arc, "method": scenario["reconstruction"]["method"],
        "pixel_um": pixel, "chart_height_um": float(heights[k0]),
        "heights_um": heights.tolist(), "view_angles_deg": angles.tolist(),
        "groups": per_group,
        "clutter": {"background_pixels": int(mask.sum()), "reference_group": reference["name"],
                    "slice_rms": rms_slice, "projection_rms": rms_proj, "central_view_deg": float(angles[central]),
                    "suppression": ref["signal_to_clutter"] / ref["signal_to_clutter_projection"]},
        "section_row": int(row),
    }


# --------------------------------------------------------------------------- report
def _point_key(r) -> tuple[str, str]:
    return f"{r['n_views']} views", f"{r['arc_deg']:g} deg"


def _vertical(r):
    return sorted((n for n, g in r["groups"].items() if g["orientation"] == "vertical"),
                  key=lambda n: r["groups"][n]["line_width_um"])


def report(sweep):
    from twin.report import Quantity, Report

    scenario, points, results, out_dir = sweep.scenario, sweep.points, sweep.results, Path(sweep.out_dir)
    out_dir = Path(out_dir)
    # one entry per (views, arc): --quick caps the views, so several points may coincide
    pairs = {(r["n_views"], r["arc_deg"]): (p, r) for p, r in zip(points, results)}
    res = [pairs[k][1] for k in sorted(pairs, key=lambda k: (k[1], k[0]))]
    point_of = {k: p for k, (p, _) in pairs.items()}
    rep = Report(f"{scenario.name}: tomosynthesis depth resolution and slice sharpness",
                 scenario["scenario"]["question"] or "How do the number of views and the arc angle set "
                 "slice sharpness and depth resolution?")
    _setup_rows(rep, scenario, res[0])
    if sweep.quick:
        rep.add_text(f"**Quick mode**: {_quick_text()} - numbers are indicative only.")
    rep.add_text(
        "Depth resolution = FWHM of the slice sensitivity profile (SSP): a group's line-pair modulation against "
        "reconstruction height, normalised at the chart plane. Geometric expectation: a structure dz away from "
        "the slice is displaced by dz tan(theta_k) in view k, so a grating of line width w keeps "
        "SSP(dz) = mean_k cos(pi dz tan(theta_k) / w) (predicted column); for a continuous arc ~ "
        "sinc(dz tan(arc/2) / w), FWHM = 1.207 w / tan(arc/2) (continuous column), i.e. ~1.2 px / tan(arc/2) "
        "for the finest grating the pixel samples. The discrete sum repeats at dz ~ w (N-1) / tan(arc/2) "
        "(ghost offset). Ghost level = largest |SSP| outside the main lobe within the slice stack.")
    widths = _vertical(res[0])
    header = ["views", "arc"]
    for n in widths:
        w = res[0]["groups"][n]["line_width_um"]
        header += [f"FWHM {w:g} um", f"predicted {w:g} um", f"continuous {w:g} um", f"ghost {w:g} um",
                   f"ghost offset {w:g} um"]
    rows = []
    for r in res:
        key = ("points",) + _point_key(r)
        row = [Quantity(r["n_views"]), Quantity(r["arc_deg"], "deg")]
        for n in widths:
            g = r["groups"][n]
            row += [rep.result(key + (n, "fwhm"), g["fwhm_um"], "um", digits=3),
                    rep.result(key + (n, "predicted_fwhm"), g["predicted_fwhm_um"], "um", digits=3),
                    rep.result(key + (n, "continuous_fwhm"), g["continuous_fwhm_um"], "um", digits=3),
                    rep.result(key + (n, "ghost_level"), g["ghost_level"], digits=3),
                    rep.result(key + (n, "ghost_offset"), g["ghost_offset_um"], "um", digits=3)]
        rows.append(row)
    rep.add_table("Depth resolution: SSP FWHM of the vertical groups", header, rows,
                  note=f"Slices every {res[0]['heights_um'][1] - res[0]['heights_um'][0]:g} um within "
                       f"{min(res[0]['heights_um']):g}-{max(res[0]['heights_um']):g} um; ghost n/a: the SSP does "
                       "not change sign within the stack.")
    names = list(res[0]["groups"])
    header = ["views", "arc"] + [f"resolved {n}" for n in names] + \
             [f"S/C {n}" for n in widths] + ["clutter suppression"]
    rows = []
    for r in res:
        key = ("points",) + _point_key(r)
        row = [Quantity(r["n_views"]), Quantity(r["arc_deg"], "deg")]
        row += [rep.result(key + (n, "resolved"), r["groups"][n]["resolved"]) for n in names]
        row += [rep.result(key + (n, "signal_to_clutter"), r["groups"][n]["signal_to_clutter"], digits=3)
                for n in widths]
        row.append(rep.result(key + ("clutter_suppression",), r["clutter"]["suppression"], digits=3))
        for n in names:
            g = r["groups"][n]
            rep.result(key + (n, "signal_to_clutter_projection"), g["signal_to_clutter_projection"])
            rep.result(key + (n, "modulation_at_chart"), g["modulation_at_chart"], "1/um")
            if g["orientation"] == "horizontal":
                rep.result(key + (n, "fwhm"), g["fwhm_um"], "um")
        rows.append(row)
    rep.add_table("Chart slice: resolved groups and signal-to-clutter", header, rows,
                  note="S/C: line-pair modulation over the RMS of the chart-free background of the chart slice "
                       "(out-of-plane clutter and ghosts). Clutter suppression: S/C of the widest vertical "
                       "group in the slice over S/C in the central projection. With noiseless views a resolved "
                       "call has no noise limit: it shows what blur, reconstruction and clutter allow.")
    figures = out_dir / "figures"
    figures.figure_fwhm(res, widths, figures / "fwhm_vs_arc_and_views.png")
    rep.add_figure("figures/fwhm_vs_arc_and_views.png",
                   "Depth resolution (SSP FWHM) of the vertical groups against arc (left; lines: continuous-arc "
                   "expectation 1.207 w / tan(arc/2)) and against the number of views (right; dashed: the "
                   "discrete-view prediction).")
    figures.figure_ssp(res, widths[-1], figures / "ssp.png")
    rep.add_figure("figures/ssp.png",
                   f"Slice sensitivity profiles of the {widths[-1]} group (solid) with the discrete-view "
                   "prediction (dashed): most views at each arc (left), each view count at the largest arc (right).")
    figures.figure_clutter(res, widths, figures / "sharpness_and_clutter.png")
    rep.add_figure("figures/sharpness_and_clutter.png",
                   "Signal-to-clutter ratio of the vertical groups in the chart slice, clutter suppression "
                   "against the central projection (both against arc, one line per view count), and the ghost "
                   "level of the widest vertical group against views (missing: no ghost within the stack).")
    figures.figure_sections(res, point_of, out_dir, figures / "xz_sections.png")
    rep.add_figure("figures/xz_sections.png",
                   "x-z sections of the reconstruction through the widest vertical group: the chart's structure "
                   "spreads along height in an X whose opening is the arc; few views break it into ghosts.")
    _conclusions(rep, res, widths, names)
    return rep


def _setup_rows(rep, scenario, r0):
    from twin.report import Quantity

    s = scenario
    rep.add_setup("tube", f"{s['source']['target']} anode, {s['source']['kvp']:g} kV, focal spot "
                          f"{s['source']['focal_spot_size']:g} um", "paper (spot: mid of 30-55 um)")
    rep.add_setup("source to scintillator (arc radius)", Quantity(s["geometry"]["source_distance"], "um"),
                  "assumed (as the published scenario)")
    rep.add_setup("screen", f"{s['scintillator']['thickness']:g} um {s['scintillator']['material']}, "
                            f"scatter blur {s['scintillator']['scatter_blur']:g} um", "as the published scenario")
    rep.add_setup("objective NA", Quantity(s["optics"]["na"]), "assumed: Mitutoyo M Plan Apo 20x")
    rep.add_setup("effective pixel", Quantity(r0["pixel_um"], "um"), "6.5 um / (20 x 160/200), paper")
    rep.add_setup("ROI", f"{s['camera']['roi_rows']} x {s['camera']['roi_cols']} px", "fits the chart groups")
    rep.add_setup("chart", f"{', '.join(f'{w:g}' for w in s['object']['line_widths'])} um groups, "
                           f"{s['object']['n_lines']} lines, {s['object']['thickness']:g} um "
                           f"{s['object']['material']}", "paper's groups; absorber assumed")
    rep.add_setup("chart height", Quantity(s["object"]["height"], "um"), "assumed (as the published scenario)")
    rep.add_setup("clutter heights", f"{0.4 * s['object']['height']:g} and {2.4 * s['object']['height']:g} um",
                  "twin.system chart_stack (assumed 0.4x and 2.4x the chart height)")
    rep.add_setup("views", "noiseless (expected)" if not s["acquisition"]["noise"] else "noisy",
                  "geometry and reconstruction alone set depth resolution")
    rep.add_setup("reconstruction", s["reconstruction"]["method"], "distance-driven (recon)")


def _conclusions(rep, res, widths, names):
    # 1. measured FWHM over the discrete-view geometric prediction, per vertical group
    for n in widths:
        ratios = [r["groups"][n]["fwhm_um"] / r["groups"][n]["predicted_fwhm_um"] for r in res
                  if r["groups"][n]["fwhm_um"] and r["groups"][n]["predicted_fwhm_um"]]
        if ratios:
            rep.add_finding(
                n + ": measured SSP FWHM over the discrete-view geometric prediction = {median:.3f}x (range "
                "{lo:.3f}-{hi:.3f}; median signal-to-clutter {sc:.3g}): depth resolution is set by the arc and "
                "the line width, not by the detector blur",
                {"median": float(np.median(ratios)), "lo": min(ratios), "hi": max(ratios),
                 "dev": abs(float(np.median(ratios)) - 1.0),
                 "sc": float(np.median([r["groups"][n]["signal_to_clutter"] for r in res]))}, ("dev", "<", 0.15))
    # 2. FWHM against tan(arc/2) at the most views: slope -1 expected
    most = max(r["n_views"] for r in res)
    for n in widths:
        pts = [r for r in res if r["n_views"] == most and r["groups"][n]["fwhm_um"] and r["arc_deg"] > 0]
        if len({r["arc_deg"] for r in pts}) >= 2:
            slope = float(np.polyfit(np.log([math.tan(math.radians(r["arc_deg"]) / 2) for r in pts]),
                                     np.log([r["groups"][n]["fwhm_um"] for r in pts]), 1)[0])
            rep.add_finding(
                n + " at {views} views: log-log slope of the FWHM against tan(arc/2) = {slope:.2f} (geometric "
                "expectation -1)", {"views": most, "slope": slope, "dev": abs(slope + 1.0)}, ("dev", "<", 0.15))
    # 3. the arc, not the number of views, sets the depth resolution; few views leave ghosts
    n, nmin = widths[-1], min(r["n_views"] for r in res)
    change = []
    for arc in sorted({r["arc_deg"] for r in res}):
        pts = sorted((r for r in res if r["arc_deg"] == arc and r["groups"][n]["fwhm_um"]), key=lambda r: r["n_views"])
        if len(pts) >= 2 and pts[0]["n_views"] < pts[-1]["n_views"]:
            change.append(pts[0]["groups"][n]["fwhm_um"] / pts[-1]["groups"][n]["fwhm_um"] - 1.0)
    if change and nmin > 1:
        rep.add_finding(
            n + ": from the most to the fewest views the FWHM changes by {lo:+.0%} to {hi:+.0%}; N evenly spaced "
            "views narrow the main lobe by ~sqrt((N-1)/(N+1)) - 1 = {expected:+.0%} for {nmin} views",
            {"lo": min(change), "hi": max(change), "nmin": nmin,
             "expected": math.sqrt((nmin - 1) / (nmin + 1)) - 1.0,
             "dev": max(abs(c - (math.sqrt((nmin - 1) / (nmin + 1)) - 1.0)) for c in change)}, ("dev", "<", 0.1))
    ghosts = [r for r in res if r["groups"][n]["ghost_level"] is not None]
    if ghosts:
        g = max(ghosts, key=lambda r: r["groups"][n]["ghost_level"])
        rep.add_finding(
            n + ": with {views} views over {arc:g} deg the SSP comes back to {ghost:.2f} outside its main lobe "
            "(predicted ghost offset {offset:.3g} um)",
            {"views": g["n_views"], "arc": g["arc_deg"], "ghost": g["groups"][n]["ghost_level"],
             "offset": g["groups"][n]["ghost_offset_um"], "half": 0.5}, ("ghost", ">", "half"))
    # 4. lines parallel to the tube motion: no depth resolution
    horizontal = [h for h in names if res[0]["groups"][h]["orientation"] == "horizontal"]
    if horizontal:
        flat = sum(1 for r in res for h in horizontal if r["groups"][h]["fwhm_um"] is None)
        rep.add_finding(
            "Horizontal groups (lines along the tube's motion): the SSP stays above half over the whole stack at "
            "{flat} of {total} group-points - a linear arc gives no depth resolution to structure that does not "
            "move between views", {"flat": flat, "total": len(res) * len(horizontal)}, ("flat", ">=", "total"))
    # 5. clutter suppression by the slice against the central projection
    sup = [r["clutter"]["suppression"] for r in res if r["clutter"]["suppression"] is not None]
    if sup:
        rep.add_finding(
            "Out-of-plane clutter: the slice raises the signal-to-clutter ratio of the " + widths[-1] + " group "
            "{lo:.3g}x to {hi:.3g}x over the central projection", {"lo": min(sup), "hi": max(sup), "one": 1.0},
            ("lo", ">", "one"))
    for n in names:
        rep.add_finding(n + " resolved in the chart slice at {ok} of {total} points",
                        {"ok": sum(bool(r["groups"][n]["resolved"]) for r in res), "total": len(res)},
                        ("ok", ">=", "total"))


# --------------------------------------------------------------------------- figures
def _quick_text() -> str:
    q = STUDY.quick
    return (f"at most {q['geometry.n_views'].limit:g} views, {q['geometry.slice_step']} slices, "
            f"{q['acquisition.oversample']}x field sampling")


STUDY = Study("tomosynthesis", compute=compute, report=report,
              quick={"geometry.n_views": AtMost(5), "acquisition.oversample": 1, "geometry.slice_step": "1 um"},
              doc="views and arc against slice sharpness, depth resolution, ghosts and clutter")
