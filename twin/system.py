"""Composition: a validated scenario becomes an imaging system, an object and a geometry.

This is the only place that knows both the scenario schema and the physics/recon
constructors; everything downstream works on those objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from physics import phantoms
from physics.camera import SCMOS
from physics.chain import ImagingSystem
from physics.detector import LensCoupled
from physics.focal_spot import FocalSpot
from physics.optics import Microscope, Objective
from physics.projection import Layer, LayeredObject
from physics.scintillator import SCINTILLATORS, Scintillator, Substrate
from physics.spectrum import Spectrum, load_spectrum, tube_spectrum
from twin.scenario import Scenario, ScenarioError

import recon


@dataclass(frozen=True)
class Setup:
    """Everything needed to simulate a scenario's views.

    Attributes
    ----------
    system : ImagingSystem
    obj : LayeredObject
    layout : dict or None
        Chart layout (schema of :func:`physics.phantoms.line_pair_chart`) when the
        phantom has line-pair groups.
    geometry : recon.Geometry
        Views (source positions) and the reconstruction grid.
    focus_plane_um : float
        Height of the object's main plane (chart/edge plane).
    """

    system: ImagingSystem
    obj: LayeredObject
    layout: dict | None
    geometry: "recon.Geometry"
    focus_plane_um: float


def build_spectrum(scenario: Scenario) -> Spectrum:
    """Tube spectrum (after the tube window and extra filters) for one view's exposure."""
    src, spec = scenario["source"], scenario["spectrum"]
    current, exposure = src["current"], scenario["acquisition"]["exposure"]
    filters = [(spec["window_material"], spec["window_thickness"])] + list(spec["filters"])
    if src["spectrum_file"]:
        path = Path(src["spectrum_file"])
        if not path.is_absolute() and scenario.path is not None:
            path = scenario.path.parent / path
        measured = load_spectrum(path)
        for material, thickness in spec["filters"]:
            measured = measured.filtered(material, thickness)
        return measured
    return tube_spectrum(kvp=src["kvp"], anode_angle_deg=src["anode_angle"], target=src["target"],
                         current_ma=current, exposure_s=exposure, filters=tuple(filters),
                         bin_kev=spec["bin_width"])


def build_system(scenario: Scenario) -> ImagingSystem:
    """The imaging system of a scenario (no object)."""
    src, sc, op, cam, acq = (scenario[k] for k in ("source", "scintillator", "optics", "camera",
                                                    "acquisition"))
    if src["focal_spot_shape"] == "ellipse":
        # Apparent width = size; the electron line on the anode is foreshortened by tan(angle).
        spot = FocalSpot("ellipse", src["focal_spot_size"],
                         line_length_um=src["focal_spot_size"] / math.tan(math.radians(src["anode_angle"])),
                         anode_angle_deg=src["anode_angle"])
    else:
        spot = FocalSpot(src["focal_spot_shape"], src["focal_spot_size"])
    if sc["material"] not in SCINTILLATORS:
        raise ScenarioError(f"scintillator.material: {sc['material']!r} is not one of "
                            f"{', '.join(sorted(SCINTILLATORS))}")
    scint = Scintillator(sc["material"], sc["thickness"],
                         light_yield_per_kev=sc["light_yield"], emission_nm=sc["emission_wavelength"],
                         refractive_index=sc["refractive_index"],
                         substrate=Substrate() if sc["substrate"] else None)
    microscope = Microscope(Objective(op["magnification"], op["design_tube_lens"] / 1000.0,
                                      op["na"], op["transmission"]),
                            tube_lens_mm=op["tube_lens"] / 1000.0)
    camera = SCMOS(rows=cam["rows"], cols=cam["cols"], pixel_um=cam["pixel"],
                   quantum_efficiency=cam["qe"], full_well_e=cam["full_well"],
                   read_noise_e=cam["read_noise"], dark_current_e_per_s=cam["dark_current"],
                   gain_e_per_adu=cam["gain"], offset_adu=cam["offset"], bit_depth=cam["bits"])
    roi = (cam["roi_rows"] or cam["rows"], cam["roi_cols"] or cam["cols"])
    detector = LensCoupled(scintillator=scint, microscope=microscope, camera=camera,
                           focus_depth_um=sc["focus_depth"], scatter_fwhm_um=sc["scatter_blur"])
    return ImagingSystem(spectrum=build_spectrum(scenario), focal_spot=spot, detector=detector,
                         exposure_s=acq["exposure"], roi_shape=roi, oversample=acq["oversample"],
                         air_path=scenario["spectrum"]["air_path"])


def build_setup(scenario: Scenario) -> Setup:
    """System, object, chart layout and geometry of a scenario."""
    system = build_system(scenario)
    ob, geo = scenario["object"], scenario["geometry"]
    key = jax.random.PRNGKey(scenario.seed)
    cell = system.cell_um
    # The object must cover the field seen from every view: pad by the largest
    # lateral shift of its highest plane (h tan(arc/2)) on each side.
    heights = _object_heights(scenario)
    shift = max(heights) * math.tan(math.radians(geo["arc"] / 2.0)) if geo["mode"] == "tomosynthesis" else 0.0
    fov = ob["field_of_view"] or 0.0
    rows, cols = system.field_shape
    pad = int(math.ceil(shift / cell)) + 8
    shape = (max(rows, int(fov / cell)) + 2 * pad, max(cols, int(fov / cell)) + 2 * pad)
    obj, layout, plane = _build_object(scenario, key, shape=shape, cell=cell, pixel=system.pixel_um)
    geometry = build_geometry(scenario, system, heights)
    return Setup(system=system, obj=obj, layout=layout, geometry=geometry, focus_plane_um=plane)


def _object_heights(scenario: Scenario) -> list[float]:
    ob = scenario["object"]
    if ob["phantom"] == "chart_stack":
        return [ob["height"]] + list(_clutter_heights(ob["height"]))
    return [ob["height"]]


def _clutter_heights(chart_height: float) -> tuple[float, float]:
    """Clutter planes below and above the chart (assumed: 0.4x and 2.4x its height)."""
    return (0.4 * chart_height, 2.4 * chart_height)


def _build_object(scenario: Scenario, key, *, shape, cell, pixel):
    ob = scenario["object"]
    kind, material, thickness, height = ob["phantom"], ob["material"], ob["thickness"], ob["height"]
    widths = tuple(ob["line_widths"])
    layout = None
    if kind == "chart_stack":
        obj, layout = phantoms.chart_stack_3d(
            key, pixel_size_um=cell, shape=shape, chart_height_um=height, line_widths_um=widths,
            n_lines=ob["n_lines"], chart_thickness_um=thickness, material=material,
            clutter_heights_um=_clutter_heights(height))
    else:
        if kind == "chart":
            tmap, layout = phantoms.line_pair_chart(
                line_widths_um=widths, n_lines=ob["n_lines"], pixel_size_um=cell, shape=shape,
                thickness_um=thickness, material=material, height_um=height)
        elif kind == "edge":
            tmap, _ = phantoms.slanted_edge(angle_deg=ob["edge_angle"], pixel_size_um=cell, shape=shape,
                                            thickness_um=thickness, material=material)
        elif kind == "siemens_star":
            tmap, _ = phantoms.siemens_star(pixel_size_um=cell, shape=shape, thickness_um=thickness,
                                            material=material)
        else:
            tmap = phantoms.random_microstructure(key, shape=shape, pixel_size_um=cell)
            tmap = tmap * thickness / max(float(np.max(np.asarray(tmap))), 1e-12)
        obj = LayeredObject((material,), (Layer(height, tmap[None], cell),))
    if layout is not None:
        layout = _layout_on_pixels(layout, shape, cell, pixel, scenario.values["camera"],
                                   roi=scenario_roi(scenario))
    return obj, layout, height


def scenario_roi(scenario: Scenario) -> tuple[int, int]:
    cam = scenario["camera"]
    return (cam["roi_rows"] or cam["rows"], cam["roi_cols"] or cam["cols"])


def _layout_on_pixels(layout: dict, shape, cell, pixel, camera, *, roi) -> dict:
    """Re-express a layout drawn on the padded object grid on the camera-pixel image grid.

    ``bbox_um`` (world, origin at the centre) is grid-independent; ``bbox_px`` is
    recomputed for the ROI image of ``pixel``-sized pixels.
    """
    rows, cols = roi
    groups = []
    for g in layout["groups"]:
        x0, y0, x1, y1 = g["bbox_um"]
        bbox_px = [int(math.floor(x0 / pixel + cols / 2)), int(math.floor(y0 / pixel + rows / 2)),
                   int(math.ceil(x1 / pixel + cols / 2)), int(math.ceil(y1 / pixel + rows / 2))]
        if bbox_px[0] < 0 or bbox_px[1] < 0 or bbox_px[2] > cols or bbox_px[3] > rows:
            raise ScenarioError(
                f"object: the chart group {g['name']!r} ({g['bbox_um']} um) does not fit in the "
                f"camera ROI of {rows}x{cols} pixels of {pixel:g} um; enlarge camera.roi_rows/roi_cols")
        groups.append({**g, "bbox_px": bbox_px})
    return {**layout, "pixel_size_um": pixel, "image_shape": [rows, cols], "groups": groups}


def build_geometry(scenario: Scenario, system: ImagingSystem, heights) -> "recon.Geometry":
    """Tomosynthesis geometry (views on the arc) with a reconstruction slab over the object."""
    geo = scenario["geometry"]
    rows, cols = system.roi_shape
    pixel = system.pixel_um
    requested = list(geo["slice_heights"])
    if requested:
        hs = np.asarray(sorted(requested), dtype=float)
        if hs.size > 1 and not np.allclose(np.diff(hs), hs[1] - hs[0], rtol=1e-6):
            raise ScenarioError(f"geometry.slice_heights: {requested} must be evenly spaced")
        dz = float(hs[1] - hs[0]) if hs.size > 1 else max(pixel, 1.0)
    else:
        hs, dz = _default_slices(heights)
    n_views = geo["n_views"] if geo["mode"] == "tomosynthesis" else 1
    arc = geo["arc"] if geo["mode"] == "tomosynthesis" else 0.0
    return recon.tomosynthesis(n_views=n_views, arc_deg=arc, source_distance_um=geo["source_distance"],
                               det_shape=(rows, cols), det_pixel_um=pixel,
                               vol_shape=(len(hs), rows, cols), voxel_um=(dz, pixel, pixel),
                               heights_um=[float(h) for h in hs])


def _default_slices(heights) -> tuple[np.ndarray, float]:
    """Evenly spaced slices through every object plane: spacing = the largest step that
    puts a slice centre exactly on each plane (their greatest common divisor in 0.1 um)."""
    hs = sorted(set(round(h, 1) for h in heights))
    if len(hs) == 1:
        return np.array(hs), 1.0
    steps = [int(round((b - a) * 10)) for a, b in zip(hs, hs[1:])]
    dz = math.gcd(*steps) / 10.0
    n = int(round((hs[-1] - hs[0]) / dz)) + 1
    if n > 64:  # keep the slab small: coarser spacing, planes no longer exactly on centres
        dz = (hs[-1] - hs[0]) / 63
        n = 64
    return hs[0] + dz * np.arange(n), dz
