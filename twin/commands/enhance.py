"""``twin enhance``: super-resolve a 2D image or a 3D stack with a trained checkpoint."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import positive_int, quantity


def add_parser(subparsers):
    p = subparsers.add_parser(
        "enhance", help="super-resolve an image or stack",
        description="Apply a checkpoint (default: the shipped one) slice by slice, tiled with "
                    "overlap; keeps the input dtype range and writes the new pixel size (none "
                    "when the input has none and --pixel-size is not given).")
    p.add_argument("input", help="input image: TIFF (2D image or 3D stack), PNG or JPEG "
                                 "(colour is converted to grey)")
    p.add_argument("--out", required=True, help="output TIFF")
    p.add_argument("--checkpoint", help="checkpoint folder (default: shipped model)")
    p.add_argument("--tile", type=positive_int, default=256, help="tile side in LR pixels, >= 8")
    p.add_argument("--pixel-size", type=quantity("um"), metavar='"0.406 um"',
                   help="input pixel size with unit, when the file carries none (only used to "
                        "write the output's pixel size)")
    p.add_argument("--json", action="store_true")
    add_budget_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    import sys

    import numpy as np

    from learn import default_checkpoint_path, enhance, load_checkpoint
    from physics.errors import InputFileError, OptionError, ResultError
    from physics.imageio import image_info, read_image, write_tiff
    from twin import budget, sizing
    from twin.console import emit, progress
    from twin.options import output_file

    if args.tile < 8:
        raise OptionError(f"--tile: expected an integer >= 8, got {args.tile}")
    output_file(args.out)
    info = image_info(args.input)
    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    budget.check(sizing.enhance(info, scale=ck.scale, width=ck.config.width, tile=args.tile,
                                key="INPUT"), budget.from_args(args))
    img = read_image(args.input)
    if min(img.data.shape[-2:]) < 2:
        raise InputFileError(f"{args.input}: each image must be at least 2x2 pixels, got "
                             f"{'x'.join(map(str, img.data.shape))}")
    if np.issubdtype(img.data.dtype, np.floating) and not np.all(np.isfinite(img.data)):
        raise InputFileError(f"{args.input}: contains NaN or inf")
    pixel = img.pixel_size_um if img.pixel_size_um is not None else args.pixel_size
    n = 1 if img.data.ndim == 2 else img.data.shape[0]
    with progress("enhance", n, enabled=not args.json) as advance:
        out = enhance(img.data, ck, tile=args.tile, progress=advance)
    if np.issubdtype(out.dtype, np.floating) and not np.all(np.isfinite(out)):
        raise ResultError(f"{args.out}: the network gave NaN or inf for this input; nothing written")
    new_pixel = None if pixel is None else pixel / ck.scale
    meta = {**img.metadata, "enhanced_by": _checkpoint_label(ck), "scale": ck.scale,
            "input_pixel_size_um": pixel}
    dtype = out.dtype if out.dtype in (np.uint8, np.uint16) else np.float32
    write_tiff(args.out, out, pixel_size_um=new_pixel, dtype=dtype, metadata=meta)
    if pixel is None:
        print(f"twin: note: {args.input} carries no pixel size and --pixel-size was not given; "
              f"{args.out} is written without one", file=sys.stderr)
    emit({"out": args.out, "shape": list(out.shape), "dtype": str(out.dtype), "scale": ck.scale,
          "pixel_size_um": new_pixel}, as_json=args.json, title="enhance")
    return 0


def _checkpoint_label(ck) -> str:
    """The checkpoint's folder name, or "shipped default" (no machine path in the output)."""
    from learn import default_checkpoint_path

    if ck.path is not None and ck.path.resolve() == default_checkpoint_path().resolve():
        return "shipped default checkpoint"
    return str(ck.path)
