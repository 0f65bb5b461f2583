"""``twin reconstruct``: slices from a projection stack and its geometry.

Input projections are line integrals ``-log(I / I0)`` (what ``twin simulate`` writes).
Raw intensities are accepted with ``--log --i0 I0``, which converts them here; there is
no other conversion and no clipping (non-positive intensities are an error).

Iterative methods (sart, sirt, cgls, grad) are resumable: every ``--checkpoint-every``
iterations, and when interrupted, the iterate, the iteration count, the residual history
(and grad's optimizer state or cgls's search state) go atomically to ``OUT.partial.npz`` beside the output,
stamped with a fingerprint of the inputs and options. Running the same command again
continues from it and only runs the remaining iterations, with the same result as an
uninterrupted run; a different command (other data, geometry or options) starts afresh.
The partial file is deleted once the output is written.
"""

from __future__ import annotations

import argparse

from twin.budget import add_option as add_budget_option
from twin.console import emit, progress
from twin.options import nonnegative_float, positive_float, positive_int, quantity


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "reconstruct",
        help="reconstruct tomosynthesis slices (distance-driven, JAX)",
        description="Reconstruct slices from PROJECTIONS.tif (float32 (views, rows, cols) line "
                    "integrals) and the geometry.json written by `twin simulate`; writes a float32 "
                    "(heights, rows, cols) TIFF with pixel size and slice_heights_um in its metadata.",
    )
    p.add_argument("projections", metavar="PROJECTIONS.tif")
    p.add_argument("--geometry", required=True, metavar="GEOM.json", help="geometry.json")
    p.add_argument("--method", choices=["sas", "fbp", "sart", "sirt", "cgls", "grad"], default="fbp",
                   help="sas: shift-and-add; fbp: filtered back projection; sart/sirt: algebraic "
                        "with positivity; cgls: conjugate gradient least squares; grad: optax "
                        "least squares (+ TV) (default: fbp)")
    p.add_argument("--out", required=True, metavar="SLICES.tif")
    p.add_argument("--iterations", type=positive_int, default=None,
                   help="iterations for sart/sirt/cgls/grad (defaults: sart 10, sirt 50, cgls 20, "
                        "grad 100)")
    p.add_argument("--subsets", type=positive_int, default=None,
                   help="ordered subsets for sart/sirt (sart default: one per view; sirt: 1)")
    p.add_argument("--relaxation", type=positive_float, default=None,
                   help="sart/sirt relaxation in (0, 2)")
    p.add_argument("--tv", type=nonnegative_float, default=0.0,
                   help="grad: total-variation weight (default 0)")
    p.add_argument("--slice-thickness", type=quantity("um"), default=None, metavar='"4 um"',
                   help="fbp: target slice thickness with unit (slice-thickness window; default none)")
    p.add_argument("--apodisation", type=positive_float, default=1.0, metavar="FRACTION",
                   help="fbp: Hann cut-off as a fraction of Nyquist, in (0, 1] (default 1.0)")
    p.add_argument("--heights", default=None, metavar='"START:STOP:STEP UNIT"',
                   help='slice heights with unit, evenly spaced: "10:30:5 um" or "10,20,30 um" '
                        "(a unit on the last value applies to all); default: the geometry's "
                        "volume grid")
    p.add_argument("--log", action="store_true",
                   help="input holds raw intensities: convert with -log(I / I0) (needs --i0)")
    p.add_argument("--i0", type=positive_float, default=None,
                   help="unattenuated intensity for --log (same units as the input)")
    p.add_argument("--float64", action="store_true", help="compute in float64")
    p.add_argument("--checkpoint-every", type=positive_int, default=10, metavar="N",
                   help="sart/sirt/grad: save the iterate every N iterations (and on interrupt) to "
                        "OUT.partial.npz so a re-run resumes (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_budget_option(p)
    p.set_defaults(handler=run)


def parse_heights(text: str):
    """``"a:b:step um"`` (b included when it falls on the grid) or ``"h1,h2,... um"`` -> um.

    Every value may carry a unit; values without one take the unit of the last value,
    which must have one.
    """
    import numpy as np

    from physics.errors import OptionError
    from physics.units import UnitError, parse_quantity, to_float

    usage = 'expected START:STOP:STEP or H1,H2,... with a unit, e.g. "10:30:5 um"'
    ranged = ":" in text
    items = [t.strip() for t in text.split(":" if ranged else ",")]
    if ranged and len(items) != 3 or not all(items):
        raise OptionError(f"--heights: {usage}, got {text!r}")
    try:
        last = parse_quantity(items[-1], key="--heights")
        unit = None if last.unitless else str(last.units)
        if unit is None:
            raise OptionError(f"--heights: {text!r} has no unit; {usage}")
        values = []
        for item in items:
            q = parse_quantity(item, key="--heights")
            values.append(to_float(q if not q.unitless else f"{item} {unit}", "um", key="--heights"))
    except UnitError as exc:
        raise OptionError(f"{exc}; {usage}") from None
    if ranged:
        start, stop, step = values
        if not step > 0 or stop < start:
            raise OptionError(f"--heights: {text!r} needs STEP > 0 and STOP >= START")
        n = int(np.floor((stop - start) / step + 1e-9)) + 1
        if n > 100_000:
            raise OptionError(f"--heights: {text!r} makes {n} slices (at most 100000)")
        return start + step * np.arange(n)
    return np.array(values)


def _check_options(args, geom) -> None:
    """Refuse options the algorithms would refuse, with the option's name, before any work."""
    from physics.errors import OptionError

    if args.log != (args.i0 is not None):
        raise OptionError("--log and --i0: give both (raw intensities) or neither (line integrals)")
    if args.relaxation is not None and not args.relaxation < 2:
        raise OptionError(f"--relaxation: expected 0 < relaxation < 2, got {args.relaxation!r}")
    if args.subsets is not None and args.subsets > geom.n_views:
        raise OptionError(f"--subsets: expected at most the {geom.n_views} views, got {args.subsets}")
    if not args.apodisation <= 1:
        raise OptionError(f"--apodisation: expected a fraction of Nyquist in (0, 1], got {args.apodisation!r}")
    if args.method == "fbp" and geom.n_views < 2:
        raise OptionError("--method fbp: needs at least 2 views (the geometry has 1); use sas or sart")


def _load_geometry(path):
    """recon.geometry.load with file errors reported as the file's fault."""
    from pathlib import Path

    from physics.errors import InputFileError
    from recon import geometry as geo

    if Path(path).is_file() and Path(path).stat().st_size > 50_000_000:
        raise InputFileError(f"{path}: too large for a geometry file (> 50 MB)")
    try:
        return geo.load(path)
    except InputFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # parsing the file's content
        raise InputFileError(f"{path}: not a valid geometry ({type(exc).__name__}: "
                             f"{str(exc).removeprefix(str(path) + ': ')})") from None


def run(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from physics.imageio import read_tiff, write_tiff

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import recon
    from physics.errors import InputFileError, OptionError, ResultError
    from physics.imageio import image_info
    from twin import budget, sizing
    from twin.options import output_file

    output_file(args.out)
    geom = _load_geometry(args.geometry)
    _check_options(args, geom)
    heights = parse_heights(args.heights) if args.heights is not None else None
    if heights is not None:
        try:
            sized = geom.with_heights(heights)
        except ValueError as exc:  # the heights do not fit the geometry's slice spacing
            raise OptionError(f"--heights: {str(exc).removeprefix('heights_um: ')}") from None
    else:
        sized = geom
    info = image_info(args.projections)
    est = sizing.reconstruction(sized.vol_shape, geom.proj_shape, float64=args.float64,
                                method=args.method, keys=("--geometry", "--heights"))
    est.add("decoded projections", info.read_bytes(), "PROJECTIONS")
    budget.check(est, budget.from_args(args))
    image = read_tiff(args.projections)
    data = np.asarray(image.data, dtype=np.float64 if args.float64 else np.float32)
    if geom.ndim == 2 and data.ndim == 3 and data.shape[1] == 1:
        data = data[:, 0, :]
    if data.shape != geom.proj_shape:
        raise InputFileError(f"{args.projections}: shape {data.shape} does not match the geometry's "
                             f"projections {geom.proj_shape} (views, rows, cols) from {args.geometry}")
    if args.log:
        bad = int(np.count_nonzero(~(data > 0)))
        if bad:
            raise InputFileError(f"{args.projections}: {bad} non-positive intensities; "
                                 "-log(I/I0) is undefined")
        data = -np.log(data / args.i0)
    if not np.all(np.isfinite(data)):
        raise InputFileError(f"{args.projections}: contains NaN or inf")

    options: dict = {}
    if heights is not None:
        options["heights_um"] = heights
    if args.method in ("sart", "sirt", "cgls", "grad") and args.iterations is not None:
        options["iterations"] = args.iterations
    if args.method in ("sart", "sirt"):
        if args.subsets is not None:
            options["n_subsets"] = args.subsets
        if args.relaxation is not None:
            options["relaxation"] = args.relaxation
    if args.method == "grad":
        options["tv_weight"] = args.tv
    if args.method == "fbp":
        options["slice_thickness_um"] = args.slice_thickness
        options["apodisation_cutoff"] = args.apodisation

    defaults = {"sart": 10, "sirt": 50, "cgls": 20, "grad": 100}
    total = options.get("iterations", defaults.get(args.method, 1))
    partial = partial_path(args.out)
    resumable = args.method in defaults
    if resumable:
        stamp = fingerprint(data, geom, args.method, options, float64=args.float64)
        options["resume"] = load_partial(partial, stamp, vol_shape=sized.vol_shape)
    with progress(f"reconstruct ({args.method})", total,
                  enabled=not args.no_progress and not args.json) as advance:
        if resumable and options["resume"] is not None:
            advance(options["resume"].iteration, info="resumed")

        def callback(step, n, info):
            text = ", ".join(f"{k} {v:.3g}" for k, v in info.items())
            advance(1, info=text)

        if resumable:
            result = run_resumable(data, geom, method=args.method, options=options, partial=partial,
                                   stamp=stamp, every=args.checkpoint_every, callback=callback)
        else:
            result = recon.reconstruct(data, geom, method=args.method, callback=callback, **options)

    slices = np.asarray(result.data)
    if not np.all(np.isfinite(slices)):
        raise ResultError(f"{args.out}: the reconstruction diverged (NaN or inf) with these options; "
                          "nothing written (lower --relaxation, or use fewer --iterations)")
    if slices.ndim == 2:  # 2D geometry: (heights, 1, cols)
        slices = slices[:, None, :]
    pixel = float(result.voxel_um[-1])
    meta = {"slice_heights_um": [float(h) for h in result.heights_um],
            "voxel_um": [float(v) for v in result.voxel_um], "method": args.method,
            "units": "1/um (linear attenuation coefficient)",
            "geometry": str(args.geometry), "projections": str(args.projections)}
    info = {k: v for k, v in result.info.items() if not isinstance(v, list)}
    meta["options"] = info
    write_tiff(args.out, slices.astype(np.float32), pixel_size_um=pixel, metadata=meta)
    partial.unlink(missing_ok=True)  # the output is complete: nothing left to resume
    summary = {"out": str(args.out), "method": args.method, "shape": list(slices.shape),
               "pixel_size_um": pixel, "slice_heights_um": meta["slice_heights_um"],
               "min": float(slices.min()), "max": float(slices.max()), **info}
    for key in ("relative_residual", "relative_loss"):
        if key in result.info:
            summary[f"final_{key}"] = result.info[key][-1]
    emit(summary, as_json=args.json, title="twin reconstruct")
    return 0


# ----------------------------------------------------------------------------- resuming
def partial_path(out):
    """``OUT.partial.npz`` beside the output."""
    from pathlib import Path

    out = Path(out)
    return out.with_name(out.name + ".partial.npz")


def fingerprint(data, geom, method: str, options: dict, *, float64: bool) -> str:
    """SHA-256 of everything that decides the result: projections, geometry, method, options."""
    import hashlib
    import json

    import numpy as np

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(data).tobytes())
    h.update(str((data.dtype.str, data.shape)).encode())
    h.update(np.ascontiguousarray(geom.vectors, dtype=np.float64).tobytes())
    h.update(repr((geom.det_shape, geom.vol_shape, geom.vol_window)).encode())
    described = {k: (np.asarray(v).tolist() if hasattr(v, "__len__") else v) for k, v in options.items()
                 if k != "resume"}
    h.update(json.dumps({"method": method, "float64": float64, **described}, sort_keys=True).encode())
    return h.hexdigest()


def load_partial(path, stamp: str, *, vol_shape=None):
    """The saved :class:`recon.IterationState` if ``path`` holds one with this fingerprint, else None.

    A damaged file (truncated archive, missing or mis-shaped arrays, non-finite iterate)
    is refused naming the file, never half used.
    """
    import zipfile

    import numpy as np

    from physics.errors import InputFileError
    from recon import IterationState

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != stamp:
                return None  # another command's partial result: start afresh (it is overwritten)
            n_leaves = int(z["n_leaves"])
            state = IterationState(method=str(z["method"]), iteration=int(z["iteration"]), x=z["x"],
                                   history=tuple(float(v) for v in z["history"]),
                                   optimizer_leaves=tuple(z[f"leaf_{i}"] for i in range(n_leaves)))
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: unreadable partial result ({type(exc).__name__}); "
                             "delete it to start afresh") from None
    bad = (vol_shape is not None and tuple(state.x.shape) != tuple(vol_shape)) \
        or not np.all(np.isfinite(state.x)) or len(state.history) != state.iteration
    if bad:
        raise InputFileError(f"{path}: damaged partial result (shape, length or NaN); "
                             "delete it to start afresh")
    return state


def save_partial(path, state, stamp: str) -> None:
    """Write ``state`` atomically (temp file + rename): a crash never leaves half a file."""
    import numpy as np

    from physics.imageio import atomic_path

    leaves = {f"leaf_{i}": np.asarray(a) for i, a in enumerate(state.optimizer_leaves)}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, fingerprint=np.str_(stamp), method=np.str_(state.method),
                 iteration=np.int64(state.iteration), x=np.asarray(state.x),
                 history=np.asarray(state.history, dtype=np.float64),
                 n_leaves=np.int64(len(leaves)), **leaves)


def run_resumable(data, geom, *, method: str, options: dict, partial, stamp: str, every: int,
                  callback=None):
    """``recon.reconstruct`` saving its state every ``every`` iterations and on interrupt."""
    import recon

    latest, saved = {}, {"iteration": -1}
    if options.get("resume") is not None:
        saved["iteration"] = options["resume"].iteration

    def checkpoint(state):
        latest["state"] = state
        if state.iteration % every == 0:
            save_partial(partial, state, stamp)
            saved["iteration"] = state.iteration

    try:
        return recon.reconstruct(data, geom, method=method, callback=callback, checkpoint=checkpoint,
                                 **options)
    except KeyboardInterrupt:
        state = latest.get("state")
        if state is not None and state.iteration > saved["iteration"]:
            save_partial(partial, state, stamp)
        raise
