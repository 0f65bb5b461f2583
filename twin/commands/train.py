"""``twin train``: train the VDSR + transposed-convolution network on a data set."""

from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train the super-resolution network",
        description="Train with AdamW (lr 1e-3), gradient clipping and L1 loss by default; "
                    "validates PSNR/SSIM every --val-every steps and checkpoints atomically. "
                    "--resume continues a killed run exactly.")
    p.add_argument("--data", required=True, help="data set folder from `twin dataset`")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--preset", default="default", choices=("default", "vdsr", "tiny"),
                   help="model size: default (10x32, CPU), vdsr (20x64, Kim et al. 2016), tiny")
    p.add_argument("--depth", type=int, help="override the preset's number of 3x3 convolutions")
    p.add_argument("--width", type=int, help="override the preset's channels")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=48, help="LR patch side (48)")
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


def run(args) -> int:
    import dataclasses

    from learn import ModelConfig, TrainConfig, load_dataset, preset, train
    from learn.checkpoint import load_checkpoint
    from twin.console import emit, progress

    scale = load_dataset(args.data, "val").degradation.scale
    mcfg = preset(args.preset, scale=scale)
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
                       train_config=tcfg, resume=args.resume, progress=advance)
    result.pop("history")
    emit(result, as_json=args.json, title="training")
    return 0
