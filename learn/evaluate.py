"""Evaluation against the sharp images: bicubic, bicubic + Wiener (knows the blur), network.

The held-out images are degraded here with the given parameters and key; every method
sees the same LR images. All metrics are on normalised intensities (data range 1),
border of ``scale`` pixels shaved (the super-resolution convention).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .checkpoint import resolve_checkpoint
from .degrade import Degradation, degrade
from .infer import apply_tiled
from .intensity import normalize
from .metrics import psnr, ssim
from .synthetic import render_scenes

#: Key stream of the held-out synthetic test images. Data sets use streams 0 (train)
#: and 1 (val), so test scenes are never seen in training whatever the seed.
TEST_STREAM = 2
#: Wiener noise-to-signal ratios tried; the best on the evaluated set is reported
#: (an oracle choice, which makes the classical baseline optimistic, never pessimistic).
WIENER_K_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def heldout_synthetic(n: int, *, size: int = 192, seed: int = 0) -> np.ndarray:
    """``n`` normalised synthetic scenes from the test stream (never used for training)."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    key = jax.random.fold_in(jax.random.PRNGKey(seed), TEST_STREAM)
    raw = np.asarray(render_scenes(key, np.arange(n), (size, size)))
    return np.stack([normalize(x)[0] for x in raw])


def bicubic_upsample(lr, scale: int):
    """Bicubic up-sampling of (..., h, w) images by ``scale``."""
    lr = jnp.asarray(lr)
    return jax.image.resize(lr, lr.shape[:-2] + (lr.shape[-2] * scale, lr.shape[-1] * scale),
                            method="bicubic")


def wiener_deconvolve(x, sigma_px: float, k: float):
    """Wiener deconvolution of a Gaussian blur of ``sigma_px`` (pixels of ``x``).

    ``x_hat = F^-1[ H* X / (|H|^2 + k) ]`` with ``H`` the Gaussian's transfer function;
    the image is mirror-padded by 4 sigma to avoid wrap-around ringing.
    """
    x = jnp.asarray(x)
    pad = int(np.ceil(4 * sigma_px)) + 1
    xp = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)], mode="symmetric")
    fy = jnp.fft.fftfreq(xp.shape[-2])[:, None]
    fx = jnp.fft.rfftfreq(xp.shape[-1])[None, :]
    H = jnp.exp(-2 * (jnp.pi * sigma_px) ** 2 * (fx ** 2 + fy ** 2))
    y = jnp.fft.irfft2(jnp.fft.rfft2(xp) * H / (H ** 2 + k), s=xp.shape[-2:])
    return y[..., pad:-pad, pad:-pad]


def evaluate(checkpoint, hr, *, degradation: Degradation | None = None, seed: int = 0,
             tile: int = 256) -> dict:
    """PSNR/SSIM of bicubic, bicubic + Wiener and the network on degraded ``hr`` images.

    Parameters
    ----------
    checkpoint : Checkpoint, path or None
        None uses the shipped default.
    hr : array (n, H, W)
        Sharp normalised images (H, W multiples of the scale).
    degradation : Degradation, optional
        Defaults to the one the checkpoint was trained for; its scale must equal the
        checkpoint's.
    seed : int
        Noise key.

    Returns
    -------
    dict
        ``{"n_images", "degradation", "methods": {name: {"psnr_db", "ssim"}}, "gain_db"}``;
        ``gain_db`` is network minus bicubic PSNR.
    """
    ck = resolve_checkpoint(checkpoint)
    deg = degradation or ck.degradation
    if deg.scale != ck.scale:
        raise ValueError(f"scale: the checkpoint is for scale {ck.scale}, the evaluation asks "
                         f"for scale {deg.scale}")
    hr = np.asarray(hr, dtype=np.float32)
    if hr.ndim == 2:
        hr = hr[None]
    if hr.ndim != 3:
        raise ValueError(f"hr: expected (n, H, W) images, got shape {hr.shape}")
    s = deg.scale
    keys = jax.random.split(jax.random.PRNGKey(seed), len(hr))
    lr = np.stack([np.asarray(degrade(k, x, deg)) for k, x in zip(keys, hr)])
    bic = np.asarray(bicubic_upsample(lr, s))
    net = np.stack([apply_tiled(ck, x, tile=tile) for x in lr])
    sigma_hr = deg.blur_sigma_px * s  # the known blur, in HR pixels
    best = None
    for k in WIENER_K_GRID:
        w = np.asarray(wiener_deconvolve(bic, sigma_hr, k)) if sigma_hr > 0 else bic
        score = float(jnp.mean(psnr(w, hr, shave=s)))
        if best is None or score > best[0]:
            best = (score, k, w)

    def scores(x):
        return {"psnr_db": float(jnp.mean(psnr(x, hr, shave=s))),
                "ssim": float(jnp.mean(ssim(x, hr, shave=s)))}

    methods = {"bicubic": scores(bic), "wiener": {**scores(best[2]), "k": best[1]},
               "network": scores(net)}
    return {"n_images": int(len(hr)), "image_shape": list(hr.shape[1:]),
            "degradation": deg.to_dict(), "checkpoint": str(ck.path), "checkpoint_step": ck.step,
            "methods": methods,
            "gain_db": methods["network"]["psnr_db"] - methods["bicubic"]["psnr_db"]}
