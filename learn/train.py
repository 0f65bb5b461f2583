"""Training: optax AdamW, gradient-norm clipping, jit-compiled step, exact resume.

Every step draws its batch (image index, patch position, one of the 8 flips/rotations,
each patch's blur and noise sigma from the :class:`DegradationRange`, the noise itself)
from ``fold_in(key(seed), step)``, so the random stream is a function of the step
number alone: a resumed run (parameters, optimiser state, key and step restored from
the checkpoint) takes exactly the steps an uninterrupted run takes.

Degradation on the fly: a sharp window ``patch_lr + 2 m`` LR pixels wide (``m`` =
blur kernel radius + 2 px of bicubic support) is degraded and only its interior
``patch_lr`` x ``patch_lr`` is kept, so patch borders never see the blur's mirror
padding; the HR target is the matching centre of the sharp window.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from physics.errors import OptionError

from .checkpoint import flatten, load_checkpoint, save_checkpoint, unflatten
from .dataset import dataset_digest, load_dataset
from .degrade import MAX_TRAIN_BLUR_PX, DegradationRange, degrade_per_sample
from .metrics import psnr, ssim
from .model import ModelConfig, bicubic_up, create_model

#: LR pixels degraded around each training patch and then dropped (blur radius + bicubic).
PATCH_MARGIN_LR = int(math.ceil(4 * MAX_TRAIN_BLUR_PX)) + 2

#: Smallest contrast factor of the low-contrast augmentation (see TrainConfig.low_contrast).
MIN_CONTRAST_FACTOR = 0.1

LOSSES = ("l1", "l2")
DECAYS = ("none", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings.

    Attributes
    ----------
    steps : int
        Total optimiser steps.
    batch_size, patch_lr : int
        Batch of ``batch_size`` LR patches of ``patch_lr`` x ``patch_lr`` pixels (HR
        targets are ``scale`` times larger).
    learning_rate : float
        Peak AdamW learning rate; 1e-3 as in the paper being twinned.
    weight_decay : float
        AdamW decoupled weight decay; 1e-4 is optax's default (assumed, not tuned).
    clip_norm : float
        Global gradient-norm clipping threshold (VDSR relies on clipping to train
        with a high learning rate; 1.0 assumed).
    decay : str
        ``"none"`` (constant) or ``"cosine"`` (to 1 % of the peak at ``steps``).
    loss : str
        ``"l1"`` (default) or ``"l2"``.
    low_contrast : float
        Fraction of training patches whose contrast about their mean is reduced by a
        factor drawn log-uniformly in [:data:`MIN_CONTRAST_FACTOR`, 1] before degradation
        (the noise stays in the same normalised units). Smooth, low-contrast content at a
        high relative noise - a cell micrograph or a flat slice region - is rare in
        natural images; without it the network under-smooths such input. 0 disables it.
    val_every, save_every : int
        Validation and checkpoint intervals in steps.
    seed : int
        Initialisation and batch-sampling seed.
    """

    steps: int = 3000
    batch_size: int = 16
    patch_lr: int = 40
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    decay: str = "cosine"
    loss: str = "l1"
    low_contrast: float = 0.0
    val_every: int = 250
    save_every: int = 250
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "patch_lr", "val_every", "save_every"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name}: must be a positive integer, got {v!r}")
        for name in ("learning_rate", "clip_norm"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: must be a positive number, got {v!r}")
        if not (math.isfinite(self.low_contrast) and 0.0 <= self.low_contrast <= 1.0):
            raise ValueError(f"low_contrast: must be a fraction in [0, 1], got {self.low_contrast!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay: must be >= 0, got {self.weight_decay!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss: must be one of {LOSSES}, got {self.loss!r}")
        if self.decay not in DECAYS:
            raise ValueError(f"decay: must be one of {DECAYS}, got {self.decay!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    lr = (optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps, alpha=0.01)
          if cfg.decay == "cosine" else cfg.learning_rate)
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm),
                       optax.adamw(lr, weight_decay=cfg.weight_decay))


def _dihedral(x, t):
    """One of the 8 flips/rotations of (..., H, W) square patches, chosen by traced ``t``."""
    x = jnp.where(t % 2 == 1, jnp.swapaxes(x, -1, -2), x)
    x = jnp.where((t // 2) % 2 == 1, jnp.flip(x, -1), x)
    return jnp.where(t // 4 == 1, jnp.flip(x, -2), x)


def sample_batch(key, hr, *, batch_size: int, patch_lr: int, scale: int,
                 degradations: DegradationRange, low_contrast: float = 0.0):
    """Random degraded (LR, HR, blur, noise) patches with random flips/rotations.

    Pure and jit-able. ``hr`` is (n, H, W); returns LR (B, p, p), HR (B, p s, p s) and
    the (B,) blur (LR px) and noise (normalised units) sigmas of each patch. A fraction
    ``low_contrast`` of the patches has its contrast about its mean reduced (see
    :class:`TrainConfig`), target and input alike.
    """
    n, h, w = hr.shape
    m = PATCH_MARGIN_LR
    win = (patch_lr + 2 * m) * scale
    k_i, k_y, k_x, k_t, k_d, k_n = jax.random.split(key, 6)
    idx = jax.random.randint(k_i, (batch_size,), 0, n)
    # window origins on the LR grid (multiples of the scale), so LR pixels stay aligned
    ys = jax.random.randint(k_y, (batch_size,), 0, (h - win) // scale + 1) * scale
    xs = jax.random.randint(k_x, (batch_size,), 0, (w - win) // scale + 1) * scale
    ts = jax.random.randint(k_t, (batch_size,), 0, 8)

    def one(i, y, x, t):
        return _dihedral(jax.lax.dynamic_slice(hr[i], (y, x), (win, win)), t)

    sharp = jax.vmap(one)(idx, ys, xs, ts)
    if low_contrast > 0:
        k_c, k_f = jax.random.split(jax.random.fold_in(key, 1))
        factor = MIN_CONTRAST_FACTOR ** jax.random.uniform(k_f, (batch_size, 1, 1))
        factor = jnp.where(jax.random.uniform(k_c, (batch_size, 1, 1)) < low_contrast, factor, 1.0)
        mean = jnp.mean(sharp, axis=(-2, -1), keepdims=True)
        sharp = mean + factor * (sharp - mean)
    blur, noise = degradations.sample(k_d, batch_size)
    lr = degrade_per_sample(k_n, sharp, scale, blur, noise)
    lr = lr[:, m:m + patch_lr, m:m + patch_lr]
    target = sharp[:, m * scale:(m + patch_lr) * scale, m * scale:(m + patch_lr) * scale]
    return lr, target, blur, noise


def make_train_step(graphdef, tx, cfg: TrainConfig, degradations: DegradationRange):
    def loss_fn(params, x, y, blur, noise):
        pred = nnx.merge(graphdef, params)(x, blur, noise)
        err = pred - y
        return jnp.mean(jnp.abs(err)) if cfg.loss == "l1" else jnp.mean(err ** 2)

    @jax.jit
    def step_fn(params, opt_state, rng, step, hr):
        x, y, blur, noise = sample_batch(jax.random.fold_in(rng, step), hr,
                                         batch_size=cfg.batch_size, patch_lr=cfg.patch_lr,
                                         scale=degradations.scale, degradations=degradations,
                                         low_contrast=cfg.low_contrast)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, blur, noise)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step_fn


def make_predict(graphdef):
    @jax.jit
    def predict(params, x, blur, noise):
        return nnx.merge(graphdef, params)(x, blur, noise)

    return predict


def validation_set(hr, degradations: DegradationRange, seed: int):
    """The validation LR images: each ``hr`` image degraded once, by a fixed draw."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 7919)  # a stream no step uses
    k_d, k_n = jax.random.split(key)
    blur, noise = degradations.sample(k_d, len(hr))
    lr = degrade_per_sample(k_n, jnp.asarray(hr), degradations.scale, blur, noise)
    return np.asarray(lr), np.asarray(blur), np.asarray(noise)


def validate(predict, params, hr, lr, blur, noise, scale: int, *, batch: int = 8) -> dict:
    """Mean PSNR/SSIM of the model and of bicubic up-sampling on (hr, lr), border shaved."""
    preds = np.concatenate([np.asarray(predict(params, jnp.asarray(lr[i:i + batch]),
                                               blur[i:i + batch], noise[i:i + batch]))
                            for i in range(0, len(lr), batch)])
    bic = np.asarray(bicubic_up(jnp.asarray(lr)[..., None], scale)[..., 0])
    return {"psnr": float(jnp.mean(psnr(preds, hr, shave=scale))),
            "ssim": float(jnp.mean(ssim(preds, hr, shave=scale))),
            "bicubic_psnr": float(jnp.mean(psnr(bic, hr, shave=scale)))}


def train(data, out, *, model_config: ModelConfig | None = None,
          train_config: TrainConfig | None = None,
          degradations: DegradationRange | None = None, resume: bool = False,
          init=None, max_val_images: int = 48, progress=None) -> dict:
    """Train a model on a data set folder and write checkpoints to ``out``.

    Parameters
    ----------
    data : path-like
        Data set folder from :func:`learn.make_dataset` (uses its train and val splits).
    out : path-like
        Checkpoint folder (written every ``save_every`` steps and at the end).
    model_config : ModelConfig, optional
        Defaults to the ``"default"`` preset at the data set's scale. Its scale must
        equal the data set's.
    train_config : TrainConfig, optional
    degradations : DegradationRange, optional
        Blur (LR px) and noise (normalised units) ranges each patch's degradation is
        drawn from; default ``DegradationRange(scale)`` of the data set's scale. A
        zero-width range (:meth:`DegradationRange.fixed`) is the paper's protocol.
    resume : bool
        Continue the run in ``out`` exactly where it stopped (settings must match).
    init : Checkpoint or path-like, optional
        Start from this checkpoint's parameters (fine-tuning, e.g. the shipped model
        adapted to measured sigmas) instead of a random initialisation; its model
        configuration must equal ``model_config``. The optimiser starts fresh.
    max_val_images : int
        Validation uses the first ``max_val_images`` held-out images.
    progress : callable, optional
        ``progress(1, info=...)`` after each step.

    Returns
    -------
    dict
        ``{"step", "loss", "val": {...}, "history": [...], "checkpoint": path}``.
    """
    from .model import preset

    cfg = train_config or TrainConfig()
    out = Path(out)
    train_set = load_dataset(data, "train")
    val_set = load_dataset(data, "val")
    scale = train_set.scale
    degradations = degradations or DegradationRange(scale=scale)
    if degradations.scale != scale:
        raise OptionError(f"scale: degradation scale {degradations.scale} does not match the "
                          f"data set's scale {scale} ({data})")
    mcfg = model_config or preset("default", scale=scale)
    if mcfg.scale != scale:
        raise OptionError(f"scale: model scale {mcfg.scale} does not match the data set's "
                          f"scale {scale} ({data})")
    window = (cfg.patch_lr + 2 * PATCH_MARGIN_LR) * scale
    if window > min(train_set.hr.shape[1:]):
        raise OptionError(f"patch_lr: {cfg.patch_lr} LR px + {PATCH_MARGIN_LR} px margins need "
                          f"{window} HR px; the data set's images are {train_set.hr.shape[1:]}")
    tx = make_optimizer(cfg)
    model = create_model(mcfg, seed=cfg.seed)
    graphdef, state = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(state)
    opt_state = tx.init(params)
    rng = jax.random.PRNGKey(cfg.seed)
    step, history = 0, []
    init_from = None
    if init is not None:
        start = init if hasattr(init, "arrays") else load_checkpoint(init)
        if start.config != mcfg:
            raise OptionError(f"init: checkpoint model {start.config} does not match the model to "
                              f"train {mcfg}")
        params = unflatten(params, start.arrays, "params")
        opt_state = tx.init(params)
        init_from = start.path.name if start.path is not None else "checkpoint"
    if (out / "checkpoint.json").exists():
        if not resume:
            raise OptionError(f"{out}: already holds a checkpoint; pass resume=True (--resume) "
                             f"to continue it or choose a new folder")
        ck = load_checkpoint(out)
        _check_same(ck.info, mcfg, cfg, degradations, dataset_digest(train_set.manifest))
        params = unflatten(params, ck.arrays, "params")
        opt_state = unflatten(opt_state, ck.arrays, "opt")
        rng = jnp.asarray(ck.arrays["rng"], dtype=rng.dtype)
        step, history = ck.step, list(ck.info.get("history", []))
    elif resume:
        raise OptionError(f"{out}: no checkpoint to resume (checkpoint.json not found)")

    step_fn = make_train_step(graphdef, tx, cfg, degradations)
    predict = make_predict(graphdef)
    hr = jnp.asarray(train_set.hr)
    vhr = val_set.hr[:max_val_images]
    vlr, vblur, vnoise = validation_set(vhr, degradations, cfg.seed)
    val = history[-1].get("val") if history else None
    loss = float("nan")

    def save():
        m = nnx.merge(graphdef, params)
        save_checkpoint(out, model=m, trained_range=degradations, step=step,
                        arrays={**flatten(opt_state, "opt"), "rng": np.asarray(rng)},
                        info={"train": cfg.to_dict(), "data": Path(data).resolve().name,
                              "data_sha256": dataset_digest(train_set.manifest),
                              "init": init_from, "history": history})

    while step < cfg.steps:
        params, opt_state, loss_arr = step_fn(params, opt_state, rng, step, hr)
        step += 1
        loss = float(loss_arr)
        if not math.isfinite(loss):
            raise FloatingPointError(f"training diverged at step {step} (loss {loss})")
        if step % cfg.val_every == 0 or step == cfg.steps:
            val = validate(predict, params, vhr, vlr, vblur, vnoise, scale)
            history.append({"step": step, "loss": loss, "val": val})
        if step % cfg.save_every == 0 or step == cfg.steps:
            save()
        if progress:
            info = f"loss {loss:.4f}" + (f"  val PSNR {val['psnr']:.2f} dB "
                                          f"(bicubic {val['bicubic_psnr']:.2f})" if val else "")
            progress(1, info=info)
    return {"step": step, "loss": loss, "val": val, "history": history, "checkpoint": str(out)}


def _check_same(info, mcfg, cfg, degradations, data_digest):
    diffs = []
    if info.get("data_sha256") != data_digest:
        diffs.append(f"data: the data set differs from the one the checkpoint was trained on "
                     f"({info.get('data')!r}, SHA-256 {str(info.get('data_sha256'))[:12]} vs "
                     f"{data_digest[:12]})")
    if info.get("model") != mcfg.to_dict():
        diffs.append(f"model {info.get('model')} vs {mcfg.to_dict()}")
    if info.get("train") != cfg.to_dict():
        old = info.get("train") or {}
        diffs += [f"{k} {old.get(k)!r} vs {v!r}" for k, v in cfg.to_dict().items() if old.get(k) != v]
    trained = (info.get("conditioning") or {}).get("trained_range")
    if trained != degradations.to_dict():
        diffs.append(f"degradation range {trained} vs {degradations.to_dict()}")
    if diffs:
        raise OptionError("--resume: the checkpoint was made with different settings: " + "; ".join(diffs))
