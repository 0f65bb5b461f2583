"""Noisy chart projections of both set-ups, measured group by group."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from physics import materials, phantoms
from physics.camera import bin_to_pixels, flat_dark_correct, poisson_counts
from physics.focal_spot import FocalSpot, kernel_at_detector
from physics.imageio import write_tiff
from physics.measure import ChartLayout, measure_chart
from physics.measure.mtf import FWHM_PER_SIGMA, gaussian_kernel_2d
from physics.projection import transmitted_signal
from physics.psf import apply_psf
from physics.scintillator import Scintillator
from physics.spectrum import Spectrum
from twin.scenario import Scenario
from twin.system import Design, build_setup


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
    image = np.asarray(flat_dark_correct(np.asarray(raw, np.float32), flat=flat, dark=dark))
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
    light = flat + apply_psf(counts - flat, gaussian_kernel_2d(sigma_screen, pitch=cell, integrate=True))
    image = np.asarray(bin_to_pixels(light, ov)) / (flat * ov**2)
    if out_dir is not None:
        write_tiff(out_dir / "chart_geometric.tif", image.astype(np.float32),
                   pixel_size_um=design.object_pixel_um,
                   metadata={"quantity": "flat-corrected transmission, geometric set-up, object plane"})
    return _chart_summary(measure_chart(image, ChartLayout.from_json(layout),
                                        pixel_size_um=design.object_pixel_um))
