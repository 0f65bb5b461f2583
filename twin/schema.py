"""The scenario schema: every key a scenario file may hold, its unit, range and default.

One table per part of the system. Each default carries its source: the paper
(Jeong et al., "Sub-micron resolution optical-lens coupled X-ray image system
via deep learning"), a datasheet, or "assumed because ...". Values in scenario
files are strings with units (``"40 um"``); inside they become floats in the
internal units (um, keV, kV, mA, s, deg; see :mod:`physics.units`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from physics.scintillator import SCINTILLATORS
from twin.studies import study_names

PAPER = "paper (Jeong et al., KAIST)"


@dataclass(frozen=True)
class Field:
    """One scenario key.

    kind is one of: "quantity" (unit string required), "number", "int", "str",
    "name" (a scenario name: no path separators), "file" (a file name relative to the
    scenario's folder, inside it), "material" (a known material), "choice", "bool", "quantity_list" (list of unit strings), "filters"
    (list of {material, thickness} tables).
    """

    kind: str
    default: Any
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    inclusive_min: bool = True
    choices: tuple[str, ...] = ()
    doc: str = ""
    source: str = ""


def Q(default, unit, doc, source, *, min=None, max=None, inclusive_min=True):  # noqa: N802, A002
    return Field("quantity", default, unit=unit, min=min, max=max, inclusive_min=inclusive_min,
                 doc=doc, source=source)


SCHEMA: dict[str, dict[str, Field]] = {
    "scenario": {
        "name": Field("name", "unnamed", doc="short name, used in reports and for the default "
                                             "output folder runs/<name> (no path separators)"),
        "question": Field("str", "", doc="the design question the scenario answers"),
        "seed": Field("int", 0, min=0, max=2**32 - 1, doc="seed of every random draw (noise, phantoms, training)"),
        "default": Field("bool", False, doc="marks the shipped default scenario"),
        "study": Field("choice", "published", choices=study_names(),
                       doc="what `twin run` computes and reports (twin/studies/<study>.py; a module "
                           "there that defines STUDY is a study)"),
    },
    "source": {
        "target": Field("choice", "W", choices=("W", "Mo", "Rh", "Cu", "Ag", "Au", "Cr"),
                        doc="anode material", source=PAPER),
        "kvp": Q("50 kV", "kV", "tube voltage", PAPER, min=30.0, max=300.0),
        "current": Q("1 mA", "mA", "tube current", PAPER, min=0.0, max=1000.0, inclusive_min=False),
        "anode_angle": Q("12 deg", "deg", "anode angle",
                         "assumed: SpekPy's default; the tube datasheet value is not in the paper",
                         min=0.0, max=90.0, inclusive_min=False),
        "focal_spot_shape": Field("choice", "gaussian",
                                  choices=("gaussian", "disc", "ellipse"),
                                  doc="focal-spot intensity distribution",
                                  source="assumed: a Gaussian is the usual micro-focus model"),
        "focal_spot_size": Q("40 um", "um", "focal-spot size (FWHM for gaussian, diameter for disc)",
                             "paper gives 30-55 um; 40 um assumed as a mid value",
                             min=0.0, max=5000.0, inclusive_min=False),
        "spectrum_file": Field("file", "", doc="optional measured spectrum (two columns: keV, photons "
                                               "per bin per sr for the exposure); replaces SpekPy; "
                                               "a file name inside the scenario's folder"),
    },
    "spectrum": {
        "bin_width": Q("1 keV", "keV", "energy bin width",
                       "assumed: 1 keV resolves the W L lines well enough for transmission sums",
                       min=0.05, max=5.0),
        "window_material": Field("material", "Be", doc="tube exit window", source="usual for micro-focus tubes"),
        "window_thickness": Q("200 um", "um", "tube window thickness",
                              "assumed: typical Be window of micro-focus tubes (150-300 um)", min=0.0),
        "air_path": Field("bool", True, doc="filter by the air between source and scintillator"),
        "filters": Field("filters", [], doc="extra filters: [{material='Al', thickness='0.1 mm'}]"),
    },
    "object": {
        "phantom": Field("choice", "chart_stack",
                         choices=("chart", "chart_stack", "edge", "siemens_star", "microstructure"),
                         doc="what is imaged"),
        "line_widths": Field("quantity_list", ["1 um", "2 um", "3 um"], unit="um",
                             min=0.4, max=15.0, doc="line widths of the chart groups (0.4-15 um)",
                             source="paper: 1, 2 and 3 um groups of the JIMA RT RC-04 chart"),
        "n_lines": Field("int", 5, min=2, max=50, doc="lines per group"),
        "material": Field("material", "W", doc="absorber material of the chart/edge/star",
                          source="assumed (physics.phantoms): no RC-04 datasheet found; W and Au "
                                 "attenuate alike at 10-50 keV"),
        "thickness": Q("1 um", "um", "absorber thickness (edge: use >= 100 um of W to be opaque)",
                       "assumed (physics.phantoms): 1-2.5 um heavy-metal patterns are usual",
                       min=0.0, inclusive_min=False),
        "height": Q("50 um", "um", "height of the chart plane above the scintillator",
                    "assumed: chart on a thin membrane close to the screen, so the "
                    "+-arc/2 views shift it by less than the ROI", min=0.0),
        "edge_angle": Q("5 deg", "deg", "slanted-edge angle from the detector columns",
                        "ISO 12233 recommends about 5 degrees", min=1.0, max=45.0),
        "field_of_view": Q("0 um", "um", "side of the phantom field (0 = the simulated detector ROI)",
                           "derived from the camera ROI by default", min=0.0),
    },
    "geometry": {
        "mode": Field("choice", "tomosynthesis", choices=("tomosynthesis", "projection"),
                      doc="tube on an arc around the scintillator centre, or one view", source=PAPER),
        "source_distance": Q("50 mm", "um", "focal spot to scintillator-centre distance (arc radius)",
                             "assumed: compact bench set-up; the paper does not give it",
                             min=0.0, inclusive_min=False),
        "n_views": Field("int", 21, min=1, max=721, doc="number of views on the arc",
                         source="assumed: the paper does not give it"),
        "arc": Q("40 deg", "deg", "total arc angle of the tube", "assumed: typical tomosynthesis arc",
                 min=0.0, max=170.0),
        "slice_heights": Field("quantity_list", [], unit="um", min=0.0,
                               doc="heights to reconstruct (empty = the phantom's planes)"),
        "slice_step": Q("0.5 um", "um", "spacing of the slice stack a study reconstructs around the "
                        "chart plane when slice_heights is empty (tomosynthesis study)",
                        "assumed: a fifth of the smallest predicted depth FWHM of the shipped "
                        "tomosynthesis sweep (1 um lines at 60 deg: 2.1 um)",
                        min=0.0, inclusive_min=False),
    },
    "scintillator": {
        "material": Field("choice", "ZnWO4", choices=tuple(sorted(SCINTILLATORS)),
                          doc="screen material (optical properties from physics.scintillator.SCINTILLATORS)",
                          source="paper ref. [1]: nano-polycrystalline ZnWO4 thin film"),
        "thickness": Q("10 um", "um", "screen thickness",
                       "assumed: the paper and its ref. [1] abstract give no thickness; "
                       "thermally evaporated films are a few um to ~10 um",
                       min=0.0, max=2000.0, inclusive_min=False),
        "light_yield": Q(None, "1/keV", "optical photons per keV absorbed (default: the material's)",
                         "physics.scintillator.SCINTILLATORS", min=0.0, inclusive_min=False),
        "emission_wavelength": Q(None, "nm", "emission peak (default: the material's)",
                                 "physics.scintillator.SCINTILLATORS", min=200.0, max=1100.0),
        "refractive_index": Field("number", None, min=1.0, max=4.0,
                                  doc="refractive index at the emission (default: the material's)",
                                  source="physics.scintillator.SCINTILLATORS"),
        "focus_depth": Q(None, "um", "objective focus depth below the X-ray entrance face "
                                     "(default: the light-weighted mean depth, the RMS-sharpest plane)",
                         "physics.psf.best_focus_depth_um", min=0.0),
        "scatter_blur": Q("0 um", "um", "extra Gaussian blur (FWHM) from light scattering in a "
                                        "polycrystalline or powder screen (0 = transparent crystal)",
                          "0 for transparent single-crystal films; set per screen", min=0.0),
        "depth_layers": Field("int", 16, min=0, max=256,
                              doc="depth layers of the depth-integrated screen PSF (0 = enough for a "
                                  "spacing below half the depth of field n lambda / NA^2, 16-64)",
                              source="16: physics.chain.ImagingSystem's default (cost); 0 for "
                                     "resolution studies of thick screens at high NA"),
        "substrate": Field("bool", True, doc="film on a fused-silica substrate (Fresnel losses)",
                           source="assumed: physics.scintillator.Substrate, 500 um fused silica"),
    },
    "optics": {
        "magnification": Field("number", 20.0, min=0.0, inclusive_min=False,
                               doc="nominal objective magnification", source=PAPER),
        "design_tube_lens": Q("200 mm", "mm", "tube-lens focal length the objective is designed for",
                              PAPER, min=0.0, inclusive_min=False),
        "tube_lens": Q("160 mm", "mm", "tube-lens focal length used", PAPER,
                       min=0.0, inclusive_min=False),
        "na": Field("number", 0.42, min=0.0, max=1.0, inclusive_min=False,
                    doc="numerical aperture (a dry objective: NA <= 1, as physics.optics requires)",
                    source="assumed: Mitutoyo M Plan Apo 20x (NA 0.42), a common infinity-corrected 20x"),
        "transmission": Field("number", 0.9, min=0.0, max=1.0, inclusive_min=False,
                              doc="objective + tube-lens transmission at the emission wavelength",
                              source="assumed: typical visible transmission of a plan apochromat"),
    },
    "detector": {
        "type": Field("choice", "lens_coupled", choices=("lens_coupled", "flat_panel"),
                      doc="lens_coupled: the [scintillator] film imaged by the [optics] microscope onto "
                          "the [camera] (the paper's system); flat_panel: the [scintillator] screen in "
                          "contact with a panel of [camera] pixels (no optics), e.g. a CsI/CMOS "
                          "dental or medical sensor", source=PAPER + " (lens_coupled)"),
        "blur": Q("100 um", "um", "flat panel: Gaussian blur (FWHM) of the screen light spread and pixel "
                                  "cross-talk", "assumed: ~1.3 pixel of a 75 um panel, typical of "
                                                "columnar CsI (physics.detector.FlatPanel)", min=0.0),
        "glare_fraction": Field("number", 0.0, min=0.0, max=0.99,
                                doc="flat panel: share of the signal in a long-range glare kernel "
                                    "exp(-r / glare_length) (the screen's low-frequency MTF drop)",
                                source="assumed 0: a property of each screen, measured by twin calibrate"),
        "glare_length": Q("100 um", "um", "flat panel: decay length of the glare kernel",
                          "assumed: about a CsI screen's thickness (light escaping the columns)",
                          min=0.0, inclusive_min=False),
        "shoulder_fraction": Field("number", 0.0, min=0.0, max=0.99,
                                   doc="flat panel: share of the core in a short exponential kernel "
                                       "exp(-r / shoulder_length) (light spreading over a few pixels: a "
                                       "peak sharper than a Gaussian on a broad shoulder)",
                                   source="assumed 0: a property of each screen, measured by twin calibrate"),
        "shoulder_length": Q("30 um", "um", "flat panel: decay length of the shoulder kernel",
                             "assumed: about a pixel of a dental sensor", min=0.0, inclusive_min=False),
        "response_gamma": Field("number", 1.0, min=-3.0, max=3.0,
                                doc="grey-level response ((T + offset)^gamma - 1) / gamma of the delivered "
                                    "image to the flat-corrected exposure T: 1 linear, 0 logarithmic",
                                source="1: a linear camera (EMVA 1288); vendor images are often log (0)"),
        "response_offset": Field("number", 0.0, min=0.0, max=10.0,
                                 doc="exposure-independent signal under the response, as a fraction of "
                                     "the open field (scatter, veiling glare, dark-level error)",
                                 source="assumed 0: a linear camera needs none"),
    },
    "camera": {
        "pixel": Q("6.5 um", "um", "camera pixel pitch", PAPER + "; pco.edge 4.2 datasheet",
                   min=0.0, inclusive_min=False),
        "rows": Field("int", 2048, min=1, doc="sensor rows", source="pco.edge 4.2 datasheet"),
        "cols": Field("int", 2048, min=1, doc="sensor columns", source="pco.edge 4.2 datasheet"),
        "roi_rows": Field("int", 0, min=0, doc="rows of the simulated region of interest (0 = all)"),
        "roi_cols": Field("int", 0, min=0, doc="columns of the simulated region of interest (0 = all)"),
        "qe": Field("number", 0.72, min=0.0, max=1.0, inclusive_min=False,
                    doc="quantum efficiency at the emission wavelength",
                    source="pco.edge 4.2 datasheet QE curve, ~72 % at 490 nm"),
        "full_well": Field("number", 30000.0, min=1.0, doc="full-well capacity, e-",
                           source="pco.edge 4.2 datasheet"),
        "gain": Field("number", 0.46, min=0.0, inclusive_min=False, doc="conversion gain, e-/ADU",
                      source="pco.edge 4.2 datasheet"),
        "read_noise": Field("number", 1.4, min=0.0, doc="read noise, e- rms",
                            source="pco.edge 4.2 datasheet (rolling shutter, median ~0.9-1.4 e-)"),
        "dark_current": Field("number", 0.5, min=0.0, doc="dark current, e-/pixel/s",
                              source="pco.edge 4.2 datasheet (+5 C sensor)"),
        "offset": Field("number", 100.0, min=0.0, doc="digital offset, ADU",
                        source="pco.edge 4.2 (typical 100 ADU)"),
        "bits": Field("int", 16, min=8, max=16, doc="ADC bit depth", source="paper: 16-bit"),
    },
    "acquisition": {
        "exposure": Q("10 s", "s", "exposure time per view (at most a day: beyond it the photon "
                                   "counts overflow float32 and no tube or sample stays stable)",
                      "assumed: long exposures are needed at this photon budget",
                      min=0.0, max=86400.0, inclusive_min=False),
        "oversample": Field("int", 2, min=1, max=8,
                            doc="field samples per pixel side before pixel integration"),
        "noise": Field("bool", True, doc="add quantum, optical and camera noise"),
        "seeds": Field("int", 3, min=1, max=1000,
                       doc="noise draws a study repeats to report its answer as a statistic",
                       source="assumed: 3 is the fewest draws with a majority call and a spread "
                              "(issue 8: one draw of the 1 um dip ranged 0.12-0.45)"),
        "flat_field": Field("bool", True, doc="divide by a noiseless open-field image"),
    },
    "geometric": {
        "detector_pixel": Q("75 um", "um", "flat-panel pixel pitch of the geometric-magnification set-up",
                            "assumed: typical micro-CT flat panels have 50-150 um pixels",
                            min=0.0, inclusive_min=False),
        "detector_scintillator": Field("choice", "CsI:Tl", choices=tuple(sorted(SCINTILLATORS)),
                                       doc="flat-panel scintillator",
                                       source="assumed: columnar CsI:Tl is the usual flat-panel screen"),
        "detector_scintillator_thickness": Q("150 um", "um", "flat-panel scintillator thickness",
                                             "assumed: typical micro-CT CsI:Tl screen",
                                             min=0.0, inclusive_min=False),
        "detector_psf_fwhm": Q("100 um", "um", "flat-panel intrinsic blur (screen + pixel cross-talk), FWHM",
                               "assumed: ~1.3 pixel FWHM, typical of columnar CsI on a-Si panels",
                               min=0.0),
        "source_object_distance": Q("5 mm", "um", "smallest focal-spot-to-object distance (object size, "
                                    "tube housing)", "assumed: a few mm for a small sample",
                                    min=0.0, inclusive_min=False),
        "target_pixel": Q("0 um", "um", "object-plane pixel to match (0 = the optical set-up's effective pixel)",
                          "design question: same target resolution for both set-ups", min=0.0),
        "simulate_charts": Field("choice", "all", choices=("all", "extremes", "none"),
                                 doc="simulate the noisy chart image of both set-ups at every swept "
                                     "point, at the smallest and largest swept value only, or never"),
        "snr_target": Field("number", 10.0, min=0.0, inclusive_min=False,
                            doc="SNR target of the exposure-time comparisons: open field per object-plane pixel "
                                "(geometric_vs_optical), the feature's contrast (kvp_and_filtration)",
                            source="assumed: Rose criterion ~5, x2 margin"),
        "power_per_spot_size": Q("1 W/um", "W/um", "largest tube power per um of focal-spot size "
                                 "(power = min(kvp x current, this x spot size), for both set-ups)",
                                 "assumed order of magnitude: a stationary anode's heat-conduction "
                                 "limit makes the allowed power grow about linearly with the spot "
                                 "diameter; micro-focus tubes run a few W at 1-5 um, the paper's "
                                 "tube 50 W at 30-55 um", min=0.0, inclusive_min=False),
    },
    "reconstruction": {
        "method": Field("choice", "sart", choices=("sas", "fbp", "sart", "sirt", "cgls", "grad"),
                        doc="reconstruction algorithm"),
        "iterations": Field("int", 10, min=1, max=10000, doc="iterations of iterative methods"),
        "positivity": Field("bool", True, doc="clip negative attenuation in sart/sirt/grad (clipping also "
                                              "removes the background noise a noise fit needs)"),
    },
    "learn": {
        "scale": Field("int", 2, min=2, max=4, doc="super-resolution factor"),
        "checkpoint": Field("str", "", doc="checkpoint folder of a degradation-aware network "
                                           "(empty = the shipped default)"),
    },
}


@dataclass(frozen=True)
class SweepAxis:
    """One swept parameter: ``table.key`` and its values (as written in the file)."""

    path: str
    values: tuple = field(default_factory=tuple)
