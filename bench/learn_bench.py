"""Speed of the learn part: training steps/s and inference megapixels/s, each beside a
reference measured in the same process.

References:
* the machine's float32 matmul rate (GFLOP/s) on an im2col-shaped product of the same
  size as one hidden layer of the batch, which is about the best XLA's CPU convolutions
  can reach; the model's FLOP count divided by the measured time gives the fraction;
* a plain ``jax.lax.conv`` stack with the same layers (no Flax, no optimiser), so the
  framework overhead reads as a ratio.

Usage: ``python bench/learn_bench.py [--preset default] [--big]``; ``--big`` also
enhances one 4096x4096 image and prints the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from learn import TrainConfig, create_model, preset
from learn.model import flops_per_lr_pixel
from learn.train import make_optimizer


def timeit(fn, *, repeat):
    jax.block_until_ready(fn())  # compile + warm up
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / repeat


def matmul_gflops(m, k, n, repeat=20):
    a = jax.random.normal(jax.random.PRNGKey(0), (m, k))
    b = jax.random.normal(jax.random.PRNGKey(1), (k, n))
    f = jax.jit(lambda a, b: a @ b)
    return 2.0 * m * k * n / timeit(lambda: f(a, b), repeat=repeat) / 1e9


def plain_conv_stack(cfg, key):
    """The same layers as lax convolutions on raw arrays (reference for framework overhead)."""
    ks = jax.random.split(key, cfg.depth + 1)
    w = [jax.random.normal(ks[0], (3, 3, 3, cfg.width)) * 0.1]  # image + 2 conditioning maps
    w += [jax.random.normal(k, (3, 3, cfg.width, cfg.width)) * 0.05 for k in ks[1:cfg.depth]]
    K = 2 * cfg.scale - cfg.scale % 2
    w.append(jax.random.normal(ks[-1], (K, K, cfg.width, 1)) * 0.01)
    dn = ("NHWC", "HWIO", "NHWC")
    from learn.model import transposed_padding

    lo, hi = transposed_padding(cfg.scale)

    def f(ws, x):
        h = x
        for wi in ws[:-1]:
            h = jax.nn.relu(jax.lax.conv_general_dilated(h, wi, (1, 1), "SAME", dimension_numbers=dn))
        return jax.lax.conv_general_dilated(h, ws[-1], (1, 1), [(lo, hi), (lo, hi)],
                                            lhs_dilation=(cfg.scale,) * 2, dimension_numbers=dn)
    return w, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="default")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    cfg = preset(args.preset, scale=2)
    B, P = 16, 48
    print(f"devices: {jax.devices()}  model: {args.preset} depth {cfg.depth} width {cfg.width} s=2")

    # --- training ---------------------------------------------------------------------
    tcfg = TrainConfig()
    graphdef, state = nnx.split(create_model(cfg), nnx.Param)
    params = nnx.to_pure_dict(state)
    tx = make_optimizer(tcfg)
    opt = tx.init(params)
    x = jax.random.uniform(jax.random.PRNGKey(0), (B, P, P, 1))
    x3 = jnp.concatenate([x, jnp.ones_like(x), jnp.zeros_like(x)], axis=-1)  # for the plain stack
    y = jax.random.uniform(jax.random.PRNGKey(1), (B, 2 * P, 2 * P, 1))
    blur, noise = jnp.full(B, 1.0), jnp.full(B, 0.01)

    @jax.jit
    def step(params, opt):
        loss, g = jax.value_and_grad(
            lambda p: jnp.mean(jnp.abs(nnx.merge(graphdef, p)(x, blur, noise) - y)))(params)
        u, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, u), opt

    t_step = timeit(lambda: step(params, opt), repeat=args.steps)
    ws, plain = plain_conv_stack(cfg, jax.random.PRNGKey(2))
    plain_grad = jax.jit(jax.grad(lambda ws: jnp.mean(jnp.abs(plain(ws, x3) - y))))
    t_plain = timeit(lambda: plain_grad(ws), repeat=args.steps)
    train_flops = 3.0 * flops_per_lr_pixel(cfg) * B * P * P  # forward + 2x backward
    mm = matmul_gflops(B * P * P, 9 * cfg.width, cfg.width)
    print(f"machine: float32 matmul ({B * P * P}x{9 * cfg.width} @ {9 * cfg.width}x{cfg.width}) "
          f"{mm:.1f} GFLOP/s")
    print(f"train: {1 / t_step:.2f} steps/s (batch {B} of {P}x{P} LR), "
          f"{train_flops / t_step / 1e9:.1f} GFLOP/s = {train_flops / t_step / 1e9 / mm:.0%} of matmul rate; "
          f"plain lax.conv fwd+bwd of the same layers {1 / t_plain:.2f} steps/s "
          f"(ours = {t_plain / t_step:.0%} of it)")

    # --- inference --------------------------------------------------------------------
    from learn.infer import apply_tiled
    from learn.checkpoint import Checkpoint
    from learn import DegradationRange

    model = nnx.merge(graphdef, params)
    ck = Checkpoint(model=model, config=cfg, trained_range=DegradationRange(), default_blur_sigma_px=1.0,
                    step=0, info={}, arrays={})
    lr = np.asarray(jax.random.uniform(jax.random.PRNGKey(3), (512, 512)))
    cond = dict(blur_sigma=1.0, noise_sigma=0.01)
    apply_tiled(ck, lr, **cond)  # compile
    t = time.perf_counter()
    apply_tiled(ck, lr, **cond)
    t_inf = time.perf_counter() - t
    out_mp = lr.size * 4 / 1e6
    fwd = jax.jit(plain)
    win = jnp.asarray(lr[:256 + 2 * cfg.receptive_radius_lr, :256 + 2 * cfg.receptive_radius_lr])[None, :, :, None]
    win = jnp.concatenate([win, jnp.ones_like(win), jnp.zeros_like(win)], axis=-1)
    t_win = timeit(lambda: fwd(ws, win), repeat=3)
    plain_mp = 256 * 256 * 4 / 1e6 / t_win  # useful output per window, same tiling overhead
    inf_flops = flops_per_lr_pixel(cfg) * lr.size
    print(f"enhance: {out_mp / t_inf:.2f} output MP/s (512x512 -> 1024x1024, tiles 256 + margin), "
          f"{inf_flops / t_inf / 1e9:.1f} GFLOP/s = {inf_flops / t_inf / 1e9 / mm:.0%} of matmul rate; "
          f"plain lax.conv on one tile window {plain_mp:.2f} MP/s (ours = {out_mp / t_inf / plain_mp:.0%})")

    if args.big:
        big = np.asarray(jax.random.uniform(jax.random.PRNGKey(4), (4096, 4096)), dtype=np.float32)
        t = time.perf_counter()
        out = apply_tiled(ck, big, **cond)
        dt = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        print(f"4096x4096 -> {out.shape}: {dt:.0f} s, peak resident memory {peak:.2f} GiB")


if __name__ == "__main__":
    main()
