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
        raise ValueError(f"camera.roi_rows/roi_cols: only {int(mask.sum())} chart-free pixels in the "
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
        raise ValueError(f"geometry.slice_heights: {given} must include the chart height object.height = {h0:g} um")
    return heights, k0


def compute_point(raw: dict, point: dict, *, quick: bool, work_dir: str) -> dict:
    import jax

    import recon
    from physics.imageio import write_json, write_tiff
    from physics.measure import ChartLayout, measure_chart
    from twin.run import point_dir
    from twin.simulate import MIN_TRANSMISSION, simulate_view
    from twin.system import build_geometry, build_setup

    scenario = _scenario(raw, point, quick)
    if scenario["geometry"]["mode"] != "tomosynthesis":
        raise ValueError("geometry.mode: the tomosynthesis study needs mode = \"tomosynthesis\"")
    setup = build_setup(scenario)
    if setup.layout is None:
        raise ValueError(f"object.phantom: {scenario['object']['phantom']!r} has no line-pair groups; "
                         "the tomosynthesis study needs \"chart\" or \"chart_stack\"")
    planes = [layer.height_um for layer in setup.obj.layers]
    heights, k0 = slice_heights(scenario, planes, quick=quick)
    stack = scenario.with_values({"geometry.slice_heights": [f"{h:.6g} um" for h in heights]})
    geometry = build_geometry(stack, setup.system, planes)
    pixel = setup.system.pixel_um
    key = jax.random.PRNGKey(scenario.seed)
    views = []
    for k, source in enumerate(geometry.source_positions_um):
        raw_frame, flat, dark = simulate_view(setup, source, jax.random.fold_in(key, k),
                                              noise=scenario["acquisition"]["noise"])
        t = (raw_frame.astype(np.float32) - dark) / (flat - dark)
        views.append(-np.log(np.clip(t, MIN_TRANSMISSION, None)))
    projections = np.stack(views).astype(np.float32)

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
    measured = measure_chart(chart - float(chart.min()) + 1e-6, ChartLayout.from_json(layout), pixel_size_um=pixel)
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
        entry["signal_to_clutter_projection"] = abs(float(group_modulation(projections[central][None], g, pixel)[0])) / rms_proj
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
