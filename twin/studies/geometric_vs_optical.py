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
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from physics import materials, phantoms
from physics.camera import bin_to_pixels, poisson_counts
from physics.chain import view_response
from physics.focal_spot import FWHM_PER_SIGMA, FocalSpot, kernel_at_detector
from physics.imageio import write_tiff
from physics.measure import ChartLayout, measure_chart
from physics.optics import airy_psf
from physics.projection import transmitted_signal
from physics.psf import apply_psf
from physics.scintillator import Scintillator
from physics.spectrum import Spectrum
from twin.scenario import Scenario, parse_scenario
from twin.system import build_setup, build_spectrum, build_system

__all__ = ["Design", "geometric_design", "optical_design", "tube_power_w", "lsf_mtf",
           "equivalent_sigma_um", "crossing", "penumbra_mtf", "detector_flux",
           "exposure_for_snr_s", "simulate_geometric_chart", "simulate_optical_chart",
           "compute_point", "make_report"]

SWEPT = "source.focal_spot_size"
SETUPS = ("optical", "geometric")
COMPONENTS = ("focal_spot", "scintillator", "optics", "pixel")
#: Objective parfocal distance (object to mounting shoulder), added to the optical
#: set-up's length. Assumed: Mitutoyo M Plan Apo objectives have a 95 mm parfocal length.
PARFOCAL_UM = 95_000.0
#: Frequency samples of every MTF (linear and log grids each), up to the pixel aperture's first zero.
N_FREQ = 401
#: Level of the resolved criterion on the MTF (10 %, as for Koch's R and MTF10).
RESOLVED_MTF = 0.1
#: Largest half-width (cells) of a numerical focal-spot kernel; beyond it the grid coarsens.
MAX_KERNEL_HALF = 700


# ---------------------------------------------------------------------- the two set-ups
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
    system = build_system(scenario)
    r = scenario["geometry"]["source_distance"]
    h = scenario["object"]["height"]
    m = r / (r - h)
    tube_lens = scenario["optics"]["tube_lens"]
    return Design("optical", m, system.pixel_um / m, system.pixel_um, r - h, r,
                  r + PARFOCAL_UM + tube_lens)


def geometric_design(scenario: Scenario, optical: Design) -> Design:
    """Geometric set-up reaching ``geometric.target_pixel`` (0: the optical object pixel)."""
    g = scenario["geometric"]
    target = g["target_pixel"] or optical.object_pixel_um
    m = g["detector_pixel"] / target
    if m <= 1.0:
        raise ValueError(f"geometric.target_pixel: {target:g} um is not smaller than "
                         f"geometric.detector_pixel = {g['detector_pixel']:g} um; no magnification needed")
    sod = g["source_object_distance"]
    return Design("geometric", m, target, g["detector_pixel"], sod, m * sod, m * sod)


def tube_power_w(scenario: Scenario, spot_um: float) -> float:
    """Tube power allowed at a focal-spot size: ``min(kvp x current, k x spot)``."""
    rated = scenario["source"]["kvp"] * scenario["source"]["current"]  # kV x mA = W
    return min(rated, scenario["geometric"]["power_per_spot_size"] * spot_um)


# ---------------------------------------------------------------------- MTF tools
def lsf_mtf(lsf, pitch_um: float, freqs_per_um) -> np.ndarray:
    """MTF of a pixel-integrated line spread function at arbitrary frequencies.

    Direct Fourier sum of the samples (centre of the array as origin) divided by the
    sampling aperture ``sinc(f pitch)``; valid below the grid's Nyquist frequency.
    """
    lsf = np.asarray(lsf, dtype=float)
    f = np.asarray(freqs_per_um, dtype=float)
    if lsf.ndim != 1 or lsf.sum() <= 0:
        raise ValueError("lsf: expected a 1D non-negative array with a positive sum")
    if f.max() > 0.5 / pitch_um * (1 + 1e-9):
        raise ValueError(f"freqs_per_um: up to {f.max():.4g} /um exceeds the Nyquist frequency "
                         f"{0.5 / pitch_um:.4g} /um of a {pitch_um:.4g} um grid")
    x = (np.arange(lsf.size) - lsf.size // 2) * pitch_um
    spectrum = np.abs(np.exp(-2j * np.pi * np.outer(f, x)) @ lsf) / lsf.sum()
    return spectrum / np.sinc(f * pitch_um)


def equivalent_sigma_um(freqs_per_um, mtf) -> float:
    """Sigma of the Gaussian whose MTF best fits ``-ln MTF`` where MTF >= 0.5 (um)."""
    f = np.asarray(freqs_per_um, dtype=float)
    m = np.asarray(mtf, dtype=float)
    band = (m >= 0.5) & (f > 0)
    if not band.any():
        raise ValueError("mtf: below 0.5 at the first non-zero frequency; use a finer frequency grid")
    # The band ends at the first crossing (later side lobes above 0.5 are not the core).
    last = np.argmax(~band[1:]) if (~band[1:]).any() else band.size - 1
    band[last + 1:] = False
    fb, mb = f[band], m[band]
    s2 = np.sum(fb**2 * -np.log(mb)) / (2 * np.pi**2 * np.sum(fb**4))
    return float(math.sqrt(max(s2, 0.0)))


def crossing(freqs, mtf, level: float) -> float | None:
    """First frequency where the MTF falls below ``level`` (linear interpolation)."""
    f, m = np.asarray(freqs, float), np.asarray(mtf, float)
    below = np.nonzero(m < level)[0]
    if below.size == 0 or below[0] == 0:
        return None
    i = below[0]
    return float(f[i - 1] + (m[i - 1] - level) * (f[i] - f[i - 1]) / (m[i - 1] - m[i]))


def penumbra_mtf(spot: FocalSpot, design: Design, freqs_per_um) -> np.ndarray:
    """Object-plane MTF of the focal-spot penumbra from the numerical kernel.

    The kernel is sampled on a detector grid whose pitch, referred to the object plane,
    resolves the penumbra (1/8 of its width) and keeps every frequency below Nyquist.
    """
    f_max = float(np.max(freqs_per_um))
    width = _spot_width_um(spot) * design.penumbra_scale / design.magnification
    pitch = min(width / 8.0, 0.25 / f_max)
    extent = 2.5 * width  # Gaussian: 4.2 sigma; disc/ellipse: 2.5 radii
    pitch = max(pitch, extent / MAX_KERNEL_HALF, 1e-6)
    half = int(math.ceil(extent / pitch)) + 1
    kernel = kernel_at_detector(spot, object_height_um=design.source_detector_um - design.source_object_um,
                                source_distance_um=design.source_detector_um,
                                pixel_um=pitch * design.magnification, half_width_px=half,
                                supersample=4 if half < 200 else 1)
    lsf = np.asarray(kernel, dtype=float).sum(axis=0)
    f = np.asarray(freqs_per_um, float)
    mtf = np.zeros_like(f)
    ok = f <= 0.5 / pitch  # beyond Nyquist of a coarsened grid the penumbra MTF is < 1e-6
    mtf[ok] = lsf_mtf(lsf, pitch, f[ok])
    return mtf


def _spot_width_um(spot: FocalSpot) -> float:
    """Largest FWHM-like width of the spot in its own plane (um)."""
    if spot.shape == "gaussian":
        return float(spot.size_um)
    if spot.shape == "image":
        return float(max(spot.image.shape) * spot.image_pixel_um)
    return 2.0 * float(max(spot.semi_axes_um()))


def _gaussian_mtf(sigma_um: float, freqs) -> np.ndarray:
    return np.exp(-2.0 * np.pi**2 * sigma_um**2 * np.asarray(freqs) ** 2)


# ---------------------------------------------------------------------- photons
def detector_flux(spectrum: Spectrum, *, distance_um: float, pixel_um: float, screen: Scintillator,
                  air_path: bool) -> tuple[float, float]:
    """Photons incident on and absorbed in one detector pixel on the central ray.

    ``spectrum`` is photons per bin per sr for the exposure; returns (incident, absorbed).
    """
    spec = spectrum.trimmed()
    e = spec.energies_kev
    n = np.asarray(spec.photons, float)
    if air_path:
        n = n * np.exp(-np.asarray(materials.linear_attenuation_per_um("Air", e)) * distance_um)
    incident = n * pixel_um**2 / distance_um**2
    absorbed = incident * np.asarray(screen.interaction_probability(e), float)
    return float(incident.sum()), float(absorbed.sum())


def exposure_for_snr_s(absorbed_per_s: float, snr: float, *, gain: float | None = None,
                       read_noise_e: float = 0.0, dark_e_per_s: float = 0.0) -> float:
    """Exposure time giving ``snr`` in one open-field pixel.

    Without ``gain``: quantum-limited, ``t = snr^2 / absorbed_per_s``. With a Poisson
    secondary stage of mean ``gain`` electrons per absorbed quantum, the signal ``a t g``
    has variance ``a t g (1 + g) + read^2 + dark t``; the positive root of the
    quadratic in ``t`` is returned.
    """
    if not (absorbed_per_s > 0 and snr > 0):
        raise ValueError(f"absorbed_per_s ({absorbed_per_s!r}) and snr ({snr!r}) must be > 0")
    if gain is None:
        return snr**2 / absorbed_per_s
    s = absorbed_per_s * gain
    b = snr**2 * (s * (1.0 + gain) + dark_e_per_s)
    return (b + math.sqrt(b**2 + 4.0 * s**2 * snr**2 * read_noise_e**2)) / (2.0 * s**2)


# ---------------------------------------------------------------------- chart simulations
def _chart_summary(measurements) -> dict:
    """Per line width (key "1.0"): mean contrast over orientations, resolved in all of them."""
    out: dict = {}
    for m in measurements:
        key = f"{m.line_width_um:.1f}" if m.line_width_um >= 0.95 else f"{m.line_width_um:g}"
        entry = out.setdefault(key, {"line_width_um": m.line_width_um, "contrasts": [], "resolved": True})
        entry["contrasts"].append(float(m.contrast))
        entry["resolved"] = entry["resolved"] and bool(m.resolved)
    return {k: {"line_width_um": v["line_width_um"], "contrast": float(np.mean(v["contrasts"])),
                "resolved": v["resolved"]} for k, v in out.items()}


def simulate_optical_chart(scenario: Scenario, *, current_ma: float, exposure_s: float, key,
                           out_dir=None) -> dict:
    """Noisy projection of the chart through the optical chain, measured group by group."""
    from twin.simulate import simulate_view

    sc = scenario.with_values({"object.phantom": "chart", "geometry.mode": "projection",
                               "source.current": f"{current_ma:.9g} mA",
                               "acquisition.exposure": f"{exposure_s:.9g} s", "acquisition.noise": True})
    setup = build_setup(sc)
    raw, flat, dark = simulate_view(setup, (0.0, 0.0, sc["geometry"]["source_distance"]), key, noise=True)
    image = (np.asarray(raw, np.float32) - dark) / (flat - dark)
    if out_dir is not None:
        write_tiff(out_dir / "chart_optical.tif", image, pixel_size_um=setup.system.pixel_um,
                   metadata={"quantity": "flat/dark-corrected transmission, optical set-up"})
    return _chart_summary(measure_chart(image, ChartLayout.from_json(setup.layout)))


def simulate_geometric_chart(scenario: Scenario, design: Design, spot: FocalSpot, spectrum: Spectrum, *,
                             key, out_dir=None) -> dict:
    """Noisy projection of the chart through the geometric set-up, measured group by group.

    ``spectrum`` is the tube output (photons per bin per sr) for the whole exposure.
    The focal-spot penumbra blurs the fluence; absorbed quanta are Poisson; the screen
    blur spreads each quantum's light; pixels integrate. Flat field noiseless.
    """
    ob, g = scenario["object"], scenario["geometric"]
    ov = scenario["acquisition"]["oversample"]
    cell = design.object_pixel_um / ov
    kwargs = dict(line_widths_um=tuple(ob["line_widths"]), n_lines=ob["n_lines"], pixel_size_um=cell,
                  thickness_um=ob["thickness"], material=ob["material"])
    tmap, _ = phantoms.line_pair_chart(**kwargs)
    shape = tuple(int(math.ceil(n / ov)) * ov for n in tmap.shape)
    tmap, layout = phantoms.line_pair_chart(shape=shape, **kwargs)
    screen = Scintillator(g["detector_scintillator"], g["detector_scintillator_thickness"], substrate=None)
    spec = spectrum.trimmed()
    e = spec.energies_kev
    n = np.asarray(spec.photons, float)
    if scenario["spectrum"]["air_path"]:
        n = n * np.exp(-np.asarray(materials.linear_attenuation_per_um("Air", e)) * design.source_detector_um)
    weights = n * cell**2 / design.source_object_um**2 * np.asarray(screen.interaction_probability(e))
    mu = jnp.asarray(materials.linear_attenuation_per_um(ob["material"], e), jnp.float32)[None]
    flat = float(weights.sum())
    quanta = transmitted_signal(jnp.asarray(tmap, jnp.float32)[None], mu, jnp.asarray(weights, jnp.float32))
    kernel = kernel_at_detector(spot, object_height_um=design.source_detector_um - design.source_object_um,
                                source_distance_um=design.source_detector_um,
                                pixel_um=cell * design.magnification)
    # Blur the deficit (zero outside the chart) so the field border stays at the flat level.
    quanta = flat + apply_psf(quanta - flat, kernel)
    counts = poisson_counts(key, quanta)
    sigma_screen = g["detector_psf_fwhm"] / FWHM_PER_SIGMA / design.magnification
    light = flat + apply_psf(counts - flat, _gaussian_kernel(sigma_screen, cell))
    image = np.asarray(bin_to_pixels(light, ov)) / (flat * ov**2)
    if out_dir is not None:
        write_tiff(out_dir / "chart_geometric.tif", image.astype(np.float32),
                   pixel_size_um=design.object_pixel_um,
                   metadata={"quantity": "flat-corrected transmission, geometric set-up, object plane"})
    return _chart_summary(measure_chart(image, ChartLayout.from_json(layout),
                                        pixel_size_um=design.object_pixel_um))


def _gaussian_kernel(sigma_um: float, pitch_um: float) -> jnp.ndarray:
    """Pixel-integrated, unit-sum 2D Gaussian (separable, exact erf integrals)."""
    half = max(int(math.ceil(4.0 * sigma_um / pitch_um)), 1)
    x = (np.arange(-half, half + 1)) * pitch_um
    s = math.sqrt(2.0) * max(sigma_um, 1e-6 * pitch_um)
    from scipy.special import erf

    k1 = 0.5 * (erf((x + pitch_um / 2) / s) - erf((x - pitch_um / 2) / s))
    k1 = k1 / k1.sum()
    return jnp.asarray(np.outer(k1, k1), jnp.float32)


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
                  dqe_factor, exposure_s, chart, optics_mtf=None) -> dict:
    """Everything reported for one set-up at one point; ``parts`` maps component -> MTF.

    With ``optics_mtf`` (the in-focus objective alone), ``parts["scintillator_optics"]``
    is split into "optics" and "scintillator" (the quadrature remainder: what the
    depth integration through the screen adds to the in-focus blur).
    """
    system = np.prod(list(parts.values()), axis=0)
    sigmas = {k: (equivalent_sigma_um(freqs, parts[k]) if k in parts else 0.0) for k in COMPONENTS}
    if optics_mtf is not None:
        total = equivalent_sigma_um(freqs, parts["scintillator_optics"])
        sigmas["optics"] = equivalent_sigma_um(freqs, optics_mtf)
        sigmas["scintillator"] = math.sqrt(max(total**2 - sigmas["optics"] ** 2, 0.0))
    f50, f10 = crossing(freqs, system, 0.5), crossing(freqs, system, RESOLVED_MTF)
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
                     "system": equivalent_sigma_um(freqs, system)},
        "min_line_width_mtf_um": w10,
        "smallest_group_mtf_um": _smallest_resolved(widths, resolved),
        "tube_power_w": power_w,
        "tube_current_ma": current_ma,
        "incident_per_pixel_per_s": incident,
        "absorbed_per_pixel_per_s": absorbed,
        "absorbed_fraction": absorbed / incident,
        "dqe0": absorbed / incident * dqe_factor,
        "exposure_for_snr_s": exposure_s,
        "chart": chart,
        "smallest_group_sim_um": None if chart is None else _smallest_resolved(
            [v["line_width_um"] for v in chart.values()], [v["resolved"] for v in chart.values()]),
    }
    return out


def compute_point(raw: dict, point: dict, *, quick: bool, work_dir: str) -> dict:
    """Both set-ups at one focal-spot size: MTFs, blur budget, photons, lengths, charts."""
    from twin.run import point_dir

    base = parse_scenario(raw)
    scenario = base.with_values(point)
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
    simulate = _simulate_point(base, spot_um, quick)
    out_dir = point_dir(work_dir, point)

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
    opt_parts = {"focal_spot": penumbra_mtf(spot, opt, freqs),
                 "scintillator_optics": lsf_mtf(psf.sum(axis=0), cell_obj, freqs),
                 "pixel": np.sinc(freqs * opt.object_pixel_um)}
    airy_mtf = lsf_mtf(airy.sum(axis=0), cell_obj, freqs)
    incident_o, absorbed_o = detector_flux(system.spectrum, distance_um=opt.source_detector_um,
                                           pixel_um=opt.detector_pixel_um, screen=system.detector.scintillator,
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
                            incident=incident_o, absorbed=absorbed_o, dqe_factor=gain / (1.0 + gain),
                            exposure_s=t_opt, chart=chart_o, optics_mtf=airy_mtf)
    optical["electrons_per_quantum"] = gain

    # Geometric set-up: same tube power law, flat panel at SDD.
    g = scenario["geometric"]
    sigma_screen = g["detector_psf_fwhm"] / FWHM_PER_SIGMA / geo.magnification
    geo_parts = {"focal_spot": penumbra_mtf(spot, geo, freqs),
                 "scintillator": _gaussian_mtf(sigma_screen, freqs),
                 "pixel": np.sinc(freqs * geo.object_pixel_um)}
    spectrum_g = build_spectrum(per_second)
    screen_g = Scintillator(g["detector_scintillator"], g["detector_scintillator_thickness"], substrate=None)
    incident_g, absorbed_g = detector_flux(spectrum_g, distance_um=geo.source_detector_um,
                                           pixel_um=geo.detector_pixel_um, screen=screen_g,
                                           air_path=scenario["spectrum"]["air_path"])
    t_geo = exposure_for_snr_s(absorbed_g, snr)
    chart_g = None
    if simulate:
        chart_g = simulate_geometric_chart(scenario, geo, spot, _scaled(spectrum_g, t_geo),
                                           key=jax.random.fold_in(key, 1), out_dir=out_dir)
    geometric = _setup_result(geo, freqs, geo_parts, widths=widths, power_w=power, current_ma=current,
                              incident=incident_g, absorbed=absorbed_g, dqe_factor=1.0,
                              exposure_s=t_geo, chart=chart_g)
    geometric.update(_best_magnification(spot, g, geo))
    return {"focal_spot_um": spot_um, "freqs_lp_mm": [float(1000.0 * f) for f in freqs],
            "simulated": simulate, "optical": optical, "geometric": geometric}


def _scaled(spectrum: Spectrum, factor: float) -> Spectrum:
    from dataclasses import replace

    return replace(spectrum, photons=np.asarray(spectrum.photons) * factor)


def _simulate_point(base: Scenario, spot_um: float, quick: bool) -> bool:
    """Chart simulations run at every point of a full run, at the extreme spots with --quick."""
    if not quick:
        return True
    spots = [to_spot(p[SWEPT]) for p in base.points() if SWEPT in p] or [spot_um]
    return bool(np.isclose(spot_um, min(spots)) or np.isclose(spot_um, max(spots)))


def to_spot(value) -> float:
    from physics.units import to_float

    return to_float(value, "um", key=SWEPT)


def _best_magnification(spot: FocalSpot, g: dict, geo: Design) -> dict:
    """Magnification minimising the object-plane blur for this spot and flat panel.

    Object-plane variance ``s^2 (1 - 1/M)^2 + D^2 / M^2`` (spot sigma ``s``; detector
    sigma ``D`` from the screen blur and the pixel, ``p^2/12``) is least at
    ``M = 1 + D^2 / s^2``, where the blur is ``s D / sqrt(s^2 + D^2)``: the geometric
    set-up never gets sharper than its focal spot, however long it is.
    """
    s = math.sqrt(float(np.asarray(spot.covariance_um2())[0, 0]))
    d = math.hypot(g["detector_psf_fwhm"] / FWHM_PER_SIGMA, g["detector_pixel"] / math.sqrt(12.0))
    m = 1.0 + d**2 / s**2
    return {"best_magnification": m, "best_sigma_um": s * d / math.hypot(s, d),
            "best_sdd_mm": m * geo.source_object_um / 1000.0,
            "best_object_pixel_um": g["detector_pixel"] / m}


# ---------------------------------------------------------------------- report
_LABEL = {"optical": "optical-lens", "geometric": "geometric"}
_STYLE = {"optical": dict(color="tab:blue", marker="o"), "geometric": dict(color="tab:red", marker="s")}
_COMP_COLOUR = {"focal_spot": "tab:orange", "scintillator": "tab:green", "optics": "tab:purple",
                "pixel": "tab:gray", "system": "black"}


def _fmt(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def make_report(scenario: Scenario, points, results, out_dir, *, quick: bool):
    """Tables, figures and conclusions over the focal-spot sweep (both set-ups per point)."""
    from pathlib import Path

    from twin.report import Quantity, Report

    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    rows = sorted(results, key=lambda r: r["focal_spot_um"])
    spots = np.array([r["focal_spot_um"] for r in rows])
    rep = Report(scenario.name, scenario["scenario"]["question"] or "Geometric vs optical magnification")
    _setup_rows(rep, scenario, rows[0])
    if quick:
        rep.add_text("Quick run (--quick): chart images are simulated only at the smallest and largest "
                     "focal spot; everything else is computed at every point.")
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
        rep.add_table(f"Blur budget, {_LABEL[setup]} set-up (object plane, equivalent Gaussian sigma)",
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
    _summary_figure(rep, out_dir, spots, rows)
    _mtf_figure(rep, out_dir, rows)
    _chart_figure(rep, out_dir, rows, scenario)
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


def _summary_figure(rep, out_dir, spots, rows):
    from twin.report import new_figure, save_figure

    fig = new_figure(width=11.0, height=8.0)
    ax = fig.subplots(2, 2)
    a = ax[0, 0]
    for setup in SETUPS:
        a.plot(spots, [_nan(r[setup]["mtf50_lp_mm"]) for r in rows], label=f"{_LABEL[setup]} MTF50", **_STYLE[setup])
        a.plot(spots, [_nan(r[setup]["mtf10_lp_mm"]) for r in rows], label=f"{_LABEL[setup]} MTF10",
               linestyle="--", **_STYLE[setup])
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="lp/mm at the object plane",
          title="(a) system MTF50 / MTF10")
    a.legend(fontsize=8)
    a = ax[0, 1]
    for c in (*COMPONENTS, "system"):
        for setup, ls in (("optical", "-"), ("geometric", ":")):
            vals = [r[setup]["sigma_um"][c] for r in rows]
            if max(vals) > 0:
                a.plot(spots, vals, linestyle=ls, color=_COMP_COLOUR[c], marker=_STYLE[setup]["marker"],
                       markersize=3, label=f"{_LABEL[setup]}: {c.replace('_', ' ')}")
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="equivalent sigma (um)",
          title="(b) blur budget (solid optical, dotted geometric)")
    a.legend(fontsize=6, ncol=2)
    a = ax[1, 0]
    for setup in SETUPS:
        a.plot(spots, [r[setup]["exposure_for_snr_s"] for r in rows], label=f"{_LABEL[setup]}: exposure for SNR",
               **_STYLE[setup])
        a.plot(spots, [r[setup]["absorbed_per_pixel_per_s"] for r in rows], linestyle="--",
               label=f"{_LABEL[setup]}: absorbed X-rays / pixel / s", **_STYLE[setup])
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="s  |  1/s",
          title="(c) photon budget per object-plane pixel")
    a.legend(fontsize=7)
    a = ax[1, 1]
    for setup in SETUPS:
        a.plot(spots, [r[setup]["length_mm"] for r in rows], label=f"{_LABEL[setup]}: source to sensor",
               **_STYLE[setup])
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="length (mm)",
          title="(d) length for the same object-plane pixel")
    a.legend(fontsize=8)
    save_figure(fig, out_dir / "figures" / "summary.png")
    rep.add_figure("figures/summary.png", "Both set-ups against focal-spot size: (a) system MTF50 (solid) and "
                   "MTF10 (dashed) at the object plane; (b) blur budget by component; (c) absorbed X-rays per "
                   "object-plane pixel per second and the exposure for the SNR target; (d) source-to-sensor length.")


def _nan(x):
    return np.nan if x is None else x


def _mtf_figure(rep, out_dir, rows):
    from twin.report import new_figure, save_figure

    fig = new_figure(width=7.0, height=4.5)
    a = fig.subplots()
    picks = sorted({0, len(rows) // 2, len(rows) - 1})
    styles = ["-", "--", ":"]
    for ls, i in zip(styles, picks):
        r = rows[i]
        for setup in SETUPS:
            a.plot(r["freqs_lp_mm"], r[setup]["mtf"], linestyle=ls, color=_STYLE[setup]["color"],
                   label=f"{_LABEL[setup]}, spot {r['focal_spot_um']:g} um")
    a.axhline(RESOLVED_MTF, color="gray", linewidth=0.8)
    a.set(xlabel="spatial frequency at the object plane (lp/mm)", ylabel="system MTF", ylim=(0, 1.02))
    a.legend(fontsize=8)
    save_figure(fig, out_dir / "figures" / "mtf.png")
    rep.add_figure("figures/mtf.png", "System MTF of both set-ups at the smallest, middle and largest focal spot "
                   "(grey line: the 10 % level of the resolved criterion).")


def _chart_figure(rep, out_dir, rows, scenario):
    from physics.imageio import read_tiff
    from twin.report import new_figure, save_figure
    from twin.run import point_dir

    sims = [r for r in rows if r["simulated"]]
    if not sims:
        return
    picks = [sims[0]] if len(sims) == 1 else [sims[0], sims[-1]]
    fig = new_figure(width=10.0, height=3.2 * len(picks))
    axes = np.atleast_2d(fig.subplots(len(picks), 2))
    for row_axes, r in zip(axes, picks):
        folder = point_dir(out_dir, {SWEPT: _point_value(scenario, r["focal_spot_um"])})
        for a, setup in zip(row_axes, SETUPS):
            path = folder / f"chart_{setup}.tif"
            if not path.is_file():
                a.set_axis_off()
                continue
            img = read_tiff(path)
            n_rows, n_cols = img.data.shape
            ext = np.array([-n_cols, n_cols, n_rows, -n_rows]) / 2 * img.pixel_size_um
            a.imshow(img.data, cmap="gray", extent=ext)
            a.set(title=f"{_LABEL[setup]}, spot {r['focal_spot_um']:g} um, smallest resolved "
                        f"{_fmt(r[setup]['smallest_group_sim_um'])} um", xlabel="x (um)", ylabel="y (um)")
            a.title.set_fontsize(8)
    save_figure(fig, out_dir / "figures" / "charts.png")
    rep.add_figure("figures/charts.png", "Simulated chart projections (flat-corrected transmission, object-plane "
                   "axes) at the exposure for the SNR target; groups 0.5-3 um line width.")


def _point_value(scenario, spot_um):
    """The sweep value (as written in the file) of the point with this spot."""
    for p in scenario.points():
        if SWEPT in p and math.isclose(to_spot(p[SWEPT]), spot_um, rel_tol=1e-9):
            return p[SWEPT]
    return None


def _conclusions(rep, scenario, spots, rows):
    opt50 = np.array([_nan(r["optical"]["mtf50_lp_mm"]) for r in rows])
    geo50 = np.array([_nan(r["geometric"]["mtf50_lp_mm"]) for r in rows])
    # 1. Where the geometric set-up stops being as sharp as the optical one.
    ratio = geo50 / opt50
    better = ratio >= 1.0
    if better.all():
        rep.add_conclusion(f"The geometric set-up's MTF50 is at least the optical set-up's over the whole sweep "
                           f"({spots[0]:g}-{spots[-1]:g} um).")
    elif not better.any():
        rep.add_conclusion(f"The geometric set-up's MTF50 stays below the optical set-up's over the whole sweep, "
                           f"even at a {spots[0]:g} um spot ({geo50[0]:.0f} vs {opt50[0]:.0f} lp/mm).")
    else:
        i = int(np.nonzero(~better)[0][0])
        x0, x1 = math.log(spots[i - 1]), math.log(spots[i])
        y0, y1 = math.log(ratio[i - 1]), math.log(ratio[i])
        cross = math.exp(x0 + (0.0 - y0) * (x1 - x0) / (y1 - y0))
        rep.add_conclusion(
            f"The geometric set-up is as sharp as the optical set-up (MTF50 ratio 1) only with a focal spot of "
            f"about {cross:.2g} um or smaller (interpolated between the {spots[i - 1]:g} and {spots[i]:g} um "
            f"points); at {spots[-1]:g} um its MTF50 is {geo50[-1]:.3g} lp/mm, {ratio[-1]:.2g} of the optical "
            f"set-up's {opt50[-1]:.3g} lp/mm.")
    # 2. The optical set-up hardly feels the spot.
    change = (np.nanmax(opt50) - np.nanmin(opt50)) / np.nanmax(opt50)
    sig = rows[-1]["optical"]["sigma_um"]
    rep.add_conclusion(
        f"The optical set-up's MTF50 changes by {100 * change:.2g} % over {spots[0]:g}-{spots[-1]:g} um of focal "
        f"spot: the penumbra is scaled by h/(R-h), so even at {spots[-1]:g} um it adds a sigma of "
        f"{sig['focal_spot']:.2g} um against {sig['optics']:.2g} um (objective) and {sig['scintillator']:.2g} um "
        f"(screen depth); the geometric set-up's spot blur scales with (M-1)/M ~ 1 "
        f"({rows[-1]['geometric']['sigma_um']['focal_spot']:.3g} um at {spots[-1]:g} um).")
    # 3. Photons at equal sharpness.
    ref = int(np.argmin(np.abs(spots - scenario["source"]["focal_spot_size"])))
    ok = np.nonzero(geo50 >= opt50[ref])[0]
    o = rows[ref]["optical"]
    if ok.size:
        j = int(ok[-1])
        gq = rows[j]["geometric"]
        rep.add_conclusion(
            f"At equal sharpness: the largest swept spot at which the geometric set-up reaches the optical "
            f"set-up's MTF50 at {spots[ref]:g} um ({opt50[ref]:.3g} lp/mm) is {spots[j]:g} um, where the tube may "
            f"run {gq['tube_power_w']:.3g} W against {o['tube_power_w']:.3g} W; it still absorbs "
            f"{gq['absorbed_per_pixel_per_s']:.3g} X-rays per object-plane pixel per second against "
            f"{o['absorbed_per_pixel_per_s']:.3g}, because its object sits "
            f"{gq['source_object_mm']:g} mm from the source instead of {o['source_object_mm']:.4g} mm, so its "
            f"exposure for SNR {scenario['geometric']['snr_target']:g} is {gq['exposure_for_snr_s']:.3g} s against "
            f"{o['exposure_for_snr_s']:.3g} s ({o['exposure_for_snr_s'] / gq['exposure_for_snr_s']:.2g}x "
            f"{'shorter' if gq['exposure_for_snr_s'] < o['exposure_for_snr_s'] else 'longer'} for the geometric set-up).")
    else:
        rep.add_conclusion(f"No swept spot lets the geometric set-up reach the optical set-up's MTF50 at "
                           f"{spots[ref]:g} um ({opt50[ref]:.3g} lp/mm).")
    # 3b. The optical set-up's own lever: its source distance (assumed, not in the paper).
    so = o["sigma_um"]
    rest = math.sqrt(so["quadrature"] ** 2 - so["focal_spot"] ** 2)
    r_now = o["source_detector_mm"]
    h_mm = r_now - o["source_object_mm"]
    r_min = so["focal_spot"] * r_now / rest  # object-plane penumbra sigma = s_spot h / R
    if r_min > h_mm:
        rep.add_conclusion(
            f"The optical set-up's photon rate is set by its source distance R = {r_now:g} mm (assumed): its "
            f"penumbra sigma s h/R would equal the rest of its blur budget ({rest:.2g} um) only at R = "
            f"{r_min:.2g} mm for the {spots[ref]:g} um spot, where the inverse-square law gives "
            f"{(r_now / r_min) ** 2:.3g}x more photons per pixel (if the tube housing allows it).")
    # 4. DQE of the lens-coupled detector.
    gain = o["electrons_per_quantum"]
    rep.add_conclusion(
        f"The lens-coupled detector yields {gain:.2g} photoelectrons per absorbed X-ray"
        f"{' (below 1: a secondary quantum sink)' if gain < 1 else ''}, so its DQE(0) = eta g/(1+g) = "
        f"{o['dqe0']:.2g} is {(1 + gain) / gain:.2g}x below its absorbed fraction eta = {o['absorbed_fraction']:.2g} "
        f"({scenario['scintillator']['thickness']:g} um {scenario['scintillator']['material']}); the flat panel "
        f"absorbs {rows[0]['geometric']['absorbed_fraction']:.2g} and is taken as quantum-limited.")
    # 5. Length.
    gl, ol = rows[0]["geometric"]["length_mm"], rows[0]["optical"]["length_mm"]
    rep.add_conclusion(
        f"Reaching the {rows[0]['geometric']['object_pixel_um']:.3g} um object-plane pixel with "
        f"{scenario['geometric']['detector_pixel']:g} um flat-panel pixels needs M = "
        f"{rows[0]['geometric']['magnification']:.4g} and SDD = {gl:.4g} mm from a {rows[0]['geometric']['source_object_mm']:g} mm SOD, "
        f"{gl / ol:.2g}x the optical set-up's {ol:.4g} mm source-to-sensor length.")
    # 6. Simulation vs MTF criterion.
    pairs = [(r[s]["smallest_group_sim_um"], r[s]["smallest_group_mtf_um"]) for r in rows if r["simulated"]
             for s in SETUPS]
    if pairs:
        same = sum(1 for a, b in pairs if a == b)
        finer = sum(1 for a, b in pairs if a is not None and (b is None or a < b))
        rep.add_conclusion(
            f"The simulated charts agree with the 10 % MTF criterion on the smallest resolved group in {same} of "
            f"{len(pairs)} set-up/spot cases; in {len(pairs) - same - finer} the simulation resolves less (the "
            f"chart's Rayleigh-dip criterion with noise is stricter than 10 % modulation), in {finer} more.")
