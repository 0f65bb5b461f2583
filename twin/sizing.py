"""Peak-memory estimates of the commands, from their inputs alone (nothing allocated).

Each function returns a :class:`twin.budget.Estimate` whose parts name the scenario
keys or options that size them. The simulation estimate follows the arrays of
:mod:`physics.chain` (object grid, per-view field in energy chunks, PSF stack, the
stacked views); the others count images, volumes and shards. The simulation
estimate is compared with measured peak memory by ``bench/memory_estimate.py``.
"""

from __future__ import annotations

import math
import os

from twin.budget import Estimate

F32 = 4
#: physics.projection.transmitted_signal sums energies in chunks of this many bins.
ENERGY_CHUNK = 8
#: Field-sized float32 arrays alive in one view besides the energy chunk (lengths, quanta,
#: FFT blur in complex64 on a padded grid, binned frames, noise draws): counted from
#: physics.chain.sample_view / open_field, then raised to match the measured peak (README, Robustness).
VIEW_FIELD_ARRAYS = 30
#: XLA compilation and the spectrum/material tables: a fixed cost of any simulation, measured
#: as the peak of a 64^2-pixel one-view simulation minus the imports (bench/memory_estimate.py).
FIXED_SIMULATION_BYTES = 256 * 2**20
#: Depth layers of the scintillator PSF (physics.chain.ImagingSystem.n_depth_layers).
PSF_LAYERS = 16


def simulation(values: dict, *, what: str = "the simulation", workers: int = 1) -> Estimate:
    """Peak memory of simulating one scenario (``values`` in internal units, as validated).

    ``workers`` sweep points run at once (each holds its own simulation).
    """
    from physics.optics import supersampling_for
    from physics.scintillator import SCINTILLATORS

    cam, acq, ob, geo, op, sc, src, spec = (values[k] for k in (
        "camera", "acquisition", "object", "geometry", "optics", "scintillator", "source", "spectrum"))
    os_ = acq["oversample"]
    m_eff = op["magnification"] * op["tube_lens"] / op["design_tube_lens"]
    pixel = cam["pixel"] / m_eff
    cell = pixel / os_
    rows, cols = cam["roi_rows"] or cam["rows"], cam["roi_cols"] or cam["cols"]
    field = float(rows * os_) * float(cols * os_)
    n_energy = math.ceil(src["kvp"] / spec["bin_width"]) + 1
    est = Estimate(what=what)
    est.add("compilation and tables", FIXED_SIMULATION_BYTES)
    cam_keys = ("camera.rows", "camera.cols", "camera.roi_rows", "camera.roi_cols",
                "acquisition.oversample")
    # Object grid: the field padded by the lateral shift of the highest plane (twin.system).
    tomo = geo["mode"] == "tomosynthesis"
    top = ob["height"] * (2.4 if ob["phantom"] == "chart_stack" else 1.0)
    shift = top * math.tan(math.radians(geo["arc"] / 2.0)) if tomo else 0.0
    pad = 2 * (math.ceil(shift / cell) + 8)
    side_r = max(rows * os_, ob["field_of_view"] / cell) + pad
    side_c = max(cols * os_, ob["field_of_view"] / cell) + pad
    planes = 3 if ob["phantom"] == "chart_stack" else 1
    est.add("object grid", 2 * planes * side_r * side_c * F32,
            "object.field_of_view", "object.height", "geometry.arc", *cam_keys)
    est.add("field per view", field * (min(n_energy, ENERGY_CHUNK) + VIEW_FIELD_ARRAYS) * F32,
            *cam_keys, "source.kvp", "spectrum.bin_width")
    # PSF stack on the supersampled optics grid (physics.psf), complex64 FFTs.
    mat = SCINTILLATORS[sc["material"]]
    n_index = sc["refractive_index"] or mat.refractive_index
    emission_um = (sc["emission_wavelength"] or mat.emission_nm) / 1000.0
    na = op["na"]
    tan_in = math.tan(math.asin(min(na / n_index, 0.999)))
    radius = sc["thickness"] * tan_in + 3 * 0.61 * emission_um / na + 1.5 * sc["scatter_blur"]
    size = 2 * (math.ceil(radius / cell) + 2) + 1
    ss = supersampling_for(cell, emission_um)
    focal = 1.5 * src["focal_spot_size"] * top / max(geo["source_distance"] - top, 1e-9) / cell
    size = max(size, 2 * math.ceil(focal) + 3)
    est.add("PSF stack", 4 * PSF_LAYERS * (size * ss) ** 2 * 2 * F32,
            "scintillator.thickness", "optics.na", "scintillator.scatter_blur",
            "source.focal_spot_size", "acquisition.oversample")
    n_views = geo["n_views"] if tomo else 1
    # Views are cached on disk one by one, then stacked: raw u16 + flat, dark, T, -ln T (f32),
    # and the stacking copies.
    est.add("stacked views", 2 * n_views * rows * cols * (2 + 4 * F32),
            "geometry.n_views", "camera.rows", "camera.cols", "camera.roi_rows", "camera.roi_cols")
    if workers > 1:
        single = est.total
        est.add(f"{workers - 1} more parallel sweep points", (workers - 1) * single, "--executor")
    return est


def derivative_copies(values: dict, *, what: str, copies: int, key: str) -> Estimate:
    """:func:`simulation` plus ``copies`` more views held by a derivative (forward-mode
    Jacobian columns of a fit, reverse-mode intermediates of a gradient), sized by ``key``."""
    estimate = simulation(values, what=what)
    view = estimate.total - FIXED_SIMULATION_BYTES
    return estimate.add(f"{copies} derivative cop{'y' if copies == 1 else 'ies'} of the view", view * copies, key)


def reconstruction(vol_shape, proj_shape, *, float64: bool = False, method: str = "fbp",
                   what: str = "the reconstruction", keys=("--geometry",)) -> Estimate:
    """Volume iterate, its update/optimizer arrays and the projections (plus residuals)."""
    item = 8 if float64 else F32
    vol = math.prod(int(v) for v in vol_shape) * item
    proj = math.prod(int(v) for v in proj_shape) * item
    copies = {"grad": 5, "sart": 3, "sirt": 3}.get(method, 2)  # x, update, (adam moments)
    return (Estimate(what=what)
            .add("volume", copies * vol, *keys)
            .add("projections", 3 * proj, *keys))


def image_read(info, *, plane=None, region=None, key: str, what: str = "reading the image") -> Estimate:
    """Decoding an image (only the strips/tiles a plane or region needs)."""
    return Estimate(what=what).add("decoded image", info.read_bytes(plane=plane, region=region), key)


def enhance(info, *, scale: int, width: int, tile: int, key: str) -> Estimate:
    """Whole input, float32 copy, output at ``scale`` and one tile's activations."""
    rows, cols = info.shape[-2:]
    planes = info.planes
    pixels = float(rows) * cols
    est = Estimate(what="enhancing the image")
    est.add("input", planes * info.read_bytes() / max(planes, 1), key)
    est.add("output", 2 * planes * pixels * scale**2 * F32, key)
    side = min(tile, max(rows, cols)) + 32
    est.add("tile activations", 4 * side**2 * scale**2 * width * F32, "--tile")
    return est


def dataset(n_items: int, *, hr_size: int, scale: int, shard_size: int, files=()) -> Estimate:
    """The item plan (one Python tuple per item), one shard in memory and the largest image."""
    est = Estimate(what="making the data set")
    est.add("item plan", 200.0 * n_items, "--synthetic", "--images", "--size")
    per_item = hr_size**2 * F32  # sharp images only: training degrades them on the fly
    est.add("one shard", 3 * min(shard_size, max(n_items, 1)) * per_item, "--shard-size", "--size")
    if files:
        est.add("largest image", max(f.read_bytes() + 2 * math.prod(f.shape[-2:]) * F32
                                     for f in files), "--images")
    return est


def split_bytes(manifest: dict, split: str) -> float:
    """Bytes of one split of a data set in memory (the sharp images, float32)."""
    hr = manifest["hr_size"]
    n = manifest["counts"][split]
    return n * hr**2 * F32


def training(manifest: dict, *, batch: int, patch: int, width: int, depth: int,
             data_key: str = "--data") -> Estimate:
    """Both splits loaded (host and device copies), the validation images' degraded copies,
    one batch's sharp windows (patch + degradation margins) and activations (x3 for grads)."""
    from learn.train import PATCH_MARGIN_LR

    s = manifest["scale"]
    est = Estimate(what="training")
    est.add("data set", 2 * (split_bytes(manifest, "train") + split_bytes(manifest, "val"))
            + split_bytes(manifest, "val") / s**2, data_key)
    est.add("degradation windows", 3 * batch * ((patch + 2 * PATCH_MARGIN_LR) * s) ** 2 * F32,
            "--batch", "--patch")
    est.add("batch activations", 3 * batch * (patch * s) ** 2 * width * depth * F32,
            "--batch", "--patch", "--width", "--depth")
    return est


def evaluation(n: int, size: int, *, scale: int, width: int, key: str) -> Estimate:
    """Held-out images, their degraded copies and three methods' outputs, one image's activations."""
    est = Estimate(what="the evaluation")
    est.add("images", 6 * n * size**2 * F32, key, "--size")
    est.add("activations", 4 * size**2 * width * F32, "--size")
    return est


def cpu_workers() -> int:
    return os.cpu_count() or 1
