"""The imaging chain: source -> object -> detector (converter, optics or none, camera).

:class:`ImagingSystem` gathers the parts (each a small, separately tested module; the
detector is any :class:`physics.detector.Detector`: the lens-coupled published system
or a flat panel); the functions here compose them for one view (one source position):

1. **Spectrum** at the detector: tube output (photons per bin per sr, already
   filtered by the tube window) filtered by the air path, times the solid angle
   of one field cell, ``cos(incidence) a^2 / r^2`` (inverse square and obliquity).
2. **Object**: path lengths per material (:func:`physics.projection.path_lengths`)
   and polychromatic Beer-Lambert weighted by the detector's interaction
   probability (:func:`physics.projection.transmitted_signal`): the expected
   number of X-ray quanta absorbed in each field cell.
3. **Blur**: the detector's PSF (:meth:`physics.detector.Detector.psf`; for the
   lens-coupled system the depth-integrated scintillator-optics PSF) convolved with
   the focal-spot penumbra kernel of the object plane
   (:func:`physics.focal_spot.kernel_at_detector`).
4. **Frame**: photoelectrons per absorbed quantum (:meth:`Detector.electrons_per_quantum`),
   pixel integration, EMVA 1288 noise, ADC - the one frame model,
   :func:`physics.camera.expected_frame` / :func:`physics.camera.sample_frame`.

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

import jax.numpy as jnp
import numpy as np

from physics import materials
from physics.camera import SCMOS, expected_frame, sample_frame
from physics.detector import Detector, LensCoupled, combine_kernels
from physics.focal_spot import FocalSpot, kernel_at_detector
from physics.projection import path_lengths, transmitted_signal
from physics.spectrum import Spectrum
from physics.tracing import is_concrete

__all__ = ["ImagingSystem", "ViewResponse", "view_response", "psf_support", "expected_quanta",
           "expected_view", "sample_view", "open_field"]


@dataclass(frozen=True)
class ImagingSystem:
    """Source and detector of an imaging set-up (everything but the object).

    Parameters
    ----------
    spectrum : Spectrum
        Tube output after the tube window, photons per bin per sr for one exposure
        (``current x exposure``; see :func:`physics.spectrum.tube_spectrum`).
    focal_spot : FocalSpot
    detector : Detector
        :class:`~physics.detector.LensCoupled` (default: the published system) or
        :class:`~physics.detector.FlatPanel`; it carries the camera/readout.
    exposure_s : float
        Exposure per view (the spectrum must be computed for the same exposure).
    roi_shape : (rows, cols)
        Simulated region of the sensor (camera pixels), centred on the optical axis.
    oversample : int
        Field cells per camera pixel side before pixel integration.
    air_path : bool
        Filter the beam by the air between focal spot and detector.
    """

    spectrum: Spectrum
    focal_spot: FocalSpot = FocalSpot()
    detector: Detector = LensCoupled()
    exposure_s: float = 10.0
    roi_shape: tuple[int, int] = (2048, 2048)
    oversample: int = 2
    air_path: bool = True

    def __post_init__(self):
        if not isinstance(self.detector, Detector):
            raise ValueError(f"detector: expected a physics.detector.Detector, got {self.detector!r}")
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
    def camera(self) -> SCMOS:
        """The detector's camera/readout."""
        return self.detector.camera

    @property
    def pixel_um(self) -> float:
        """Pixel pitch in the detector input plane (0.40625 um for the published system)."""
        return self.detector.pixel_um

    @property
    def cell_um(self) -> float:
        """Side of one oversampled field cell in the detector input plane."""
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
    """Odd support of the detector's blur on the field grid (:meth:`Detector.psf_support`)."""
    return system.detector.psf_support(system.cell_um)


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
    det = system.detector
    psf = det.psf(energies, photons_per_cell, cell_um=system.cell_um, size=psf_size or psf_support(system))
    focal = kernel_at_detector(system.focal_spot, object_height_um=object_plane_um,
                               source_distance_um=source[2], pixel_um=system.cell_um,
                               half_width_px=_focal_half_width(system, object_plane_um, source_um))
    psf = combine_kernels(psf, focal)
    gain = det.electrons_per_quantum(energies, photons_per_cell)
    return ViewResponse(energies, photons_per_cell * det.interaction_probability(energies), psf, gain)


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


def expected_quanta(system: ImagingSystem, obj, source_um, response: ViewResponse):
    """Expected X-ray quanta absorbed per field cell (before any blur)."""
    lengths = path_lengths(obj, source_um, det_shape=system.roi_shape, det_pixel_um=system.pixel_um,
                           oversample=system.oversample)
    mu = jnp.stack([jnp.asarray(materials.linear_attenuation_per_um(m, response.energies_kev),
                                dtype=jnp.float32) for m in obj.materials])
    return transmitted_signal(lengths, mu, response.quanta_weights)


def _frame_args(system: ImagingSystem, response: ViewResponse) -> dict:
    return dict(psf=response.psf, electrons_per_quantum=response.electrons_per_quantum,
                oversample=system.oversample, camera=system.camera, exposure_s=system.exposure_s)


def expected_view(system: ImagingSystem, obj, source_um, *, response: ViewResponse | None = None,
                  object_plane_um: float = 0.0):
    """Mean raw frame (ADU, float32) of one view: deterministic and differentiable
    (:func:`physics.camera.expected_frame` of the expected absorbed quanta)."""
    response = response or view_response(system, source_um, object_plane_um=object_plane_um)
    quanta = expected_quanta(system, obj, source_um, response)
    return expected_frame(quanta, **_frame_args(system, response))


def sample_view(key, system: ImagingSystem, obj, source_um, *, response: ViewResponse | None = None,
                object_plane_um: float = 0.0):
    """One noisy raw frame (uint16 ADU) of one view (:func:`physics.camera.sample_frame`)."""
    response = response or view_response(system, source_um, object_plane_um=object_plane_um)
    return sample_frame(key, expected_quanta(system, obj, source_um, response), **_frame_args(system, response))


def open_field(system: ImagingSystem, source_um, response: ViewResponse):
    """Noiseless flat (open beam) and dark frames in ADU, as averaged calibration frames."""
    quanta = jnp.full(system.field_shape, jnp.sum(response.quanta_weights), dtype=jnp.float32)
    flat = expected_frame(quanta, **_frame_args(system, response))
    dark = expected_frame(jnp.zeros(system.field_shape, jnp.float32), **_frame_args(system, response))
    return flat, dark


def with_params(system: ImagingSystem, **changes) -> ImagingSystem:
    """A copy with nested parameters replaced, e.g. ``detector__scintillator__thickness_um=5.0``.

    Used by calibration and sweeps; bypasses validation so traced values pass
    through ``jax.grad``.
    """
    def replace(obj, path, value):
        head, *rest = path
        return _replace_unchecked(obj, **{head: replace(getattr(obj, head), rest, value) if rest else value})

    new = system
    for name, value in changes.items():
        new = replace(new, name.split("__"), value)
    return new


def _replace_unchecked(obj, **changes):
    clone = object.__new__(type(obj))
    for f in dataclasses.fields(obj):
        object.__setattr__(clone, f.name, changes.get(f.name, getattr(obj, f.name)))
    return clone
