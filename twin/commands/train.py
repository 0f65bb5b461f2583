"""``twin train``: train the VDSR + transposed-convolution network on a data set."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import fraction, nonnegative_float, nonnegative_int, positive_float, positive_int


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train the super-resolution network",
        description="Train with AdamW (lr 1e-3), gradient clipping and L1 loss by default; "
                    "each patch is degraded on the fly with a blur and noise drawn from the "
                    "given ranges, which the network receives as inputs. One value instead of "
                    "a range (or --edge-json/--noise-json) with --init is the paper's protocol: "
                    "fine-tune for one measured degradation. Validates PSNR/SSIM every "
                    "--val-every steps and checkpoints atomically; --resume continues a killed "
                    "run exactly.")
    p.add_argument("--data", required=True, help="data set folder from `twin dataset`")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="start from this checkpoint's parameters (fine-tuning; same model size)")
    p.add_argument("--preset", default="default", choices=("default", "vdsr", "tiny"),
                   help="model size: default (10x32, CPU), vdsr (20x64, Kim et al. 2016), tiny")
    p.add_argument("--depth", type=positive_int, help="override the preset's number of 3x3 convolutions")
    p.add_argument("--width", type=positive_int, help="override the preset's channels")
    p.add_argument("--blur-sigma", type=positive_float, nargs="+", metavar="PX",
                   help="blur sigma range LOW HIGH in LR px, or one value (default 0.5 2.5)")
    p.add_argument("--noise-sigma", type=positive_float, nargs="+", metavar="SIGMA",
                   help="noise sigma range LOW HIGH in normalised units, or one value "
                        "(default 0.002 0.08)")
    p.add_argument("--edge-json", metavar="FILE", help="one blur: sigma_px of `twin measure edge`")
    p.add_argument("--noise-json", metavar="FILE",
                   help="one noise: sigma_normalized of `twin measure noise`")
    p.add_argument("--steps", type=positive_int, default=3000, help="training steps")
    p.add_argument("--batch", type=positive_int, default=16, help="images per step")
    p.add_argument("--patch", type=positive_int, default=40, help="LR patch side")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (paper: 1e-3)")
    p.add_argument("--weight-decay", type=nonnegative_float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--clip", type=positive_float, default=1.0, help="gradient global-norm clip")
    p.add_argument("--low-contrast", type=fraction, default=0.0, metavar="FRACTION",
                   help="fraction of patches whose contrast is reduced (x0.1-1, log-uniform) before "
                        "degradation: teaches smooth, noise-dominated input (default 0)")
    p.add_argument("--decay", default="cosine", choices=("cosine", "none"),
                   help="learning-rate schedule")
    p.add_argument("--loss", default="l1", choices=("l1", "l2"), help="training loss")
    p.add_argument("--val-every", type=positive_int, default=250, help="steps between validations")
    p.add_argument("--save-every", type=positive_int, default=250, help="steps between checkpoints")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="initialisation and batch seed")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--json", action="store_true")
    add_budget_option(p)
    p.set_defaults(handler=run)


def degradation_range(args, scale):
    """The DegradationRange of the command line (ranges, single values or measurement files)."""
    from learn import Degradation, DegradationRange
    from physics.errors import OptionError

    default = DegradationRange(scale=scale)
    ranges = {}
    for name, option, values, path, json_option in (
            ("blur_sigma_px", "--blur-sigma", args.blur_sigma, args.edge_json, "edge_json"),
            ("noise_sigma", "--noise-sigma", args.noise_sigma, args.noise_json, "noise_json")):
        if values is not None and path is not None:
            raise OptionError(f"{option}: give either numbers or a JSON file ({path}), not both")
        if path is not None:
            v = getattr(Degradation.from_measurements(scale=scale, **{json_option: path}), name)
            ranges[name] = (v, v)
        elif values is not None:
            if len(values) > 2:
                raise OptionError(f"{option}: give LOW HIGH or one value, got {len(values)} numbers")
            ranges[name] = (values[0], values[-1])
        else:
            ranges[name] = getattr(default, name)
    try:
        return DegradationRange(scale=scale, **ranges)
    except ValueError as exc:  # low > high, or beyond what training supports
        option = "--blur-sigma" if str(exc).startswith("blur") else "--noise-sigma"
        raise OptionError(f"{option}: {exc}") from None


def run(args) -> int:
    import dataclasses

    from pathlib import Path

    from learn import ModelConfig, TrainConfig, preset, train
    from learn.checkpoint import load_checkpoint
    from learn.dataset import read_manifest, verify_shards
    from learn.train import PATCH_MARGIN_LR
    from physics.errors import OptionError
    from twin import budget, sizing
    from twin.console import emit, progress
    from twin.options import output_dir

    output_dir(args.out)
    manifest = read_manifest(args.data)
    verify_shards(args.data, manifest)  # hashes first: nothing is trained on a damaged set
    scale = manifest["scale"]
    lr_side = manifest["hr_size"] // scale
    if args.patch + 2 * PATCH_MARGIN_LR > lr_side:
        raise OptionError(f"--patch: {args.patch} LR px + 2 x {PATCH_MARGIN_LR} px degradation "
                          f"margins exceed the data set's images ({lr_side} LR px); use --patch "
                          f"<= {lr_side - 2 * PATCH_MARGIN_LR} or a larger `twin dataset --size`")
    if args.depth is not None and args.depth < 2:
        raise OptionError(f"--depth: expected an integer >= 2, got {args.depth}")
    has_checkpoint = (Path(args.out) / "checkpoint.json").exists()
    if has_checkpoint and not args.resume:
        raise OptionError(f"--out {args.out}: already holds a checkpoint; pass --resume to "
                          "continue it or choose a new folder")
    if args.resume and not has_checkpoint:
        raise OptionError(f"--resume: {args.out} holds no checkpoint to resume")
    degradations = degradation_range(args, scale)
    init = load_checkpoint(args.init) if args.init else None
    mcfg = init.config if init is not None else preset(args.preset, scale=scale)
    overrides = {k: v for k, v in (("depth", args.depth), ("width", args.width)) if v is not None}
    mcfg = dataclasses.replace(mcfg, **overrides) if overrides else mcfg
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch, patch_lr=args.patch,
                       learning_rate=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip,
                       decay=args.decay, loss=args.loss, low_contrast=args.low_contrast,
                       val_every=args.val_every,
                       save_every=args.save_every, seed=args.seed)
    budget.check(sizing.training(manifest, batch=args.batch, patch=args.patch, width=mcfg.width,
                                 depth=mcfg.depth), budget.from_args(args))
    done = load_checkpoint(args.out).step if args.resume else 0
    with progress("train", tcfg.steps, enabled=not args.json) as advance:
        advance(done, info="resumed" if done else "")
        result = train(args.data, args.out, model_config=ModelConfig(**mcfg.to_dict()),
                       train_config=tcfg, degradations=degradations, resume=args.resume,
                       init=init, progress=advance)
    result.pop("history")
    result["degradations"] = degradations.to_dict()
    emit(result, as_json=args.json, title="training")
    return 0
