"""Inference: apply a checkpoint to images of any size, tile by tile.

Units of the degradation inputs (the same as in training, see :mod:`learn.degrade`):
the blur sigma is in LR (input image) pixels; the noise sigma is in the normalised
units of the slice, i.e. after ``(x - lo) / (hi - lo)`` with lo/hi the slice's
0.5th/99.5th percentiles. Without a noise sigma, :func:`enhance` estimates it on the
normalised slice (:func:`learn.noise_estimate.estimate_noise_sigma`), so the estimate
is in the units the network is fed, whatever the image's contrast. A blur outside the
checkpoint's trained range, or a noise below it, is clamped to the range, with a warning.
A noise *above* the range (a slice whose contrast is small next to its noise) is brought
into it exactly: the slice is normalised over a range ``f`` times wider (same centre), so
that its noise in the units fed to the network is the range's maximum; the network has
seen such low-contrast input in training (patches of low local contrast), and the
output is mapped back with the same widened range (with a warning saying so).

The LR image is cut into ``tile`` x ``tile`` blocks; each block is processed inside a
window that extends ``margin`` LR pixels beyond it (the window is shifted inward at
the image border, so every window has the same shape and jit compiles once per image
shape). With ``margin`` >= the network's receptive radius, the stitched result equals
the untiled one up to float rounding, and memory is bounded by the window size
whatever the image size.
"""

from __future__ import annotations

import warnings

import numpy as np
import jax
import jax.numpy as jnp
from flax import nnx

from .checkpoint import Checkpoint, resolve_checkpoint
from .intensity import normalization_range
from .noise_estimate import estimate_noise_sigma


class OutOfRangeWarning(UserWarning):
    """A blur or noise sigma outside the checkpoint's trained range (it was clamped)."""

_PREDICT_CACHE: dict = {}


def _predictor(ck: Checkpoint):
    key = id(ck.model)
    if key not in _PREDICT_CACHE:
        graphdef, state = nnx.split(ck.model, nnx.Param)
        params = nnx.to_pure_dict(state)
        fn = jax.jit(lambda p, x, b, n: nnx.merge(graphdef, p)(x, b, n))
        _PREDICT_CACHE.clear()
        _PREDICT_CACHE[key] = lambda x, b, n: fn(params, x, b, n)
    return _PREDICT_CACHE[key]


def _starts(n, tile):
    return list(range(0, n, tile))


def apply_tiled(checkpoint, lr, *, blur_sigma: float, noise_sigma: float, tile: int = 256,
                margin: int | None = None):
    """Run the network on one normalised 2D LR image, tiled with overlap.

    Parameters
    ----------
    checkpoint : Checkpoint, path or None
    lr : array (H, W)
        Normalised LR image.
    blur_sigma, noise_sigma : float
        The network's conditioning: blur in LR px, noise in the units of ``lr``
        (used as given; :func:`enhance` checks them against the trained range).
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
    for name, v in (("blur_sigma", blur_sigma), ("noise_sigma", noise_sigma)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
    blur_sigma, noise_sigma = np.float32(blur_sigma), np.float32(noise_sigma)
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
            pred = np.asarray(predict(window[None, :, :, None], blur_sigma, noise_sigma))[0, :, :, 0]
            out[y0 * s:y1 * s, x0 * s:x1 * s] = pred[(y0 - wy) * s:(y1 - wy) * s,
                                                     (x0 - wx) * s:(x1 - wx) * s]
    return out


def conditioning(ck: Checkpoint, *, blur_sigma=None, noise_sigma=None, normalized_slice=None):
    """The (blur, noise) fed to the network for one slice, and how they were chosen.

    ``blur_sigma`` None -> the checkpoint's default; ``noise_sigma`` None -> estimated
    on ``normalized_slice``. Values outside the trained range are clamped to it, except
    a noise above it, which sets ``range_factor`` (see the module docstring).

    Returns
    -------
    dict
        ``{"blur_sigma_px", "noise_sigma", "range_factor", "blur_source", "noise_source",
        "warnings"}``; the two sigmas are the values fed to the network, the noise in the
        units of the slice normalised over ``range_factor`` x its percentile range.
    """
    info = {"blur_source": "given", "noise_source": "given", "warnings": []}
    if blur_sigma is None:
        blur_sigma, info["blur_source"] = ck.default_blur_sigma_px, "checkpoint default"
    if noise_sigma is None:
        noise_sigma = estimate_noise_sigma(normalized_slice)
        info["noise_source"] = "estimated from the image"
    for name, v in (("blur_sigma", blur_sigma), ("noise_sigma", noise_sigma)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
    used = {"range_factor": 1.0}
    for name, v, (lo, hi), unit in (
            ("blur_sigma_px", float(blur_sigma), ck.trained_range.blur_sigma_px, "LR px"),
            ("noise_sigma", float(noise_sigma), ck.trained_range.noise_sigma, "(normalised)")):
        used[name] = min(max(v, lo), hi)
        if used[name] == v:
            continue
        if name == "noise_sigma" and v > hi:
            used["range_factor"] = v / hi
            info["warnings"].append(
                f"noise_sigma {v:.4g} {unit} is above the trained range {lo:g}-{hi:g}; the slice "
                f"is normalised over a {v / hi:.3g}x wider range so that its noise is {hi:g}")
        else:
            info["warnings"].append(f"{name} {v:.4g} {unit} is outside the trained range "
                                    f"{lo:g}-{hi:g}; using {used[name]:g}")
    return {**used, **info}


#: The 8 flips/rotations of a 2D image: (quarter turns, transpose-free flip of columns).
DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))


def dihedral_average(fn, x: np.ndarray) -> np.ndarray:
    """Mean of ``T^-1 fn(T x)`` over the 8 flips/rotations ``T`` of the 2D image ``x``.

    ``fn`` maps an (h, w) image to an (h s, w s) one for a fixed scale ``s``; rotating
    the input by a quarter turn swaps its sides, so ``fn`` sees both shapes.
    """
    total = None
    for k, flip in DIHEDRAL:
        t = np.rot90(x[:, ::-1] if flip else x, k)
        y = np.rot90(np.asarray(fn(np.ascontiguousarray(t)), dtype=np.float64), -k)
        y = y[:, ::-1] if flip else y
        total = y if total is None else total + y
    return (total / len(DIHEDRAL)).astype(np.float32)


def enhance(image, checkpoint=None, *, blur_sigma: float | None = None,
            noise_sigma: float | None = None, self_ensemble: bool = True, tile: int = 256,
            margin: int | None = None, progress=None, return_info: bool = False):
    """Super-resolve a 2D image or every slice of a 3D stack, keeping the dtype's range.

    Each slice is normalised by the product convention ((x - lo) / (hi - lo), lo/hi
    the 0.5th/99.5th percentiles of that slice), enhanced tile by tile with the
    network conditioned on (blur, noise), and mapped back with the same lo/hi.
    Integer inputs are rounded and clipped to their dtype's range and keep their
    dtype; float inputs give float32.

    Parameters
    ----------
    image : array (H, W) or (N, H, W)
        The low-resolution image (e.g. an X-ray slice) in any intensity units.
    checkpoint : Checkpoint, path or None
        None uses the shipped default (:func:`learn.default_checkpoint_path`).
    blur_sigma : float, optional
        Gaussian blur sigma of the image in **its own pixels** (LR px), e.g.
        ``sigma_px`` of ``twin measure edge``. Default: the checkpoint's
        ``default_blur_sigma_px`` (1.0 for the shipped model).
    noise_sigma : float, optional
        Noise standard deviation in **normalised units of the slice** (noise in grey
        levels / (hi - lo)), e.g. ``sigma_normalized`` of ``twin measure noise`` run on
        this image. Default: estimated on each normalised slice.
    self_ensemble : bool
        Average the network's outputs over the 8 flips/rotations of the slice, each
        transformed back (geometric self-ensemble: Timofte et al. 2016, "Seven ways to
        improve example-based single image super resolution"; Lim et al. 2017, EDSR+).
        The network was trained on all 8 orientations, so each pass is an equally good
        estimate whose errors partly differ: +0.1-0.7 dB on the test set (most on smooth,
        noise-dominated images), at 8x the inference time. False: one pass.
    tile, margin : int
        See :func:`apply_tiled`.
    progress : callable, optional
        ``progress(1, info=...)`` after each slice.
    return_info : bool
        Also return, per slice, the values used and how they were chosen.

    Returns
    -------
    np.ndarray, shape (H*s, W*s) or (N, H*s, W*s)
        With ``return_info``: ``(array, [conditioning dict per slice])`` (see
        :func:`conditioning`).

    Warns
    -----
    OutOfRangeWarning
        When a sigma is outside the trained range (it is clamped to the range).
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
    infos = []
    for i, sl in enumerate(stack):
        lo, hi = normalization_range(sl)
        norm = ((sl.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
        info = conditioning(ck, blur_sigma=blur_sigma, noise_sigma=noise_sigma, normalized_slice=norm)
        if info["range_factor"] > 1:  # widen the range about its centre (module docstring)
            mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * info["range_factor"]
            lo, hi = mid - half, mid + half
            norm = ((sl.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
        for w in info["warnings"]:
            warnings.warn(f"slice {i}: {w}" if arr.ndim == 3 else w, OutOfRangeWarning, stacklevel=2)
        infos.append(info)
        info["passes"] = len(DIHEDRAL) if self_ensemble else 1

        def one_pass(x, info=info):
            return apply_tiled(ck, x, blur_sigma=info["blur_sigma_px"], noise_sigma=info["noise_sigma"],
                               tile=tile, margin=margin)

        y = dihedral_average(one_pass, norm) if self_ensemble else one_pass(norm)
        y = y.astype(np.float64) * (hi - lo) + lo
        if np.issubdtype(out_dtype, np.integer):
            lim = np.iinfo(out_dtype)
            y = np.clip(np.rint(y), lim.min, lim.max)
        out[i] = y
        if progress:
            progress(1, info=f"slice {i + 1}/{stack.shape[0]}")
    result = out[0] if arr.ndim == 2 else out
    return (result, infos) if return_info else result
