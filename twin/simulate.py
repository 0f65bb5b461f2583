"""Simulating a scenario's views and writing them to disk.

Files written to the output folder (each atomically):

``projections.tif``
    float32 (views, rows, cols): line integrals ``-ln T`` of the flat/dark-corrected
    transmission, what ``twin reconstruct`` reads; pixel size (um) in the metadata.
``raw.tif``, ``flat.tif``, ``dark.tif``
    uint16 camera frames (ADU) and the noiseless calibration frames (float32).
``geometry.json``
    The ASTRA-style vector geometry (:mod:`recon.geometry`).
``phantom.tif``
    Ground truth: absorber thickness (um) per object plane, (planes, rows, cols) on
    the field grid, with ``plane_heights_um`` in the metadata.
``chart.json``
    Line-pair chart layout on the camera-pixel grid (charts only).
``parameters.json``
    Every resolved parameter with its unit, and derived figures.

Views are cached one by one under ``.views/`` so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import recon.geometry
from physics import chain
from physics.camera import flat_dark_correct
from physics.imageio import atomic_path, write_json, write_tiff
from twin.console import progress
from twin.scenario import Scenario
from twin.system import Setup, build_setup

#: Transmission floor before the logarithm (a fully opaque pixel would give inf).
MIN_TRANSMISSION = 1e-4


def simulate_scenario(scenario: Scenario, out_dir, *, show_progress: bool = True) -> dict:
    """Simulate every view of ``scenario`` into ``out_dir``; returns a summary dict."""
    out = Path(out_dir)
    setup = build_setup(scenario)  # before the folder exists: a refused scenario leaves nothing
    out.mkdir(parents=True, exist_ok=True)
    system, geom = setup.system, setup.geometry
    cache = out / ".views"
    fingerprint = _fingerprint(scenario)
    _prepare_cache(cache, fingerprint)
    sources = geom.source_positions_um
    key = jax.random.PRNGKey(scenario.seed)
    noise = scenario["acquisition"]["noise"]
    with progress("simulate", len(sources), enabled=show_progress) as advance:
        for k, source in enumerate(sources):
            path = cache / f"view_{k:04d}.npz"
            if not path.exists():
                raw, flat, dark = simulate_view(setup, source, jax.random.fold_in(key, k), noise=noise)
                with atomic_path(path) as tmp:
                    with open(tmp, "wb") as fh:
                        np.savez(fh, raw=raw, flat=flat, dark=dark)
            advance(1, info=f"view {k + 1}")
    raws, flats, darks = [], [], []
    for k in range(len(sources)):
        with np.load(cache / f"view_{k:04d}.npz") as z:
            raws.append(z["raw"])
            flats.append(z["flat"])
            darks.append(z["dark"])
    raw, flat, dark = np.stack(raws), np.stack(flats), np.stack(darks)
    transmission = np.asarray(flat_dark_correct(raw, flat=flat, dark=dark))
    integrals = line_integrals(transmission)
    if not (np.all(np.isfinite(integrals)) and np.all(np.isfinite(flat))):
        from physics.errors import ResultError

        raise ResultError(f"{out / 'projections.tif'}: the simulation gave NaN or inf with these "
                          "parameters; nothing written (check exposure, current and sizes)")
    pixel = system.pixel_um
    meta = {"quantity": "line integral -ln(T) of the flat/dark-corrected transmission",
            "scenario": scenario.name}
    write_tiff(out / "projections.tif", integrals, pixel_size_um=pixel, metadata=meta)
    write_tiff(out / "raw.tif", raw, pixel_size_um=pixel, dtype=raw.dtype,
               metadata={"quantity": "raw camera frames, ADU"})
    write_tiff(out / "flat.tif", flat, pixel_size_um=pixel, metadata={"quantity": "noiseless open-beam frames, ADU"})
    write_tiff(out / "dark.tif", dark, pixel_size_um=pixel, metadata={"quantity": "noiseless dark frames, ADU"})
    recon.geometry.save(out / "geometry.json", geom)
    _write_phantom(out / "phantom.tif", setup)
    if setup.layout is not None:
        write_json(out / "chart.json", setup.layout)
    summary = describe(setup, scenario, transmission=transmission)
    write_json(out / "parameters.json", {"scenario": scenario.resolved(), "derived": summary})
    shutil.rmtree(cache, ignore_errors=True)
    return summary


def simulate_view(setup: Setup, source_um, key, *, noise: bool = True):
    """Raw frame (ADU), noiseless flat and dark frames of one view."""
    system = setup.system
    source = jnp.asarray(source_um, dtype=jnp.float32)
    response = chain.view_response(system, source, object_plane_um=setup.focus_plane_um)
    if noise:
        raw = chain.sample_view(key, system, setup.obj, source, response=response)
    else:
        raw = chain.expected_view(system, setup.obj, source, response=response)
    flat, dark = chain.open_field(system, source, response)
    return np.asarray(raw), np.asarray(flat, dtype=np.float32), np.asarray(dark, dtype=np.float32)


def line_integrals(transmission) -> np.ndarray:
    """``-ln T`` (float32) of a flat/dark-corrected transmission, T floored at MIN_TRANSMISSION."""
    return -np.log(np.clip(np.asarray(transmission), MIN_TRANSMISSION, None)).astype(np.float32)


def simulate_projections(setup: Setup, key, *, noise: bool = True, geometry=None) -> np.ndarray:
    """Line integrals of every view of ``geometry`` (default: the setup's), (views, rows, cols)."""
    geometry = geometry or setup.geometry
    views = []
    for k, source in enumerate(geometry.source_positions_um):
        raw, flat, dark = simulate_view(setup, source, jax.random.fold_in(key, k), noise=noise)
        views.append(line_integrals(flat_dark_correct(raw, flat=flat, dark=dark)))
    return np.stack(views)


def describe(setup: Setup, scenario: Scenario, *, transmission=None) -> dict:
    """Derived figures of the system: pixel, magnification, photon budget."""
    system = setup.system
    centre = setup.geometry.source_positions_um[len(setup.geometry.source_positions_um) // 2]
    response = chain.view_response(system, jnp.asarray(centre, jnp.float32),
                                   object_plane_um=setup.focus_plane_um)
    quanta_per_pixel = float(jnp.sum(response.quanta_weights)) * system.oversample**2
    electrons = quanta_per_pixel * float(response.electrons_per_quantum)
    out = {
        "magnification": {"value": system.detector.microscope.magnification, "unit": ""},
        "effective_pixel": {"value": system.pixel_um, "unit": "um"},
        "field_of_view": {"value": [system.roi_shape[0] * system.pixel_um,
                                    system.roi_shape[1] * system.pixel_um], "unit": "um"},
        "absorbed_quanta_per_pixel": {"value": quanta_per_pixel, "unit": "1/view"},
        "photoelectrons_per_quantum": {"value": float(response.electrons_per_quantum), "unit": ""},
        "photoelectrons_per_pixel": {"value": electrons, "unit": "1/view"},
        "n_views": {"value": int(setup.geometry.n_views), "unit": ""},
        "slice_heights": {"value": [float(h) for h in setup.geometry.heights_um], "unit": "um"},
    }
    if transmission is not None:
        out["transmission_range"] = {"value": [float(np.min(transmission)), float(np.max(transmission))],
                                     "unit": ""}
    return out


def _write_phantom(path: Path, setup: Setup) -> None:
    layers = setup.obj.layers
    rows, cols = setup.system.field_shape
    maps = []
    for layer in layers:
        t = np.asarray(layer.thickness_um).sum(axis=0)
        r0, c0 = (t.shape[0] - rows) // 2, (t.shape[1] - cols) // 2
        maps.append(t[r0:r0 + rows, c0:c0 + cols])
    write_tiff(path, np.stack(maps), pixel_size_um=setup.system.cell_um,
               metadata={"quantity": "absorber thickness, um", "materials": list(setup.obj.materials),
                         "plane_heights_um": [float(layer.height_um) for layer in layers]})


def _fingerprint(scenario: Scenario) -> str:
    text = json.dumps(scenario.resolved(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _prepare_cache(cache: Path, fingerprint: str) -> None:
    """Keep cached views only if they come from the same parameters."""
    stamp = cache / "fingerprint"
    if cache.exists() and (not stamp.exists() or stamp.read_text() != fingerprint):
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    if not stamp.exists():
        stamp.write_text(fingerprint)
