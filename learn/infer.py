"""Inference: apply a checkpoint to images of any size, tile by tile.

The LR image is cut into ``tile`` x ``tile`` blocks; each block is processed inside a
window that extends ``margin`` LR pixels beyond it (the window is shifted inward at
the image border, so every window has the same shape and jit compiles once per image
shape). With ``margin`` >= the network's receptive radius, the stitched result equals
the untiled one up to float rounding, and memory is bounded by the window size
whatever the image size.
"""

from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
from flax import nnx

from .checkpoint import Checkpoint, resolve_checkpoint
from .intensity import normalization_range

_PREDICT_CACHE: dict = {}


def _predictor(ck: Checkpoint):
    key = id(ck.model)
    if key not in _PREDICT_CACHE:
        graphdef, state = nnx.split(ck.model, nnx.Param)
        params = nnx.to_pure_dict(state)
        fn = jax.jit(lambda p, x: nnx.merge(graphdef, p)(x))
        _PREDICT_CACHE.clear()
        _PREDICT_CACHE[key] = lambda x: fn(params, x)
    return _PREDICT_CACHE[key]


def _starts(n, tile):
    return list(range(0, n, tile))


def apply_tiled(checkpoint, lr, *, tile: int = 256, margin: int | None = None):
    """Run the network on one normalised 2D LR image, tiled with overlap.

    Parameters
    ----------
    checkpoint : Checkpoint, path or None
    lr : array (H, W)
        Normalised LR image.
    tile : int
        Output block side in LR pixels.
    margin : int, optional
        Context around each block, LR pixels; default the receptive radius.

    Returns
    -------
    np.ndarray (H*s, W*s), float32
    """
    ck = resolve_checkpoint(checkpoint)
    s = ck.scale
    lr = np.asarray(lr, dtype=np.float32)
    if lr.ndim != 2:
        raise ValueError(f"image: expected a 2D slice, got shape {lr.shape}")
    if min(lr.shape) < 2:
        raise ValueError(f"image: must be at least 2x2 pixels, got shape {lr.shape}")
    if not np.all(np.isfinite(lr)):
        raise ValueError("image: contains NaN or inf")
    if not (isinstance(tile, int) and tile >= 8):
        raise ValueError(f"tile: must be an integer >= 8, got {tile!r}")
    margin = ck.config.receptive_radius_lr if margin is None else int(margin)
    if margin < 0:
        raise ValueError(f"margin: must be >= 0, got {margin!r}")
    predict = _predictor(ck)
    h, w = lr.shape
    wh, ww = min(h, tile + 2 * margin), min(w, tile + 2 * margin)
    out = np.empty((h * s, w * s), np.float32)
    for y0 in _starts(h, tile):
        y1 = min(y0 + tile, h)
        wy = min(max(y0 - margin, 0), h - wh)
        for x0 in _starts(w, tile):
            x1 = min(x0 + tile, w)
            wx = min(max(x0 - margin, 0), w - ww)
            window = jnp.asarray(lr[wy:wy + wh, wx:wx + ww])
            pred = np.asarray(predict(window[None, :, :, None]))[0, :, :, 0]
            out[y0 * s:y1 * s, x0 * s:x1 * s] = pred[(y0 - wy) * s:(y1 - wy) * s,
                                                     (x0 - wx) * s:(x1 - wx) * s]
    return out


def enhance(image, checkpoint=None, *, tile: int = 256, margin: int | None = None,
            progress=None) -> np.ndarray:
    """Super-resolve a 2D image or every slice of a 3D stack, keeping the dtype's range.

    Each slice is normalised by the product convention ((x - lo) / (hi - lo), lo/hi
    the 0.5th/99.5th percentiles of that slice, the units in which the noise sigma
    was measured), enhanced tile by tile, and mapped back with the same lo/hi.
    Integer inputs are rounded and clipped to their dtype's range and keep their
    dtype; float inputs give float32.

    Parameters
    ----------
    image : array (H, W) or (N, H, W)
    checkpoint : Checkpoint, path or None
        None uses the shipped default (:func:`learn.default_checkpoint_path`).
    tile, margin : int
        See :func:`apply_tiled`.
    progress : callable, optional
        ``progress(1, info=...)`` after each slice.

    Returns
    -------
    np.ndarray, shape (H*s, W*s) or (N, H*s, W*s)
    """
    ck = resolve_checkpoint(checkpoint)
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"image: expected a 2D image or 3D stack, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"image: unsupported dtype {arr.dtype}")
    stack = arr[None] if arr.ndim == 2 else arr
    if min(stack.shape[1:]) < 2:
        raise ValueError(f"image: each slice must be at least 2x2 pixels, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError("image: contains NaN or inf")
    out_dtype = arr.dtype if np.issubdtype(arr.dtype, np.integer) else np.float32
    out = np.empty((stack.shape[0], stack.shape[1] * ck.scale, stack.shape[2] * ck.scale), out_dtype)
    for i, sl in enumerate(stack):
        lo, hi = normalization_range(sl)
        norm = ((sl.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
        y = apply_tiled(ck, norm, tile=tile, margin=margin).astype(np.float64) * (hi - lo) + lo
        if np.issubdtype(out_dtype, np.integer):
            info = np.iinfo(out_dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        out[i] = y
        if progress:
            progress(1, info=f"slice {i + 1}/{stack.shape[0]}")
    return out[0] if arr.ndim == 2 else out
