"""``twin enhance``: super-resolve a 2D image or a 3D stack with a trained checkpoint."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import nonnegative_float, positive_int, quantity


def add_parser(subparsers):
    p = subparsers.add_parser(
        "enhance", help="super-resolve an image or stack",
        description="Apply a checkpoint (default: the shipped one) slice by slice, tiled with "
                    "overlap; keeps the input dtype range and writes the new pixel size (none "
                    "when the input has none and --pixel-size is not given). The network is told "
                    "the image's blur and noise: give them (--blur-sigma, --noise-sigma, or --from "
                    "a folder of `twin measure` results) or let it take the checkpoint's default "
                    "blur and estimate the noise from the image.")
    p.add_argument("input", help="input image: TIFF (2D image or 3D stack), PNG or JPEG "
                                 "(colour is converted to grey)")
    p.add_argument("--out", required=True, help="output TIFF")
    p.add_argument("--checkpoint", help="checkpoint folder (default: shipped model)")
    p.add_argument("--blur-sigma", type=nonnegative_float, metavar="PX",
                   help="Gaussian blur sigma of the input in its own (LR) pixels, a pixel count, "
                        "e.g. sigma_px of `twin measure edge` (default: the checkpoint's, 1.0 for "
                        "the shipped one)")
    p.add_argument("--noise-sigma", type=nonnegative_float, metavar="SIGMA",
                   help="noise sigma in normalised units (grey-level sigma / (p99.5 - p0.5) of the "
                        "slice), e.g. sigma_normalized of `twin measure noise` (default: estimated "
                        "from each slice)")
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="folder holding edge.json (sigma_px) and/or noise.json (sigma_normalized) "
                        "written by `twin measure`; a number given on the command line wins")
    p.add_argument("--single-pass", action="store_true",
                   help="one network pass instead of the average over the 8 flips/rotations "
                        "(self-ensemble): 8x faster, 0.1-0.7 dB lower PSNR on the test set")
    p.add_argument("--tile", type=positive_int, default=256, help="tile side in LR pixels, >= 8")
    p.add_argument("--pixel-size", type=quantity("um"), metavar='"0.406 um"',
                   help="input pixel size with unit, when the file carries none (only used to "
                        "write the output's pixel size)")
    p.add_argument("--json", action="store_true")
    add_budget_option(p)
    p.set_defaults(handler=run)


def measured_sigmas(from_dir, blur_sigma, noise_sigma):
    """(blur, noise) from the command line, else from ``from_dir``'s measurement files."""
    from pathlib import Path

    from learn import Degradation
    from physics.errors import InputFileError

    if from_dir is None:
        return blur_sigma, noise_sigma
    folder = Path(from_dir)
    if not folder.is_dir():
        raise InputFileError(f"{from_dir}: --from folder not found")
    edge, noise = folder / "edge.json", folder / "noise.json"
    if not edge.is_file() and not noise.is_file():
        raise InputFileError(f"{from_dir}: holds neither edge.json nor noise.json (`twin measure`)")
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
    from physics.errors import InputFileError, OptionError, ResultError
    from physics.imageio import image_info, read_image, write_tiff
    from twin import budget, sizing
    from twin.console import emit, progress
    from twin.options import output_file

    if args.tile < 8:
        raise OptionError(f"--tile: expected an integer >= 8, got {args.tile}")
    output_file(args.out)
    info = image_info(args.input)
    blur, noise = measured_sigmas(args.from_dir, args.blur_sigma, args.noise_sigma)
    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    if noise is None:
        from learn.noise_estimate import MIN_PIXELS

        rows, cols = info.shape[-2:]
        if (rows - 2) * (cols - 2) < MIN_PIXELS:
            raise InputFileError(f"{args.input}: {rows}x{cols} is too small to estimate its noise "
                                 f"(needs {MIN_PIXELS} interior pixels); give --noise-sigma or --from")
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)  # reported below, once per slice
        with progress("enhance", n, enabled=not args.json) as advance:
            out, used = enhance(img.data, ck, blur_sigma=blur, noise_sigma=noise, tile=args.tile,
                                self_ensemble=not args.single_pass, progress=advance, return_info=True)
    if np.issubdtype(out.dtype, np.floating) and not np.all(np.isfinite(out)):
        raise ResultError(f"{args.out}: the network gave NaN or inf for this input; nothing written")
    for i, u in enumerate(used):
        where = f"slice {i}: " if n > 1 else ""
        for w in u["warnings"]:
            print(f"twin: warning: {args.input}: {where}{w}", file=sys.stderr)
    new_pixel = None if pixel is None else pixel / ck.scale
    conditioning = [{k: u[k] for k in ("blur_sigma_px", "noise_sigma", "blur_source", "noise_source")}
                    for u in used]
    meta = {**img.metadata, "enhanced_by": _checkpoint_label(ck), "scale": ck.scale,
            "input_pixel_size_um": pixel, "conditioning": conditioning}
    dtype = out.dtype if out.dtype in (np.uint8, np.uint16) else np.float32
    write_tiff(args.out, out, pixel_size_um=new_pixel, dtype=dtype, metadata=meta)
    if pixel is None:
        print(f"twin: note: {args.input} carries no pixel size and --pixel-size was not given; "
              f"{args.out} is written without one", file=sys.stderr)
    noise_used = [c["noise_sigma"] for c in conditioning]
    result = {"out": args.out, "shape": list(out.shape), "dtype": str(out.dtype), "scale": ck.scale,
              "pixel_size_um": new_pixel,
              "blur_sigma_px": conditioning[0]["blur_sigma_px"],
              "blur_source": conditioning[0]["blur_source"],
              "noise_sigma": noise_used[0] if n == 1 else noise_used,
              "noise_source": conditioning[0]["noise_source"],
              "passes": used[0]["passes"],
              "trained_range": ck.trained_range.to_dict()}
    emit(result, as_json=args.json, title="enhance")
    return 0


def _checkpoint_label(ck) -> str:
    """The checkpoint's folder name, or "shipped default" (no machine path in the output)."""
    from learn import default_checkpoint_path

    if ck.path is not None and ck.path.resolve() == default_checkpoint_path().resolve():
        return "shipped default checkpoint"
    return ck.path.name if ck.path is not None else "checkpoint"
