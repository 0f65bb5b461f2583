"""The imaging chain: tube -> object -> scintillator -> microscope -> sCMOS pixel.

:class:`ImagingSystem` gathers the parts (each a small, separately tested module);
the functions here compose them for one view (one source position):

1. **Spectrum** at the scintillator: tube output (photons per bin per sr, already
   filtered by the tube window) filtered by the air path, times the solid angle
   of one field cell, ``cos(incidence) a^2 / r^2`` (inverse square and obliquity).
2. **Object**: path lengths per material (:func:`physics.projection.path_lengths`)
   and polychromatic Beer-Lambert weighted by the screen's interaction
   probability (:func:`physics.projection.transmitted_signal`): the expected
   number of X-ray quanta absorbed in each field cell.
3. **Blur**: the depth-integrated scintillator-optics PSF
   (:func:`physics.psf.scintillator_optics_psf`) convolved with the focal-spot
   penumbra kernel of the object plane (:func:`physics.focal_spot.kernel_at_detector`).
4. **Camera**: light per quantum x collection efficiency x QE -> photoelectrons,
   pixel integration, EMVA 1288 noise, ADC (:mod:`physics.camera`).

The noiseless chain is a pure JAX function of its continuous parameters
(focal-spot size, screen thickness, NA, distances), so ``jax.grad`` of an
image metric works; noise is drawn only in :func:`sample_view`, from an
explicit key (randomness kept apart from the operators).

Approximations (stated): one PSF for the whole field, computed for the
open-beam spectrum (beam hardening by the object changes the depth profile
slightly); one focal-spot kernel for the object's main plane (exact for a
single thin plane; use :func:`physics.focal_spot.source_points` averaging for
thick objects); one mean light gain per absorbed quantum (no Swank factor).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from physics import materials
from physics.camera import SCMOS, bin_to_pixels, expected_adu, sample_adu, poisson_counts
from physics.focal_spot import FocalSpot, kernel_at_detector
from physics.optics import Microscope, supersampling_for
from physics.projection import path_lengths, transmitted_signal
from physics.psf import apply_psf, scintillator_optics_psf
from physics.scintillator import Scintillator
from physics.spectrum import Spectrum
from physics.tracing import is_concrete

__all__ = ["ImagingSystem", "ViewResponse", "view_response", "psf_support", "expected_quanta",
           "expected_view", "sample_view", "open_field"]


@dataclass(frozen=True)
class ImagingSystem:
    """The optical-lens-coupled X-ray imaging system (everything but the object).

    Parameters
    ----------
    spectrum : Spectrum
        Tube output after the tube window, photons per bin per sr for one exposure
        (``current x exposure``; see :func:`physics.spectrum.tube_spectrum`).
    focal_spot : FocalSpot
    scintillator : Scintillator
    microscope : Microscope
    camera : SCMOS
    exposure_s : float
        Exposure per view (the spectrum must be computed for the same exposure).
    roi_shape : (rows, cols)
        Simulated region of the sensor (camera pixels), centred on the optical axis.
    oversample : int
        Field cells per camera pixel side before pixel integration.
    air_path : bool
        Filter the beam by the air between focal spot and screen.
    n_depth_layers : int
        Depth layers of the scintillator PSF integration.
    focus_depth_um : float or None
        Objective focus depth below the X-ray entrance face; None = the
        light-weighted mean depth (:func:`physics.psf.best_focus_depth_um`).
    scatter_fwhm_um : float
        Gaussian blur (FWHM) from light scattering at grain boundaries of a
        polycrystalline screen, added to the transparent-film PSF (0 = none).
    """

    spectrum: Spectrum
    focal_spot: FocalSpot = FocalSpot()
    scintillator: Scintillator = Scintillator()
    microscope: Microscope = Microscope()
    camera: SCMOS = SCMOS()
    exposure_s: float = 10.0
    roi_shape: tuple[int, int] = (2048, 2048)
    oversample: int = 2
    air_path: bool = True
    n_depth_layers: int = 16
    focus_depth_um: float | None = None
    scatter_fwhm_um: float = 0.0

    def __post_init__(self):
        rows, cols = (int(v) for v in self.roi_shape)
        if rows < 1 or cols < 1 or rows > self.camera.rows or cols > self.camera.cols:
            raise ValueError(f"roi_shape: {self.roi_shape!r} must be positive and within the sensor "
                             f"{self.camera.shape}")
        object.__setattr__(self, "roi_shape", (rows, cols))
        if not (isinstance(self.oversample, int) and 1 <= self.oversample <= 8):
            raise ValueError(f"oversample: {self.oversample!r} must be an integer in 1..8")
        if not (isinstance(self.exposure_s, (int, float)) and self.exposure_s > 0):
            raise ValueError(f"exposure_s: {self.exposure_s!r} must be > 0 s")

    @property
    def pixel_um(self) -> float:
        """Effective pixel: camera pixel over the microscope magnification (0.40625 um)."""
        return self.microscope.effective_pixel_um(self.camera.pixel_um)

    @property
    def cell_um(self) -> float:
        """Side of one oversampled field cell in the scintillator plane."""
        return self.pixel_um / self.oversample

    @property
    def field_shape(self) -> tuple[int, int]:
        return (self.roi_shape[0] * self.oversample, self.roi_shape[1] * self.oversample)


@dataclass(frozen=True)
class ViewResponse:
    """What the detector does with the beam of one view (independent of the object).

    Attributes
    ----------
    energies_kev : np.ndarray
    quanta_weights : jnp.ndarray
        Expected X-ray quanta absorbed per field cell per energy bin with no object.
    psf : jnp.ndarray
        Total blur kernel on the field grid (scintillator-optics PSF * focal-spot kernel).
    electrons_per_quantum : jnp.ndarray
        Mean photoelectrons per absorbed quantum.
    """

    energies_kev: np.ndarray
    quanta_weights: jnp.ndarray
    psf: jnp.ndarray
    electrons_per_quantum: jnp.ndarray


def psf_support(system: ImagingSystem) -> int:
    """Odd PSF support covering the defocus disc of the whole screen plus Airy rings."""
    s = system.scintillator
    na = float(system.microscope.numerical_aperture)
    n = float(s.refractive_index)
    tan_in = math.tan(math.asin(min(na / n, 0.999)))
    radius = float(s.thickness_um) * tan_in + 3.0 * 0.61 * s.emission_um / na \
        + 1.5 * float(system.scatter_fwhm_um)
    half = int(math.ceil(radius / system.cell_um)) + 2
    return 2 * half + 1


def view_response(system: ImagingSystem, source_um, *, object_plane_um: float = 0.0,
                  psf_size: int | None = None) -> ViewResponse:
    """Detector response for a source position (the object-independent half of the chain).

    Parameters
    ----------
    system : ImagingSystem
    source_um : array_like (3,)
        Source position (um, world frame of :mod:`physics.projection`).
    object_plane_um : float
        Height of the object's main plane, for the focal-spot penumbra kernel.
    psf_size : int, optional
        PSF support (odd); default covers the whole defocus disc. Must be given
        explicitly when differentiating w.r.t. thickness or NA.
    """
    source = jnp.asarray(source_um, dtype=jnp.float32)
    distance = jnp.sqrt(jnp.sum(source**2))
    spec = system.spectrum.trimmed()
    energies = spec.energies_kev
    photons = jnp.asarray(spec.photons, dtype=jnp.float32)
    if system.air_path:
        mu_air = jnp.asarray(materials.linear_attenuation_per_um("Air", energies), dtype=jnp.float32)
        photons = photons * jnp.exp(-mu_air * distance)
    cos_incidence = source[2] / distance
    photons_per_cell = photons * cos_incidence * system.cell_um**2 / distance**2
    scint = system.scintillator
    interact = scint.interaction_probability(energies)
    size = psf_size or psf_support(system)
    na = system.microscope.numerical_aperture
    # Pupil sampling for this NA (not any NA <= 1): a 30 um cell would otherwise need ~200x
    # supersampling; a traced NA keeps the NA-independent default.
    supersample = supersampling_for(system.cell_um, scint.emission_um, max_na=float(na)) \
        if is_concrete(na) else None
    psf = scintillator_optics_psf(scint, system.microscope, energies, photons_per_cell,
                                  pixel_um=system.cell_um, size=size, n_layers=system.n_depth_layers,
                                  focus_depth_um=system.focus_depth_um, supersample=supersample)
    focal = kernel_at_detector(system.focal_spot, object_height_um=object_plane_um,
                               source_distance_um=source[2], pixel_um=system.cell_um,
                               half_width_px=_focal_half_width(system, object_plane_um, source_um))
    psf = _combine_kernels(psf, focal)
    if not is_concrete(system.scatter_fwhm_um) or system.scatter_fwhm_um:  # traced: fitted, keep the kernel
        psf = _combine_kernels(psf, _gaussian_kernel(system.scatter_fwhm_um / 2.3548, system.cell_um, size))
    collection = system.microscope.collection_efficiency(scint.refractive_index,
                                                         substrate_index=scint.substrate_index)
    qe = system.camera.qe_at(float(scint.emission_nm)) if system.camera.quantum_efficiency is None \
        else system.camera.quantum_efficiency
    gain = scint.light_per_interaction(energies, photons_per_cell) * collection * qe
    return ViewResponse(energies, photons_per_cell * interact, psf, gain)


def _focal_half_width(system, object_plane_um, source):
    """Kernel half-width (cells) for the penumbra: 3 sigma of a Gaussian / the radius of a disc."""
    if not (is_concrete(source) and is_concrete(system.focal_spot.size_um)):
        return 8
    z = float(np.asarray(source)[2])
    m = object_plane_um / max(z - object_plane_um, 1e-9)
    size = float(system.focal_spot.size_um)
    if system.focal_spot.line_length_um is not None:
        size = max(size, float(system.focal_spot.line_length_um))
    return int(math.ceil(1.5 * size * m / system.cell_um)) + 1


def _gaussian_kernel(sigma_um, cell_um, size: int):
    """Pixel-integrated, normalised 2D Gaussian on ``size`` x ``size`` cells."""
    edges = (jnp.arange(size + 1) - size / 2) * cell_um
    cdf = jax.scipy.special.ndtr(edges / sigma_um)
    line = jnp.diff(cdf)
    kernel = line[:, None] * line[None, :]
    return kernel / jnp.sum(kernel)


def _combine_kernels(a, b):
    """Full 2D convolution of two small kernels, cropped to the larger support (odd sizes)."""
    full = jax.scipy.signal.fftconvolve(a, b, mode="full")  # direct convolve2d: ~1 s for 67^2 kernels
    n = max(a.shape[0], b.shape[0])
    off = (full.shape[0] - n) // 2
    out = jnp.maximum(full[off:off + n, off:off + n], 0.0)  # FFT round-off can dip below 0
    return out / jnp.sum(out)


def expected_quanta(system: ImagingSystem, obj, source_um, response: ViewResponse):
    """Expected X-ray quanta absorbed per field cell (before any blur)."""
    lengths = path_lengths(obj, source_um, det_shape=system.roi_shape, det_pixel_um=system.pixel_um,
                           oversample=system.oversample)
    mu = jnp.stack([jnp.asarray(materials.linear_attenuation_per_um(m, response.energies_kev),
                                dtype=jnp.float32) for m in obj.materials])
    return transmitted_signal(lengths, mu, response.quanta_weights)


def _electrons(system, quanta, response):
    blurred = apply_psf(quanta, response.psf)
    return bin_to_pixels(blurred, system.oversample) * response.electrons_per_quantum


def expected_view(system: ImagingSystem, obj, source_um, *, response: ViewResponse | None = None,
                  object_plane_um: float = 0.0):
    """Mean raw frame (ADU, float32) of one view: deterministic and differentiable."""
    response = response or view_response(system, source_um, object_plane_um=object_plane_um)
    quanta = expected_quanta(system, obj, source_um, response)
    return expected_adu(_electrons(system, quanta, response), camera=system.camera,
                        exposure_s=system.exposure_s)


def sample_view(key, system: ImagingSystem, obj, source_um, *, response: ViewResponse | None = None,
                object_plane_um: float = 0.0):
    """One noisy raw frame (uint16 ADU): Poisson X-ray quanta before the blur (so quantum
    noise is correlated by the PSF), Poisson photoelectrons, dark current, read noise, ADC."""
    response = response or view_response(system, source_um, object_plane_um=object_plane_um)
    k_quanta, k_camera = jax.random.split(key)
    quanta = poisson_counts(k_quanta, expected_quanta(system, obj, source_um, response))
    return sample_adu(k_camera, _electrons(system, quanta, response), camera=system.camera,
                      exposure_s=system.exposure_s)


def open_field(system: ImagingSystem, source_um, response: ViewResponse):
    """Noiseless flat (open beam) and dark frames in ADU, as averaged calibration frames."""
    rows, cols = system.field_shape
    quanta = jnp.full((rows, cols), jnp.sum(response.quanta_weights), dtype=jnp.float32)
    flat = expected_adu(_electrons(system, quanta, response), camera=system.camera,
                        exposure_s=system.exposure_s)
    dark = expected_adu(jnp.zeros(system.roi_shape, jnp.float32), camera=system.camera,
                        exposure_s=system.exposure_s)
    return flat, dark


def with_params(system: ImagingSystem, **changes) -> ImagingSystem:
    """A copy with nested parameters replaced, e.g. ``scintillator__thickness_um=5.0``.

    Used by calibration and sweeps; bypasses validation so traced values pass
    through ``jax.grad``.
    """
    new = system
    for name, value in changes.items():
        part, _, field = name.partition("__")
        if not field:
            new = _replace_unchecked(new, **{part: value})
        else:
            new = _replace_unchecked(new, **{part: _replace_unchecked(getattr(new, part), **{field: value})})
    return new


def _replace_unchecked(obj, **changes):
    clone = object.__new__(type(obj))
    for f in dataclasses.fields(obj):
        object.__setattr__(clone, f.name, changes.get(f.name, getattr(obj, f.name)))
    return clone
