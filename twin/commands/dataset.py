"""``twin dataset``: write a super-resolution training set (shards + manifest), resumable."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import fraction, nonnegative_int, positive_int


def add_parser(subparsers):
    p = subparsers.add_parser(
        "dataset", help="make a training set of sharp images",
        description="Render synthetic sharp scenes and/or cut your own optical images into "
                    "crops, normalise them (0.5/99.5 percentiles of each image) and write "
                    "shards + manifest.json. `twin train` degrades them on the fly over its "
                    "blur/noise ranges. Re-running the same command resumes.")
    p.add_argument("out", help="data set folder")
    p.add_argument("--synthetic", type=nonnegative_int, default=0, metavar="N",
                   help="number of synthetic scenes (default 0)")
    p.add_argument("--images", metavar="FOLDER",
                   help="folder of your own TIFF/PNG/JPEG optical images (colour becomes grey; "
                        "the shipped ones: learn/training_images)")
    p.add_argument("--scale", type=int, default=2, choices=(2, 3, 4),
                   help="super-resolution factor the set is for")
    p.add_argument("--size", type=positive_int, default=192,
                   help="side of each sharp image in HR px, a multiple of --scale")
    p.add_argument("--crop-step", type=positive_int, metavar="PX",
                   help="distance between crops of --images (default --size: no overlap)")
    p.add_argument("--shard-size", type=positive_int, default=64, help="images per shard")
    p.add_argument("--val-fraction", type=fraction, default=0.1, help="held-out fraction, in [0, 1)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="scene and split seed")
    p.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    add_budget_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    import math

    from learn import make_dataset
    from physics.errors import OptionError
    from physics.imageio import image_info
    from twin import budget, sizing
    from twin.console import emit, progress
    from twin.options import output_dir

    output_dir(args.out)
    if args.size % args.scale or args.size < 4 * args.scale:
        raise OptionError(f"--size: expected a multiple of --scale {args.scale} and >= "
                          f"{4 * args.scale}, got {args.size}")
    if args.synthetic == 0 and args.images is None:
        raise OptionError("--synthetic/--images: give a number of synthetic scenes and/or an image folder")
    files = []
    if args.images is not None:
        from learn.intensity import list_images

        files = [image_info(p) for p in list_images(args.images)]
    step = args.crop_step or args.size
    n_items = args.synthetic + sum(max((f.shape[-2] - args.size) // step + 1, 0)
                                   * max((f.shape[-1] - args.size) // step + 1, 0) for f in files)
    budget.check(sizing.dataset(n_items, hr_size=args.size, scale=args.scale,
                                shard_size=args.shard_size, files=files), budget.from_args(args))
    n_val = round(args.synthetic * args.val_fraction)
    # The image folder is scanned inside make_dataset; the bar counts synthetic shards
    # exactly and grows if user images add more.
    total = math.ceil((args.synthetic - n_val) / args.shard_size) + math.ceil(n_val / args.shard_size)
    with progress("dataset", max(total, 1), enabled=not args.json) as advance:
        manifest = make_dataset(args.out, scale=args.scale, n_synthetic=args.synthetic,
                                image_dir=args.images, hr_size=args.size, crop_step=args.crop_step,
                                shard_size=args.shard_size, val_fraction=args.val_fraction,
                                seed=args.seed, progress=advance)
    emit({"out": args.out, "counts": manifest["counts"], "shards": len(manifest["shards"]),
          "scale": manifest["scale"], "seed": manifest["seed"]},
         as_json=args.json, title="data set")
    return 0
