"""Image quality metrics on normalised images (data range 1): PSNR and SSIM.

SSIM follows Wang et al. 2004 (IEEE TIP 13:600): 11x11 Gaussian window, sigma 1.5,
K1 = 0.01, K2 = 0.03, mean over the valid region. Both take ``(..., H, W)`` arrays
and return one value per leading index; ``shave`` removes a border (the SR
convention is ``shave = scale``, where every method lacks context).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .degrade import gaussian_kernel_1d


def _shave(x, shave):
    return x[..., shave:x.shape[-2] - shave, shave:x.shape[-1] - shave] if shave else x


def psnr(x, ref, *, data_range: float = 1.0, shave: int = 0):
    """Peak signal-to-noise ratio in dB, ``10 log10(range^2 / MSE)``."""
    x, ref = _shave(jnp.asarray(x), shave), _shave(jnp.asarray(ref), shave)
    if x.shape != ref.shape:
        raise ValueError(f"psnr: shapes differ, {x.shape} vs {ref.shape}")
    mse = jnp.mean((x - ref) ** 2, axis=(-2, -1))
    return 10.0 * jnp.log10(data_range ** 2 / mse)


def ssim(x, ref, *, data_range: float = 1.0, shave: int = 0):
    """Structural similarity (Wang et al. 2004), Gaussian window 11x11, sigma 1.5."""
    x, ref = _shave(jnp.asarray(x, jnp.float32), shave), _shave(jnp.asarray(ref, jnp.float32), shave)
    if x.shape != ref.shape:
        raise ValueError(f"ssim: shapes differ, {x.shape} vs {ref.shape}")
    k = gaussian_kernel_1d(1.5)[1:-1]  # radius 5 -> 11 taps, renormalised below
    k = k / k.sum()
    lead = x.shape[:-2]

    def filt(a):
        a = a.reshape((-1, 1) + a.shape[-2:])
        dn = ("NCHW", "OIHW", "NCHW")
        a = jax.lax.conv_general_dilated(a, k[None, None, :, None], (1, 1), "VALID", dimension_numbers=dn)
        a = jax.lax.conv_general_dilated(a, k[None, None, None, :], (1, 1), "VALID", dimension_numbers=dn)
        return a[:, 0]

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = filt(x), filt(ref)
    sxx = filt(x * x) - mx ** 2
    syy = filt(ref * ref) - my ** 2
    sxy = filt(x * ref) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return jnp.mean(s, axis=(-2, -1)).reshape(lead)
