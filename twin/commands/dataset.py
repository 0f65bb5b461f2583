"""``twin dataset``: write a super-resolution training set (shards + manifest), resumable."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser(
        "dataset", help="make a training set of sharp images",
        description="Render synthetic sharp scenes and/or cut your own optical images into "
                    "crops, normalise them (0.5/99.5 percentiles of each image) and write "
                    "shards + manifest.json. `twin train` degrades them on the fly over its "
                    "blur/noise ranges. Re-running the same command resumes.")
    p.add_argument("out", help="data set folder")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="number of synthetic scenes (default 0)")
    p.add_argument("--images", metavar="FOLDER", help="folder of your own TIFF/PNG optical images "
                   "(the shipped ones: learn/training_images)")
    p.add_argument("--scale", type=int, default=2, choices=(2, 3, 4),
                   help="super-resolution factor the set is for (2)")
    p.add_argument("--size", type=int, default=192, help="side of each sharp image in HR px (192)")
    p.add_argument("--crop-step", type=int, metavar="PX",
                   help="distance between crops of --images (default --size: no overlap)")
    p.add_argument("--shard-size", type=int, default=64, help="images per shard (64)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="held-out fraction (0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    import math

    from learn import make_dataset
    from twin.console import emit, progress

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
