"""Continuous scenario keys that ``twin calibrate`` fits and ``twin optimize`` varies.

Each key maps a (possibly traced) value onto the imaging system and the source
position of one view, so a function of the key values stays a pure JAX function
through the chain. This is the only place that knows both the scenario key and the
:class:`physics.chain.ImagingSystem` field it drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp

from physics.errors import OptionError
from physics import chain
from physics.chain import ImagingSystem
from physics.detector import FlatPanel, LensCoupled
from twin.scenario import Scenario


@dataclass(frozen=True)
class View:
    """What a tunable key may change: the system and the source position (um)."""

    system: ImagingSystem
    source_um: jnp.ndarray


@dataclass(frozen=True)
class Tunable:
    """One continuous scenario key.

    Attributes
    ----------
    key : str
        ``table.key`` as in scenario files.
    unit : str
        Internal unit of the value (as :meth:`twin.scenario.Scenario.resolved` prints it).
    apply : callable
        ``apply(view, value) -> view``.
    log : bool
        Positive and scale-free: fitted/optimised in log.
    lower, upper : callable
        Physical bounds given the scenario (e.g. the NA below the screen's index).
    blur : bool
        Changes the detector PSF (its support must cover the largest blur).
    """

    key: str
    unit: str
    apply: Callable
    log: bool
    lower: Callable
    upper: Callable
    blur: bool = True


def _scintillator_index(scenario: Scenario) -> float:
    from physics.scintillator import SCINTILLATORS

    n = scenario["scintillator"]["refractive_index"]
    return n if n is not None else SCINTILLATORS[scenario["scintillator"]["material"]].refractive_index


def _set_na(view, v):
    if not isinstance(view.system.detector, LensCoupled):
        raise OptionError("optics.na: only for detector.type = \"lens_coupled\" (a flat panel has no objective)")
    return View(chain.with_params(view.system, detector__microscope__objective__numerical_aperture=v),
                view.source_um)


def _set_spot(view, v):
    spot = view.system.focal_spot
    changes = {"focal_spot__size_um": v}
    if spot.line_length_um is not None:  # ellipse: the line on the anode scales with the width
        changes["focal_spot__line_length_um"] = v * spot.line_length_um / spot.size_um
    return View(chain.with_params(view.system, **changes), view.source_um)


def _set_exposure(view, v):
    s = view.system
    spectrum = chain.with_params(s.spectrum, photons=s.spectrum.photons * (v / s.exposure_s))
    return View(chain.with_params(s, exposure_s=v, spectrum=spectrum), view.source_um)


def _set_distance(view, v):
    src = view.source_um
    return View(view.system, src * (v / jnp.sqrt(jnp.sum(src**2))))


def _sys(field, *, detector: type | None = None, key: str = ""):
    """Set ``field`` of the system; ``detector``: the only detector class that has it."""
    def apply(view, v):
        if detector is not None and not isinstance(view.system.detector, detector):
            kind = "flat_panel" if detector is FlatPanel else "lens_coupled"
            raise OptionError(f"{key}: only for detector.type = \"{kind}\" (this scenario's detector is a "
                              f"{type(view.system.detector).__name__})")
        return View(chain.with_params(view.system, **{field: v}), view.source_um)
    return apply


def _set_thickness(view, v):
    """The screen of either detector: the lens-coupled film or the flat panel's converter."""
    if isinstance(view.system.detector, FlatPanel):
        return _sys("detector__converter__thickness_um")(view, v)
    return _sys("detector__scintillator__thickness_um")(view, v)


def _lens(key, field):
    return _sys(field, detector=LensCoupled, key=key)


def _panel(key, field):
    return _sys(field, detector=FlatPanel, key=key)


_ZERO = lambda sc: 0.0  # noqa: E731
TUNABLE = {t.key: t for t in [
    Tunable("scintillator.thickness", "um", _set_thickness, True, _ZERO, lambda sc: 2000.0),
    Tunable("scintillator.scatter_blur", "um", _lens("scintillator.scatter_blur", "detector__scatter_fwhm_um"),
            False, _ZERO, lambda sc: 1000.0),
    Tunable("scintillator.focus_depth", "um", _lens("scintillator.focus_depth", "detector__focus_depth_um"),
            False, _ZERO, lambda sc: sc["scintillator"]["thickness"]),
    Tunable("source.focal_spot_size", "um", _set_spot, True, _ZERO, lambda sc: 1e4),
    Tunable("optics.na", "", _set_na, True, _ZERO, lambda sc: min(_scintillator_index(sc), 1.0) * 0.999),
    # Flat panel (detector.type = "flat_panel"): blur, shoulder, glare, the image's grey-level response.
    Tunable("detector.blur", "um", _panel("detector.blur", "detector__blur_fwhm_um"), True, _ZERO,
            lambda sc: 1e4),
    Tunable("detector.glare_fraction", "", _panel("detector.glare_fraction", "detector__glare_fraction"), False,
            _ZERO, lambda sc: 0.99),
    Tunable("detector.glare_length", "um", _panel("detector.glare_length", "detector__glare_length_um"), True,
            _ZERO, lambda sc: 1e4),
    Tunable("detector.shoulder_fraction", "", _panel("detector.shoulder_fraction", "detector__shoulder_fraction"),
            False, _ZERO, lambda sc: 0.99),
    Tunable("detector.shoulder_length", "um", _panel("detector.shoulder_length", "detector__shoulder_length_um"),
            True, _ZERO, lambda sc: 1e4),
    Tunable("detector.response_gamma", "", _panel("detector.response_gamma", "detector__response__gamma"), False,
            lambda sc: -3.0, lambda sc: 3.0, blur=False),
    Tunable("detector.response_offset", "", _panel("detector.response_offset", "detector__response__offset"),
            True, _ZERO, lambda sc: 10.0, blur=False),
    Tunable("camera.gain", "", _sys("detector__camera__gain_e_per_adu"), True, _ZERO, lambda sc: 1e4, blur=False),
    Tunable("camera.read_noise", "", _sys("detector__camera__read_noise_e"), False, _ZERO, lambda sc: 1e3, blur=False),
    Tunable("acquisition.exposure", "s", _set_exposure, True, _ZERO, lambda sc: 1e6, blur=False),
    Tunable("geometry.source_distance", "um", _set_distance, True,
            lambda sc: sc["object"]["height"], lambda sc: 1e7, blur=False),
]}

#: Keys a camera noise image determines (the others come from an edge).
NOISE_KEYS = ("camera.gain", "camera.read_noise")


def tunable(key: str, *, option: str) -> Tunable:
    """The :class:`Tunable` for ``key``; a ValueError naming ``option`` otherwise."""
    if key not in TUNABLE:
        raise OptionError(f"{option} {key}: not a continuous parameter that can be fitted or varied; "
                         f"choose from {', '.join(TUNABLE)}")
    return TUNABLE[key]


def current_value(scenario: Scenario, key: str, system: ImagingSystem) -> float:
    """The scenario's value of ``key`` in internal units; the chain's default when the
    scenario leaves it unset (focus depth: mid-screen)."""
    table, name = key.split(".")
    value = scenario[table][name]
    if value is None and key == "scintillator.focus_depth":
        TUNABLE[key].apply(View(system, jnp.zeros(3)), 0.0)  # a one-line error on a flat panel
        return 0.5 * float(system.detector.scintillator.thickness_um)
    return float(value)


def apply_values(view: View, values: dict) -> View:
    """Apply ``{key: value}`` (values may be traced) in a fixed order."""
    for key, v in values.items():
        view = TUNABLE[key].apply(view, v)
    return view


def psf_size_for(system: ImagingSystem, ranges: dict) -> int:
    """A fixed PSF support covering every blur the ranges ``{key: (lo, hi)}`` can reach
    (the support must be static under jit/grad)."""
    size = chain.psf_support(system)
    for key, (lo, hi) in ranges.items():
        if not TUNABLE[key].blur:
            continue
        for v in (lo, hi):
            if TUNABLE[key].log and v <= 0:
                continue
            probe = apply_values(View(system, jnp.zeros(3)), {key: float(v)}).system
            try:
                size = max(size, chain.psf_support(probe))
            except (ValueError, ZeroDivisionError):
                continue
    return size | 1


def quantity_text(value: float, unit: str, *, digits: int = 6) -> str:
    """A scenario-file value: ``"20.3 um"``, or a bare number when dimensionless."""
    text = f"{value:.{digits}g}"
    return f"{text} {unit}" if unit else text
