"""Composition: a validated scenario becomes an imaging system, an object and a geometry.

This is the only place that knows both the scenario schema and the physics/recon
constructors; everything downstream works on those objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import jax
import numpy as np

from physics import phantoms
from physics.camera import SCMOS
from physics.chain import ImagingSystem
from physics.detector import FLAT_PANEL_READOUT, FlatPanel, GreyLevelResponse, LensCoupled
from physics.focal_spot import FocalSpot
from physics.imageio import member_path
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
        # Confined to the scenario's folder: a scenario cannot make twin read any other file.
        folder = scenario.path.parent if scenario.path is not None else Path.cwd()
        path = member_path(folder, src["spectrum_file"], key="source.spectrum_file")
        measured = load_spectrum(path)
        for material, thickness in spec["filters"]:
            measured = measured.filtered(material, thickness)
        return measured
    return tube_spectrum(kvp=src["kvp"], anode_angle_deg=src["anode_angle"], target=src["target"],
                         current_ma=current, exposure_s=exposure, filters=tuple(filters),
                         bin_kev=spec["bin_width"])


def build_system(scenario: Scenario) -> ImagingSystem:
    """The imaging system of a scenario (no object)."""
    src, sc, cam, acq = (scenario[k] for k in ("source", "scintillator", "camera", "acquisition"))
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
                         light_yield_per_kev=sc["light_yield"],
                         # scenario lengths are in um inside; the screen takes nm
                         emission_nm=None if sc["emission_wavelength"] is None else 1000.0 * sc["emission_wavelength"],
                         refractive_index=sc["refractive_index"],
                         substrate=Substrate() if sc["substrate"] else None)
    microscope = build_microscope(scenario)
    camera = SCMOS(rows=cam["rows"], cols=cam["cols"], pixel_um=cam["pixel"],
                   quantum_efficiency=cam["qe"], full_well_e=cam["full_well"],
                   read_noise_e=cam["read_noise"], dark_current_e_per_s=cam["dark_current"],
                   gain_e_per_adu=cam["gain"], offset_adu=cam["offset"], bit_depth=cam["bits"])
    roi = (cam["roi_rows"] or cam["rows"], cam["roi_cols"] or cam["cols"])
    det = scenario["detector"]
    if det["type"] == "flat_panel":
        detector = FlatPanel(converter=scint, camera=camera, blur_fwhm_um=det["blur"],
                             glare_fraction=det["glare_fraction"], glare_length_um=det["glare_length"],
                             shoulder_fraction=det["shoulder_fraction"], shoulder_length_um=det["shoulder_length"],
                             response=GreyLevelResponse(det["response_gamma"], det["response_offset"]))
    else:
        for key, neutral in (("glare_fraction", 0.0), ("shoulder_fraction", 0.0), ("response_gamma", 1.0),
                             ("response_offset", 0.0)):
            if det[key] != neutral:
                raise ScenarioError(f"detector.{key}: only for detector.type = \"flat_panel\" "
                                    "(the lens-coupled camera is linear, its blur is [scintillator]'s)")
        detector = LensCoupled(scintillator=scint, microscope=microscope, camera=camera,
                               n_depth_layers=depth_layers(scenario), focus_depth_um=sc["focus_depth"],
                               scatter_fwhm_um=sc["scatter_blur"])
    return ImagingSystem(spectrum=build_spectrum(scenario), focal_spot=spot, detector=detector,
                         exposure_s=acq["exposure"], roi_shape=roi, oversample=acq["oversample"],
                         air_path=scenario["spectrum"]["air_path"])


def build_microscope(scenario: Scenario) -> Microscope:
    """Objective + tube lens of ``[optics]`` (focal lengths in mm for physics.optics)."""
    op = scenario["optics"]
    return Microscope(Objective(op["magnification"], op["design_tube_lens"] / 1000.0, op["na"], op["transmission"]),
                      tube_lens_mm=op["tube_lens"] / 1000.0)


def build_flat_panel(scenario: Scenario) -> FlatPanel:
    """The flat panel of the scenario's geometric-magnification set-up (``[geometric]``):
    an indirect panel with the ``detector_scintillator`` screen, ``detector_pixel`` pitch and
    ``detector_psf_fwhm`` blur, read out by :data:`physics.detector.FLAT_PANEL_READOUT`."""
    g = scenario["geometric"]
    screen = Scintillator(g["detector_scintillator"], g["detector_scintillator_thickness"], substrate=None)
    return FlatPanel(converter=screen, camera=replace(FLAT_PANEL_READOUT, pixel_um=g["detector_pixel"]),
                     blur_fwhm_um=g["detector_psf_fwhm"])


def build_geometric_system(scenario: Scenario) -> ImagingSystem:
    """The scenario's geometric-magnification set-up: the same tube, spectrum, exposure and
    ROI (in pixels) as :func:`build_system`, with :func:`build_flat_panel` as the detector.
    Place the object with :func:`geometric_design` (source at ``SDD``, object ``SDD - SOD``
    above the panel)."""
    return replace(build_system(scenario), detector=build_flat_panel(scenario))


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


def reconstruction_options(scenario: Scenario) -> dict:
    """``[reconstruction]`` as keyword options of :func:`recon.reconstruct` (method included).

    Iterative methods (sart, sirt, grad) take the iteration count and the positivity
    constraint; cgls the iteration count only (a Krylov method has no positivity); the
    analytic ones (sas, fbp) take neither.
    """
    rec = scenario["reconstruction"]
    if rec["method"] in ("sart", "sirt", "grad"):
        return {"method": rec["method"], "iterations": rec["iterations"], "positivity": rec["positivity"]}
    if rec["method"] == "cgls":
        return {"method": "cgls", "iterations": rec["iterations"]}
    return {"method": rec["method"]}


def reconstruct(projections, geometry: "recon.Geometry", scenario: Scenario) -> "recon.Slices":
    """Reconstruct ``projections`` on ``geometry`` with the scenario's ``[reconstruction]`` options."""
    return recon.reconstruct(projections, geometry, **reconstruction_options(scenario))


#: Depth-layer counts of :func:`depth_layers` (16-64: cost).
DEPTH_LAYER_COUNTS = (16, 24, 32, 48, 64)


def depth_layers(scenario: Scenario) -> int:
    """``scintillator.depth_layers``, with 0 resolved to the fewest of (16, 24, 32, 48, 64)
    layers whose spacing stays below half the depth of field ``n lambda / NA^2`` (64 when
    even that is coarser); the counts are a short ladder so points share compiled PSF kernels."""
    sc = scenario["scintillator"]
    if sc["depth_layers"]:
        return sc["depth_layers"]
    material = SCINTILLATORS[sc["material"]]
    n_index = sc["refractive_index"] or material.refractive_index
    wavelength_um = sc["emission_wavelength"] or material.emission_nm / 1000.0  # the scenario's is in um
    dof = n_index * wavelength_um / scenario["optics"]["na"] ** 2
    need = math.ceil(sc["thickness"] / (0.5 * dof))
    return next((n for n in DEPTH_LAYER_COUNTS if n >= need), DEPTH_LAYER_COUNTS[-1])



# --------------------------------------------------------------------------- set-up geometry
#: Objective parfocal distance (object to mounting shoulder), added to the optical
#: set-up's length. Assumed: Mitutoyo M Plan Apo objectives have a 95 mm parfocal length.
PARFOCAL_UM = 95_000.0


@dataclass(frozen=True)
class Design:
    """Geometry of one set-up, all lengths in um.

    Attributes
    ----------
    name : str
    magnification : float
        Object plane to detector plane (screen for the optical set-up).
    object_pixel_um : float
        Sampling pitch referred to the object plane.
    detector_pixel_um : float
        Pixel in the detector plane (the effective pixel in the screen plane for the
        optical set-up: camera pixel over the microscope magnification).
    source_object_um, source_detector_um : float
        Focal spot to object plane and to detector plane.
    length_um : float
        Source to image sensor.
    """

    name: str
    magnification: float
    object_pixel_um: float
    detector_pixel_um: float
    source_object_um: float
    source_detector_um: float
    length_um: float

    @property
    def penumbra_scale(self) -> float:
        """Focal spot to penumbra on the detector: ``(SDD - SOD) / SOD = M - 1``."""
        return (self.source_detector_um - self.source_object_um) / self.source_object_um


def optical_design(scenario: Scenario) -> Design:
    """The optical-lens set-up: object at ``h`` above the screen, source at ``R``."""
    pixel = build_microscope(scenario).effective_pixel_um(scenario["camera"]["pixel"])
    r = scenario["geometry"]["source_distance"]
    h = scenario["object"]["height"]
    m = r / (r - h)
    tube_lens = scenario["optics"]["tube_lens"]
    return Design("optical", m, pixel / m, pixel, r - h, r,
                  r + PARFOCAL_UM + tube_lens)


def geometric_design(scenario: Scenario, optical: Design) -> Design:
    """Geometric set-up reaching ``geometric.target_pixel`` (0: the optical object pixel)."""
    g = scenario["geometric"]
    target = g["target_pixel"] or optical.object_pixel_um
    m = g["detector_pixel"] / target
    if m <= 1.0:
        raise ScenarioError(f"geometric.target_pixel: {target:g} um is not smaller than "
                         f"geometric.detector_pixel = {g['detector_pixel']:g} um; no magnification needed")
    sod = g["source_object_distance"]
    return Design("geometric", m, target, g["detector_pixel"], sod, m * sod, m * sod)


def tube_power_w(scenario: Scenario, spot_um: float) -> float:
    """Tube power allowed at a focal-spot size: ``min(kvp x current, k x spot)``."""
    rated = scenario["source"]["kvp"] * scenario["source"]["current"]  # kV x mA = W
    return min(rated, scenario["geometric"]["power_per_spot_size"] * spot_um)
