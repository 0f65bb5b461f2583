"""``twin train``: train the VDSR + transposed-convolution network on a data set."""

from __future__ import annotations

from twin.budget import add_option as add_budget_option
from twin.options import nonnegative_float, nonnegative_int, positive_float, positive_int


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
    p.add_argument("--depth", type=positive_int, help="override the preset's number of 3x3 convolutions")
    p.add_argument("--width", type=positive_int, help="override the preset's channels")
    p.add_argument("--steps", type=positive_int, default=3000, help="training steps")
    p.add_argument("--batch", type=positive_int, default=16, help="images per step")
    p.add_argument("--patch", type=positive_int, default=48, help="LR patch side")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (paper: 1e-3)")
    p.add_argument("--weight-decay", type=nonnegative_float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--clip", type=positive_float, default=1.0, help="gradient global-norm clip")
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


def run(args) -> int:
    import dataclasses

    from pathlib import Path

    from learn import ModelConfig, TrainConfig, preset, train
    from learn.checkpoint import load_checkpoint
    from learn.dataset import read_manifest, verify_shards
    from physics.errors import OptionError
    from twin import budget, sizing
    from twin.console import emit, progress
    from twin.options import output_dir

    output_dir(args.out)
    manifest = read_manifest(args.data)
    verify_shards(args.data, manifest)  # hashes first: nothing is trained on a damaged set
    scale = manifest["degradation"]["scale"]
    lr_side = manifest["hr_size"] // scale
    if args.patch > lr_side:
        raise OptionError(f"--patch: {args.patch} is larger than the data set's LR images "
                          f"({lr_side} px)")
    if args.depth is not None and args.depth < 2:
        raise OptionError(f"--depth: expected an integer >= 2, got {args.depth}")
    has_checkpoint = (Path(args.out) / "checkpoint.json").exists()
    if has_checkpoint and not args.resume:
        raise OptionError(f"--out {args.out}: already holds a checkpoint; pass --resume to "
                          "continue it or choose a new folder")
    if args.resume and not has_checkpoint:
        raise OptionError(f"--resume: {args.out} holds no checkpoint to resume")
    mcfg = preset(args.preset, scale=scale)
    overrides = {k: v for k, v in (("depth", args.depth), ("width", args.width)) if v is not None}
    mcfg = dataclasses.replace(mcfg, **overrides) if overrides else mcfg
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch, patch_lr=args.patch,
                       learning_rate=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip,
                       decay=args.decay, loss=args.loss, val_every=args.val_every,
                       save_every=args.save_every, seed=args.seed)
    budget.check(sizing.training(manifest, batch=args.batch, patch=args.patch, width=mcfg.width,
                                 depth=mcfg.depth), budget.from_args(args))
    done = load_checkpoint(args.out).step if args.resume else 0
    with progress("train", tcfg.steps, enabled=not args.json) as advance:
        advance(done, info="resumed" if done else "")
        result = train(args.data, args.out, model_config=ModelConfig(**mcfg.to_dict()),
                       train_config=tcfg, resume=args.resume, progress=advance)
    result.pop("history")
    emit(result, as_json=args.json, title="training")
    return 0
