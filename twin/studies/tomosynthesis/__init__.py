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

import numpy as np

from physics.errors import ScenarioError
from twin.studies import AtMost, Study
from twin.studies.tomosynthesis.report import report
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
        raise ScenarioError(f"geometry.slice_heights: {given} must include the chart height object.height = {h0:g} um")
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
        raise ScenarioError("geometry.mode: the tomosynthesis study needs mode = \"tomosynthesis\"")
    setup = build_setup(scenario)
    if setup.layout is None:
        raise ScenarioError(f"object.phantom: {scenario['object']['phantom']!r} has no line-pair groups; "
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


STUDY = Study("tomosynthesis", compute=compute, report=report,
              quick={"geometry.n_views": AtMost(5), "acquisition.oversample": 1, "geometry.slice_step": "1 um"},
              doc="views and arc against slice sharpness, depth resolution, ghosts and clutter")
