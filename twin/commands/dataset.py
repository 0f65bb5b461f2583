"""``twin dataset``: write a super-resolution training set (shards + manifest), resumable."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import fraction, nonnegative_float, nonnegative_int, positive_int


def add_parser(subparsers):
    p = subparsers.add_parser(
        "dataset", help="make a training set of (sharp, degraded) image pairs",
        description="Render synthetic sharp scenes and/or cut your own optical images, degrade "
                    "them (bicubic down-sampling, Gaussian blur in LR px, Gaussian noise) and "
                    "write shards + manifest.json. Re-running the same command resumes.")
    p.add_argument("out", help="data set folder")
    p.add_argument("--synthetic", type=nonnegative_int, default=0, metavar="N",
                   help="number of synthetic scenes (default 0)")
    p.add_argument("--images", metavar="FOLDER",
                   help="folder of your own TIFF/PNG/JPEG optical images (colour becomes grey)")
    add_degradation_args(p)
    p.add_argument("--size", type=positive_int, default=192,
                   help="side of each sharp image in HR px, a multiple of --scale")
    p.add_argument("--shard-size", type=positive_int, default=64, help="images per shard")
    p.add_argument("--val-fraction", type=fraction, default=0.1, help="held-out fraction, in [0, 1)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="scene, split and noise seed")
    p.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    add_budget_option(p)
    p.set_defaults(handler=run)


def add_degradation_args(p, *, defaults: bool = True):
    """--scale, --blur-sigma/--edge-json, --noise-sigma/--noise-json (shared with evaluate)."""
    p.add_argument("--scale", type=int, default=2 if defaults else None, choices=(2, 3, 4),
                   help="down-sampling factor" + ("" if defaults else " (default: the checkpoint's)"))
    p.add_argument("--blur-sigma", type=nonnegative_float, metavar="PX",
                   help="Gaussian blur sigma in LR (X-ray) pixels, a pixel count (default 1.0)")
    p.add_argument("--edge-json", metavar="FILE", help="take the blur sigma (sigma_px) from "
                   "`twin measure edge` output")
    p.add_argument("--noise-sigma", type=nonnegative_float,
                   help="noise sigma in normalised units (default 0.01)")
    p.add_argument("--noise-json", metavar="FILE", help="take the noise sigma (sigma_normalized) "
                   "from `twin measure noise` output")


def degradation_from_args(args, *, scale=None):
    from learn import Degradation

    return Degradation.from_measurements(
        scale=args.scale if scale is None else scale, edge_json=args.edge_json,
        noise_json=args.noise_json, blur_sigma_px=args.blur_sigma, noise_sigma=args.noise_sigma)


def run(args) -> int:
    import math

    from learn import make_dataset
    from physics.errors import OptionError
    from physics.imageio import image_info
    from twin import budget, sizing
    from twin.console import emit, progress
    from twin.options import output_dir

    output_dir(args.out)
    deg = degradation_from_args(args)
    if args.size % deg.scale or args.size < 4 * deg.scale:
        raise OptionError(f"--size: expected a multiple of --scale {deg.scale} and >= {4 * deg.scale}, "
                          f"got {args.size}")
    if args.synthetic == 0 and args.images is None:
        raise OptionError("--synthetic/--images: give a number of synthetic scenes and/or an image folder")
    files = []
    if args.images is not None:
        from learn.intensity import list_images

        files = [image_info(p) for p in list_images(args.images)]
    n_items = args.synthetic + sum((f.shape[-2] // args.size) * (f.shape[-1] // args.size)
                                   for f in files)
    budget.check(sizing.dataset(n_items, hr_size=args.size, scale=deg.scale,
                                shard_size=args.shard_size, files=files), budget.from_args(args))
    n_val = round(args.synthetic * args.val_fraction)
    # The image folder is scanned inside make_dataset; the bar counts synthetic shards
    # exactly and grows if user images add more.
    total = math.ceil((args.synthetic - n_val) / args.shard_size) + math.ceil(n_val / args.shard_size)
    with progress("dataset", max(total, 1), enabled=not args.json) as advance:
        manifest = make_dataset(args.out, degradation=deg, n_synthetic=args.synthetic,
                                image_dir=args.images, hr_size=args.size,
                                shard_size=args.shard_size, val_fraction=args.val_fraction,
                                seed=args.seed, progress=advance)
    emit({"out": args.out, "counts": manifest["counts"], "shards": len(manifest["shards"]),
          "degradation": manifest["degradation"], "seed": manifest["seed"]},
         as_json=args.json, title="data set")
    return 0
