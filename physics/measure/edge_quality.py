"""Checks a slanted-edge measurement runs on itself: fit quality, dynamic range, starved halves.

:func:`assess_edge` looks at the two flat halves of the edge (pixels farther than
``max(4 px, 4 sigma)`` from the fitted edge) and at the fit, and returns an
:class:`EdgeQuality` with the numbers and two lists of messages:

* **refusals** (:func:`physics.measure.edge.measure_edge` raises unless ``strict=False``):
  - *poor ESF fit*: the ESF predicted by the fitted LSF (its running integral, scaled
    to the step by linear least squares) explains less than ``MIN_ESF_R2`` of the
    ESF's variance within +-max(8 sigma, 4 px) of the edge;
  - *too small a dynamic range*: the step is less than ``MIN_SIDE_SNR`` times the pixel
    noise of either half;
  - *a clipped or photon-starved half*: at least ``MAX_CLIPPED`` of a half's pixels sit
    at the image's minimum or maximum value while the others do not (the signature of
    a -ln T image of a nearly opaque edge, where few or no photons arrive and the
    logarithm is floored; also of saturation). An extreme of exactly zero is not
    counted: a linear image of an opaque region rests on zero counts. A nearly noiseless
    half (pixel noise below 1e-3 of the step: a rendered or expected image) is not clipped.
* **flags** (reported, result kept): a step under ``FLAG_SIDE_SNR`` noise sigmas, ESF R^2
  under ``FLAG_ESF_R2``, clipping above ``FLAG_CLIPPED``, a PSF at the fit's lower bound
  (narrower than the measurement resolves), and an MTF50 of the ISO curve differing from
  the MTF50 of the Gaussian fit by more than ``MAX_MTF50_MISMATCH`` (the LSF is not
  Gaussian, or noise dominates the curve: sigma and FWHM then describe the core only).

The Gaussian fit's own MTF (``fit_mtf50``/``fit_mtf10``) is that of the fitted model as
ISO 12233 sees it: ``exp(-2 pi^2 (s^2 + v) f^2) |sinc(f cos a)|`` (PSF sigma ``s``, the
narrow measurement kernels' variance ``v``, the pixel aperture projected on the edge
normal), so sigma, FWHM and fit MTF50 are numbers of one fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from physics.measure.mtf import first_crossing, gaussian_mtf

#: Refuse below: the fitted model explains < 90 % of the ESF variance; flag below 99 %
#: (assumed: Gaussian edges give R^2 > 0.995 down to a step of 20 noise sigmas, the
#: vendor-processed dental edges 0.984-0.991, a noisy tomosynthesis slice of a W edge
#: ~0.95, the photon-starved -ln T edge of issue 8 0.76).
MIN_ESF_R2 = 0.90
FLAG_ESF_R2 = 0.99
#: Refuse below: a step of 5 per-pixel noise sigmas of a half (the edge finder's own limit).
MIN_SIDE_SNR = 5.0
#: Flag below 20 sigmas: the MTF above ~MTF10 is then noise-dominated (assumed).
FLAG_SIDE_SNR = 20.0
#: Refuse at 5 % of a half's pixels at the image extreme; flag at 0.5 % (a Gaussian tail
#: puts < 0.5 % of pixels at one value of a >= 8-bit scale, assumed).
MAX_CLIPPED = 0.05
FLAG_CLIPPED = 0.005
#: Flag when the ISO MTF50 and the Gaussian fit's MTF50 differ by more than 25 %.
MAX_MTF50_MISMATCH = 0.25
#: The fit's lower bound on the PSF sigma (px), see physics.measure.edge.
SIGMA_FLOOR_PX = 2e-4


@dataclass(frozen=True)
class EdgeQuality:
    """Goodness of fit and data checks of one edge measurement (see the module docstring)."""

    esf_r2: float
    step: float
    side_noise: tuple[float, float]
    side_snr: tuple[float, float]  # inf on a noise-free side (null in JSON)
    clipped_fraction: tuple[float, float]
    fit_mtf50_cyc_per_px: float | None
    fit_mtf10_cyc_per_px: float | None
    refusals: tuple[str, ...] = field(default=())
    flags: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.refusals and not self.flags

    def to_json(self) -> dict:
        return {"esf_r2": self.esf_r2, "step": self.step,
                "side_noise": {"low": self.side_noise[0], "high": self.side_noise[1]},
                # A noise-free side has an infinite SNR; JSON holds it as null.
                "side_snr": {"low": _finite_or_none(self.side_snr[0]),
                             "high": _finite_or_none(self.side_snr[1])},
                "clipped_fraction": {"low": self.clipped_fraction[0], "high": self.clipped_fraction[1]},
                "fit_mtf50_cyc_per_px": self.fit_mtf50_cyc_per_px,
                "fit_mtf10_cyc_per_px": self.fit_mtf10_cyc_per_px,
                "refusals": list(self.refusals), "flags": list(self.flags)}


def _half_stats(values: np.ndarray, diffs: np.ndarray, image_range) -> tuple[float, float, float]:
    """Mean, per-pixel noise (robust, from differences along the edge) and clipped fraction."""
    mean = float(values.mean())
    noise = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2.0) if diffs.size else 0.0
    if noise == 0.0 and diffs.size:  # more than half the differences vanish (clipping, quantisation)
        noise = float(diffs.std()) / math.sqrt(2.0)
    # Zero is excluded: a linear image of an opaque region rests on zero counts, unclipped.
    at = [float(np.mean(values == v)) for v in image_range if v != 0.0]
    return mean, noise, max(at, default=0.0)


def _fit_mtf(psf_sigma, extra_var, cos_a):
    f = np.linspace(0.0, 1.0, 2001)
    m = gaussian_mtf(math.sqrt(psf_sigma**2 + extra_var), f) * np.abs(np.sinc(f * cos_a))
    return first_crossing(f, m, 0.5), first_crossing(f, m, 0.1)


def assess_edge(work, coef, sign, *, position, esf, lsf_model, bin_normal, psf_sigma, extra_var, cos_a,
                measured, image_range) -> EdgeQuality:
    """Check a measurement (arguments are the internals of :func:`physics.measure.edge.measure_edge`).

    ``work`` has the edge along its rows at column ``polyval(coef, row)``; ``esf`` is the
    rising (sign-corrected) supersampled ESF at ``position``; ``lsf_model(x)`` the fitted
    LSF; ``measured`` the ISO (MTF50, MTF10).
    """
    nlin, npix = work.shape
    dist = np.arange(npix)[None, :] - np.polyval(coef, np.arange(nlin))[:, None]
    sigma_tot = math.sqrt(psf_sigma**2 + 1.0 / 12.0)
    d0 = min(max(4.0, 4.0 * sigma_tot), 0.25 * npix)
    stats = []
    for half in (dist * sign < -d0, dist * sign > d0):  # low side first
        both = half[1:] & half[:-1]
        diffs = (work[1:] - work[:-1])[both]
        stats.append(_half_stats(work[half], diffs, image_range))
    (m_lo, n_lo, c_lo), (m_hi, n_hi, c_hi) = stats
    step = abs(m_hi - m_lo)
    # A (nearly) noiseless half - a rendered or expected image, whose flat part repeats one
    # float value - sits at the extreme legitimately: clipping needs noise (SNR < 1000).
    c_lo, c_hi = (c if n > 1e-3 * step else 0.0 for c, n in ((c_lo, n_lo), (c_hi, n_hi)))
    snr = tuple(step / n if n > 0 else math.inf for n in (n_lo, n_hi))

    # ESF predicted by the fitted LSF: its running integral, scaled to the data.
    shape = np.cumsum(lsf_model(position)) * bin_normal
    centre = position[int(np.argmax(lsf_model(position)))]
    window = np.abs(position - centre) <= max(8.0 * sigma_tot, 4.0)
    a = np.stack([np.ones(window.sum()), shape[window]], axis=1)
    y = esf[window]
    coeffs, *_ = np.linalg.lstsq(a, y, rcond=None)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - a @ coeffs) ** 2)) / ss_tot if ss_tot > 0 else 0.0

    fit50, fit10 = _fit_mtf(psf_sigma, extra_var, cos_a)
    refusals, flags = [], []
    for name, c in (("low", c_lo), ("high", c_hi)):
        if c >= MAX_CLIPPED:
            refusals.append(f"{100 * c:.0f} % of the {name} side's pixels sit at the image's extreme value "
                            f"(clipped or photon-starved: a -ln T image of a nearly opaque edge?); measure "
                            f"the transmission image, a less absorbing edge or a longer exposure")
        elif c >= FLAG_CLIPPED:
            flags.append(f"{100 * c:.1f} % of the {name} side's pixels sit at the image's extreme value (clipping?)")
    for name, s in (("low", snr[0]), ("high", snr[1])):
        if s < MIN_SIDE_SNR:
            refusals.append(f"the step ({step:.3g}) is only {s:.2g}x the pixel noise of the {name} side "
                            f"(need >= {MIN_SIDE_SNR:g}): too small a dynamic range or a photon-starved half")
        elif s < FLAG_SIDE_SNR:
            flags.append(f"the step is only {s:.3g}x the pixel noise of the {name} side; "
                         f"the MTF above MTF10 is noise-dominated")
    if r2 < MIN_ESF_R2:
        refusals.append(f"the Gaussian fit explains only {100 * r2:.1f} % of the ESF variance "
                        f"(need {100 * MIN_ESF_R2:g} %): poor ESF fit")
    elif r2 < FLAG_ESF_R2:
        flags.append(f"the Gaussian fit explains {100 * r2:.2f} % of the ESF variance: the LSF is not Gaussian")
    if psf_sigma <= SIGMA_FLOOR_PX * 1.01:
        flags.append("the fitted PSF sigma is at its lower bound: the blur is below what the pixels resolve")
    m50 = measured[0]
    if m50 is not None and fit50 is not None and abs(m50 / fit50 - 1.0) > MAX_MTF50_MISMATCH:
        flags.append(f"the ISO MTF50 ({m50:.3g} cy/px) and the Gaussian fit's ({fit50:.3g} cy/px) differ by "
                     f"{100 * abs(m50 / fit50 - 1):.0f} %: sigma and FWHM describe the LSF core only")
    return EdgeQuality(esf_r2=r2, step=step, side_noise=(n_lo, n_hi), side_snr=snr,
                       clipped_fraction=(c_lo, c_hi), fit_mtf50_cyc_per_px=fit50, fit_mtf10_cyc_per_px=fit10,
                       refusals=tuple(refusals), flags=tuple(flags))


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
