"""``twin train``: train the VDSR + transposed-convolution network on a data set."""

from __future__ import annotations


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
    p.add_argument("--depth", type=int, help="override the preset's number of 3x3 convolutions")
    p.add_argument("--width", type=int, help="override the preset's channels")
    p.add_argument("--blur-sigma", type=float, nargs="+", metavar="PX",
                   help="blur sigma range LOW HIGH in LR px, or one value (default 0.5 2.5)")
    p.add_argument("--noise-sigma", type=float, nargs="+", metavar="SIGMA",
                   help="noise sigma range LOW HIGH in normalised units, or one value "
                        "(default 0.002 0.08)")
    p.add_argument("--edge-json", metavar="FILE", help="one blur: sigma_px of `twin measure edge`")
    p.add_argument("--noise-json", metavar="FILE",
                   help="one noise: sigma_normalized of `twin measure noise`")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=40, help="LR patch side (40)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3, paper)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--clip", type=float, default=1.0, help="gradient global-norm clip (1.0)")
    p.add_argument("--decay", default="cosine", choices=("cosine", "none"))
    p.add_argument("--loss", default="l1", choices=("l1", "l2"))
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def degradation_range(args, scale):
    """The DegradationRange of the command line (ranges, single values or measurement files)."""
    from learn import Degradation, DegradationRange

    default = DegradationRange(scale=scale)
    ranges = {}
    for name, values, path, key in (("blur_sigma_px", args.blur_sigma, args.edge_json, "blur_sigma_px"),
                                    ("noise_sigma", args.noise_sigma, args.noise_json, "noise_sigma")):
        if values is not None and path is not None:
            raise ValueError(f"{name}: give either numbers or a JSON file ({path}), not both")
        if path is not None:
            d = Degradation.from_measurements(scale=scale, **{("edge_json" if key == "blur_sigma_px"
                                                               else "noise_json"): path})
            v = getattr(d, key)
            ranges[name] = (v, v)
        elif values is not None:
            if len(values) > 2:
                raise ValueError(f"--{name.split('_px')[0].replace('_', '-')}: give LOW HIGH or "
                                 f"one value, got {len(values)} numbers")
            ranges[name] = (values[0], values[-1])
        else:
            ranges[name] = getattr(default, name)
    return DegradationRange(scale=scale, **ranges)


def run(args) -> int:
    import dataclasses

    from learn import ModelConfig, TrainConfig, load_dataset, preset, train
    from learn.checkpoint import load_checkpoint
    from twin.console import emit, progress

    scale = load_dataset(args.data, "val").scale
    degradations = degradation_range(args, scale)
    init = load_checkpoint(args.init) if args.init else None
    mcfg = init.config if init is not None else preset(args.preset, scale=scale)
    overrides = {k: v for k, v in (("depth", args.depth), ("width", args.width)) if v is not None}
    mcfg = dataclasses.replace(mcfg, **overrides) if overrides else mcfg
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch, patch_lr=args.patch,
                       learning_rate=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip,
                       decay=args.decay, loss=args.loss, val_every=args.val_every,
                       save_every=args.save_every, seed=args.seed)
    done = 0
    if args.resume:
        from pathlib import Path

        if (Path(args.out) / "checkpoint.json").exists():
            done = load_checkpoint(args.out).step
    with progress("train", tcfg.steps, enabled=not args.json) as advance:
        advance(done, info="resumed" if done else "")
        result = train(args.data, args.out, model_config=ModelConfig(**mcfg.to_dict()),
                       train_config=tcfg, degradations=degradations, resume=args.resume,
                       init=init, progress=advance)
    result.pop("history")
    result["degradations"] = degradations.to_dict()
    emit(result, as_json=args.json, title="training")
    return 0
