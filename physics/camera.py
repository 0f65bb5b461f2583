"""sCMOS camera and the detector noise chain (EMVA 1288 model), pixel integration.

Units: electrons (e-), ADU (digital numbers), seconds; pixel pitches in um.

Noise chain (randomness only in the ``sample_*`` functions, via an explicit key;
``expected_*`` are the deterministic means):

1. X-ray quanta absorbed in each cell of the oversampled field: Poisson, *before*
   the scintillator-optics blur, so X-ray quantum noise is spatially correlated by
   the PSF as in a real screen.
2. Each absorbed quantum yields optical photons; those collected and converted
   (``electrons_per_quantum`` = light per quantum x collection efficiency x QE) are
   spread by the PSF and integrated over camera pixels. Given the absorbed quanta,
   the photoelectrons are Poisson (Poisson light yield thinned by binomial collection
   and QE stays Poisson). The spread of light yield with X-ray energy (Swank factor)
   is not modelled: one mean gain per quantum.
3. Camera (EMVA 1288 linear model): dark electrons Poisson(dark current x exposure),
   full-well saturation, read noise Gaussian (e- rms), conversion to ADU by the
   gain (e-/ADU), offset, rounding, clipping to ``[0, 2^bits - 1]``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from physics.psf import apply_psf_binned
from physics.tracing import is_concrete

__all__ = [
    "SCMOS",
    "PCO_EDGE_42_QE",
    "bin_to_pixels",
    "bin_to_pixels_adjoint",
    "expected_adu",
    "sample_adu",
    "expected_frame",
    "sample_frame",
    "adu_to_electrons",
    "flat_dark_correct",
    "poisson_counts",
    "hash_uniform",
    "standard_normal",
]

#: pco.edge 4.2 quantum efficiency vs wavelength (nm -> fraction). Only the peak
#: (~82 % near 600 nm) and ~70-75 % at 480-530 nm are datasheet statements (pco.edge 4.2
#: datasheet, QE figure); the other points are *assumed*, shaped after that figure.
PCO_EDGE_42_QE = (
    (400.0, 0.50), (450.0, 0.65), (480.0, 0.71), (500.0, 0.74), (530.0, 0.77), (550.0, 0.79),
    (600.0, 0.82), (650.0, 0.79), (700.0, 0.72), (750.0, 0.62), (800.0, 0.50), (900.0, 0.25),
    (1000.0, 0.07),
)


@dataclass(frozen=True)
class SCMOS:
    """A scientific CMOS camera (defaults: pco.edge 4.2 class, as used in the paper).

    Parameters
    ----------
    rows, cols : int
        Sensor format, 2048 x 2048 (pco.edge 4.2 datasheet).
    pixel_um : float
        Pixel pitch, 6.5 um (paper; pco.edge 4.2 datasheet).
    quantum_efficiency : float, optional
        QE at the scintillator emission; ``None`` takes it from ``qe_curve`` at the
        wavelength passed to :meth:`qe_at`.
    full_well_e : float
        30 000 e- (pco.edge 4.2 datasheet).
    read_noise_e : float
        1.0 e- rms, *assumed* within the datasheet's 0.8 (median) to 1.4 (rms) e- range.
    dark_current_e_per_s : float
        0.5 e-/pixel/s, *assumed* from the datasheet order of magnitude at +5 C sensor
        temperature (not confirmed here).
    gain_e_per_adu : float
        Conversion factor 0.46 e-/ADU (pco.edge 4.2 datasheet, not re-confirmed here).
    offset_adu : float
        Dark offset 100 ADU (*assumed*: pco cameras add an offset of ~100 counts).
    bit_depth : int
        16 (ADC range 0..65535).
    qe_curve : tuple of (nm, fraction)
        Used by :meth:`qe_at` when ``quantum_efficiency`` is None.
    """

    rows: int = 2048
    cols: int = 2048
    pixel_um: float = 6.5
    quantum_efficiency: float | None = None
    full_well_e: float = 30000.0
    read_noise_e: float = 1.0
    dark_current_e_per_s: float = 0.5
    gain_e_per_adu: float = 0.46
    offset_adu: float = 100.0
    bit_depth: int = 16
    qe_curve: tuple = PCO_EDGE_42_QE

    def __post_init__(self):
        for key in ("rows", "cols", "bit_depth"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"camera.{key}: {v!r} must be a positive integer")
        if self.bit_depth > 24:
            raise ValueError(f"camera.bit_depth: {self.bit_depth!r} must be <= 24")
        for key, lo in [("pixel_um", 0.0), ("full_well_e", 0.0), ("gain_e_per_adu", 0.0)]:
            v = getattr(self, key)
            if not (math.isfinite(float(v)) and float(v) > lo):
                raise ValueError(f"camera.{key}: {v!r} must be > {lo:g}")
        for key in ("read_noise_e", "dark_current_e_per_s", "offset_adu"):
            v = getattr(self, key)
            if not (math.isfinite(float(v)) and float(v) >= 0):
                raise ValueError(f"camera.{key}: {v!r} must be >= 0")
        qe = self.quantum_efficiency
        if qe is not None and not (0.0 < float(qe) <= 1.0):
            raise ValueError(f"camera.quantum_efficiency: {qe!r} must be in (0, 1]")
        curve = np.asarray(self.qe_curve, dtype=float)
        if curve.ndim != 2 or curve.shape[1] != 2 or np.any(np.diff(curve[:, 0]) <= 0) \
                or np.any(curve[:, 1] < 0) or np.any(curve[:, 1] > 1):
            raise ValueError("camera.qe_curve: expected (nm, fraction) pairs with increasing nm "
                             "and fractions in [0, 1]")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    @property
    def max_adu(self) -> int:
        return 2**self.bit_depth - 1

    def qe_at(self, wavelength_nm: float) -> float:
        """QE at a wavelength: ``quantum_efficiency`` if set, else the curve (linear interp.)."""
        if self.quantum_efficiency is not None:
            return float(self.quantum_efficiency)
        curve = np.asarray(self.qe_curve, dtype=float)
        wl = float(wavelength_nm)
        if not curve[0, 0] <= wl <= curve[-1, 0]:
            raise ValueError(f"wavelength_nm: {wavelength_nm!r} is outside the QE curve "
                             f"({curve[0, 0]:g}-{curve[-1, 0]:g} nm)")
        return float(np.interp(wl, curve[:, 0], curve[:, 1]))


# --------------------------------------------------------------------------- random numbers
def _lowbias32(x):
    """C. Wellons' ``lowbias32`` integer hash ("Prospecting for hash functions", 2018)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hash_uniform(key, shape, dtype=jnp.float32):
    """Uniform variates on (0, 1) from a counter-based hash of the element index and ``key``.

    Two rounds of ``lowbias32`` over ``index ^ w0`` then ``^ w1``, the round keys hashed
    from both words of the ``jax.random`` key, kept to 23 bits: values ``(k + 1/2) / 2^23``, never 0
    or 1, in float32 as in float64 (with 24 bits the largest value, ``(2^24 - 1/2) / 2^24``, rounds
    to 1.0 in float32; its normal quantile is inf and one such cell made a whole frame NaN).
    About 4x faster than ``jax.random.uniform`` (threefry) on CPU; uniformity and the
    independence of neighbours and of split keys are tested (tests/physics/test_camera.py).
    """
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"hash_uniform: {size} variates exceed the 2^32 counter")
    k0, k1 = jax.random.key_data(key).astype(jnp.uint32).ravel()[jnp.array([0, -1])]
    # both round keys depend on both key words, so keys sharing a word give unrelated streams
    w0 = _lowbias32(k0 + _lowbias32(k1 ^ jnp.uint32(0x9E3779B9)))
    w1 = _lowbias32(k1 + _lowbias32(w0 ^ jnp.uint32(0x85EBCA6B)))
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    h = _lowbias32(_lowbias32(index ^ w0) ^ w1)
    return _unit_interval(h, dtype)


def _unit_interval(h, dtype):
    """32-bit hashes to ``(k + 1/2) / 2^23`` with ``k`` their top 23 bits: open (0, 1) in float32."""
    return ((h >> 9).astype(dtype) + 0.5) * (1.0 / 8388608.0)


def _inverse_normal(u):
    """The standard normal quantile, ``sqrt(2) erfinv(2u - 1)`` (= ndtri, cheaper on CPU)."""
    return jnp.sqrt(2.0).astype(u.dtype) * jax.lax.erf_inv(2.0 * u - 1.0)


def standard_normal(key, shape, dtype=jnp.float32):
    """Standard normal variates: the normal quantile of :func:`hash_uniform` (|z| <= 5.3)."""
    return _inverse_normal(hash_uniform(key, shape, dtype))


@functools.partial(jax.jit, static_argnames=("exact_below",))
def poisson_counts(key, lam, *, exact_below: float = 10.0):
    """Poisson samples of mean ``lam`` (float array of integer counts), fast on large fields.

    Cells with ``lam < exact_below`` are sampled exactly by inverting the Poisson CDF
    (as many terms as the largest such mean needs, tail < 1e-9). Larger means invert the
    second-order Cornish-Fisher expansion of the Poisson quantile (skewness term
    ``(z^2 - 1) / 6``) and round it (continuity correction):
    ``round(lam + s z + (z^2 - 1) / 6)`` with ``s^2 = lam - 5/36``, which takes off the
    variance that the skewness term (1/18) and the rounding (1/12) add. Mean and variance
    are then exact to < 1e-4 relative and the largest CDF error (Kolmogorov distance to
    the exact Poisson law) is 1.0e-3 at ``lam = 10``, falling as ``1 / lam`` (4.7e-4 at 20,
    8.6e-5 at 100; computed in the tests). One :func:`hash_uniform` draw per cell serves
    both branches.
    """
    lam = jnp.maximum(jnp.asarray(lam, dtype=jnp.result_type(float)), 0.0)

    def draw():
        u = hash_uniform(key, lam.shape, lam.dtype)
        z = _inverse_normal(u)
        s = jnp.sqrt(jnp.maximum(lam - 5.0 / 36.0, 0.0))
        return u, jnp.maximum(jnp.floor(lam + s * z + (z * z - 1.0) / 6.0 + 0.5), 0.0)

    def exact(_):
        u, large = draw()
        small = lam < exact_below
        ls = jnp.where(small, lam, 0.0)
        lmax = jnp.max(ls, initial=0.0)
        n_terms = jnp.ceil(lmax + 7.0 * jnp.sqrt(lmax) + 10.0).astype(jnp.int32)

        def add_term(i, carry):
            count, p, cdf = carry
            count = count + (u > cdf)
            p = p * ls / i.astype(ls.dtype)
            return count, p, cdf + p

        p0 = jnp.exp(-ls)
        count, _, _ = jax.lax.fori_loop(1, n_terms, add_term, (jnp.zeros_like(lam), p0, p0))
        return jnp.where(small, count, large)

    # No small-mean cell at all (the usual bright field): the CDF inversion is skipped, and
    # the uniforms are drawn inside each branch so the bright-field branch is one fused
    # elementwise pass (hash -> quantile -> count) with no field-sized temporaries.
    return jax.lax.cond(jnp.any(lam < exact_below), exact, lambda _: draw()[1], None)


# --------------------------------------------------------------------------- binning
def _check_oversample(field, oversample):
    if not isinstance(oversample, (int, np.integer)) or oversample < 1:
        raise ValueError(f"oversample: {oversample!r} must be a positive integer")
    if jnp.ndim(field) != 2:
        raise ValueError(f"field must be 2D, got shape {jnp.shape(field)}")


def bin_to_pixels(field, oversample: int):
    """Integrate an oversampled field over camera pixels (sum of ``oversample^2`` cells).

    A linear operator ``(H*o, W*o) -> (H, W)``; sums conserve the total signal.
    """
    _check_oversample(field, oversample)
    h, w = field.shape
    if h % oversample or w % oversample:
        raise ValueError(f"field shape {field.shape} is not a multiple of oversample={oversample}")
    return field.reshape(h // oversample, oversample, w // oversample, oversample).sum(axis=(1, 3))


def bin_to_pixels_adjoint(image, oversample: int):
    """Adjoint of :func:`bin_to_pixels`: copy each pixel value into its ``o x o`` cells."""
    _check_oversample(image, oversample)
    return jnp.repeat(jnp.repeat(image, oversample, axis=0), oversample, axis=1)


# --------------------------------------------------------------------------- camera
def _check_exposure(exposure_s):
    if not (math.isfinite(float(exposure_s)) and float(exposure_s) >= 0):
        raise ValueError(f"exposure_s: {exposure_s!r} must be a non-negative time in s")


def expected_adu(mean_electrons, *, camera: SCMOS, exposure_s: float):
    """Mean raw signal (ADU, not rounded) for a mean photoelectron image.

    ``(min(mu_e + dark, full_well)) / gain + offset`` clipped to the ADC range.
    Saturation is applied to the mean (the noise-free image), so it is exact below full well.
    """
    _check_exposure(exposure_s)
    e = jnp.minimum(mean_electrons + camera.dark_current_e_per_s * exposure_s, camera.full_well_e)
    return jnp.clip(e / camera.gain_e_per_adu + camera.offset_adu, 0.0, camera.max_adu)


def sample_adu(key, mean_electrons, *, camera: SCMOS, exposure_s: float):
    """One raw frame (uint16/uint32 ADU) from a mean photoelectron image, EMVA 1288 model.

    Photoelectrons + dark electrons ~ Poisson(mean + dark current x exposure)
    (:func:`poisson_counts`; the sum of two independent Poisson variables), capped at
    full well, plus Gaussian read noise (e- rms), divided by the gain, plus offset,
    rounded and clipped to ``[0, 2^bits - 1]``.
    """
    _check_exposure(exposure_s)
    return _sample_adu(key, jnp.asarray(mean_electrons, dtype=jnp.result_type(float)), exposure_s,
                       camera=camera)


@functools.partial(jax.jit, static_argnames=("camera",))
def _sample_adu(key, mean_electrons, exposure_s, *, camera):
    k_sig, k_read = jax.random.split(key)
    # Signal and dark electrons are independent Poisson variables, so their sum is
    # Poisson with the summed mean: one draw instead of two (exact).
    electrons = poisson_counts(k_sig, mean_electrons + camera.dark_current_e_per_s * exposure_s)
    electrons = jnp.minimum(electrons, camera.full_well_e)
    read = camera.read_noise_e * standard_normal(k_read, mean_electrons.shape, mean_electrons.dtype)
    adu = jnp.round((electrons + read) / camera.gain_e_per_adu + camera.offset_adu)
    adu = jnp.clip(adu, 0, camera.max_adu)
    return adu.astype(jnp.uint16 if camera.bit_depth <= 16 else jnp.uint32)


def adu_to_electrons(adu, *, camera: SCMOS):
    """Inverse of the linear ADC map: ``(adu - offset) * gain`` (float, electrons)."""
    return (jnp.asarray(adu, dtype=jnp.result_type(float)) - camera.offset_adu) * camera.gain_e_per_adu


def flat_dark_correct(raw, *, flat, dark):
    """Flat/dark correction ``(raw - dark) / (flat - dark)`` (transmission image, float).

    ``flat`` and ``dark`` are (averaged) frames of the same shape; every pixel of
    ``flat - dark`` must be positive, otherwise a ValueError names how many are not
    (checked on concrete frames; under jit/grad the frames pass through).
    """
    raw = jnp.asarray(raw, dtype=jnp.result_type(float))
    flat = jnp.asarray(flat, dtype=raw.dtype)
    dark = jnp.asarray(dark, dtype=raw.dtype)
    if not (raw.shape == flat.shape == dark.shape):
        raise ValueError(f"raw, flat and dark must have the same shape, got {raw.shape}, "
                         f"{flat.shape}, {dark.shape}")
    span = flat - dark
    bad = int(jnp.sum(~(span > 0))) if is_concrete(span) else 0  # traced: differentiable, unchecked
    if bad:
        raise ValueError(f"flat - dark is not positive in {bad} pixel(s); check the flat and dark frames")
    return (raw - dark) / span


# --------------------------------------------------------------------------- full chain
def _check_frame_args(absorbed_quanta, psf, oversample, electrons_per_quantum):
    if jnp.ndim(absorbed_quanta) != 2 or jnp.ndim(psf) != 2:
        raise ValueError(f"absorbed_quanta and psf must be 2D, got {jnp.shape(absorbed_quanta)} and "
                         f"{jnp.shape(psf)}")
    _check_oversample(absorbed_quanta, oversample)
    if is_concrete(electrons_per_quantum) and not float(electrons_per_quantum) >= 0:
        raise ValueError(f"electrons_per_quantum: {electrons_per_quantum!r} must be >= 0")


def expected_frame(absorbed_quanta, *, psf, electrons_per_quantum, oversample: int, camera: SCMOS,
                   exposure_s: float):
    """Mean raw frame (ADU, float) for a field of expected absorbed X-ray quanta.

    ``expected_adu(bin(apply_psf(q, psf)) * electrons_per_quantum)``, the blur and the
    pixel integration in one exact step (:func:`physics.psf.apply_psf_binned`).
    Deterministic and differentiable (except where saturated).

    Parameters
    ----------
    absorbed_quanta : array, shape (H*o, W*o)
        Expected X-ray quanta absorbed per oversampled cell during the exposure.
    psf : array
        Unit-sum scintillator-optics PSF on the same oversampled grid.
    electrons_per_quantum : float
        Mean photoelectrons per absorbed quantum (light per quantum x collection x QE).
    oversample : int
        Cells per camera pixel side.
    """
    _check_frame_args(absorbed_quanta, psf, oversample, electrons_per_quantum)
    mean_e = apply_psf_binned(absorbed_quanta, psf, oversample) * electrons_per_quantum
    return expected_adu(mean_e, camera=camera, exposure_s=exposure_s)


def sample_frame(key, absorbed_quanta, *, psf, electrons_per_quantum, oversample: int, camera: SCMOS,
                 exposure_s: float):
    """One noisy raw frame: Poisson X-ray quanta -> PSF -> pixels -> Poisson e- -> camera.

    Same arguments as :func:`expected_frame` plus a ``jax.random`` key. Returns uint16 ADU.
    """
    _check_frame_args(absorbed_quanta, psf, oversample, electrons_per_quantum)
    _check_exposure(exposure_s)
    dtype = jnp.result_type(float)
    return _sample_frame(key, jnp.asarray(absorbed_quanta, dtype=dtype), jnp.asarray(psf, dtype=dtype),
                         jnp.asarray(electrons_per_quantum, dtype=dtype), exposure_s,
                         oversample=int(oversample), camera=camera)


@functools.partial(jax.jit, static_argnames=("oversample", "camera"))
def _sample_frame(key, absorbed_quanta, psf, electrons_per_quantum, exposure_s, *, oversample, camera):
    # One compiled function per (shape, oversample, camera): no op-by-op dispatch of the blur.
    k_xray, k_cam = jax.random.split(key)
    quanta = poisson_counts(k_xray, jnp.maximum(absorbed_quanta, 0.0))
    mean_e = apply_psf_binned(quanta, psf, oversample) * electrons_per_quantum
    return _sample_adu(k_cam, jnp.maximum(mean_e, 0.0), exposure_s, camera=camera)
