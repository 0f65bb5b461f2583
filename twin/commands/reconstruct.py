"""``twin reconstruct``: slices from a projection stack and its geometry.

Input projections are line integrals ``-log(I / I0)`` (what ``twin simulate`` writes).
Raw intensities are accepted with ``--log --i0 I0``, which converts them here; there is
no other conversion and no clipping (non-positive intensities are an error).
"""

from __future__ import annotations

import argparse

from twin.console import emit, progress


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
    p.add_argument("--method", choices=["sas", "fbp", "sart", "sirt", "grad"], default="fbp",
                   help="sas: shift-and-add; fbp: filtered back projection; sart/sirt: algebraic "
                        "with positivity; grad: optax least squares (+ TV) (default: fbp)")
    p.add_argument("--out", required=True, metavar="SLICES.tif")
    p.add_argument("--iterations", type=int, default=None,
                   help="iterations for sart/sirt/grad (defaults: sart 10, sirt 50, grad 100)")
    p.add_argument("--subsets", type=int, default=None,
                   help="ordered subsets for sart/sirt (sart default: one per view; sirt: 1)")
    p.add_argument("--relaxation", type=float, default=None, help="sart/sirt relaxation in (0, 2)")
    p.add_argument("--tv", type=float, default=0.0, help="grad: total-variation weight (default 0)")
    p.add_argument("--slice-thickness", type=float, default=None, metavar="UM",
                   help="fbp: target slice thickness in um (slice-thickness window; default none)")
    p.add_argument("--apodisation", type=float, default=1.0, metavar="FRACTION",
                   help="fbp: Hann cut-off as a fraction of Nyquist (default 1.0)")
    p.add_argument("--heights", default=None, metavar="START:STOP:STEP|H1,H2,...",
                   help="slice heights in um (evenly spaced); default: the geometry's volume grid")
    p.add_argument("--log", action="store_true",
                   help="input holds raw intensities: convert with -log(I / I0) (needs --i0)")
    p.add_argument("--i0", type=float, default=None, help="unattenuated intensity for --log")
    p.add_argument("--float64", action="store_true", help="compute in float64")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=run)


def parse_heights(text: str):
    """``"a:b:step"`` (inclusive of b when it falls on the grid) or ``"h1,h2,..."`` in um."""
    import numpy as np

    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if not step > 0 or stop < start:
                raise ValueError
            n = int(np.floor((stop - start) / step + 1e-9)) + 1
            return start + step * np.arange(n)
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise ValueError(f"--heights: expected START:STOP:STEP or a comma list of um, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from physics.imageio import read_tiff, write_tiff

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import recon
    from recon import geometry as geo

    if args.log != (args.i0 is not None):
        raise ValueError("--log and --i0: give both (raw intensities) or neither (line integrals)")
    geom = geo.load(args.geometry)
    image = read_tiff(args.projections)
    data = np.asarray(image.data, dtype=np.float64 if args.float64 else np.float32)
    if geom.ndim == 2 and data.ndim == 3 and data.shape[1] == 1:
        data = data[:, 0, :]
    if data.shape != geom.proj_shape:
        raise ValueError(f"{args.projections}: shape {data.shape} does not match the geometry's "
                         f"projections {geom.proj_shape} (views, rows, cols) from {args.geometry}")
    if args.log:
        if not args.i0 > 0:
            raise ValueError(f"--i0: expected a positive intensity, got {args.i0!r}")
        bad = int(np.count_nonzero(~(data > 0)))
        if bad:
            raise ValueError(f"{args.projections}: {bad} non-positive intensities; -log(I/I0) is undefined")
        data = -np.log(data / args.i0)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{args.projections}: contains NaN or inf")

    options: dict = {}
    if args.heights is not None:
        options["heights_um"] = parse_heights(args.heights)
    if args.method in ("sart", "sirt", "grad") and args.iterations is not None:
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

    defaults = {"sart": 10, "sirt": 50, "grad": 100}
    total = options.get("iterations", defaults.get(args.method, 1))
    with progress(f"reconstruct ({args.method})", total,
                  enabled=not args.no_progress and not args.json) as advance:
        def callback(step, n, info):
            text = ", ".join(f"{k} {v:.3g}" for k, v in info.items())
            advance(1, info=text)

        result = recon.reconstruct(data, geom, method=args.method, callback=callback, **options)

    slices = np.asarray(result.data)
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
    summary = {"out": str(args.out), "method": args.method, "shape": list(slices.shape),
               "pixel_size_um": pixel, "slice_heights_um": meta["slice_heights_um"],
               "min": float(slices.min()), "max": float(slices.max()), **info}
    for key in ("relative_residual", "relative_loss"):
        if key in result.info:
            summary[f"final_{key}"] = result.info[key][-1]
    emit(summary, as_json=args.json, title="twin reconstruct")
    return 0
