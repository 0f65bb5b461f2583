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

Geometric expectation (derived here, stated in the report). The tube moves on an arc in
the x-z plane; view ``k`` sees the source at angle ``theta_k``. A thin structure at
height ``h`` appears in a slice at ``h + dz`` displaced along x by ``dz tan(theta_k)``
(to O(h/R) ~ 1e-3), so shift-and-add - and FBP, whose filter acts identically on every
view - averages copies displaced by ``dz tan(theta_k)``. A grating of line width ``w``
(period ``2w``) keeps, at its fundamental frequency ``1/(2w)``, the modulation

    SSP(dz) = (1/N) sum_k cos(pi dz tan(theta_k) / w)

independent of the detector blur (which scales every height alike). For a continuous
arc this is ``~ sinc(dz tan(arc/2) / w)`` (``sinc(x) = sin(pi x)/(pi x)``, uniform
spread of ``tan theta``), whose FWHM is

    FWHM = 2 x 0.6034 w / tan(arc/2) = 1.207 w / tan(arc/2),

i.e. ~1.2 px / tan(arc/2) for the finest grating the pixel samples (w = 1 px). The
discrete sum repeats (a ghost of the grating) where ``dz Delta(tan theta) / w = 2``:
``dz_ghost ~ w (N - 1) / tan(arc/2)``. Lines parallel to the arc's motion (x) do not move
between views and have no depth resolution at all.

``--quick``: at most 5 views, 1 um slice spacing, no field oversampling.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from physics.errors import ScenarioError

#: Half-height of the slice stack around the chart plane (um; assumed: covers the main
#: lobe of the widest group at the smallest arc of the shipped sweep, 2 um at 10 deg:
#: first zero at w / tan(5 deg) = 23 um) and the slice spacing (um; a fifth of the
#: smallest predicted FWHM there, 1 um at 60 deg: 2.1 um).
HALF_RANGE_UM = 25.0
SLICE_STEP_UM = 0.5
QUICK_SLICE_STEP_UM = 1.0
QUICK_MAX_VIEWS = 5
#: Half maximum of sinc: sinc(x) = 0.5 at x = 0.6034.
SINC_HALF = 0.60335


# --------------------------------------------------------------------------- geometry
def view_angles_deg(geometry) -> np.ndarray:
    """Angle of each source from the detector normal (x-z plane), degrees."""
    src = np.asarray(geometry.source_positions_um, dtype=float)
    return np.degrees(np.arctan2(src[:, 0], src[:, 2]))


def predicted_ssp(dz_um, line_width_um: float, angles_deg) -> np.ndarray:
    """Fundamental-frequency SSP of a grating of line width ``w`` for discrete views."""
    t = np.tan(np.radians(np.asarray(angles_deg, dtype=float)))
    dz = np.asarray(dz_um, dtype=float)
    return np.mean(np.cos(np.pi * dz[..., None] * t / line_width_um), axis=-1)


def continuous_fwhm_um(line_width_um: float, arc_deg: float) -> float:
    """FWHM of the continuous-arc SSP, ``2 x 0.6034 w / tan(arc/2)`` (inf for no arc)."""
    t = math.tan(math.radians(arc_deg) / 2.0)
    return math.inf if t <= 0 else 2.0 * SINC_HALF * line_width_um / t


def ghost_offset_um(line_width_um: float, angles_deg) -> float:
    """Height offset of the first grating ghost, ``2 w / mean step of tan(theta)``."""
    t = np.tan(np.radians(np.sort(np.asarray(angles_deg, dtype=float))))
    if t.size < 2:
        return math.inf
    return float(2.0 * line_width_um / np.mean(np.diff(t)))


def main_lobe(profile, heights, k0: int):
    """FWHM of the lobe of ``profile`` around index ``k0`` (peak normalised to 1 there) and
    the indices where it first changes sign on each side; FWHM None if it never falls to
    half within the stack."""
    p = np.asarray(profile, dtype=float)
    h = np.asarray(heights, dtype=float)

    def walk(step, level):
        i = k0
        while 0 <= i + step < p.size and p[i + step] >= level:
            i += step
        j = i + step
        if not 0 <= j < p.size:
            return None, None
        return i, j

    edges = []
    for step in (-1, 1):
        i, j = walk(step, 0.5)
        if i is None:
            return None, None
        edges.append(h[i] + (p[i] - 0.5) / (p[i] - p[j]) * (h[j] - h[i]))
    zeros = [walk(step, 0.0)[1] for step in (-1, 1)]
    return float(edges[1] - edges[0]), zeros


def predicted_fwhm_um(line_width_um: float, angles_deg, *, half_range_um: float = 200.0,
                      step_um: float = 0.01) -> float | None:
    """FWHM of :func:`predicted_ssp` (numerically, on a fine grid)."""
    dz = np.arange(-half_range_um, half_range_um + step_um / 2, step_um)
    fwhm, _ = main_lobe(predicted_ssp(dz, line_width_um, angles_deg), dz, int(np.argmin(np.abs(dz))))
    return fwhm


# --------------------------------------------------------------------------- measures
def group_modulation(stack, group, pixel_um: float) -> np.ndarray:
    """Line-pair modulation of one chart group in every slice of ``stack`` (heights, rows, cols).

    The group's profile across its lines (averaged along them over ``bbox_px``) is
    interpolated at the line and space centres placed as in
    :func:`physics.measure.measure_chart`; modulation = mean on lines - mean on spaces.
    """
    x0, y0, x1, y1 = group["bbox_px"]
    stack = np.asarray(stack, dtype=float)
    if group["orientation"] == "vertical":          # lines along y: profile along x
        profiles = stack[:, y0:y1, :].mean(axis=1)
        u0, u1, size = group["bbox_um"][0], group["bbox_um"][2], stack.shape[2]
    else:
        profiles = stack[:, :, x0:x1].mean(axis=2)
        u0, u1, size = group["bbox_um"][1], group["bbox_um"][3], stack.shape[1]
    w = group["line_width_um"] / pixel_um
    n = group["n_lines"]
    centre = ((u0 + u1) / 2.0) / pixel_um + size / 2.0
    lines = centre - (2 * n - 1) * w / 2.0 + w / 2.0 + 2.0 * w * np.arange(n)
    spaces = lines[:-1] + w
    x = np.arange(size) + 0.5
    at = lambda c: np.stack([np.interp(c, x, prof) for prof in profiles])  # noqa: E731
    return at(lines).mean(axis=1) - at(spaces).mean(axis=1)


#: Background mask: pixels farther than this from every group's box (in its periods) and
#: from the image border (pixels), so neither the chart's edge response nor the
#: truncation at the border counts as clutter (assumed margins).
MASK_PERIODS = 1.5
MASK_BORDER_PX = 6
MIN_BACKGROUND_PX = 400


def background_mask(layout: dict, shape) -> np.ndarray:
    """Pixels of a ``shape`` image free of chart groups (boxes grown by 1.5 periods)."""
    rows, cols = shape
    mask = np.zeros((rows, cols), bool)
    mask[MASK_BORDER_PX:rows - MASK_BORDER_PX, MASK_BORDER_PX:cols - MASK_BORDER_PX] = True
    pixel = layout["pixel_size_um"]
    for g in layout["groups"]:
        m = int(math.ceil(MASK_PERIODS * 2 * g["line_width_um"] / pixel))
        x0, y0, x1, y1 = g["bbox_px"]
        mask[max(y0 - m, 0):y1 + m, max(x0 - m, 0):x1 + m] = False
    if mask.sum() < MIN_BACKGROUND_PX:
        raise ScenarioError(f"camera.roi_rows/roi_cols: only {int(mask.sum())} chart-free pixels in the "
                         f"{rows}x{cols} ROI (need {MIN_BACKGROUND_PX}); enlarge the ROI")
    return mask


def background_rms(image, mask) -> float:
    """RMS about the mean of ``image`` over the background ``mask``."""
    values = np.asarray(image, dtype=float)[mask]
    return float(np.sqrt(np.mean((values - values.mean()) ** 2)))


# --------------------------------------------------------------------------- per point
def _scenario(raw: dict, point: dict, quick: bool):
    from twin.scenario import parse_scenario

    scenario = parse_scenario(raw).with_values(point)
    if quick:
        scenario = scenario.with_values({"geometry.n_views": min(scenario["geometry"]["n_views"], QUICK_MAX_VIEWS),
                                         "acquisition.oversample": 1})
    return scenario


def slice_heights(scenario, planes_um, *, quick: bool) -> tuple[np.ndarray, int]:
    """Heights to reconstruct and the index of the chart plane among them.

    ``geometry.slice_heights`` when given; else the chart height +- HALF_RANGE_UM in steps of
    SLICE_STEP_UM. Iterative methods (which need every object plane inside the volume)
    extend the same grid over the clutter planes.
    """
    h0 = scenario["object"]["height"]
    given = list(scenario["geometry"]["slice_heights"])
    if given:
        heights = np.asarray(sorted(given), dtype=float)
    else:
        step = QUICK_SLICE_STEP_UM if quick else SLICE_STEP_UM
        n = int(round(HALF_RANGE_UM / step))
        lo, hi = -n, n
        if scenario["reconstruction"]["method"] not in ("fbp", "sas"):
            lo = min(lo, int(math.floor((min(planes_um) - h0) / step)) - 2)
            hi = max(hi, int(math.ceil((max(planes_um) - h0) / step)) + 2)
        heights = h0 + step * np.arange(lo, hi + 1)
        heights = heights[heights >= 0]
    k0 = int(np.argmin(np.abs(heights - h0)))
    if not math.isclose(heights[k0], h0, abs_tol=1e-6):
        raise ScenarioError(f"geometry.slice_heights: {given} must include the chart height object.height = {h0:g} um")
    return heights, k0


def compute_point(raw: dict, point: dict, *, quick: bool, work_dir: str) -> dict:
    import jax

    import recon
    from physics.imageio import write_json, write_tiff
    from physics.measure import ChartLayout, measure_chart
    from twin.run import point_dir
    from twin.simulate import simulate_projections
    from twin.system import build_geometry, build_setup

    scenario = _scenario(raw, point, quick)
    if scenario["geometry"]["mode"] != "tomosynthesis":
        raise ScenarioError("geometry.mode: the tomosynthesis study needs mode = \"tomosynthesis\"")
    setup = build_setup(scenario)
    if setup.layout is None:
        raise ScenarioError(f"object.phantom: {scenario['object']['phantom']!r} has no line-pair groups; "
                         "the tomosynthesis study needs \"chart\" or \"chart_stack\"")
    planes = [layer.height_um for layer in setup.obj.layers]
    heights, k0 = slice_heights(scenario, planes, quick=quick)
    stack = scenario.with_values({"geometry.slice_heights": [f"{h:.6g} um" for h in heights]})
    geometry = build_geometry(stack, setup.system, planes)
    pixel = setup.system.pixel_um
    projections = simulate_projections(setup, jax.random.PRNGKey(scenario.seed),
                                       noise=scenario["acquisition"]["noise"], geometry=geometry)

    rec = scenario["reconstruction"]
    options = {"iterations": rec["iterations"]} if rec["method"] in ("sart", "sirt", "grad") else {}
    slices = np.asarray(recon.reconstruct(projections, geometry, method=rec["method"], **options).data)
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

    work = point_dir(work_dir, point)
    write_tiff(work / "chart_slice.tif", chart, pixel_size_um=pixel,
               metadata={"height_um": float(heights[k0]), "quantity": "attenuation, 1/um"})
    row = (reference["bbox_px"][1] + reference["bbox_px"][3]) // 2
    write_tiff(work / "xz_section.tif", slices[:, row, :], pixel_size_um=pixel,
               metadata={"slice_heights_um": heights.tolist(), "row": int(row),
                         "quantity": "attenuation, 1/um; rows = heights, columns = x"})
    write_json(work / "chart.json", layout)
    return {
        "n_views": int(geometry.n_views), "arc_deg": arc, "method": rec["method"],
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


def make_report(scenario, points, results, out_dir: Path, *, quick: bool):
    from twin.report import Quantity, Report

    out_dir = Path(out_dir)
    # one entry per (views, arc): --quick caps the views, so several points may coincide
    pairs = {(r["n_views"], r["arc_deg"]): (p, r) for p, r in zip(points, results)}
    res = [pairs[k][1] for k in sorted(pairs, key=lambda k: (k[1], k[0]))]
    point_of = {k: p for k, (p, _) in pairs.items()}
    rep = Report(f"{scenario.name}: tomosynthesis depth resolution and slice sharpness",
                 scenario["scenario"]["question"] or "How do the number of views and the arc angle set "
                 "slice sharpness and depth resolution?")
    _setup_rows(rep, scenario, res[0])
    if quick:
        rep.add_text(f"**Quick mode**: at most {QUICK_MAX_VIEWS} views, {QUICK_SLICE_STEP_UM:g} um slices, no "
                     "field oversampling - numbers are indicative only.")
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
    _figure_fwhm(res, widths, figures / "fwhm_vs_arc_and_views.png")
    rep.add_figure("figures/fwhm_vs_arc_and_views.png",
                   "Depth resolution (SSP FWHM) of the vertical groups against arc (left; lines: continuous-arc "
                   "expectation 1.207 w / tan(arc/2)) and against the number of views (right; dashed: the "
                   "discrete-view prediction).")
    _figure_ssp(res, widths[-1], figures / "ssp.png")
    rep.add_figure("figures/ssp.png",
                   f"Slice sensitivity profiles of the {widths[-1]} group (solid) with the discrete-view "
                   "prediction (dashed): most views at each arc (left), each view count at the largest arc (right).")
    _figure_clutter(res, widths, figures / "sharpness_and_clutter.png")
    rep.add_figure("figures/sharpness_and_clutter.png",
                   "Signal-to-clutter ratio of the vertical groups in the chart slice, clutter suppression "
                   "against the central projection (both against arc, one line per view count), and the ghost "
                   "level of the widest vertical group against views (missing: no ghost within the stack).")
    _figure_sections(res, point_of, out_dir, figures / "xz_sections.png")
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
    # 1. measured vs discrete-view prediction, per group
    parts, all_ratios = [], []
    for n in widths:
        ratios = [r["groups"][n]["fwhm_um"] / r["groups"][n]["predicted_fwhm_um"] for r in res
                  if r["groups"][n]["fwhm_um"] and r["groups"][n]["predicted_fwhm_um"]]
        if ratios:
            all_ratios += ratios
            sc = np.median([r["groups"][n]["signal_to_clutter"] for r in res])
            parts.append(f"{n}: {np.median(ratios):.3f}x (range {min(ratios):.3f}-{max(ratios):.3f}; median "
                         f"signal-to-clutter {sc:.3g})")
    if all_ratios:
        rep.add_conclusion(
            "Measured SSP FWHM over the discrete-view geometric prediction - " + "; ".join(parts) + ". Depth "
            "resolution is set by the arc and the line width, not by the detector blur, which scales every "
            "height alike; the group with the weaker modulation departs more, because the out-of-plane clutter "
            "that reaches its box is a larger share of its signal.")
    # 2. scaling with the arc at the most views
    most = max(r["n_views"] for r in res)
    for n in widths:
        pts = [r for r in res if r["n_views"] == most and r["groups"][n]["fwhm_um"] and r["arc_deg"] > 0]
        if len(pts) >= 2:
            t = np.log([math.tan(math.radians(r["arc_deg"]) / 2) for r in pts])
            f = np.log([r["groups"][n]["fwhm_um"] for r in pts])
            slope = float(np.polyfit(t, f, 1)[0])
            lo = min(pts, key=lambda r: r["arc_deg"])
            hi = max(pts, key=lambda r: r["arc_deg"])
            rep.add_conclusion(
                f"{n} at {most} views: FWHM falls from {lo['groups'][n]['fwhm_um']:.3g} um at {lo['arc_deg']:g} deg "
                f"to {hi['groups'][n]['fwhm_um']:.3g} um at {hi['arc_deg']:g} deg; log-log slope against "
                f"tan(arc/2) = {slope:.2f} (geometric expectation -1).")
    # 3. views: the main lobe narrows a little with few views, ghosts appear
    for n in widths[-1:]:
        change = []
        for arc in sorted({r["arc_deg"] for r in res}):
            pts = sorted((r for r in res if r["arc_deg"] == arc and r["groups"][n]["fwhm_um"]),
                         key=lambda r: r["n_views"])
            if len(pts) >= 2:
                change.append(pts[0]["groups"][n]["fwhm_um"] / pts[-1]["groups"][n]["fwhm_um"] - 1.0)
        ghosts = [r for r in res if r["groups"][n]["ghost_level"] is not None]
        nmin = min(r["n_views"] for r in res)
        if change and nmin > 1:
            text = (f"{n}: going from the most to the fewest views changes the FWHM by {100 * min(change):+.0f} "
                    f"to {100 * max(change):+.0f} % (N evenly spaced views have (N+1)/(N-1) times the variance of "
                    f"tan(theta) of a continuous arc, which narrows the main lobe by ~sqrt((N-1)/(N+1)): "
                    f"{100 * (math.sqrt((nmin - 1) / (nmin + 1)) - 1):+.0f} % for {nmin} views) - the arc, not the "
                    f"number of views, sets the depth resolution")
            if ghosts:
                g = max(ghosts, key=lambda r: r["groups"][n]["ghost_level"])
                text += (f"; but few views leave ghosts: with {g['n_views']} views over {g['arc_deg']:g} deg the "
                         f"SSP comes back to {g['groups'][n]['ghost_level']:.2f} outside its main lobe (predicted "
                         f"ghost offset {g['groups'][n]['ghost_offset_um']:.3g} um).")
            else:
                text += "."
            rep.add_conclusion(text)
    # 4. lines parallel to the tube motion
    horizontal = [n for n in names if res[0]["groups"][n]["orientation"] == "horizontal"]
    if horizontal:
        flat = [r for r in res for n in horizontal if r["groups"][n]["fwhm_um"] is None]
        ratio = np.median([abs(r["groups"][h]["modulation_at_chart"]) / abs(r["groups"][v]["modulation_at_chart"])
                           for r in res for h, v in zip(horizontal, widths)])
        rep.add_conclusion(
            f"Horizontal groups (lines along the tube's motion, x): their SSP stays above half over the whole "
            f"stack at {len(flat)} of {len(res) * len(horizontal)} group-points - a linear arc gives no depth "
            f"resolution to structure that does not move between views - and the filter along x leaves them "
            f"{ratio:.3f}x the modulation of the vertical groups of the same width (median).")
    # 5. clutter and resolved groups
    sup = [(r["clutter"]["suppression"], r) for r in res if r["clutter"]["suppression"] is not None]
    if sup:
        lo, hi = min(sup, key=lambda x: x[0]), max(sup, key=lambda x: x[0])
        text = (f"Out-of-plane clutter: the slice raises the signal-to-clutter ratio of the {widths[-1]} group "
                f"{lo[0]:.3g}x over the central projection at {lo[1]['n_views']} views / {lo[1]['arc_deg']:g} deg "
                f"and {hi[0]:.3g}x at {hi[1]['n_views']} views / {hi[1]['arc_deg']:g} deg.")
        arcs = sorted({r["arc_deg"] for r in res})
        by_arc = {a: sorted((r for r in res if r["arc_deg"] == a), key=lambda r: r["n_views"]) for a in arcs}
        if len(arcs) >= 2 and all(len(v) >= 2 for v in by_arc.values()):
            gain = {a: v[-1]["clutter"]["suppression"] / v[0]["clutter"]["suppression"] for a, v in by_arc.items()}
            text += (f" More views help once the arc spreads the clutter: from {by_arc[arcs[0]][0]['n_views']} to "
                     f"{by_arc[arcs[0]][-1]['n_views']} views the suppression changes {gain[arcs[0]]:.2f}x at "
                     f"{arcs[0]:g} deg and {gain[arcs[-1]]:.2f}x at {arcs[-1]:g} deg (few views leave the clutter "
                     f"as discrete streaks).")
        rep.add_conclusion(text)
    for n in names:
        ok = [r for r in res if r["groups"][n]["resolved"]]
        missed = ", ".join(f"{r['n_views']} views / {r['arc_deg']:g} deg" for r in res
                           if not r["groups"][n]["resolved"])
        rep.add_conclusion(f"{n} resolved in the chart slice at {len(ok)} of {len(res)} points"
                           + (f" (not at: {missed})." if 0 < len(ok) < len(res) else "."))


# --------------------------------------------------------------------------- figures
def _log_ticks(axis):
    from twin.studies.scintillator import _log_ticks as plain_log_ticks  # one look for all study plots

    plain_log_ticks(axis)


def _figure_fwhm(res, widths, path):
    from twin.report import new_figure, save_figure

    fig = new_figure(width=10, height=4)
    ax1, ax2 = fig.subplots(1, 2)
    views = sorted({r["n_views"] for r in res})
    arcs = sorted({r["arc_deg"] for r in res})
    styles = ("o", "s", "^", "D", "v")
    for j, n in enumerate(widths):
        w = res[0]["groups"][n]["line_width_um"]
        for i, v in enumerate(views):
            pts = [r for r in res if r["n_views"] == v]
            ax1.plot([r["arc_deg"] for r in pts], [r["groups"][n]["fwhm_um"] or np.nan for r in pts],
                     styles[i % 5], color=f"C{j}", alpha=0.8, label=f"{n}, {v} views")
        a = np.linspace(max(min(arcs), 1.0), max(arcs), 100)
        ax1.plot(a, [continuous_fwhm_um(w, x) for x in a], "-", color=f"C{j}", lw=1)
        for i, arc in enumerate(arcs):
            pts = [r for r in res if r["arc_deg"] == arc]
            ax2.plot([r["n_views"] for r in pts], [r["groups"][n]["fwhm_um"] or np.nan for r in pts],
                     styles[i % 5] + "-", color=f"C{j}", alpha=0.8, label=f"{n}, {arc:g} deg")
            ax2.plot([r["n_views"] for r in pts], [r["groups"][n]["predicted_fwhm_um"] or np.nan for r in pts],
                     "--", color=f"C{j}", lw=0.8)
    ax1.set(xlabel="arc (deg)", ylabel="SSP FWHM (um)", yscale="log", title="depth resolution vs arc")
    ax2.set(xlabel="views", ylabel="SSP FWHM (um)", yscale="log", xscale="log", title="depth resolution vs views")
    for axis in (ax1.yaxis, ax2.xaxis, ax2.yaxis):
        _log_ticks(axis)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path)


def _figure_ssp(res, name, path):
    from twin.report import new_figure, save_figure

    fig = new_figure(width=10, height=4)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    most = max(r["n_views"] for r in res)
    widest = max(r["arc_deg"] for r in res)
    for ax, pts, label in ((ax1, [r for r in res if r["n_views"] == most], lambda r: f"{r['arc_deg']:g} deg"),
                           (ax2, [r for r in res if r["arc_deg"] == widest], lambda r: f"{r['n_views']} views")):
        for i, r in enumerate(pts):
            dz = np.asarray(r["heights_um"]) - r["chart_height_um"]
            g = r["groups"][name]
            ax.plot(dz, g["ssp"], "-", color=f"C{i}", label=label(r))
            if g["predicted_ssp"] is not None:
                ax.plot(dz, g["predicted_ssp"], "--", color=f"C{i}", lw=0.8)
        ax.axhline(0.5, color="0.6", lw=0.6)
        ax.axhline(0.0, color="0.6", lw=0.6)
        title = f"{name}: " + ("most views" if ax is ax1 else f"{widest:g} deg")
        ax.set(xlabel="height - chart height (um)", title=title)
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    ax1.set_ylabel("normalised modulation (SSP)")
    save_figure(fig, path)


def _figure_clutter(res, widths, path):
    from twin.report import new_figure, save_figure

    fig = new_figure(width=13, height=4)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for i, v in enumerate(sorted({r["n_views"] for r in res})):
        pts = [r for r in res if r["n_views"] == v]
        for j, n in enumerate(widths):
            ax1.plot([r["arc_deg"] for r in pts], [r["groups"][n]["signal_to_clutter"] for r in pts],
                     ("o-", "s--")[j % 2], color=f"C{i}", label=f"{n}, {v} views")
        ax2.plot([r["arc_deg"] for r in pts], [r["clutter"]["suppression"] for r in pts], "o-", color=f"C{i}",
                 label=f"{v} views")
    for i, arc in enumerate(sorted({r["arc_deg"] for r in res})):
        pts = [r for r in res if r["arc_deg"] == arc]
        ghost = [r["groups"][widths[-1]]["ghost_level"] for r in pts]
        ax3.plot([r["n_views"] for r in pts], [np.nan if g is None else g for g in ghost], "o-", color=f"C{i}",
                 label=f"{arc:g} deg")
    ax1.set(xlabel="arc (deg)", ylabel="signal-to-clutter in the chart slice", yscale="log")
    ax2.set(xlabel="arc (deg)", ylabel="clutter suppression vs projection", yscale="log")
    ax3.set(xlabel="views", ylabel=f"ghost level, {widths[-1]}", xscale="log", ylim=(0, 1.05))
    for axis in (ax1.yaxis, ax2.yaxis, ax3.xaxis):
        _log_ticks(axis)
    for ax in (ax1, ax2, ax3):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path)


def _figure_sections(res, point_of, out_dir, path):
    from physics.imageio import read_tiff
    from twin.report import new_figure, save_figure
    from twin.run import point_dir

    most = max(r["n_views"] for r in res)
    fewest = min(r["n_views"] for r in res)
    arcs = sorted({r["arc_deg"] for r in res})
    chosen = [(most, a) for a in arcs] + [(fewest, arcs[-1])]
    chosen = [c for c in dict.fromkeys(chosen) if c in point_of]
    fig = new_figure(width=2.6 * len(chosen), height=3.4)
    axes = np.atleast_1d(fig.subplots(1, len(chosen)))
    for ax, (v, a) in zip(axes, chosen):
        img = read_tiff(point_dir(out_dir, point_of[(v, a)]) / "xz_section.tif")
        heights = img.metadata.get("slice_heights_um")
        data = img.data
        lo, hi = np.percentile(data, [1, 99])
        extent = (0, data.shape[1] * img.pixel_size_um, heights[0], heights[-1])
        ax.imshow(data, cmap="gray", vmin=lo, vmax=hi, origin="lower", aspect="auto", extent=extent)
        ax.set(title=f"{v} views, {a:g} deg", xlabel="x (um)")
    axes[0].set_ylabel("height (um)")
    save_figure(fig, path)
