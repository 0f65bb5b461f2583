"""Evaluation against the sharp images: bicubic, bicubic + tuned Wiener, network.

The held-out images are degraded here with the given parameters and key; every method
sees the same LR images. Metrics are in the units of the sharp images (0..1, data
range 1), border of ``scale`` pixels shaved (the super-resolution convention).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .checkpoint import resolve_checkpoint
from .degrade import Degradation, degrade
from .intensity import normalization_range, normalize
from .metrics import psnr, ssim
from .synthetic import render_scenes

#: Key stream of the held-out synthetic test images. Data sets use streams 0 (train)
#: and 1 (val), so test scenes are never seen in training whatever the seed.
TEST_STREAM = 2
#: Wiener noise-to-signal ratios and blur sigmas (x the nominal s * blur_sigma_px HR px:
#: the bicubic down-sampling adds blur of its own) tried; the best pair on the evaluated
#: set is reported (an oracle choice: the classical baseline is optimistic, never
#: pessimistic).
WIENER_K_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
WIENER_SIGMA_FACTORS = (0.6, 0.8, 1.0, 1.2, 1.4)


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


def wiener_deconvolve(x, sigma_px: float, k: float) -> np.ndarray:
    """Wiener deconvolution of a Gaussian blur of ``sigma_px`` (pixels of ``x``).

    ``x_hat = F^-1[ H* X / (|H|^2 + k) ]`` with ``H`` the Gaussian's transfer function;
    the image is mirror-padded by 4 sigma to avoid wrap-around ringing. NumPy FFTs: the
    baseline is evaluated on images of many shapes, where compiling buys nothing.
    """
    x = np.asarray(x, dtype=np.float64)
    pad = int(np.ceil(4 * sigma_px)) + 1
    xp = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)], mode="symmetric")
    fy = np.fft.fftfreq(xp.shape[-2])[:, None]
    fx = np.fft.rfftfreq(xp.shape[-1])[None, :]
    H = np.exp(-2 * (np.pi * sigma_px) ** 2 * (fx ** 2 + fy ** 2))
    y = np.fft.irfft2(np.fft.rfft2(xp) * H / (H ** 2 + k), s=xp.shape[-2:])
    return y[..., pad:-pad, pad:-pad].astype(np.float32)


def load_testset(folder) -> dict[str, np.ndarray]:
    """The sharp images of a test folder in 0..1 units, by file name (sorted).

    Integer images are divided by their dtype's maximum (8-bit: 255), float images are
    kept (:func:`learn.intensity.read_unit_grey`). The category of an image is its file name up to the first ``_`` (``photo``,
    ``text``, ``micro`` in ``tests/data/sr_testset``).
    """
    from .intensity import list_images, read_unit_grey

    return {path.name: read_unit_grey(path) for path in list_images(folder)}


def evaluate(checkpoint, hr, *, degradation: Degradation | None = None, seed: int = 0,
             informed: bool = False, tile: int = 256) -> dict:
    """PSNR/SSIM of bicubic, tuned bicubic + Wiener and the network on degraded images.

    The network runs as ``twin enhance`` does (:func:`learn.enhance`: normalisation by
    the slice's percentiles, mapped back), by default **given nothing but the image**
    (blur from the checkpoint's default, noise estimated from the image). Metrics are
    in the units of ``hr`` (data range 1), border of ``scale`` px shaved.

    Parameters
    ----------
    checkpoint : Checkpoint, path or None
        None uses the shipped default.
    hr : array (n, H, W), or dict name -> (H, W) array
        Sharp images in 0..1 units (sides multiples of the scale; odd sides are
        cropped). A dict (e.g. :func:`load_testset`) gives per-image results by name;
        the category of an image is its name up to the first ``_``.
    degradation : Degradation, optional
        Default ``Degradation(scale, checkpoint's default blur, 0.01)``; its scale
        must equal the checkpoint's. Noise is added in the units of ``hr``.
    seed : int
        Noise key (image ``i`` uses ``fold_in(key(seed), i)``).
    informed : bool
        Give the network the true blur and noise (converted to the normalised units of
        each LR slice) instead of letting it use its defaults and estimate.

    Returns
    -------
    dict
        ``methods`` (mean PSNR/SSIM of each method), ``images`` (per image: PSNR, SSIM,
        gain over bicubic, the blur/noise the network used), ``categories`` (mean gain
        per category), ``gain_db`` (mean network - bicubic), ``min_gain_db``,
        ``network_minus_wiener_db`` and the tuned Wiener parameters.
    """
    from .infer import enhance

    ck = resolve_checkpoint(checkpoint)
    deg = degradation or Degradation(scale=ck.scale, blur_sigma_px=ck.default_blur_sigma_px,
                                     noise_sigma=0.01)
    if deg.scale != ck.scale:
        raise ValueError(f"scale: the checkpoint is for scale {ck.scale}, the evaluation asks "
                         f"for scale {deg.scale}")
    s = deg.scale
    if isinstance(hr, dict):
        names, images = list(hr), list(hr.values())
    else:
        arr = np.asarray(hr, dtype=np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
        if arr.ndim != 3:
            raise ValueError(f"hr: expected (n, H, W) images, got shape {arr.shape}")
        names, images = [f"image_{i:03d}" for i in range(len(arr))], list(arr)
    images = [np.asarray(x, np.float32)[:x.shape[0] // s * s, :x.shape[1] // s * s] for x in images]
    for name, x in zip(names, images):
        if x.ndim != 2 or min(x.shape) < 4 * s:
            raise ValueError(f"{name}: expected a 2D image of at least {4 * s} px, got {x.shape}")
    key = jax.random.PRNGKey(seed)
    lrs = [np.asarray(degrade(jax.random.fold_in(key, i), x, deg)) for i, x in enumerate(images)]
    bics = [np.asarray(bicubic_upsample(x, s)) for x in lrs]
    nets, used = [], []
    for x in lrs:
        if informed:
            lo, hi = normalization_range(x)
            kw = dict(blur_sigma=deg.blur_sigma_px, noise_sigma=deg.noise_sigma / (hi - lo))
        else:
            kw = {}
        y, info = enhance(x, ck, tile=tile, return_info=True, **kw)
        nets.append(y)
        used.append(info[0])

    def score(x, ref):
        return float(psnr(x, ref, shave=s)), float(ssim(x, ref, shave=s))

    # Wiener deconvolution of the bicubic image, (sigma, k) tuned for the best mean PSNR
    # on this very set: an oracle choice, so the classical baseline is optimistic.
    best = None
    for f in WIENER_SIGMA_FACTORS:
        sigma_hr = f * s * deg.blur_sigma_px
        for k in WIENER_K_GRID:
            ws = [wiener_deconvolve(b, sigma_hr, k) if sigma_hr > 0 else b for b in bics]
            mean = float(np.mean([float(psnr(w, ref, shave=s)) for w, ref in zip(ws, images)]))
            if best is None or mean > best[0]:
                best = (mean, sigma_hr, k, ws)
    rows = []
    for name, ref, b, w, n, u in zip(names, images, bics, best[3], nets, used):
        pb, sb = score(b, ref)
        pw, sw = score(w, ref)
        pn, sn = score(n, ref)
        rows.append({"name": name, "category": name.split("_")[0],
                     "psnr_db": {"bicubic": pb, "wiener": pw, "network": pn},
                     "ssim": {"bicubic": sb, "wiener": sw, "network": sn},
                     "gain_db": pn - pb, "blur_sigma_px_used": u["blur_sigma_px"],
                     "noise_sigma_used": u["noise_sigma"], "noise_source": u["noise_source"],
                     "warnings": u["warnings"]})
    methods = {m: {"psnr_db": float(np.mean([r["psnr_db"][m] for r in rows])),
                   "ssim": float(np.mean([r["ssim"][m] for r in rows]))}
               for m in ("bicubic", "wiener", "network")}
    methods["wiener"].update(sigma_hr_px=best[1], k=best[2])
    cats = {}
    for r in rows:
        cats.setdefault(r["category"], []).append(r["gain_db"])
    return {"n_images": len(rows), "degradation": deg.to_dict(), "informed": informed,
            "checkpoint": ck.path.name if ck.path is not None else None,
            "checkpoint_step": ck.step, "methods": methods, "images": rows,
            "categories": {c: {"n": len(g), "gain_db": float(np.mean(g))} for c, g in cats.items()},
            "gain_db": methods["network"]["psnr_db"] - methods["bicubic"]["psnr_db"],
            "min_gain_db": float(min(r["gain_db"] for r in rows)),
            "network_minus_wiener_db": methods["network"]["psnr_db"] - methods["wiener"]["psnr_db"]}
