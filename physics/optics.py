"""Microscope optics between the scintillator and the camera.

The objective looks at the scintillator from behind, through its substrate. All
lengths are in micrometres (um); wavelengths enter in **nm** at the public
boundary (``wavelength_nm``) and are converted to um inside formulas.

What is modelled
----------------
* Magnification of an infinity-corrected objective used with a tube lens other
  than its design one: ``M = M_nominal * f_tube / f_design`` (paper: 20x for a
  200 mm tube lens used with a 160 mm tube lens -> 16x, 6.5 um camera pixels ->
  0.40625 um at the scintillator).
* Light collection of an isotropic emitter inside a medium of index ``n`` by a dry
  objective of numerical aperture ``NA``: the accepted cone has half-angle
  ``theta_in`` with ``n sin(theta_in) = NA`` (Snell's invariant across the parallel
  substrate), so the collected fraction is ``(1 - cos theta_in) / 2``; Fresnel losses at
  the scintillator/substrate and substrate/air faces (normal incidence, because
  ``theta_in`` stays below ~20 deg for NA <= 0.75 and n >= 1.8) and the objective
  transmission multiply it.
* Point spread functions in the object (scintillator) plane: the analytic Airy
  pattern (:func:`airy_psf`) and the scalar wave-optical PSF of a point at a
  defocus ``dz`` inside the medium (:func:`defocus_psf`), both integrated over
  square pixels and normalised to unit sum.

Defocus model and why
---------------------
The defocused PSF is computed by Fourier optics from the pupil, with the exact
scalar defocus phase of a displacement ``dz`` inside a medium of index ``n``
(the sample-layer term of the Gibson-Lanni model)::

    phi(f) = 2 pi dz (sqrt((n/lambda)^2 - f^2) - n/lambda),   |f| <= NA/lambda,

and ``PSF = |IFFT(pupil * exp(i phi))|^2``. It is non-negative by construction,
reduces to the Airy pattern at ``dz = 0`` and to the geometric blur disc of radius
``dz tan(theta_in)`` at large ``dz`` (both checked in the tests), keeps the
non-paraxial dependence on ``n`` that a paraxial Stokseth/Hopkins formula drops,
and is smooth in ``dz`` and ``NA`` (the pupil edge is anti-aliased over one
frequency sample), so ``jax.grad`` works. Scalar theory, uniform pupil, no
aberrations of the objective and no spherical aberration from the substrate (a
cover-glass-corrected objective or a thin substrate is assumed).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from physics.tracing import is_concrete
from physics.units import to_float

__all__ = [
    "Objective",
    "Microscope",
    "collection_fraction",
    "fresnel_transmission",
    "airy_psf",
    "defocus_psf",
    "defocus_psf_stack",
    "supersampling_for",
    "bessel_j1",
]


@dataclass(frozen=True)
class Objective:
    """An infinity-corrected microscope objective.

    Parameters
    ----------
    magnification : float
        Nominal magnification with its design tube lens. Default 20 (paper).
    design_tube_lens_mm : float
        Focal length of the tube lens the magnification is specified for. Default
        200 mm (paper: "20x infinity corrected objective lens (f = 200 mm)").
    numerical_aperture : float
        NA in air. Default 0.42, *assumed* because the paper does not give it: a
        Mitutoyo M Plan Apo 20x (NA 0.42, WD 20 mm) is the usual 20x objective
        specified for a 200 mm tube lens, as the paper's is, and a long working
        distance is needed to look through a scintillator substrate.
    transmission : float
        Fraction of collected visible light transmitted by objective + tube lens.
        Default 0.8, *assumed* because it is typical of AR-coated plan-apochromats in
        the 450-600 nm range (not given by the paper).
    """

    magnification: float = 20.0
    design_tube_lens_mm: float = 200.0
    numerical_aperture: float = 0.42
    transmission: float = 0.8

    def __post_init__(self):
        for key, value, lo, hi in [
            ("objective.magnification", self.magnification, 0.0, None),
            ("objective.design_tube_lens_mm", self.design_tube_lens_mm, 0.0, None),
            ("objective.numerical_aperture", self.numerical_aperture, 0.0, 1.0),
            ("objective.transmission", self.transmission, 0.0, 1.0),
        ]:
            if not is_concrete(value):
                continue
            v = float(value)
            if not math.isfinite(v) or v <= lo or (hi is not None and v > hi):
                bound = f"in ({lo:g}, {hi:g}]" if hi is not None else f"> {lo:g}"
                raise ValueError(f"{key}: {value!r} is out of range; must be {bound}")

    @property
    def focal_length_mm(self) -> float:
        """Effective focal length ``f_design / M_nominal`` (10 mm by default)."""
        return self.design_tube_lens_mm / self.magnification


@dataclass(frozen=True)
class Microscope:
    """An objective used with a given tube lens.

    Parameters
    ----------
    objective : Objective
    tube_lens_mm : float or str
        Focal length of the tube lens actually used. Default 160 mm (paper).
        Quantities such as ``"160 mm"`` are accepted.
    """

    objective: Objective = Objective()
    tube_lens_mm: float = 160.0

    def __post_init__(self):
        if not isinstance(self.objective, Objective):
            raise ValueError(f"microscope.objective: expected an Objective, got {self.objective!r}")
        if isinstance(self.tube_lens_mm, str) or hasattr(self.tube_lens_mm, "units"):
            object.__setattr__(
                self, "tube_lens_mm",
                to_float(self.tube_lens_mm, "mm", key="optics.tube_lens", min_value=0.0,
                         inclusive_min=False),
            )
        elif is_concrete(self.tube_lens_mm):
            v = float(self.tube_lens_mm)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"optics.tube_lens: {self.tube_lens_mm!r} must be a positive length in mm")

    @property
    def magnification(self) -> float:
        """Lateral magnification ``M_nominal * f_tube / f_design`` (16 by default)."""
        o = self.objective
        return o.magnification * self.tube_lens_mm / o.design_tube_lens_mm

    @property
    def numerical_aperture(self) -> float:
        return self.objective.numerical_aperture

    def effective_pixel_um(self, camera_pixel_um: float) -> float:
        """Camera pixel projected onto the scintillator, um (6.5 / 16 = 0.40625)."""
        if is_concrete(camera_pixel_um) and not float(camera_pixel_um) > 0:
            raise ValueError(f"camera_pixel_um: {camera_pixel_um!r} must be > 0")
        return camera_pixel_um / self.magnification

    def collection_efficiency(self, refractive_index: float, *, substrate_index: float | None = None):
        """Fraction of isotropically emitted photons that reach the camera.

        ``collection_fraction(NA, n) * fresnel_transmission(...) * transmission``.

        Parameters
        ----------
        refractive_index : float
            Index of the scintillator at its emission wavelength.
        substrate_index : float, optional
            Index of the substrate the light crosses; ``None`` means the scintillator
            faces the objective directly (one scintillator/air interface).
        """
        geometric = collection_fraction(self.numerical_aperture, refractive_index)
        fresnel = fresnel_transmission(refractive_index, substrate_index=substrate_index)
        return geometric * fresnel * self.objective.transmission


def collection_fraction(numerical_aperture, refractive_index):
    """Solid-angle fraction of an isotropic emitter in index ``n`` accepted by ``NA``.

    ``(1 - cos theta_in) / 2`` with ``sin theta_in = NA / n``. Differentiable.

    Raises
    ------
    ValueError
        If ``NA >= n`` (the cone would not exist in the medium) or either is not positive.
    """
    if is_concrete(numerical_aperture) and is_concrete(refractive_index):
        na, n = float(numerical_aperture), float(refractive_index)
        if not (na > 0 and math.isfinite(na)):
            raise ValueError(f"numerical_aperture: {numerical_aperture!r} must be > 0")
        if not (n >= 1.0 and math.isfinite(n)):
            raise ValueError(f"refractive_index: {refractive_index!r} must be >= 1")
        if na >= n:
            raise ValueError(
                f"numerical_aperture {na:g} must be below the refractive index {n:g} of the medium"
            )
    sin2 = (numerical_aperture / refractive_index) ** 2
    # (1 - cos)/2 written as sin^2 / (2 (1 + cos)): no cancellation at small NA in float32
    return sin2 / (2.0 * (1.0 + jnp.sqrt(1.0 - sin2)))


def fresnel_transmission(refractive_index, *, substrate_index=None, exit_index: float = 1.0):
    """Normal-incidence Fresnel power transmission out of the scintillator into air.

    ``prod (1 - R_i)`` over the scintillator/substrate and substrate/air faces, with
    ``R = ((n1 - n2) / (n1 + n2))^2``. Multiple reflections between faces are ignored.
    """
    def t(n1, n2):
        return 1.0 - ((n1 - n2) / (n1 + n2)) ** 2

    if substrate_index is None:
        return t(refractive_index, exit_index)
    return t(refractive_index, substrate_index) * t(substrate_index, exit_index)


# --------------------------------------------------------------------------- Bessel J1
# Rational/asymptotic approximation of J1 (Numerical Recipes `bessj1`, from Hart et al.
# Computer Approximations), absolute error < 1e-7; written in jnp because
# jax.scipy.special.bessel_jn returns NaN in float32 on this JAX version.
_J1_R = (72362614232.0, -7895059235.0, 242396853.1, -2972611.439, 15704.48260, -30.16036606)
_J1_S = (144725228442.0, 2300535178.0, 18583304.74, 99447.43394, 376.9991397, 1.0)
_J1_P = (1.0, 0.183105e-2, -0.3516396496e-4, 0.2457520174e-5, -0.240337019e-6)
_J1_Q = (0.04687499995, -0.2002690873e-3, 0.8449199096e-5, -0.88228987e-6, 0.105787412e-6)


def _poly(coeffs, x):
    out = jnp.zeros_like(x) + coeffs[-1]
    for c in coeffs[-2::-1]:
        out = out * x + c
    return out


def bessel_j1(x):
    """Bessel function of the first kind, order 1 (jnp, differentiable)."""
    x = jnp.asarray(x)
    ax = jnp.abs(x)
    small = ax < 8.0
    xs = jnp.where(small, x, 1.0)
    y = xs * xs
    near = xs * _poly(_J1_R, y) / _poly(_J1_S, y)
    axl = jnp.where(small, 8.0, ax)
    z = 8.0 / axl
    y2 = z * z
    xx = axl - 2.356194491
    far = jnp.sqrt(0.636619772 / axl) * (
        jnp.cos(xx) * _poly(_J1_P, y2) - z * jnp.sin(xx) * _poly(_J1_Q, y2)
    )
    far = far * jnp.sign(x)
    return jnp.where(small, near, far)


# --------------------------------------------------------------------------- PSFs
def _check_psf_args(na, wavelength_um, pixel_um, size):
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size: {size!r} must be a positive integer")
    for key, v in [("numerical_aperture", na), ("wavelength_um", wavelength_um), ("pixel_um", pixel_um)]:
        if is_concrete(v) and not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"{key}: {v!r} must be a positive finite number")
    if is_concrete(na) and float(na) > 1.0:
        raise ValueError(f"numerical_aperture: {na!r} must be <= 1 (dry objective)")


def supersampling_for(pixel_um: float, wavelength_um: float, *, max_na: float = 1.0) -> int:
    """Sub-samples per pixel so the intensity PSF (band limit 2 NA / lambda) is not aliased.

    Returns the smallest integer ``s`` with ``pixel_um / s <= lambda / (4 max_na)``.
    """
    return max(1, int(math.ceil(4.0 * max_na * float(pixel_um) / float(wavelength_um) - 1e-9)))


def _centered_coords(size: int, pitch):
    return (jnp.arange(size) - size // 2) * pitch


def airy_psf(na, wavelength_um, *, pixel_um, size: int, supersample: int | None = None):
    """Pixel-integrated Airy pattern of an aberration-free objective, unit sum.

    ``I(r) = (2 J1(v) / v)^2`` with ``v = 2 pi NA r / lambda`` (object-space
    coordinates, lambda the vacuum wavelength), averaged over ``supersample^2``
    points per pixel (midpoint rule), centred on pixel ``size // 2``.

    Parameters
    ----------
    na : float
        Numerical aperture in air.
    wavelength_um : float
        Vacuum wavelength in um (0.49 for 490 nm).
    pixel_um : float
        Pixel pitch of the output grid in um (object space).
    size : int
        Output is ``(size, size)``.
    supersample : int, optional
        Sub-samples per pixel side; default :func:`supersampling_for` times 2.

    Returns
    -------
    jax.Array, shape (size, size)
    """
    _check_psf_args(na, wavelength_um, pixel_um, size)
    s = supersample or 2 * supersampling_for(float(pixel_um), float(wavelength_um))
    return _airy_impl(na, wavelength_um, pixel_um, size=size, s=s)


@functools.partial(jax.jit, static_argnames=("size", "s"))
def _airy_impl(na, wavelength_um, pixel_um, *, size, s):
    sub = (jnp.arange(s) + 0.5) / s - 0.5
    centres = _centered_coords(size, 1.0)
    x = ((centres[:, None] + sub[None, :]) * pixel_um).reshape(-1)
    r = jnp.sqrt(x[:, None] ** 2 + x[None, :] ** 2)
    v = 2.0 * jnp.pi * na * r / wavelength_um
    safe_v = jnp.where(v > 1e-6, v, 1.0)
    amp = jnp.where(v > 1e-6, 2.0 * bessel_j1(safe_v) / safe_v, 1.0)
    fine = amp**2
    psf = fine.reshape(size, s, size, s).sum(axis=(1, 3))
    return psf / psf.sum()


def defocus_psf_stack(na, wavelength_um, defocus_um, *, refractive_index, pixel_um, size: int,
                      weights=None, supersample: int | None = None, pad: int = 2):
    """Scalar wave-optical PSF of points at defocus ``dz`` inside a medium of index ``n``.

    See the module docstring for the model. With ``weights`` the weighted sum over the
    defocus values is returned (one PSF); without, one PSF per defocus value.

    Parameters
    ----------
    na : float
        Numerical aperture in air (< ``refractive_index``).
    wavelength_um : float
        Vacuum wavelength, um.
    defocus_um : array_like, shape (n_z,)
        Axial distance of the emitter from the focal plane, inside the medium, um.
    refractive_index : float
        Index of the medium the emitters are in.
    pixel_um : float
        Output pixel pitch (object space), um; the PSF is integrated over each pixel.
    size : int
        Output is ``(size, size)`` (or ``(n_z, size, size)``), centred on ``size // 2``.
    weights : array_like, shape (n_z,), optional
        Non-negative weights (e.g. light emitted at each depth); normalised inside.
    supersample : int, optional
        Sub-samples per pixel side for the pupil computation; default
        :func:`supersampling_for` (no aliasing of the intensity for any NA <= 1).
    pad : int
        The pupil is sampled on a field ``pad`` times wider than the output, which
        sets the pupil sampling and keeps wrap-around of the far rings small.

    Returns
    -------
    jax.Array
        ``(size, size)`` if ``weights`` is given, else ``(n_z, size, size)``; each PSF is
        non-negative and sums to one over the output window.
    """
    _check_psf_args(na, wavelength_um, pixel_um, size)
    if is_concrete(refractive_index) and is_concrete(na) and float(na) >= float(refractive_index):
        raise ValueError(
            f"numerical_aperture {float(na):g} must be below refractive_index {float(refractive_index):g}"
        )
    if not isinstance(pad, (int, np.integer)) or pad < 1:
        raise ValueError(f"pad: {pad!r} must be a positive integer")
    dz = jnp.atleast_1d(jnp.asarray(defocus_um, dtype=jnp.result_type(float)))
    if dz.ndim != 1:
        raise ValueError(f"defocus_um must be a scalar or 1D, got shape {dz.shape}")
    s = supersample or supersampling_for(float(pixel_um), float(wavelength_um))
    if weights is not None:
        weights = jnp.asarray(weights, dtype=dz.dtype)
        if weights.shape != dz.shape:
            raise ValueError(f"weights shape {weights.shape} must match defocus_um shape {dz.shape}")
    return _defocus_impl(na, wavelength_um, dz, refractive_index, pixel_um, weights,
                         size=size, s=s, pad=pad)


@functools.partial(jax.jit, static_argnames=("size", "s", "pad"))
def _defocus_impl(na, wavelength_um, dz, refractive_index, pixel_um, weights, *, size, s, pad):
    nf = size * pad * s
    dxf = pixel_um / s
    f = jnp.fft.fftfreq(nf, d=1.0) / dxf  # cycles per um
    fr2 = f[:, None] ** 2 + f[None, :] ** 2
    fr = jnp.sqrt(fr2)
    df = 1.0 / (nf * dxf)
    cutoff = na / wavelength_um
    aperture = jnp.clip((cutoff - fr) / df + 0.5, 0.0, 1.0)  # anti-aliased disc: smooth in NA
    k = refractive_index / wavelength_um
    kz = jnp.sqrt(jnp.maximum(k**2 - fr2, (0.01 * k) ** 2))

    def one(dz_i):
        pupil = aperture * jnp.exp(2j * jnp.pi * dz_i * (kz - k))
        inten = jnp.abs(jnp.fft.ifft2(pupil)) ** 2
        return inten / inten.sum()

    if weights is None:
        stack = jax.vmap(one)(dz)
        return jax.vmap(lambda im: _integrate_and_crop(im, s, pixel_um, dxf, size))(stack)
    w = weights / weights.sum()
    total = jax.lax.fori_loop(
        0, dz.shape[0], lambda i, acc: acc + w[i] * one(dz[i]), jnp.zeros((nf, nf), dtype=w.dtype)
    )
    return _integrate_and_crop(total, s, pixel_um, dxf, size)


def _integrate_and_crop(inten, s, pixel_um, dxf, size):
    """Integrate an intensity sampled at pitch ``dxf`` over ``pixel_um`` pixels, crop, normalise.

    The intensity is band-limited below the fine grid's Nyquist frequency, so the pixel
    integral is exactly a multiplication of its spectrum by ``sinc(f * pixel)``.
    """
    nf = inten.shape[0]
    f = jnp.fft.fftfreq(nf, d=dxf)
    box = jnp.sinc(f * pixel_um)
    spec = jnp.fft.fft2(inten) * box[:, None] * box[None, :]
    pix = jnp.real(jnp.fft.ifft2(spec))[::s, ::s]  # samples at pixel centres, origin at [0, 0]
    pix = jnp.fft.fftshift(pix)
    c = pix.shape[0] // 2
    lo = c - size // 2
    out = jax.lax.dynamic_slice(pix, (lo, lo), (size, size))
    out = jnp.maximum(out, 0.0)  # removes round-off negatives (~1e-9) of the FFTs only
    return out / out.sum()


def defocus_psf(na, wavelength_um, defocus_um, *, refractive_index, pixel_um, size: int,
                supersample: int | None = None, pad: int = 2):
    """PSF of a point at defocus ``dz`` (scalar) inside a medium; see :func:`defocus_psf_stack`.

    Returns
    -------
    jax.Array, shape (size, size), non-negative, unit sum.
    """
    if jnp.ndim(defocus_um) != 0:
        raise ValueError(f"defocus_um must be a scalar here, got shape {jnp.shape(defocus_um)}; "
                         "use defocus_psf_stack for several")
    return defocus_psf_stack(na, wavelength_um, jnp.reshape(defocus_um, (1,)),
                             refractive_index=refractive_index, pixel_um=pixel_um, size=size,
                             supersample=supersample, pad=pad)[0]
