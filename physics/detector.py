"""Detectors: an X-ray converter, optics (or none) and a camera/readout behind one interface.

:class:`Detector` is what the chain (:mod:`physics.chain`) needs from a detector, per
view, for a spectrum ``photons(E)`` reaching it (any scale):

* :meth:`~Detector.interaction_probability` - fraction of incident quanta absorbed
  (quantum efficiency of the converter), per energy;
* :meth:`~Detector.absorbed_energy_fraction` - fraction of the incident energy deposited;
* :meth:`~Detector.electrons_per_quantum` - mean photoelectrons (or collected charges)
  per absorbed quantum: the gain of the Poisson secondary stage of the frame model;
* :meth:`~Detector.psf` - the unit-sum blur kernel of the detector on a field grid of
  pitch ``cell_um`` in the detector input plane (the pixel aperture is *not* in it: the
  chain integrates cells over pixels);
* :meth:`~Detector.psf_support` - an odd kernel size holding that blur;
* :attr:`~Detector.pixel_um` - pixel pitch referred to the detector input plane (the
  screen), and :attr:`~Detector.camera` - the readout, an EMVA 1288 linear camera model
  (:class:`physics.camera.SCMOS`), used by the one frame model
  (:func:`physics.camera.expected_frame` / :func:`physics.camera.sample_frame`);
* :meth:`~Detector.dqe0` - zero-frequency DQE of the cascade, ``eta g / (1 + g)``
  (:func:`physics.measure.mtf.dqe0_poisson_gain`; Swank factor and read noise not included);
* :meth:`~Detector.photon_budget` - quanta per pixel at every stage of the cascade
  (incident and absorbed X-rays, then each conversion stage of
  :meth:`~Detector.conversion_stages` down to the electrons), its quantum sink, and the
  exposure for a target SNR (:class:`PhotonBudget`, :func:`exposure_for_snr_s`);
* :meth:`~Detector.grey_level` - the image's grey level for a flat-corrected exposure
  (transmission): the identity for a linear camera, a :class:`GreyLevelResponse` for a
  vendor-processed image (used where a model is fitted to such an image, e.g.
  :func:`physics.calibrate.model_transmission`).

Implementations:

* :class:`LensCoupled` - thin transparent scintillator film imaged by a microscope onto
  an sCMOS (the published system); the depth-integrated scintillator-optics PSF.
* :class:`FlatPanel` - a converter in contact with an active-matrix panel of 50-150 um
  pixels: *indirect* (a :class:`~physics.scintillator.Scintillator` screen such as
  CsI:Tl or Gd2O2S:Tb, light collected by a-Si:H photodiodes) or *direct* (a
  :class:`Photoconductor` such as a-Se, charge collected by the pixel electrodes).
  Its blur is a Gaussian of stated FWHM (screen light spread and pixel cross-talk; a
  measured or datasheet figure, not modelled from the screen structure), optionally with
  a long-range *glare* component (an exponential kernel of stated weight and length:
  light travelling far in the screen, its substrate or a fibre-optic plate), and its
  image may carry a monotone grey-level response (:class:`GreyLevelResponse`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from physics.camera import SCMOS
from physics.measure.mtf import FWHM_PER_SIGMA, dqe0_poisson_gain, gaussian_kernel_2d
from physics.optics import Microscope, supersampling_for
from physics.psf import scintillator_optics_psf
from physics.scintillator import Scintillator
from physics.tracing import is_concrete

#: Above this many pupil sub-samples per cell the NA-specific sampling is used (cost).
MAX_DEFAULT_SUPERSAMPLING = 32

__all__ = ["Detector", "LensCoupled", "FlatPanel", "Photoconductor", "GreyLevelResponse", "combine_kernels",
           "exponential_kernel_2d", "FLAT_PANEL_READOUT", "PhotonBudget", "exposure_for_snr_s"]

#: Sub-samples per cell side when integrating the glare kernel over a cell (its cusp at r = 0
#: is not smooth; 5 keeps the integration error of the centre cell below 1 % for a glare
#: length of one cell, measured against 25 sub-samples).
GLARE_SUBSAMPLES = 5
#: The glare kernel's support reaches this many glare lengths: the 2D exponential holds
#: 1 - (1 + 8) e^-8 = 99.7 % of its energy within 8 lengths (the kernel is renormalised).
GLARE_SUPPORT_LENGTHS = 8.0


class Detector(abc.ABC):
    """Interface of a detector (see the module docstring)."""

    camera: SCMOS

    @property
    @abc.abstractmethod
    def pixel_um(self) -> float:
        """Pixel pitch referred to the detector input plane (um)."""

    @abc.abstractmethod
    def interaction_probability(self, energies_kev) -> jax.Array:
        """Fraction of incident quanta absorbed, per energy."""

    @abc.abstractmethod
    def absorbed_energy_fraction(self, energies_kev) -> jax.Array:
        """Fraction of the incident energy deposited, per energy."""

    @abc.abstractmethod
    def electrons_per_quantum(self, energies_kev, photons) -> jax.Array:
        """Mean photoelectrons per absorbed quantum for the spectrum ``photons`` (scalar)."""

    @abc.abstractmethod
    def psf(self, energies_kev, photons, *, cell_um: float, size: int | None = None) -> jax.Array:
        """Unit-sum blur kernel on a grid of pitch ``cell_um`` (odd ``size``, default :meth:`psf_support`)."""

    @abc.abstractmethod
    def psf_support(self, cell_um: float) -> int:
        """Odd kernel size holding the detector blur on a grid of pitch ``cell_um``."""

    def dqe0(self, energies_kev, photons) -> jax.Array:
        """Zero-frequency DQE ``eta g / (1 + g)`` for the spectrum (quanta-weighted ``eta``)."""
        w = jnp.asarray(photons, dtype=jnp.result_type(float))
        eta = jnp.sum(w * self.interaction_probability(energies_kev)) / jnp.sum(w)
        return dqe0_poisson_gain(eta, self.electrons_per_quantum(energies_kev, photons))

    def conversion_stages(self, energies_kev, photons) -> tuple[tuple[str, float], ...]:
        """Secondary quanta per absorbed X-ray after each conversion stage, in order, the last
        being :meth:`electrons_per_quantum` (default: that single stage)."""
        return (("electrons", float(self.electrons_per_quantum(energies_kev, photons))),)

    def photon_budget(self, energies_kev, photons, *, exposure_s: float = 1.0) -> "PhotonBudget":
        """Quanta at every stage for ``photons`` (per energy bin) incident on one pixel.

        ``exposure_s`` is the time those photons arrive in (for
        :meth:`PhotonBudget.exposure_for_snr_s`); the readout noise is the camera's.
        """
        e = np.asarray(energies_kev, float)
        n = np.asarray(photons, float)
        absorbed = float(np.sum(n * np.asarray(self.interaction_probability(e), float)))
        conversion = self.conversion_stages(e, n)
        stages = (("incident X-rays", float(n.sum())), ("absorbed X-rays", absorbed)) + tuple(
            (name, absorbed * per_quantum) for name, per_quantum in conversion)
        return PhotonBudget(stages, gain=conversion[-1][1], exposure_s=float(exposure_s),
                            read_noise_e=float(self.camera.read_noise_e),
                            dark_e_per_s=float(self.camera.dark_current_e_per_s))
    def grey_level(self, transmission):
        """Image grey level for a flat-corrected exposure: the identity (a linear camera)."""
        return transmission


@dataclass(frozen=True)
class GreyLevelResponse:
    """Monotone map from the flat-corrected exposure ``T`` (open field = 1) to a grey level.

    ``g(T) = ((T + offset)^gamma - 1) / gamma``, the Box-Cox family, which is
    ``log(T + offset)`` at ``gamma = 0``: one smooth, differentiable family from a
    linear detector (``gamma = 1``) through a gamma-compressed display curve to the
    logarithmic image most X-ray vendors deliver (the grey level proportional to the
    log of the exposure, i.e. to the attenuation line integral). Increasing for every
    ``gamma``. An affine map (gain, offset of the grey scale) is left to the caller.

    Parameters
    ----------
    gamma : float
        Exponent; 1 (default) = linear, the EMVA 1288 camera model of
        :mod:`physics.camera`; 0 = logarithmic.
    offset : float
        Exposure-independent signal added before the transform, as a fraction of the
        open field: scattered radiation and veiling glare under an opaque object, or a
        dark level the vendor's log subtracted imperfectly. 0 (default) assumed
        because a linear camera needs none; a log response needs ``offset > 0``
        wherever ``T`` reaches 0.
    """

    gamma: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        if is_concrete(self.gamma) and not math.isfinite(float(self.gamma)):
            raise ValueError(f"gamma: {self.gamma!r} must be finite")
        if is_concrete(self.offset) and not float(self.offset) >= 0:
            raise ValueError(f"offset: {self.offset!r} must be >= 0")

    def __call__(self, transmission):
        t = jnp.asarray(transmission)
        # log of a positive argument (T from a blurred edge can round to 0 or just below).
        log_t = jnp.log(jnp.maximum(t + self.offset, jnp.finfo(t.dtype).tiny ** 0.5))
        g = jnp.asarray(self.gamma, dtype=log_t.dtype)
        small = jnp.abs(g) < 1e-4
        safe_g = jnp.where(small, 1.0, g)
        # expm1(g L) / g, and its series L (1 + g L / 2) near g = 0 (no 0/0 in value or gradient).
        return jnp.where(small, log_t * (1.0 + 0.5 * g * log_t), jnp.expm1(safe_g * log_t) / safe_g)


def exponential_kernel_2d(length, *, pitch: float, half_width: int) -> jax.Array:
    """Unit-sum isotropic kernel ``exp(-r / length)`` integrated over cells of ``pitch``.

    The 2D exponential is the usual long-range glare model of a scintillator screen
    (light that escapes the columns or the grains and spreads over many pixels); its
    line spread function falls off as ``exp(-|x| / length)`` far from the centre.
    ``length`` may be traced (differentiable); ``half_width`` is static.
    """
    n = GLARE_SUBSAMPLES
    sub = (jnp.arange(n * (2 * half_width + 1)) - (n * (2 * half_width + 1) - 1) / 2.0) * (pitch / n)
    r = jnp.sqrt(sub[:, None] ** 2 + sub[None, :] ** 2)
    k = jnp.exp(-r / length)
    k = k.reshape(2 * half_width + 1, n, 2 * half_width + 1, n).sum(axis=(1, 3))
    return k / jnp.sum(k)


def combine_kernels(a, b):
    """Full 2D convolution of two small odd kernels, cropped to the larger support, unit sum."""
    full = jax.scipy.signal.fftconvolve(a, b, mode="full")  # direct convolve2d: ~1 s for 67^2 kernels
    n = max(a.shape[0], b.shape[0])
    off = (full.shape[0] - n) // 2
    out = jnp.maximum(full[off:off + n, off:off + n], 0.0)  # FFT round-off can dip below 0
    return out / jnp.sum(out)


def _gaussian_support(fwhm_um: float, cell_um: float) -> int:
    """Odd size holding +-4 sigma of a Gaussian of this FWHM (at least 3)."""
    return 2 * max(1, int(math.ceil(4.0 * float(fwhm_um) / FWHM_PER_SIGMA / cell_um))) + 1


# --------------------------------------------------------------------------- lens-coupled
@dataclass(frozen=True)
class LensCoupled(Detector):
    """Thin scintillator film -> microscope -> sCMOS (the published optical-lens system).

    Parameters
    ----------
    scintillator : Scintillator
    microscope : Microscope
    camera : SCMOS
    n_depth_layers : int
        Depth layers of the PSF integration (:func:`physics.psf.scintillator_optics_psf`).
    focus_depth_um : float or None
        Objective focus depth below the X-ray entrance face; None = the light-weighted
        mean depth (:func:`physics.psf.best_focus_depth_um`).
    scatter_fwhm_um : float
        Gaussian blur (FWHM) from light scattering at grain boundaries of a
        polycrystalline screen, added to the transparent-film PSF (0 = none).
    """

    scintillator: Scintillator = field(default_factory=Scintillator)
    microscope: Microscope = field(default_factory=Microscope)
    camera: SCMOS = field(default_factory=SCMOS)
    n_depth_layers: int = 16
    focus_depth_um: float | None = None
    scatter_fwhm_um: float = 0.0

    @property
    def pixel_um(self) -> float:
        """Camera pixel over the microscope magnification (0.40625 um by default)."""
        return self.microscope.effective_pixel_um(self.camera.pixel_um)

    def interaction_probability(self, energies_kev):
        return self.scintillator.interaction_probability(energies_kev)

    def absorbed_energy_fraction(self, energies_kev):
        return self.scintillator.absorbed_energy_fraction(energies_kev)

    def electrons_per_quantum(self, energies_kev, photons):
        """Light per absorbed quantum x collection efficiency (NA, Fresnel) x camera QE at the emission."""
        scint = self.scintillator
        collection = self.microscope.collection_efficiency(scint.refractive_index,
                                                           substrate_index=scint.substrate_index)
        return scint.light_per_interaction(energies_kev, photons) * collection \
            * self.camera.qe_at(float(scint.emission_nm))

    def conversion_stages(self, energies_kev, photons):
        """Optical photons emitted, collected by the objective, photoelectrons (per absorbed X-ray)."""
        scint = self.scintillator
        light = float(scint.light_per_interaction(energies_kev, photons))
        collection = float(self.microscope.collection_efficiency(scint.refractive_index,
                                                                 substrate_index=scint.substrate_index))
        return (("optical photons emitted", light), ("collected by the objective", light * collection),
                ("photoelectrons", float(self.electrons_per_quantum(energies_kev, photons))))

    def psf_support(self, cell_um: float) -> int:
        """Covers the defocus disc of the whole film plus 3 Airy radii and 1.5 scatter FWHM."""
        s = self.scintillator
        na = float(self.microscope.numerical_aperture)
        tan_in = math.tan(math.asin(min(na / float(s.refractive_index), 0.999)))
        radius = float(s.thickness_um) * tan_in + 3.0 * 0.61 * s.emission_um / na \
            + 1.5 * float(self.scatter_fwhm_um)
        return 2 * (int(math.ceil(radius / cell_um)) + 2) + 1

    def psf(self, energies_kev, photons, *, cell_um, size=None):
        """Depth-integrated scintillator-optics PSF, convolved with the scatter Gaussian if any."""
        size = size or self.psf_support(cell_um)
        supersample = self._supersampling(cell_um)
        psf = scintillator_optics_psf(self.scintillator, self.microscope, energies_kev, photons,
                                      pixel_um=cell_um, size=size, n_layers=self.n_depth_layers,
                                      focus_depth_um=self.focus_depth_um, supersample=supersample)
        if not is_concrete(self.scatter_fwhm_um) or self.scatter_fwhm_um:  # traced: fitted, keep it
            psf = combine_kernels(psf, gaussian_kernel_2d(self.scatter_fwhm_um / FWHM_PER_SIGMA, pitch=cell_um,
                                                          half_width=size // 2, integrate=True))
        return psf

    def _supersampling(self, cell_um) -> int | None:
        """Pupil sub-samples per cell: the NA-independent default (the band limit of any
        NA <= 1, what every study was validated with) unless that exceeds
        :data:`MAX_DEFAULT_SUPERSAMPLING` (coarse cells, e.g. a 30 um calibration pixel would
        need ~240x per side); then the band limit of this objective's NA, which on such cells
        (far wider than the PSF) changes nothing but the cost."""
        wavelength = self.scintillator.emission_um
        if supersampling_for(cell_um, wavelength) <= MAX_DEFAULT_SUPERSAMPLING:
            return None
        na = self.microscope.numerical_aperture
        return supersampling_for(cell_um, wavelength, max_na=float(na)) if is_concrete(na) else None


# --------------------------------------------------------------------------- flat panel
@dataclass(frozen=True)
class Photoconductor:
    """Direct-conversion layer (e.g. amorphous selenium) on the pixel electrodes.

    Parameters
    ----------
    material : str
        A :mod:`physics.materials` name or element (default ``"Se"``).
    thickness_um : float
        200 um, *assumed*: a-Se layers of mammography panels are 150-250 um (Kasap &
        Rowlands, Proc. IEEE 90 (2002) 591).
    pair_energy_ev : float
        Energy per collected electron-hole pair, W = 50 eV: a-Se at ~10 V/um (Kasap &
        Rowlands 2002; W falls with field, ~45 eV at 20 V/um).
    density_g_cm3 : float
        4.28 g/cm^3, amorphous selenium (Kasap & Rowlands 2002); crystalline Se (xraylib) is 4.81.

    The absorption and yield arithmetic is the scintillator's (a screen whose "light"
    is ``1000 / W`` pairs per keV deposited); no optical property is used.
    """

    material: str = "Se"
    thickness_um: float = 200.0
    pair_energy_ev: float = 50.0
    density_g_cm3: float = 4.28

    def __post_init__(self):
        for key in ("thickness_um", "pair_energy_ev", "density_g_cm3"):
            v = getattr(self, key)
            if is_concrete(v) and not (math.isfinite(float(v)) and float(v) > 0):
                raise ValueError(f"photoconductor.{key}: {v!r} must be > 0")

    @property
    def layer(self) -> Scintillator:
        from physics import materials

        name = f"{self.material}@{self.density_g_cm3:g}"
        if name not in materials.known_materials():
            formula = materials.get_material(self.material).formula
            materials.register_material(name, formula, self.density_g_cm3,
                                        source="Photoconductor.density_g_cm3")
        return Scintillator(name, self.thickness_um, light_yield_per_kev=1000.0 / self.pair_energy_ev,
                            emission_nm=500.0, refractive_index=1.0, substrate=None)


#: Readout of an a-Si:H active-matrix panel (numbers *assumed*, order of magnitude from
#: Siewerdsen et al., Med. Phys. 24 (1997) 71 and Antonuk et al., Med. Phys. 27 (2000) 289):
#: additive electronic noise ~1500 e- rms, pixel charge capacity ~2e7 e- (about 1 pF at a
#: few volts), 16-bit ADC spanning it; photodiode QE ~0.7 at the 550 nm CsI:Tl emission;
#: dark current neglected (a few pA/mm^2 is far below the signal of a 0.1-1 s frame).
FLAT_PANEL_READOUT = SCMOS(rows=2048, cols=2048, pixel_um=75.0, quantum_efficiency=0.7,
                           full_well_e=2.0e7, read_noise_e=1500.0, dark_current_e_per_s=0.0,
                           gain_e_per_adu=2.0e7 / 65535, offset_adu=100.0, bit_depth=16)


@dataclass(frozen=True)
class FlatPanel(Detector):
    """A converter in contact with an active-matrix flat panel (indirect or direct).

    Parameters
    ----------
    converter : Scintillator or Photoconductor
        Indirect: a screen, default 150 um CsI:Tl (*assumed*: a typical micro-CT
        screen). Direct: a :class:`Photoconductor` (a-Se).
    camera : SCMOS
        The panel readout (:data:`FLAT_PANEL_READOUT`); its ``pixel_um`` is the panel
        pitch (50-150 um; 75 um *assumed*) and, for an indirect panel, its QE is the
        photodiode's at the screen emission.
    blur_fwhm_um : float
        Gaussian blur in the panel plane, FWHM. Indirect default 100 um (*assumed*:
        ~1.3 pixel, typical of columnar CsI on a-Si panels); for a direct panel the
        charge drifts along the field lines and 0 is the usual choice (blur = pixel).
    optical_coupling : float
        Indirect only: fraction of the emitted light reaching the photodiodes
        (escape from the screen x fill factor). 0.5 *assumed* (Siewerdsen et al. 1997
        use 0.4-0.7 for Gd2O2S and CsI screens on 127 um a-Si pixels).
    glare_fraction : float
        Share of the signal in a long-range glare component (:func:`exponential_kernel_2d`),
        the rest in the Gaussian ``blur_fwhm_um``: PSF = (1 - w) Gauss + w Exp. CsI and
        phosphor screens show this as the "low-frequency drop" of their MTF. 0 (default)
        assumed because it is a property of each screen, to be measured
        (``twin calibrate``).
    glare_length_um : float
        Decay length of the glare kernel. 100 um assumed because light escaping the
        columns of a CsI screen spreads over about the screen thickness (100-600 um);
        used only when ``glare_fraction > 0``.
    shoulder_fraction, shoulder_length_um : float
        A second, short exponential component mixed into the core before the glare:
        core = (1 - s) Gauss + s Exp(shoulder_length), PSF = (1 - w) core + w Exp(glare_length).
        Light spreading over a few pixels (between the CsI columns, in a fibre-optic
        plate) gives the LSF a peak sharper than a Gaussian of the same width on a broad
        shoulder. 0 (default) and 30 um assumed, as the glare: to be measured.
    response : GreyLevelResponse
        Grey-level response of the delivered image (default linear).
    """

    converter: Scintillator | Photoconductor = field(
        default_factory=lambda: Scintillator("CsI:Tl", 150.0, substrate=None))
    camera: SCMOS = FLAT_PANEL_READOUT
    blur_fwhm_um: float = 100.0
    optical_coupling: float = 0.5
    glare_fraction: float = 0.0
    glare_length_um: float = 100.0
    shoulder_fraction: float = 0.0
    shoulder_length_um: float = 30.0
    response: GreyLevelResponse = field(default_factory=GreyLevelResponse)

    def __post_init__(self):
        if not isinstance(self.converter, (Scintillator, Photoconductor)):
            raise ValueError(f"converter: expected a Scintillator or Photoconductor, got {self.converter!r}")
        if is_concrete(self.blur_fwhm_um) and not float(self.blur_fwhm_um) >= 0:
            raise ValueError(f"blur_fwhm_um: {self.blur_fwhm_um!r} must be >= 0")
        if not 0.0 < float(self.optical_coupling) <= 1.0:
            raise ValueError(f"optical_coupling: {self.optical_coupling!r} must be in (0, 1]")
        if is_concrete(self.glare_fraction) and not 0.0 <= float(self.glare_fraction) < 1.0:
            raise ValueError(f"glare_fraction: {self.glare_fraction!r} must be in [0, 1)")
        if is_concrete(self.glare_length_um) and not float(self.glare_length_um) > 0:
            raise ValueError(f"glare_length_um: {self.glare_length_um!r} must be > 0")
        if is_concrete(self.shoulder_fraction) and not 0.0 <= float(self.shoulder_fraction) < 1.0:
            raise ValueError(f"shoulder_fraction: {self.shoulder_fraction!r} must be in [0, 1)")
        if is_concrete(self.shoulder_length_um) and not float(self.shoulder_length_um) > 0:
            raise ValueError(f"shoulder_length_um: {self.shoulder_length_um!r} must be > 0")
        if not isinstance(self.response, GreyLevelResponse):
            raise ValueError(f"response: expected a GreyLevelResponse, got {self.response!r}")

    @property
    def direct(self) -> bool:
        return isinstance(self.converter, Photoconductor)

    @property
    def _layer(self) -> Scintillator:
        return self.converter.layer if self.direct else self.converter

    @property
    def pixel_um(self) -> float:
        return float(self.camera.pixel_um)

    def interaction_probability(self, energies_kev):
        return self._layer.interaction_probability(energies_kev)

    def absorbed_energy_fraction(self, energies_kev):
        return self._layer.absorbed_energy_fraction(energies_kev)

    def electrons_per_quantum(self, energies_kev, photons):
        """Direct: energy deposited per absorbed quantum / W. Indirect: light x coupling x photodiode QE."""
        per_quantum = self._layer.light_per_interaction(energies_kev, photons)
        if self.direct:
            return per_quantum
        return per_quantum * self.optical_coupling * self.camera.qe_at(float(self.converter.emission_nm))

    def conversion_stages(self, energies_kev, photons):
        """Direct: electron-hole pairs collected. Indirect: optical photons emitted, reaching the
        photodiodes, photoelectrons (per absorbed X-ray)."""
        gain = float(self.electrons_per_quantum(energies_kev, photons))
        if self.direct:
            return (("electron-hole pairs collected", gain),)
        light = float(self._layer.light_per_interaction(energies_kev, photons))
        return (("optical photons emitted", light), ("reaching the photodiodes", light * self.optical_coupling),
                ("photoelectrons", gain))

    def psf_support(self, cell_um: float) -> int:
        """Holds +-4 sigma of the Gaussian and :data:`GLARE_SUPPORT_LENGTHS` lengths of each
        exponential component in use."""
        size = _gaussian_support(self.blur_fwhm_um, cell_um) if self.blur_fwhm_um else 1
        for used, length in ((self._glare, self.glare_length_um), (self._shoulder, self.shoulder_length_um)):
            if used:
                size = max(size, 2 * int(math.ceil(GLARE_SUPPORT_LENGTHS * float(length) / cell_um)) + 1)
        return size

    @property
    def _glare(self) -> bool:
        """A glare component to add (a traced fraction is being fitted: keep it)."""
        return not is_concrete(self.glare_fraction) or float(self.glare_fraction) > 0

    @property
    def _shoulder(self) -> bool:
        return not is_concrete(self.shoulder_fraction) or float(self.shoulder_fraction) > 0

    def psf(self, energies_kev, photons, *, cell_um, size=None):
        """Pixel-integrated Gaussian of ``blur_fwhm_um`` (a delta when 0) mixed with the
        shoulder kernel by ``shoulder_fraction``, then with the glare kernel by
        ``glare_fraction``; independent of the spectrum."""
        size = size or self.psf_support(cell_um)
        if is_concrete(self.blur_fwhm_um) and not self.blur_fwhm_um:
            core = jnp.zeros((size, size), jnp.float32).at[size // 2, size // 2].set(1.0)
        else:
            core = gaussian_kernel_2d(self.blur_fwhm_um / FWHM_PER_SIGMA, pitch=cell_um, half_width=size // 2,
                                      integrate=True)
        if self._shoulder:
            shoulder = exponential_kernel_2d(self.shoulder_length_um, pitch=cell_um, half_width=size // 2)
            core = (1.0 - self.shoulder_fraction) * core + self.shoulder_fraction * shoulder
        if not self._glare:
            return core
        glare = exponential_kernel_2d(self.glare_length_um, pitch=cell_um, half_width=size // 2)
        return (1.0 - self.glare_fraction) * core + self.glare_fraction * glare

    def grey_level(self, transmission):
        """The panel's :class:`GreyLevelResponse` applied to the flat-corrected exposure."""
        return self.response(transmission)


# --------------------------------------------------------------------------- photon budget
@dataclass(frozen=True)
class PhotonBudget:
    """Quanta per pixel at each stage of a detector's cascade (:meth:`Detector.photon_budget`).

    Attributes
    ----------
    stages : tuple of (name, quanta)
        ``incident X-rays``, ``absorbed X-rays``, then the detector's conversion stages;
        the last stage is the electrons the readout counts.
    gain : float
        Electrons per absorbed X-ray (the Poisson gain of the frame model).
    exposure_s : float
        Time the incident quanta arrive in.
    read_noise_e, dark_e_per_s : float
        The readout's additive noise (e- rms) and dark current (e-/s).
    """

    stages: tuple[tuple[str, float], ...]
    gain: float
    exposure_s: float
    read_noise_e: float
    dark_e_per_s: float

    @property
    def incident(self) -> float:
        return self.stages[0][1]

    @property
    def absorbed(self) -> float:
        return self.stages[1][1]

    @property
    def electrons(self) -> float:
        return self.stages[-1][1]

    @property
    def quantum_sink(self) -> tuple[str, float]:
        """The stage after incidence with the fewest quanta: it bounds the DQE (secondary
        quantum sink when a conversion stage has fewer quanta than the absorbed X-rays)."""
        return min(self.stages[1:], key=lambda stage: stage[1])

    @property
    def dqe0(self) -> float:
        """``eta g / (1 + g)`` with ``eta`` = absorbed / incident (read noise not included)."""
        return float(dqe0_poisson_gain(self.absorbed / self.incident, self.gain))

    def exposure_for_snr_s(self, snr: float) -> float:
        """Exposure giving ``snr`` in this open-field pixel (:func:`exposure_for_snr_s`)."""
        return exposure_for_snr_s(self.absorbed / self.exposure_s, snr, gain=self.gain,
                                  read_noise_e=self.read_noise_e, dark_e_per_s=self.dark_e_per_s)


def exposure_for_snr_s(absorbed_per_s: float, snr: float, *, gain: float | None = None,
                       read_noise_e: float = 0.0, dark_e_per_s: float = 0.0) -> float:
    """Exposure time giving ``snr`` in one open-field pixel.

    Without ``gain``: quantum-limited, ``t = snr^2 / absorbed_per_s``. With a Poisson
    secondary stage of mean ``gain`` electrons per absorbed quantum, the signal ``a t g``
    has variance ``a t g (1 + g) + read^2 + dark t``; the positive root of the quadratic
    in ``t`` is returned.
    """
    if not (absorbed_per_s > 0 and snr > 0):
        raise ValueError(f"absorbed_per_s ({absorbed_per_s!r}) and snr ({snr!r}) must be > 0")
    if gain is None:
        return snr**2 / absorbed_per_s
    s = absorbed_per_s * gain
    b = snr**2 * (s * (1.0 + gain) + dark_e_per_s)
    return (b + math.sqrt(b**2 + 4.0 * s**2 * snr**2 * read_noise_e**2)) / (2.0 * s**2)
