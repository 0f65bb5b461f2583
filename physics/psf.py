"""The depth-integrated scintillator-optics PSF, its thin-screen estimate, and its convolution.

Light emitted at depth ``d`` in the film is imaged with the defocus ``d - f`` (``f``
the depth of the focal plane, both inside the film, um), through the wave-optical PSF
of :func:`physics.optics.defocus_psf_stack` (Airy pattern at focus, geometric blur
disc of radius ``|d - f| tan(theta_in)`` far from it). Summing the layer PSFs weighted by
the light each layer emits for the given X-ray spectrum gives the scintillator-optics
PSF on the oversampled detector grid (object-space pixel pitch, um).

Default focal plane: the light-weighted mean depth (:func:`best_focus_depth_um`). It
minimises the light-weighted mean squared defocus, hence the second moment of the
geometric part of the PSF, which makes it the sharpest plane in the RMS sense; for a
film thin compared with the absorption length it is the mid-depth, and it moves toward
the entrance face when low-energy photons are absorbed near it.

The thin-screen estimate of Koch et al. (JOSA A 15 (1998) 1940), quoted by Martin &
Koch (J. Synchrotron Rad. 13 (2006) 180), ``R = sqrt((p/NA)^2 + (q z NA)^2)``, is in
:func:`koch_resolution_um`; :func:`mtf_resolution_um` measures a simulated PSF the same
way (see that function for the definition of ``R`` used).
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
from scipy.fft import next_fast_len

from physics.measure.mtf import first_crossing, mtf_from_psf
from physics.optics import Microscope, defocus_psf_stack
from physics.scintillator import Scintillator
from physics.tracing import is_concrete

__all__ = [
    "depth_integrated_psf",
    "scintillator_optics_psf",
    "best_focus_depth_um",
    "koch_resolution_um",
    "mtf_resolution_um",
    "apply_psf",
    "apply_psf_adjoint",
]


def best_focus_depth_um(layer_depths_um, layer_weights):
    """Light-weighted mean depth: the focal plane minimising the mean squared defocus."""
    w = jnp.asarray(layer_weights)
    return jnp.sum(w * jnp.asarray(layer_depths_um)) / jnp.sum(w)


def depth_integrated_psf(na, wavelength_um, refractive_index, layer_depths_um, layer_weights,
                         focus_depth_um=None, *, pixel_um, size: int, supersample: int | None = None):
    """Scintillator-optics PSF from depths and the light emitted at each depth.

    Parameters
    ----------
    na : float
        Objective numerical aperture (air).
    wavelength_um : float
        Emission wavelength in vacuum, um.
    refractive_index : float
        Scintillator index at the emission wavelength.
    layer_depths_um, layer_weights : array_like, shape (n_layers,)
        Depth of each emitting layer (um from the X-ray entrance face) and its light.
    focus_depth_um : float, optional
        Depth of the focal plane inside the film; default :func:`best_focus_depth_um`.
    pixel_um : float
        Pitch of the (oversampled) object-space grid, um; the PSF is pixel-integrated.
    size : int
        The PSF is ``(size, size)``, centred on ``size // 2``.
    supersample : int, optional
        Passed to :func:`physics.optics.defocus_psf_stack`.

    Returns
    -------
    jax.Array, shape (size, size): non-negative, unit sum.
    """
    depths = jnp.asarray(layer_depths_um)
    weights = jnp.asarray(layer_weights)
    if depths.ndim != 1 or weights.shape != depths.shape:
        raise ValueError(f"layer_depths_um and layer_weights must be 1D of equal length, got "
                         f"{depths.shape} and {weights.shape}")
    if is_concrete(weights) and not (
            bool(jnp.all(weights >= 0)) and float(jnp.sum(weights)) > 0):
        raise ValueError("layer_weights must be non-negative with a positive sum")
    focus = best_focus_depth_um(depths, weights) if focus_depth_um is None else focus_depth_um
    return defocus_psf_stack(na, wavelength_um, depths - focus, refractive_index=refractive_index,
                             pixel_um=pixel_um, size=size, weights=weights, supersample=supersample)


def scintillator_optics_psf(scintillator: Scintillator, microscope: Microscope, energies_kev, photons,
                            *, pixel_um, size: int, n_layers: int = 16, focus_depth_um=None,
                            supersample: int | None = None):
    """The depth-integrated PSF of a scintillator imaged by a microscope, for a spectrum.

    Parameters
    ----------
    scintillator : Scintillator
    microscope : Microscope
    energies_kev, photons : array_like, shape (n_E,)
        Spectrum reaching the scintillator (any scale; only relative weights matter).
    pixel_um : float
        Object-space pitch of the oversampled detector grid, um
        (``microscope.effective_pixel_um(camera.pixel_um) / oversample``).
    size : int
        Output ``(size, size)``.
    n_layers : int
        Depth layers; 16 keeps the layer thickness below a quarter of the depth of field
        ``n lambda / NA^2`` for films up to ~25 um at NA 0.42 (converged to < 1e-3 in L1
        against 64 layers for the default detector, see tests).
    focus_depth_um : float, optional
        Focal plane depth; default the light-weighted mean depth.

    Returns
    -------
    jax.Array, shape (size, size)
    """
    weights = scintillator.layer_light(energies_kev, photons, n_layers)
    depths = scintillator.layer_depths_um(n_layers)
    return depth_integrated_psf(microscope.numerical_aperture, scintillator.emission_um,
                                scintillator.refractive_index, depths, weights, focus_depth_um,
                                pixel_um=pixel_um, size=size, supersample=supersample)


def koch_resolution_um(*, na, thickness_um, p: float = 0.18, q: float = 0.075):
    """Thin-screen resolution estimate of Koch et al. 1998: ``sqrt((p/NA)^2 + (q z NA)^2)`` in um.

    ``p = 0.18 um`` and ``q = 0.075`` are the published fit constants (Martin & Koch 2006,
    eq. 1). ``R`` is read as the width of one line of a line pair imaged with 10 %
    modulation (half the period at MTF = 0.1); we could not retrieve the original text,
    but this reading is the one consistent with ``p``: an aberration-free objective has
    MTF = 0.1 at 0.805 of its cut-off ``2 NA / lambda``, i.e. ``R = 0.310 lambda / NA``,
    which is 0.18/NA for lambda = 0.58 um (0.171/NA at 550 nm), whereas the FWHM of
    its LSF (0.5 lambda/NA) would need p ~ 0.28. See :func:`mtf_resolution_um`.
    """
    return jnp.sqrt((p / na) ** 2 + (q * thickness_um * na) ** 2)


def mtf_resolution_um(psf, pixel_um, *, level: float = 0.1, axis: int = 1) -> float:
    """Koch's resolution measure of a PSF: half the period at which the MTF falls to ``level``.

    ``R = 1 / (2 f_level)`` with ``f_level`` the first frequency where the MTF of the
    pixel-integrated PSF, cell aperture removed (:func:`physics.measure.mtf.mtf_from_psf`),
    crosses ``level`` (:func:`physics.measure.mtf.first_crossing`).

    Raises
    ------
    ValueError
        If the MTF stays above ``level`` up to the Nyquist frequency of the grid.
    """
    f, mtf = mtf_from_psf(psf, pixel_um, axis=axis, aperture=pixel_um)
    f_level = first_crossing(f, mtf, level)
    if f_level is None:
        raise ValueError(f"MTF stays above {level} up to Nyquist ({f[-1]:.3g} /um); use a finer pixel_um")
    return float(1.0 / (2.0 * f_level))


# --------------------------------------------------------------------------- convolution
def _conv_same(field, kernel, centre):
    h, w = field.shape
    p, q = kernel.shape
    # Pad to FFT-friendly sizes: h + p - 1 can have a large prime factor (4096 + 66 = 2 x 2081).
    shape = (next_fast_len(h + p - 1, real=True), next_fast_len(w + q - 1, real=True))
    full = jnp.fft.irfft2(jnp.fft.rfft2(field, s=shape) * jnp.fft.rfft2(kernel, s=shape), s=shape)
    return jax.lax.dynamic_slice(full, centre, (h, w))


def _check_conv(field, psf):
    if jnp.ndim(field) != 2 or jnp.ndim(psf) != 2:
        raise ValueError(f"field and psf must be 2D, got shapes {jnp.shape(field)} and {jnp.shape(psf)}")


def apply_psf(field, psf):
    """Linear convolution of ``field`` with ``psf`` (centre ``psf.shape // 2``), same size.

    Zero outside the field (no wrap-around). With a unit-sum PSF, total signal is
    conserved except what spreads past the border.
    """
    _check_conv(field, psf)
    p, q = psf.shape
    return _conv_same(field, psf, (p // 2, q // 2))


def apply_psf_adjoint(image, psf):
    """Adjoint of :func:`apply_psf` (correlation with ``psf``); passes the dot test."""
    _check_conv(image, psf)
    p, q = psf.shape
    return _conv_same(image, psf[::-1, ::-1], (p - 1 - p // 2, q - 1 - q // 2))


# --------------------------------------------------------------------------- blur then bin
def _phase_indices(k: int, o: int):
    """Per axis: kernel-of-phase gather indices into the box-summed kernel, and the first tap.

    ``G_b[m] = kb[o m - b + c]`` with ``kb[x] = sum_{a<o} k[x + a]`` (``c = k // 2``); ``m``
    runs over every tap that can be non-zero. Returns ``(idx, valid, m_min)`` with
    ``idx``/``valid`` of shape ``(o, n_taps)`` indexing ``kb`` stored from ``x = 1 - o``.
    """
    c = k // 2
    m_min = -((c + o - 1) // o)                 # floor((-c - (o - 1)) / o)
    m_max = (k - 1 - c + o - 1) // o + 1
    m = np.arange(m_min, m_max + 1)
    x = o * m[None, :] - np.arange(o)[:, None] + c
    y = x + (o - 1)                             # position in kb stored from x = 1 - o
    valid = (y >= 0) & (y < k + o - 1)
    return np.where(valid, y, 0), valid, m_min


def apply_psf_binned(field, psf, oversample: int):
    """``bin_to_pixels(apply_psf(field, psf), oversample)``, computed on the pixel grid (exact).

    Polyphase form: with fine index ``o J + b`` (phase ``b``), binning the blurred field
    gives ``sum_b conv(field_b, G_b)``, where ``field_b`` is the phase-``b`` sub-grid and
    ``G_b[m] = sum_{a<o} psf[o m + a - b + c]`` (``c`` the PSF centre), per axis. The
    ``o^2`` phase convolutions are summed in Fourier space and inverted once on the
    pixel grid: the inverse FFT is ``o^2`` times smaller than the field's. Same zero
    boundary as :func:`apply_psf`.
    """
    _check_conv(field, psf)
    o = int(oversample)
    rows, cols = field.shape
    if o < 1 or rows % o or cols % o:
        raise ValueError(f"field shape {field.shape} is not a multiple of oversample={oversample!r}")
    if o == 1:
        return apply_psf(field, psf)
    p, q = psf.shape
    # box-sum of the PSF over o taps per axis, stored from x = 1 - o
    kp = jnp.pad(psf, ((o - 1, o - 1), (o - 1, o - 1)))
    kb = sum(kp[a1:a1 + p + o - 1] for a1 in range(o))
    kb = sum(kb[:, a2:a2 + q + o - 1] for a2 in range(o))
    i1, v1, m1 = _phase_indices(p, o)
    i2, v2, m2 = _phase_indices(q, o)
    g = kb[i1[:, :, None, None], i2[None, None, :, :]] * (v1[:, :, None, None] & v2[None, None, :, :])
    g = jnp.transpose(g, (0, 2, 1, 3))          # (b1, b2, taps1, taps2)
    h, w = rows // o, cols // o
    phases = jnp.transpose(field.reshape(h, o, w, o), (1, 3, 0, 2))
    shape = (next_fast_len(h + g.shape[2] - 1, real=True), next_fast_len(w + g.shape[3] - 1, real=True))
    # The o^2 small kernels' spectra by pruned FFTs: a real FFT of each of the kernel's few
    # rows, then the complex FFT along the columns (DFT-matrix products cost taps x the
    # spectrum's size: the whole step was ~10 % slower with them).
    g_spec = jnp.fft.fft(jnp.fft.rfft(g, n=shape[1], axis=-1), n=shape[0], axis=-2)
    spec = jnp.einsum("bcuv,bcuv->uv", jnp.fft.rfft2(phases, s=shape), g_spec)
    full = jnp.fft.irfft2(spec, s=shape)
    return jax.lax.dynamic_slice(full, (-m1, -m2), (h, w))
