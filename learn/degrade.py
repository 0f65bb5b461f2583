"""The degradation model: sharp optical image -> X-ray-like low-resolution image.

In the order of the system being twinned (paper, section 2.2 and Fig. 3):

1. :func:`bicubic_downsample` by the scale factor ``s`` (2, 3 or 4);
2. :func:`gaussian_blur` with ``sigma`` in **low-resolution (X-ray) pixels**, the value
   the ESF -> LSF -> Gaussian fit of a tungsten edge in an X-ray slice returns
   (``sigma_px`` in ``edge.json``);
3. :func:`add_noise`: additive Gaussian noise with ``sigma`` in normalised intensity
   units, the width fitted to the background histogram of an X-ray slice
   (``sigma_normalized`` in ``noise.json``).

Each step is a pure JAX function of an (..., H, W) array (leading axes are a batch),
jit-able and vmap-able; randomness only through the explicit ``key`` of step 3.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp

from physics.imageio import read_json
from physics.measure.mtf import gaussian_kernel_1d

SUPPORTED_SCALES = (2, 3, 4)


def _check_scale(scale) -> int:
    if isinstance(scale, bool) or scale not in SUPPORTED_SCALES:
        raise ValueError(f"scale: must be one of {SUPPORTED_SCALES}, got {scale!r}")
    return int(scale)


def _check_image(x, key="image"):
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{key}: expected an (..., H, W) array, got shape {x.shape}")
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"{key}: image must be at least 2x2 pixels, got shape {x.shape}")
    return x


def bicubic_downsample(x, scale: int):
    """Bicubic down-sampling by ``scale`` with an anti-aliasing (widened) kernel.

    This is MATLAB ``imresize`` / PIL bicubic behaviour, the convention of the
    super-resolution literature (Kim et al. 2016). H and W must be multiples of
    ``scale``; pixel centres follow the half-pixel convention.
    """
    scale = _check_scale(scale)
    x = _check_image(x)
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image: shape {x.shape[-2:]} is not a multiple of scale {scale}; crop it")
    out_shape = x.shape[:-2] + (h // scale, w // scale)
    return jax.image.resize(x, out_shape, method="bicubic", antialias=True)


def gaussian_blur(x, sigma_px: float):
    """Separable Gaussian blur with standard deviation ``sigma_px`` in the pixels of ``x``.

    Borders are extended by mirror reflection (no dark frame). ``sigma_px == 0`` is
    the identity.
    """
    sigma_px = float(sigma_px)
    if not (math.isfinite(sigma_px) and sigma_px >= 0):
        raise ValueError(f"blur_sigma_px: must be finite and >= 0, got {sigma_px!r}")
    x = _check_image(x)
    if sigma_px == 0:
        return x
    k = gaussian_kernel_1d(sigma_px).astype(x.dtype)
    r = (k.shape[0] - 1) // 2
    lead = x.shape[:-2]
    y = x.reshape((-1, 1) + x.shape[-2:])
    # "symmetric" is valid for any radius (a radius larger than the image mirrors again)
    pad_mode = "symmetric"
    y = jnp.pad(y, ((0, 0), (0, 0), (r, r), (r, r)), mode=pad_mode)
    dn = ("NCHW", "OIHW", "NCHW")
    y = jax.lax.conv_general_dilated(y, k[None, None, :, None], (1, 1), "VALID", dimension_numbers=dn)
    y = jax.lax.conv_general_dilated(y, k[None, None, None, :], (1, 1), "VALID", dimension_numbers=dn)
    return y.reshape(lead + y.shape[-2:])


def add_noise(key, x, sigma: float):
    """Add white Gaussian noise of standard deviation ``sigma`` (units of ``x``)."""
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"noise_sigma: must be finite and >= 0, got {sigma!r}")
    x = jnp.asarray(x)
    return x + sigma * jax.random.normal(key, x.shape, x.dtype)


@dataclass(frozen=True)
class Degradation:
    """Parameters of the degradation chain.

    Attributes
    ----------
    scale : int
        Down-sampling factor (2, 3 or 4).
    blur_sigma_px : float
        Gaussian blur sigma in low-resolution (X-ray) pixels.
    noise_sigma : float
        Additive noise sigma in normalised intensity units (image range lo..hi -> 0..1).
    """

    scale: int = 2
    blur_sigma_px: float = 1.0
    noise_sigma: float = 0.01

    def __post_init__(self):
        _check_scale(self.scale)
        for name in ("blur_sigma_px", "noise_sigma"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Degradation":
        return cls(scale=int(d["scale"]), blur_sigma_px=float(d["blur_sigma_px"]),
                   noise_sigma=float(d["noise_sigma"]))

    @classmethod
    def from_measurements(cls, *, scale: int = 2, edge_json=None, noise_json=None,
                          blur_sigma_px: float | None = None,
                          noise_sigma: float | None = None) -> "Degradation":
        """Build from numbers and/or the files of ``twin measure edge`` / ``twin measure noise``.

        ``edge.json`` supplies ``sigma_px`` (Gaussian LSF sigma in the X-ray image's
        pixels, which are the LR pixels); ``noise.json`` supplies ``sigma_normalized``.
        Giving both a number and a file for the same quantity is an error.
        """
        blur = _one_source("blur_sigma_px", blur_sigma_px, edge_json, "sigma_px")
        noise = _one_source("noise_sigma", noise_sigma, noise_json, "sigma_normalized")
        return cls(scale=scale, blur_sigma_px=1.0 if blur is None else blur,
                   noise_sigma=0.01 if noise is None else noise)


def _one_source(name, number, path, json_key):
    from physics.errors import InputFileError, OptionError

    if number is not None and path is not None:
        raise OptionError(f"{name}: give either a number or a JSON file ({path}), not both")
    if path is None:
        return None if number is None else float(number)
    data = read_json(path)
    if not isinstance(data, dict) or json_key not in data:
        raise InputFileError(f"{os.fspath(path)}: has no key {json_key!r} (needed for {name})")
    value = data[json_key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (math.isfinite(value) and value >= 0):
        raise InputFileError(f"{os.fspath(path)}: {json_key} must be a finite number >= 0")
    return float(value)


def degrade(key, hr, degradation: Degradation):
    """Apply down-sampling, blur (LR px) and noise, in that order, to ``(..., H, W)`` images.

    Parameters
    ----------
    key : jax.random key
        Noise key (ignored when ``noise_sigma == 0``).
    hr : array (..., H, W)
        Sharp, normalised images; H and W multiples of ``degradation.scale``.
    degradation : Degradation

    Returns
    -------
    array (..., H/s, W/s)
    """
    hr = _check_image(hr, "hr")
    if not bool(jnp.all(jnp.isfinite(hr))):
        raise ValueError("hr: image contains NaN or inf")
    lr = bicubic_downsample(hr, degradation.scale)
    lr = gaussian_blur(lr, degradation.blur_sigma_px)
    if degradation.noise_sigma > 0:
        lr = add_noise(key, lr, degradation.noise_sigma)
    return lr
