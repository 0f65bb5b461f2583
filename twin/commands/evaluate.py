"""``twin evaluate``: PSNR/SSIM of bicubic, Wiener and the network on held-out images."""

from __future__ import annotations


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
                     help="folder of sharp test images, e.g. tests/data/sr_testset (category = "
                          "file name up to the first '_')")
    src.add_argument("--synthetic", type=int, default=32, metavar="N",
                     help="number of held-out synthetic scenes (32)")
    src.add_argument("--data", metavar="FOLDER", help="use the val split of this data set")
    p.add_argument("--size", type=int, default=192, help="synthetic scene side, HR px (192)")
    p.add_argument("--seed", type=int, default=0, help="scene and noise seed")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), help="(default: the checkpoint's)")
    p.add_argument("--blur-sigma", type=float, metavar="PX",
                   help="blur sigma of the degradation in LR px (default: checkpoint default, 1.0)")
    p.add_argument("--noise-sigma", type=float, metavar="SIGMA",
                   help="noise sigma of the degradation in the images' 0..1 units (0.01)")
    p.add_argument("--informed", action="store_true",
                   help="tell the network the true blur and noise instead of estimating")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args) -> int:
    from learn import (Degradation, default_checkpoint_path, evaluate, heldout_synthetic,
                       load_checkpoint, load_dataset, load_testset)
    from twin.console import emit

    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    if args.images:
        hr = load_testset(args.images)
    elif args.data:
        hr = load_dataset(args.data, "val").hr
    else:
        hr = heldout_synthetic(args.synthetic, size=args.size, seed=args.seed)
    deg = Degradation(scale=ck.scale if args.scale is None else args.scale,
                      blur_sigma_px=(ck.default_blur_sigma_px if args.blur_sigma is None
                                     else args.blur_sigma),
                      noise_sigma=0.01 if args.noise_sigma is None else args.noise_sigma)
    result = evaluate(ck, hr, degradation=deg, seed=args.seed, informed=args.informed)
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
