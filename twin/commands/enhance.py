"""``twin enhance``: super-resolve a 2D image or a 3D stack with a trained checkpoint."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser(
        "enhance", help="super-resolve an image or stack",
        description="Apply a checkpoint (default: the shipped one) slice by slice, tiled with "
                    "overlap; keeps the input dtype range and writes the new pixel size. The "
                    "network is told the image's blur and noise: give them (--blur-sigma, "
                    "--noise-sigma, or --from a folder of `twin measure` results) or let it "
                    "take the checkpoint's default blur and estimate the noise from the image.")
    p.add_argument("input", help="input TIFF (2D image or 3D stack)")
    p.add_argument("--out", required=True, help="output TIFF")
    p.add_argument("--checkpoint", help="checkpoint folder (default: shipped model)")
    p.add_argument("--blur-sigma", type=float, metavar="PX",
                   help="Gaussian blur sigma of the input in its own (LR) pixels, e.g. sigma_px "
                        "of `twin measure edge` (default: the checkpoint's, 1.0 for the shipped one)")
    p.add_argument("--noise-sigma", type=float, metavar="SIGMA",
                   help="noise sigma in normalised units (grey-level sigma / (p99.5 - p0.5) of the "
                        "slice), e.g. sigma_normalized of `twin measure noise` (default: estimated "
                        "from each slice)")
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="folder holding edge.json (sigma_px) and/or noise.json (sigma_normalized) "
                        "written by `twin measure`; a number given on the command line wins")
    p.add_argument("--tile", type=int, default=256, help="tile side in LR pixels (256)")
    p.add_argument("--pixel-size", type=float, metavar="UM",
                   help="input pixel size in um when the TIFF carries none")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def measured_sigmas(from_dir, blur_sigma, noise_sigma):
    """(blur, noise) from the command line, else from ``from_dir``'s measurement files."""
    from pathlib import Path

    from learn import Degradation

    if from_dir is None:
        return blur_sigma, noise_sigma
    folder = Path(from_dir)
    if not folder.is_dir():
        raise ValueError(f"{from_dir}: --from folder not found")
    edge, noise = folder / "edge.json", folder / "noise.json"
    if not edge.is_file() and not noise.is_file():
        raise ValueError(f"{from_dir}: holds neither edge.json nor noise.json (`twin measure`)")
    d = Degradation.from_measurements(
        edge_json=edge if blur_sigma is None and edge.is_file() else None,
        noise_json=noise if noise_sigma is None and noise.is_file() else None,
        blur_sigma_px=blur_sigma, noise_sigma=noise_sigma)
    return (d.blur_sigma_px if blur_sigma is not None or edge.is_file() else None,
            d.noise_sigma if noise_sigma is not None or noise.is_file() else None)


def run(args) -> int:
    import sys
    import warnings

    import numpy as np

    from learn import OutOfRangeWarning, default_checkpoint_path, enhance, load_checkpoint
    from physics.imageio import read_tiff, write_tiff
    from twin.console import emit, progress

    img = read_tiff(args.input)
    pixel = img.pixel_size_um if img.pixel_size_um is not None else args.pixel_size
    if pixel is None:
        raise ValueError(f"{args.input}: carries no pixel size; pass --pixel-size UM")
    blur, noise = measured_sigmas(args.from_dir, args.blur_sigma, args.noise_sigma)
    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    n = 1 if img.data.ndim == 2 else img.data.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)  # reported below, once per slice
        with progress("enhance", n, enabled=not args.json) as advance:
            out, used = enhance(img.data, ck, blur_sigma=blur, noise_sigma=noise, tile=args.tile,
                                progress=advance, return_info=True)
    for i, u in enumerate(used):
        where = f"slice {i}: " if n > 1 else ""
        for w in u["warnings"]:
            print(f"twin: warning: {args.input}: {where}{w}", file=sys.stderr)
    new_pixel = pixel / ck.scale
    conditioning = [{k: u[k] for k in ("blur_sigma_px", "noise_sigma", "blur_source", "noise_source")}
                    for u in used]
    meta = {**img.metadata, "enhanced_by": ck.path.name, "scale": ck.scale,
            "input_pixel_size_um": pixel, "conditioning": conditioning}
    dtype = out.dtype if out.dtype in (np.uint8, np.uint16) else np.float32
    write_tiff(args.out, out, pixel_size_um=new_pixel, dtype=dtype, metadata=meta)
    noise_used = [c["noise_sigma"] for c in conditioning]
    result = {"out": args.out, "shape": list(out.shape), "dtype": str(out.dtype), "scale": ck.scale,
              "pixel_size_um": new_pixel,
              "blur_sigma_px": conditioning[0]["blur_sigma_px"],
              "blur_source": conditioning[0]["blur_source"],
              "noise_sigma": noise_used[0] if n == 1 else noise_used,
              "noise_source": conditioning[0]["noise_source"],
              "trained_range": ck.trained_range.to_dict()}
    emit(result, as_json=args.json, title="enhance")
    return 0
