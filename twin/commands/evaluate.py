"""``twin evaluate``: PSNR/SSIM of bicubic, Wiener and the network on held-out images."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.commands.dataset import add_degradation_args
from twin.options import nonnegative_int, positive_int


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate", help="compare the network with bicubic and Wiener baselines",
        description="Degrade held-out sharp images (synthetic test scenes never used in "
                    "training, or a data set's val split) and report PSNR/SSIM of bicubic "
                    "up-sampling, bicubic + Wiener deconvolution (knows the blur) and the network.")
    p.add_argument("--checkpoint", help="checkpoint folder (default: shipped model)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--synthetic", type=positive_int, default=32, metavar="N",
                     help="number of held-out synthetic scenes")
    src.add_argument("--data", metavar="FOLDER", help="use the val split of this data set")
    p.add_argument("--size", type=positive_int, default=192,
                   help="synthetic scene side, HR px, a multiple of the scale")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="scene and noise seed")
    add_degradation_args(p, defaults=False)
    p.add_argument("--json", action="store_true")
    add_budget_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from learn import (Degradation, default_checkpoint_path, evaluate, heldout_synthetic,
                       load_checkpoint, load_dataset)
    from learn.dataset import read_manifest
    from physics.errors import OptionError
    from twin import budget, sizing
    from twin.console import check_finite, emit

    ck = load_checkpoint(args.checkpoint or default_checkpoint_path())
    scale = ck.scale if args.scale is None else args.scale
    if scale != ck.scale:
        raise OptionError(f"--scale: the checkpoint is for scale {ck.scale}, not {scale}")
    if args.data:
        manifest = read_manifest(args.data)
        if manifest["degradation"]["scale"] != scale:
            raise OptionError(f"--data: the data set is for x{manifest['degradation']['scale']}, "
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
    if args.data:
        hr = load_dataset(args.data, "val").hr
    else:
        hr = heldout_synthetic(args.synthetic, size=args.size, seed=args.seed)
    # Unspecified blur/noise default to what the checkpoint was trained for.
    blur = (args.blur_sigma if args.blur_sigma is not None or args.edge_json
            else ck.degradation.blur_sigma_px)
    noise = (args.noise_sigma if args.noise_sigma is not None or args.noise_json
             else ck.degradation.noise_sigma)
    deg = Degradation.from_measurements(scale=scale, edge_json=args.edge_json,
                                        noise_json=args.noise_json, blur_sigma_px=blur,
                                        noise_sigma=noise)
    result = evaluate(ck, hr, degradation=deg, seed=args.seed)
    check_finite(result, "evaluation: PSNR/SSIM")
    if args.json:
        emit(result, as_json=True)
        return 0
    from rich.console import Console
    from rich.table import Table

    d = result["degradation"]
    table = Table(title=f"{result['n_images']} images, s={d['scale']}, blur {d['blur_sigma_px']} LR px, "
                        f"noise {d['noise_sigma']}")
    for col in ("method", "PSNR (dB)", "SSIM"):
        table.add_column(col)
    for name, m in result["methods"].items():
        label = f"{name} (k={m['k']:g})" if "k" in m else name
        table.add_row(label, f"{m['psnr_db']:.2f}", f"{m['ssim']:.4f}")
    Console().print(table)
    Console().print(f"network - bicubic: {result['gain_db']:+.2f} dB")
    return 0
