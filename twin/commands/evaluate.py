"""``twin evaluate``: PSNR/SSIM of bicubic, Wiener and the network on held-out images."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import nonnegative_float, nonnegative_int, positive_int


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate", help="compare the network with bicubic and Wiener baselines",
        description="Degrade held-out sharp images (a folder of test images in 0..1 units, "
                    "synthetic test scenes never used in training, or a data set's val split) "
                    "and report PSNR/SSIM of bicubic up-sampling, bicubic + Wiener deconvolution "
                    "(blur and k tuned on the set) and the network run as `twin enhance` does, "
                    "by default given nothing but the image (noise estimated, default blur).")
    p.add_argument("--checkpoint", help="checkpoint folder (default: shipped model)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", metavar="FOLDER",
                     help="folder of sharp test images (TIFF/PNG/JPEG, 0..1 units), e.g. "
                          "tests/data/sr_testset (category = file name up to the first '_')")
    src.add_argument("--synthetic", type=positive_int, default=32, metavar="N",
                     help="number of held-out synthetic scenes")
    src.add_argument("--data", metavar="FOLDER", help="use the val split of this data set")
    p.add_argument("--size", type=positive_int, default=192,
                   help="synthetic scene side, HR px, a multiple of the scale")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="scene and noise seed")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), help="(default: the checkpoint's)")
    p.add_argument("--blur-sigma", type=nonnegative_float, metavar="PX",
                   help="blur sigma of the degradation in LR px, a pixel count (default: the "
                        "checkpoint's default, 1.0)")
    p.add_argument("--edge-json", metavar="FILE", help="take the blur sigma (sigma_px) from "
                   "`twin measure edge` output")
    p.add_argument("--noise-sigma", type=nonnegative_float, metavar="SIGMA",
                   help="noise sigma of the degradation in the images' 0..1 units (0.01)")
    p.add_argument("--noise-json", metavar="FILE", help="take the noise sigma (sigma_normalized) "
                   "from `twin measure noise` output")
    p.add_argument("--informed", action="store_true",
                   help="tell the network the true blur and noise instead of estimating")
    p.add_argument("--json", action="store_true")
    add_budget_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from learn import (Degradation, default_checkpoint_path, evaluate, heldout_synthetic,
                       load_checkpoint, load_dataset, load_testset)
    from learn.dataset import read_manifest
    from physics.errors import InputFileError, OptionError
    from twin import budget, sizing
    from twin.console import check_finite, emit

    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    scale = ck.scale if args.scale is None else args.scale
    if scale != ck.scale:
        raise OptionError(f"--scale: the checkpoint is for scale {ck.scale}, not {scale}")
    if args.images:
        from learn.intensity import list_images
        from physics.imageio import image_info

        infos = {p: image_info(p) for p in list_images(args.images)}
        for path, info in infos.items():
            if len(info.shape) != 2 or min(info.shape) < 4 * scale:
                raise InputFileError(f"{path}: expected a 2D image of at least {4 * scale} px, "
                                     f"got {'x'.join(map(str, info.shape))}")
        est = sizing.evaluation(len(infos), max(max(i.shape) for i in infos.values()), scale=scale,
                                width=ck.config.width, key="--images")
    elif args.data:
        manifest = read_manifest(args.data)
        if manifest["scale"] != scale:
            raise OptionError(f"--data: the data set is for x{manifest['scale']}, "
                              f"the checkpoint for x{scale}")
        est = sizing.evaluation(manifest["counts"]["val"], manifest["hr_size"], scale=scale,
                                width=ck.config.width, key="--data")
    else:
        if args.size % scale or args.size < 4 * scale:
            raise OptionError(f"--size: expected a multiple of the scale {scale} and >= {4 * scale}, "
                              f"got {args.size}")
        est = sizing.evaluation(args.synthetic, args.size, scale=scale, width=ck.config.width,
                                key="--synthetic")
    budget.check(est, budget.from_args(args))
    if args.images:
        hr = load_testset(args.images)
    elif args.data:
        hr = load_dataset(args.data, "val").hr
    else:
        hr = heldout_synthetic(args.synthetic, size=args.size, seed=args.seed)
    # Unspecified blur: the checkpoint's default; unspecified noise: 0.01 of the image range.
    blur = (args.blur_sigma if args.blur_sigma is not None or args.edge_json
            else ck.default_blur_sigma_px)
    noise = args.noise_sigma if args.noise_sigma is not None or args.noise_json else 0.01
    deg = Degradation.from_measurements(scale=scale, edge_json=args.edge_json,
                                        noise_json=args.noise_json, blur_sigma_px=blur,
                                        noise_sigma=noise)
    result = evaluate(ck, hr, degradation=deg, seed=args.seed, informed=args.informed)
    check_finite(result, "evaluation: PSNR/SSIM")
    if args.json:
        emit(result, as_json=True)
        return 0
    from rich.console import Console
    from rich.table import Table

    d = result["degradation"]
    how = "true sigmas given" if result["informed"] else "noise estimated, default blur"
    table = Table(title=f"{result['n_images']} images, s={d['scale']}, blur {d['blur_sigma_px']} "
                        f"LR px, noise {d['noise_sigma']} (network: {how})")
    for col in ("image", "bicubic dB", "Wiener dB", "network dB", "gain dB", "noise used"):
        table.add_column(col)
    if len(result["images"]) <= 40:
        for r in result["images"]:
            p = r["psnr_db"]
            table.add_row(r["name"], f"{p['bicubic']:.2f}", f"{p['wiener']:.2f}",
                          f"{p['network']:.2f}", f"{r['gain_db']:+.2f}", f"{r['noise_sigma_used']:.4f}")
    m = result["methods"]
    table.add_row("mean", f"{m['bicubic']['psnr_db']:.2f}", f"{m['wiener']['psnr_db']:.2f}",
                  f"{m['network']['psnr_db']:.2f}", f"{result['gain_db']:+.2f}", "")
    console = Console()
    console.print(table)
    console.print(f"Wiener tuned on the set: sigma {m['wiener']['sigma_hr_px']:.2f} HR px, "
                  f"k {m['wiener']['k']:g}")
    for c, v in result["categories"].items():
        console.print(f"{c}: mean gain over bicubic {v['gain_db']:+.2f} dB ({v['n']} images)")
    console.print(f"worst image: {result['min_gain_db']:+.2f} dB over bicubic; "
                  f"network - Wiener: {result['network_minus_wiener_db']:+.2f} dB")
    return 0
