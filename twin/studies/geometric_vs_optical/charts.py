"""Noisy chart projections of both set-ups through the imaging chain, measured group by group."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from physics import phantoms
from physics.camera import flat_dark_correct
from physics.chain import open_field, sample_view, view_response
from physics.imageio import write_tiff
from physics.measure import ChartLayout, measure_chart
from physics.projection import Layer, LayeredObject
from twin.scenario import Scenario
from twin.system import Design, build_geometric_system, build_setup


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


def simulate_geometric_chart(scenario: Scenario, design: Design, *, current_ma: float, exposure_s: float, key,
                             out_dir=None) -> dict:
    """Noisy projection of the chart through the chain with the scenario's flat panel
    (:func:`twin.system.build_geometric_system`): the chart ``SDD - SOD`` above the panel, the
    source at ``SDD`` (``design``), measured group by group at the object-plane pixel."""
    sc = scenario.with_values({"source.current": f"{current_ma:.9g} mA", "acquisition.exposure": f"{exposure_s:.9g} s"})
    system = build_geometric_system(sc)
    ob = sc["object"]
    cell = design.object_pixel_um / system.oversample  # a field cell referred to the object plane
    tmap, layout = phantoms.line_pair_chart(line_widths_um=tuple(ob["line_widths"]), n_lines=ob["n_lines"],
                                            pixel_size_um=cell, shape=system.field_shape,
                                            thickness_um=ob["thickness"], material=ob["material"])
    height = design.source_detector_um - design.source_object_um
    obj = LayeredObject((ob["material"],), (Layer(height, tmap[None], cell),))
    source = jnp.array([0.0, 0.0, design.source_detector_um])
    response = view_response(system, source, object_plane_um=height)
    flat, dark = open_field(system, source, response)
    image = np.asarray(flat_dark_correct(sample_view(key, system, obj, source, response=response), flat=flat, dark=dark))
    if out_dir is not None:
        write_tiff(out_dir / "chart_geometric.tif", image.astype(np.float32), pixel_size_um=design.object_pixel_um,
                   metadata={"quantity": "flat/dark-corrected transmission, geometric set-up, object-plane pixels"})
    return _chart_summary(measure_chart(image, ChartLayout.from_json(layout), pixel_size_um=design.object_pixel_um))
