"""``twin enhance``: super-resolve a 2D image or a 3D stack with a trained checkpoint."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser(
        "enhance", help="super-resolve an image or stack",
        description="Apply a checkpoint (default: the shipped one) slice by slice, tiled with "
                    "overlap; keeps the input dtype range and writes the new pixel size.")
    p.add_argument("input", help="input TIFF (2D image or 3D stack)")
    p.add_argument("--out", required=True, help="output TIFF")
    p.add_argument("--checkpoint", help="checkpoint folder (default: shipped model)")
    p.add_argument("--tile", type=int, default=256, help="tile side in LR pixels (256)")
    p.add_argument("--pixel-size", type=float, metavar="UM",
                   help="input pixel size in um when the TIFF carries none")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args) -> int:
    import numpy as np

    from learn import default_checkpoint_path, enhance, load_checkpoint
    from physics.imageio import read_tiff, write_tiff
    from twin.console import emit, progress

    img = read_tiff(args.input)
    pixel = img.pixel_size_um if img.pixel_size_um is not None else args.pixel_size
    if pixel is None:
        raise ValueError(f"{args.input}: carries no pixel size; pass --pixel-size UM")
    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    n = 1 if img.data.ndim == 2 else img.data.shape[0]
    with progress("enhance", n, enabled=not args.json) as advance:
        out = enhance(img.data, ck, tile=args.tile, progress=advance)
    new_pixel = pixel / ck.scale
    meta = {**img.metadata, "enhanced_by": str(ck.path), "scale": ck.scale,
            "input_pixel_size_um": pixel}
    dtype = out.dtype if out.dtype in (np.uint8, np.uint16) else np.float32
    write_tiff(args.out, out, pixel_size_um=new_pixel, dtype=dtype, metadata=meta)
    emit({"out": args.out, "shape": list(out.shape), "dtype": str(out.dtype), "scale": ck.scale,
          "pixel_size_um": new_pixel}, as_json=args.json, title="enhance")
    return 0
