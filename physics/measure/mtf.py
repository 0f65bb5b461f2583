"""The project's one measurement toolkit: Gaussian kernel, LSF -> MTF, crossings, FWHM, NPS, DQE.

Every module (physics, studies, learn) uses these; there is no second copy.

Conventions (stated once, here)
-------------------------------
* **Gaussian kernel** (:func:`gaussian_kernel_1d`, :func:`gaussian_kernel_2d`): unit
  sum, ``2 h + 1`` samples at ``pitch``, centred on the middle sample; ``h`` defaults
  to ``ceil(4 sigma / pitch)`` (at least 1; truncation < 1e-4). ``integrate=False``
  (default) samples the density at the cell centres (a blur acting on an image that
  is already pixel-integrated, as in :mod:`learn.degrade`); ``integrate=True`` gives
  the exact integral of the Gaussian over each cell (``ndtr`` differences: a blur
  acting on a continuous field sampled by cells, as in the chain). JAX,
  differentiable in ``sigma`` when ``half_width`` is given.
* **LSF -> MTF** (:func:`mtf_from_lsf`): ``MTF(f) = |sum_i w_i l_i exp(-2 pi i f x_i)|
  / sum_i w_i l_i`` - the modulus of the discrete-time Fourier transform of the
  (optionally windowed: ``w`` = ``window``) LSF samples, normalised to 1 at ``f = 0``;
  evaluated at any frequencies (default: ``oversample`` x zero-padded DFT grid up to
  Nyquist). With ``aperture`` = ``a`` the result is divided by ``sinc(f a)``, which
  removes the sampling aperture of pixel-integrated samples (exact for an LSF
  band-limited below Nyquist). No window and no aperture by default.
* **Crossing** (:func:`first_crossing`): the first ``x`` where ``y`` passes ``level``
  (falling: from ``>= level`` to ``< level``; rising: from ``< level`` to ``>= level``),
  by linear interpolation in ``x`` (or in ``log x``); None when it never does or
  already starts past it. MTF50 / MTF10 are ``first_crossing(f, mtf, 0.5 / 0.1)``.
* **FWHM** (:func:`fwhm`): distance between the two half-maximum crossings around the
  highest sample (linear interpolation); :func:`lsf_fwhm` first removes the cell
  aperture and interpolates band-limited (zero-padded FFT).
* **NPS** (:func:`noise_power_spectrum`): ``NPS(u, v) = dx dy / (Nx Ny) <|DFT(I - mean)|^2>``
  over ROIs (IEC 62220-1 normalisation), so ``sum NPS du dv`` = the pixel variance.
* **DQE**: ``DQE(f) = mean^2 MTF(f)^2 / (q NPS(f))`` (:func:`dqe`, ``q`` incident quanta per
  unit area), and the cascaded zero-frequency value of a Poisson-gain detector
  ``DQE(0) = eta g / (1 + g)`` (:func:`dqe0_poisson_gain`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from physics.tracing import is_concrete

__all__ = [
    "FWHM_PER_SIGMA",
    "gaussian_kernel_1d",
    "gaussian_kernel_2d",
    "gaussian_mtf",
    "mtf_from_lsf",
    "mtf_from_psf",
    "first_crossing",
    "mtf_crossings",
    "equivalent_gaussian_sigma",
    "fwhm",
    "lsf_fwhm",
    "noise_power_spectrum",
    "radial_average",
    "dqe",
    "dqe0_poisson_gain",
]

#: FWHM of a Gaussian in units of its standard deviation, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


# --------------------------------------------------------------------------- Gaussian
def _half_width(sigma, pitch, half_width):
    if half_width is not None:
        if not (isinstance(half_width, (int, np.integer)) and half_width >= 0):
            raise ValueError(f"half_width: {half_width!r} must be a non-negative integer")
        return int(half_width)
    try:
        s = float(sigma)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise ValueError("half_width: give it explicitly when sigma is traced (jit/grad); "
                         "the kernel shape must be static") from None
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"sigma: {sigma!r} must be finite and >= 0")
    return max(1, int(math.ceil(4.0 * s / float(pitch))))


def gaussian_kernel_1d(sigma, *, pitch: float = 1.0, half_width: int | None = None,
                       integrate: bool = False, dtype=jnp.float32) -> jax.Array:
    """Unit-sum 1D Gaussian of standard deviation ``sigma`` on ``2 h + 1`` cells of ``pitch``.

    Parameters
    ----------
    sigma : float or traced scalar
        Standard deviation, same unit as ``pitch``. ``0`` gives a delta (with ``integrate``).
    pitch : float
        Cell pitch.
    half_width : int, optional
        ``h``; default ``max(1, ceil(4 sigma / pitch))``.
    integrate : bool
        False (default): density sampled at cell centres; True: exact integral over each cell.

    Returns
    -------
    jax.Array, shape (2 h + 1,)
    """
    if not float(pitch) > 0:
        raise ValueError(f"pitch: {pitch!r} must be > 0")
    h = _half_width(sigma, pitch, half_width)
    x = (jnp.arange(2 * h + 1, dtype=dtype) - h) * pitch
    s = jnp.maximum(jnp.asarray(sigma, dtype), 1e-6 * pitch)
    if integrate:
        k = jax.scipy.special.ndtr((x + pitch / 2) / s) - jax.scipy.special.ndtr((x - pitch / 2) / s)
    else:
        k = jnp.exp(-0.5 * (x / s) ** 2)
    return k / jnp.sum(k)


def gaussian_kernel_2d(sigma, *, pitch: float = 1.0, half_width: int | None = None,
                       integrate: bool = False, dtype=jnp.float32) -> jax.Array:
    """Separable unit-sum 2D Gaussian: outer product of :func:`gaussian_kernel_1d` with itself."""
    k = gaussian_kernel_1d(sigma, pitch=pitch, half_width=half_width, integrate=integrate, dtype=dtype)
    return jnp.outer(k, k)


def gaussian_mtf(sigma, freqs):
    """MTF of a Gaussian blur: ``exp(-2 pi^2 sigma^2 f^2)`` (numpy)."""
    return np.exp(-2.0 * np.pi**2 * float(sigma) ** 2 * np.asarray(freqs, dtype=float) ** 2)


# --------------------------------------------------------------------------- MTF
def mtf_from_lsf(lsf, pitch: float, *, freqs=None, window=None, aperture: float | None = None,
                 oversample: int = 16):
    """MTF of sampled line spread function (see the module docstring for the definition).

    Parameters
    ----------
    lsf : array_like, 1D
        LSF samples at spacing ``pitch`` (any scale; positive sum after windowing).
    pitch : float
        Sample spacing (um, px, ...); frequencies are in cycles per that unit.
    freqs : array_like, optional
        Frequencies to evaluate, each at most the Nyquist frequency ``0.5 / pitch``.
        Default: ``0 .. 0.5/pitch`` in steps of ``1 / (oversample n pitch)``.
    window : array_like, optional
        Weights multiplied into the LSF before the transform (e.g. the ISO 12233 Hamming
        window), shape of ``lsf``.
    aperture : float, optional
        Width of a sampling box to divide out (``sinc(f aperture)``); None keeps it.

    Returns
    -------
    freqs, mtf : np.ndarray
        Float64 NumPy arrays; when ``lsf``, ``pitch`` or ``freqs`` is traced (``jax.grad``,
        ``jax.jit``; ``freqs`` must then be given) the same sum in JAX, differentiable and
        unchecked.
    """
    if not all(is_concrete(a) for a in (lsf, pitch, freqs, window, aperture)):
        if freqs is None:
            raise ValueError("freqs: give them explicitly when the lsf or pitch is traced")
        f = jnp.ravel(jnp.asarray(freqs))
        l = jnp.asarray(lsf) * (1.0 if window is None else jnp.asarray(window))
        mtf = _dtft_modulus(l, pitch, f, jnp) / jnp.sum(l)
        return f, mtf if aperture is None else mtf / jnp.sinc(f * aperture)
    l = np.asarray(lsf, dtype=float)
    if l.ndim != 1 or l.size < 2:
        raise ValueError(f"lsf: expected a 1D array of at least 2 samples, got shape {l.shape}")
    pitch = float(pitch)
    if not (math.isfinite(pitch) and pitch > 0):
        raise ValueError(f"pitch: {pitch!r} must be > 0")
    if window is not None:
        w = np.asarray(window, dtype=float)
        if w.shape != l.shape:
            raise ValueError(f"window: shape {w.shape} differs from the lsf's {l.shape}")
        l = l * w
    total = l.sum()
    if not total > 0:
        raise ValueError("lsf: its (windowed) sum must be positive")
    nyquist = 0.5 / pitch
    if freqs is None:
        n = l.size * int(oversample)
        f = np.arange(n // 2 + 1) / (n * pitch)
        spectrum = np.abs(np.fft.rfft(l, n=n))
    else:
        f = np.asarray(freqs, dtype=float).ravel()
        if f.size and (f.min() < 0 or f.max() > nyquist * (1 + 1e-9)):
            raise ValueError(f"freqs: must lie in [0, {nyquist:.4g}] (Nyquist of a {pitch:.4g} grid), "
                             f"got {f.min():.4g}..{f.max():.4g}")
        spectrum = _dtft_modulus(l, pitch, f, np)
    mtf = spectrum / total
    if aperture is not None:
        mtf = mtf / np.sinc(f * float(aperture))
    return f, mtf


def _dtft_modulus(l, pitch, f, xp):
    """``|sum_i l_i exp(-2 pi i f x_i)|`` with ``x_i = i pitch``, in NumPy or JAX (``xp``); the
    1e-30 keeps the derivative finite where the modulus vanishes."""
    phase = 2.0 * np.pi * f[:, None] * (xp.arange(l.shape[0]) * pitch)[None, :]
    return xp.sqrt((xp.cos(phase) @ l) ** 2 + (xp.sin(phase) @ l) ** 2 + 1e-30)


def mtf_from_psf(psf, pitch: float, *, axis: int = 1, freqs=None, aperture: float | None = None,
                 oversample: int = 16):
    """MTF along ``axis`` (1: frequencies along columns) of a 2D PSF: its LSF through :func:`mtf_from_lsf`."""
    a = np.asarray(psf, dtype=float)
    if a.ndim != 2 or axis not in (0, 1):
        raise ValueError(f"psf must be 2D and axis 0 or 1, got shape {a.shape}, axis {axis!r}")
    return mtf_from_lsf(a.sum(axis=1 - axis), pitch, freqs=freqs, aperture=aperture, oversample=oversample)


def first_crossing(x, y, level: float, *, rising: bool = False, log_x: bool = False, never=None):
    """First ``x`` where ``y`` passes ``level`` (see the module docstring); ``never`` (None)
    if it never does or starts past it.

    With traced ``y`` or ``x`` (``jax.grad``/``jax.jit``) the same interpolation runs in
    JAX, differentiable in ``y`` and ``x``, and ``never`` must be a number.
    """
    if not (is_concrete(x) and is_concrete(y) and is_concrete(level)):
        if never is None or log_x:
            raise ValueError("first_crossing: traced values need a numeric `never` and linear x")
        xs, ys = jnp.asarray(x), jnp.asarray(y)
        past = ys >= level if rising else ys < level
        i = jnp.argmax(past)
        crossed = jnp.any(past) & (i > 0)
        i = jnp.maximum(i, 1)
        dy = ys[i] - ys[i - 1]
        t = jnp.clip((level - ys[i - 1]) / jnp.where(dy == 0, 1e-12, dy), 0.0, 1.0)
        return jnp.where(crossed, xs[i - 1] + t * (xs[i] - xs[i - 1]), never)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1D of equal length, got {xs.shape} and {ys.shape}")
    past = ys >= level if rising else ys < level
    hits = np.flatnonzero(past)
    if hits.size == 0 or hits[0] == 0:
        return never
    i = hits[0]
    t = (level - ys[i - 1]) / (ys[i] - ys[i - 1])
    if log_x:
        return float(math.exp(math.log(xs[i - 1]) + t * (math.log(xs[i]) - math.log(xs[i - 1]))))
    return float(xs[i - 1] + t * (xs[i] - xs[i - 1]))


def mtf_crossings(freqs, mtf) -> tuple[float | None, float | None]:
    """(MTF50, MTF10): the first frequencies where the MTF falls below 0.5 and 0.1."""
    return first_crossing(freqs, mtf, 0.5), first_crossing(freqs, mtf, 0.1)


def equivalent_gaussian_sigma(freqs, mtf) -> float:
    """Sigma of the Gaussian whose MTF best fits ``-ln MTF`` (least squares) where MTF >= 0.5.

    The band ends at the first crossing of 0.5 (later side lobes are not the core).
    Exact for a Gaussian; ``p / sqrt(12)`` for a box of width ``p`` at low frequency.
    """
    f, m = np.asarray(freqs, dtype=float), np.asarray(mtf, dtype=float)
    band = (m >= 0.5) & (f > 0)
    if not band.any():
        raise ValueError("mtf: below 0.5 at the first non-zero frequency; use a finer frequency grid")
    last = np.argmax(~band[1:]) if (~band[1:]).any() else band.size - 1
    band[last + 1:] = False
    fb, mb = f[band], m[band]
    s2 = np.sum(fb**2 * -np.log(mb)) / (2 * np.pi**2 * np.sum(fb**4))
    return float(math.sqrt(max(s2, 0.0)))


# --------------------------------------------------------------------------- FWHM
def fwhm(x, y) -> float:
    """Full width at half maximum of a single-peaked profile (linear interpolation).

    Raises
    ------
    ValueError
        If the profile does not fall to half its maximum on both sides.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1D of equal length, got {xs.shape} and {ys.shape}")
    i0 = int(np.argmax(ys))
    half = 0.5 * ys[i0]
    right = first_crossing(xs[i0:], ys[i0:], half)
    left = first_crossing(xs[i0::-1], ys[i0::-1], half)
    if right is None or left is None:
        raise ValueError("fwhm: the profile does not fall to half maximum on both sides of its peak")
    return float(right - left)


def lsf_fwhm(lsf, pitch: float, *, aperture: float | None = None, upsample: int = 16) -> float:
    """FWHM of a band-limited LSF from its samples: aperture removed, zero-padded FFT interpolation."""
    l = np.asarray(lsf, dtype=float)
    n = l.size
    spec = np.fft.rfft(np.fft.ifftshift(l))
    if aperture is not None:
        spec = spec / np.sinc(np.fft.rfftfreq(n, d=pitch) * aperture)
    fine = np.fft.fftshift(np.fft.irfft(spec, n=n * upsample))
    xs = (np.arange(fine.size) - fine.size // 2) * pitch / upsample
    return fwhm(xs, fine)


# --------------------------------------------------------------------------- NPS / DQE
def noise_power_spectrum(rois, pixel: float = 1.0, *, detrend: str = "mean"):
    """2D noise power spectrum averaged over ROIs (IEC 62220-1 normalisation).

    Parameters
    ----------
    rois : array_like, shape (n, ny, nx) or (ny, nx)
        Flat-field regions (signal, not normalised).
    pixel : float
        Pixel pitch (the NPS is in signal^2 x pitch^2).
    detrend : {"mean", "plane"}
        Subtract each ROI's mean, or its least-squares plane (removes heel effect/shading).

    Returns
    -------
    fy, fx : np.ndarray
        Frequencies (cycles per pitch unit), ``np.fft.fftfreq`` order.
    nps : np.ndarray, shape (ny, nx)
        ``NPS(fy, fx)``; its sum times ``df_x df_y`` equals the mean pixel variance.
    """
    a = np.asarray(rois, dtype=float)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or min(a.shape[1:]) < 4:
        raise ValueError(f"rois: expected (n, ny, nx) with ny, nx >= 4, got shape {a.shape}")
    if detrend not in ("mean", "plane"):
        raise ValueError(f"detrend: {detrend!r} must be 'mean' or 'plane'")
    n, ny, nx = a.shape
    if detrend == "mean":
        resid = a - a.mean(axis=(1, 2), keepdims=True)
    else:
        yy, xx = np.mgrid[:ny, :nx]
        basis = np.stack([np.ones(ny * nx), yy.ravel(), xx.ravel()], axis=1)
        coef, *_ = np.linalg.lstsq(basis, a.reshape(n, -1).T, rcond=None)
        resid = a - (basis @ coef).T.reshape(n, ny, nx)
    power = np.abs(np.fft.fft2(resid)) ** 2
    nps = power.mean(axis=0) * pixel**2 / (nx * ny)
    return np.fft.fftfreq(ny, d=pixel), np.fft.fftfreq(nx, d=pixel), nps


def radial_average(fy, fx, values, *, n_bins: int | None = None):
    """Average a 2D spectrum over rings of equal |f| (bin width = the coarser axis' step).

    Returns
    -------
    f, mean : np.ndarray
        Ring centres and the mean of ``values`` in each non-empty ring.
    """
    fr = np.hypot(*np.meshgrid(fy, fx, indexing="ij"))
    step = max(abs(fy[1] - fy[0]), abs(fx[1] - fx[0]))
    nb = n_bins or int(np.floor(fr.max() / step)) + 1
    idx = np.minimum(np.round(fr / step).astype(int), nb - 1)
    counts = np.bincount(idx.ravel(), minlength=nb)
    sums = np.bincount(idx.ravel(), weights=np.asarray(values, dtype=float).ravel(), minlength=nb)
    ok = counts > 0
    return (np.arange(nb) * step)[ok], sums[ok] / counts[ok]


def dqe(mtf, nps, *, mean_signal: float, quanta_per_area: float):
    """Detective quantum efficiency ``mean^2 MTF^2 / (q NPS)`` (IEC 62220-1).

    ``nps`` in signal^2 x area (as :func:`noise_power_spectrum` returns it), ``q`` the
    incident quanta per the same area; ``mtf`` at the same frequencies as ``nps``.
    """
    m, p = np.asarray(mtf, dtype=float), np.asarray(nps, dtype=float)
    if not (quanta_per_area > 0 and np.all(p > 0)):
        raise ValueError("dqe: quanta_per_area and every NPS value must be > 0")
    return mean_signal**2 * m**2 / (quanta_per_area * p)


def dqe0_poisson_gain(absorbed_fraction, gain=None):
    """Zero-frequency DQE of a detector absorbing a fraction ``eta`` with a Poisson gain stage.

    Cascaded-systems result (Cunningham; Rabbani, Shaw & Van Metter, JOSA A 4 (1987) 895):
    a Poisson secondary stage of mean ``g`` quanta per absorbed X-ray keeps
    ``g / (1 + g)`` of the absorbed quanta's SNR^2, so ``DQE(0) = eta g / (1 + g)``.
    ``gain=None``: quantum-limited (``DQE(0) = eta``). Swank factor not included.
    """
    if gain is None:
        return absorbed_fraction
    return absorbed_fraction * gain / (1.0 + gain)
