"""Slanted-edge measurement: ESF, LSF and MTF per ISO 12233 (e-SFR), plus a Gaussian LSF fit.

The steps follow ISO 12233:2017 clause 6 / Annex D and its reference code (P. D.
Burns, sfrmat3/sfrmat4):

1. Orient: if the grey levels change more from top to bottom than from left to
   right the edge is near horizontal and the image is transposed, so the edge
   always runs along the lines (rows of the working array).
2. Locate: each line is differentiated with the 2-tap FIR [-0.5, 0.5], multiplied
   by a Hamming window, and its centroid is the edge position on that line (the
   -0.5 px shift undoes the filter's phase). A polynomial x = f(y) (linear by
   default, as in ISO 12233:2017) is fitted to the centroids; the centroids are
   then recomputed with a Hamming window centred on the fitted edge of each line
   and refitted.
3. Keep an integer number of phase cycles: the first round(floor(n*|s|)/|s|)
   lines, s = dx/dy, so that every sub-pixel phase is sampled equally often.
4. Project and bin: every pixel goes to a bin of width 1/4 px (4x oversampling)
   of its horizontal distance to the fitted edge; the bin means are the
   supersampled ESF. Empty bins are filled from their neighbours.
5. Differentiate with the 3-tap FIR [-0.5, 0, 0.5] -> LSF; apply a Hamming window
   centred on the LSF peak; |DFT|, normalised at zero frequency, divided by the
   FIR's own transfer function sinc(2 k / N) (the ISO derivative correction,
   capped at 10 as in sfrmat) -> MTF. The frequency axis is corrected for the
   sampling normal to the edge: bin spacing cos(angle)/4 px.
6. MTF50 / MTF10: first crossing of 0.5 / 0.1 by linear interpolation.

The ISO procedure does not undo the 1/4-px bin aperture, so its MTF carries an
extra factor sinc(f cos(angle)/4) (0.974 at the Nyquist frequency); we report it
as ISO defines it.

Gaussian sigma
--------------
``sigma_px`` is the standard deviation of the *presampled* LSF: the blur that the
pixels of this image actually carry, i.e. the system PSF convolved with the pixel
aperture. For an ideal edge blurred by a Gaussian of sigma ``s`` and integrated
over square pixels it equals sqrt(s**2 + 1/12). It is what a degradation model
applied to pixel images needs. The measurement's own kernels (the 1/4-px bins and
the 3-tap derivative, a box of 2 bins) are part of the fitted model and removed,
so they do not inflate the result. ``psf_sigma_px`` additionally removes a 100 %
fill-factor pixel aperture, sqrt(sigma_px**2 - 1/12), for comparison with a
simulated PSF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.errors import InputFileError, OptionError
from scipy.optimize import least_squares
from scipy.special import ndtr

from physics.measure._common import as_image, crop
from physics.measure.edge_quality import SIGMA_FLOOR_PX, EdgeQuality, assess_edge
from physics.measure.mtf import FWHM_PER_SIGMA, mtf_crossings, mtf_from_lsf

#: ISO 12233 bins the projected edge at 4x the pixel frequency.
ISO_OVERSAMPLING = 4
#: sfrmat caps the derivative correction at 10 to avoid amplifying noise.
MAX_DERIVATIVE_CORRECTION = 10.0
#: The MTF is reported up to 1 cycle/pixel, as sfrmat does for 4x binning.
MAX_REPORTED_FREQUENCY = 1.0
#: Variance of a 1-px box: the pixel aperture of a 100 % fill-factor sensor.
PIXEL_APERTURE_VARIANCE = 1.0 / 12.0
#: Smallest ROI side: the LSF and its Hamming window need some room (assumed).
MIN_SIDE_PX = 8
#: An edge must stand 5 noise sigmas above the noise to be located (assumed:
#: below that, single-line centroids are dominated by noise).
MIN_EDGE_SNR = 5.0


@dataclass(frozen=True, eq=False)
class EdgeResult:
    """Result of a slanted-edge measurement.

    Attributes
    ----------
    sigma_px, fwhm_px : float
        Gaussian fit of the presampled LSF (PSF convolved with the pixel aperture).
    psf_sigma_px : float or None
        ``sqrt(sigma_px**2 - 1/12)``: the blur without a 100 % fill-factor pixel
        aperture; None when the LSF is not wider than the pixel aperture.
    pixel_size_um : float or None
        Pixel size; the um and lp/mm entries are None when it is unknown.
    mtf50_cyc_per_px, mtf10_cyc_per_px : float or None
        First crossing of 0.5 / 0.1 (None when the MTF stays above it up to 1 cy/px).
    edge_angle_deg : float
        Angle of the edge from the image axis it is closest to (signed; positive
        when the edge position grows along the edge, x with y or y with x).
    orientation : {"vertical", "horizontal"}
        Which image axis the edge runs along.
    polarity : {"rising", "falling"}
        Whether the grey level rises or falls along the position axis, which
        points along increasing column (vertical edge) or row (horizontal edge).
    frequency_cyc_per_px, mtf : np.ndarray
        The MTF curve from 0 to 1 cycle/pixel.
    position_px : np.ndarray
        Distance from the edge, normal to it, of the ESF/LSF samples (px).
    esf : np.ndarray
        Supersampled ESF in the image's grey levels.
    lsf : np.ndarray
        Derivative of the ESF along the position axis, sign-corrected to a
        positive peak and normalised to unit area (1/px).
    """

    sigma_px: float
    fwhm_px: float
    psf_sigma_px: float | None
    pixel_size_um: float | None
    mtf50_cyc_per_px: float | None
    mtf10_cyc_per_px: float | None
    edge_angle_deg: float
    orientation: str
    polarity: str
    frequency_cyc_per_px: np.ndarray
    mtf: np.ndarray
    position_px: np.ndarray
    esf: np.ndarray
    lsf: np.ndarray
    quality: EdgeQuality

    def _um(self, value_px):
        if value_px is None or self.pixel_size_um is None:
            return None
        return value_px * self.pixel_size_um

    def _lp_per_mm(self, cyc_per_px):
        if cyc_per_px is None or self.pixel_size_um is None:
            return None
        return cyc_per_px / (self.pixel_size_um * 1e-3)

    @property
    def sigma_um(self):
        return self._um(self.sigma_px)

    @property
    def fwhm_um(self):
        return self._um(self.fwhm_px)

    @property
    def mtf50_lp_per_mm(self):
        return self._lp_per_mm(self.mtf50_cyc_per_px)

    @property
    def mtf10_lp_per_mm(self):
        return self._lp_per_mm(self.mtf10_cyc_per_px)

    def to_json(self) -> dict:
        """The content of ``edge.json`` (plain floats/lists; None for unknowns)."""
        pos = self.position_px.tolist()
        return {
            "sigma_px": self.sigma_px,
            "sigma_um": self.sigma_um,
            "fwhm_px": self.fwhm_px,
            "fwhm_um": self.fwhm_um,
            "psf_sigma_px": self.psf_sigma_px,
            "psf_sigma_um": self._um(self.psf_sigma_px),
            "pixel_size_um": self.pixel_size_um,
            "mtf50_cyc_per_px": self.mtf50_cyc_per_px,
            "mtf10_cyc_per_px": self.mtf10_cyc_per_px,
            "mtf50_lp_per_mm": self.mtf50_lp_per_mm,
            "mtf10_lp_per_mm": self.mtf10_lp_per_mm,
            "edge_angle_deg": self.edge_angle_deg,
            "orientation": self.orientation,
            "polarity": self.polarity,
            "mtf": {"frequency_cyc_per_px": self.frequency_cyc_per_px.tolist(),
                    "value": self.mtf.tolist()},
            "esf": {"position_px": pos, "value": self.esf.tolist()},
            "lsf": {"position_px": pos, "value": self.lsf.tolist()},
            "quality": self.quality.to_json(),
        }


def measure_edge(
    image,
    *,
    pixel_size_um: float | None = None,
    roi=None,
    edge_fit_order: int = 1,
    strict: bool = True,
) -> EdgeResult:
    """Measure ESF, LSF, MTF and the Gaussian LSF width of a slanted edge.

    Parameters
    ----------
    image : array-like, 2D
        Image containing one straight edge tilted by roughly 2-10 degrees from the
        pixel rows or columns, with both sides reaching the ROI borders.
    pixel_size_um : float, optional
        Pixel size in um (for the um and lp/mm outputs).
    roi : (x0, y0, x1, y1), optional
        Region to analyse, x along columns, x1/y1 exclusive.
    edge_fit_order : int
        Order of the polynomial x = f(y) fitted to the edge centroids (1 = ISO
        12233:2017 straight edge; 2-3 for slightly curved edges).
    strict : bool
        Raise when a check of :func:`physics.measure.edge_quality.assess_edge` refuses the
        result (poor ESF fit, too small a dynamic range, a clipped or photon-starved half);
        False returns it with ``quality.refusals`` set.

    Returns
    -------
    EdgeResult

    Raises
    ------
    ValueError
        Bad input (NaNs, wrong shape, ROI outside), no edge found, or an edge
        too close to a pixel axis for 4x oversampling.
    """
    img = as_image(image, name="image")
    if roi is not None:
        img = crop(img, roi, name="roi")
    if min(img.shape) < MIN_SIDE_PX:
        raise InputFileError(f"image: the edge region is too small ({img.shape[0]} x "
                         f"{img.shape[1]} pixels); need at least {MIN_SIDE_PX} on each side")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise OptionError(f"pixel_size_um: must be a positive number, got {pixel_size_um!r}")
    if edge_fit_order not in (1, 2, 3):
        raise OptionError(f"edge_fit_order: must be 1, 2 or 3, got {edge_fit_order!r}")

    work, orientation = _orient(img)
    sign = _polarity_sign(work)
    coef = _locate_edge(work, sign, edge_fit_order)
    nlin, npix = work.shape
    lines = np.arange(nlin)
    slope = (np.polyval(coef, nlin - 1) - np.polyval(coef, 0)) / (nlin - 1)
    if abs(slope) * nlin < 1.0:
        raise OptionError(
            f"image: the edge is only {math.degrees(math.atan(abs(slope))):.2f} deg from the "
            f"pixel {'rows' if orientation == 'horizontal' else 'columns'}; it must shift by "
            f"at least one pixel across the ROI for 4x oversampling (tilt it by 2-10 deg)")
    if abs(slope) > 1.0:
        raise InputFileError("image: the edge is more than 45 deg from the pixel axis")
    # ISO: an integer number of phase cycles, so every sub-pixel phase counts equally.
    nkeep = int(round(math.floor(nlin * abs(slope)) / abs(slope)))
    work, lines = work[:nkeep], lines[:nkeep]
    cos_a = math.cos(math.atan(slope))

    esf, pos_h = _project_and_bin(work, coef, ISO_OVERSAMPLING)
    step = ISO_OVERSAMPLING
    bin_normal = cos_a / step                      # bin spacing normal to the edge (px)
    position = pos_h * cos_a

    deriv = np.zeros_like(esf)
    deriv[1:-1] = 0.5 * (esf[2:] - esf[:-2]) * sign
    deriv[0], deriv[-1] = deriv[1], deriv[-2]

    freq, mtf = _mtf(deriv, bin_normal)
    mtf50, mtf10 = mtf_crossings(freq, mtf)

    area = deriv.sum() * bin_normal
    lsf = deriv / area                              # unit area, 1/px
    psf_sigma, extra_var, lsf_model = _fit_gaussian_lsf(position, lsf, bin_normal, math.atan(abs(slope)))
    sigma = math.sqrt(psf_sigma**2 + PIXEL_APERTURE_VARIANCE)
    quality = assess_edge(work, coef, sign, position=position, esf=esf * sign, lsf_model=lsf_model,
                          bin_normal=bin_normal, psf_sigma=psf_sigma, extra_var=extra_var, cos_a=cos_a,
                          measured=(mtf50, mtf10), image_range=(float(img.min()), float(img.max())))
    if strict and quality.refusals:
        raise InputFileError("image: " + "; ".join(quality.refusals)
                             + " (measure_edge(strict=False) / twin measure edge --force returns it flagged)")
    return EdgeResult(
        sigma_px=float(sigma),
        fwhm_px=float(FWHM_PER_SIGMA * sigma),
        psf_sigma_px=float(psf_sigma),
        pixel_size_um=None if pixel_size_um is None else float(pixel_size_um),
        mtf50_cyc_per_px=mtf50,
        mtf10_cyc_per_px=mtf10,
        edge_angle_deg=float(math.degrees(math.atan(slope))),
        orientation=orientation,
        polarity="rising" if sign > 0 else "falling",
        frequency_cyc_per_px=freq,
        mtf=mtf,
        position_px=position,
        esf=esf,
        lsf=lsf,
        quality=quality,
    )


def _orient(img: np.ndarray) -> tuple[np.ndarray, str]:
    """Transpose near-horizontal edges so the edge runs along the working rows."""
    n = 3  # sfrmat compares lines 3 in from each border
    change_down = abs(img[-n:].mean() - img[:n].mean())
    change_across = abs(img[:, -n:].mean() - img[:, :n].mean())
    if change_down > change_across:
        return img.T, "horizontal"
    return img, "vertical"


def _polarity_sign(work: np.ndarray) -> float:
    """+1 for a dark-to-bright edge along the working rows, -1 otherwise; checks contrast."""
    left, right = work[:, :5].mean(), work[:, -5:].mean()
    # Noise from differences along the edge direction (robust: MAD), which the
    # slant barely touches away from the edge.
    d = np.diff(work, axis=0)
    noise = 1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0)
    noise_of_means = noise / math.sqrt(5 * work.shape[0])
    if not abs(right - left) > max(MIN_EDGE_SNR * noise, 10 * noise_of_means, 0.0):
        raise OptionError(
            f"image: no edge found: the two sides differ by {abs(right - left):.4g} grey "
            f"levels, not more than {MIN_EDGE_SNR:g}x the pixel noise ({noise:.3g}); choose a "
            f"ROI (--roi) with one edge crossing it")
    return 1.0 if right > left else -1.0


def _hamming(n: int, centre: np.ndarray) -> np.ndarray:
    """Asymmetric Hamming windows (sfrmat ``ahamming``), one per centre, shape (len, n)."""
    centre = np.atleast_1d(np.asarray(centre, dtype=np.float64))[:, None]
    i = np.arange(n)[None, :]
    half = np.maximum(centre, n - 1 - centre)
    half = np.maximum(half, 1.0)
    return 0.54 + 0.46 * np.cos(np.pi * (i - centre) / half)


def _centroids(deriv: np.ndarray, centres) -> np.ndarray:
    w = deriv * _hamming(deriv.shape[1], centres)
    total = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        loc = (w * np.arange(deriv.shape[1])).sum(axis=1) / total
    return loc - 0.5  # the 2-tap derivative sits half a pixel before its index


def _locate_edge(work: np.ndarray, sign: float, order: int) -> np.ndarray:
    """Polynomial x = f(y) through the per-line centroids of the derivative."""
    nlin, npix = work.shape
    deriv = np.empty_like(work)
    deriv[:, 1:] = 0.5 * np.diff(work, axis=1) * sign
    deriv[:, 0] = deriv[:, 1]
    deriv[:, -1] = deriv[:, -2]  # sfrmat suppresses both border samples
    lines = np.arange(nlin)
    loc = _centroids(deriv, np.full(nlin, (npix - 1) / 2.0))
    coef = _fit_edge(lines, loc, order, npix)
    loc = _centroids(deriv, np.polyval(coef, lines))
    return _fit_edge(lines, loc, order, npix)


def _fit_edge(lines, loc, order, npix) -> np.ndarray:
    if not np.all(np.isfinite(loc)):
        raise InputFileError("image: no edge found on some lines (zero derivative sum); "
                         "choose a ROI with one edge crossing it")
    coef = np.polyfit(lines, loc, order)
    fitted = np.polyval(coef, lines)
    if fitted.min() < 0 or fitted.max() > npix - 1:
        raise InputFileError("image: the fitted edge leaves the ROI; choose a ROI in which the "
                         "edge crosses from one border to the opposite one")
    return coef


def _project_and_bin(work: np.ndarray, coef: np.ndarray, step: int):
    """Bin pixels by horizontal distance to the edge; return the ESF and bin centres (px).

    The ESF spans ``npix * step`` bins around the edge, placed as the middle line
    sees it (sfrmat ``project2``); bin k holds distances in ((k-1)/step, k/step].
    """
    nlin, npix = work.shape
    edge = np.polyval(coef, np.arange(nlin))
    dist = np.arange(npix)[None, :] - edge[:, None]
    k = np.ceil(dist * step).astype(np.int64)
    mid_edge = float(np.polyval(coef, (nlin - 1) / 2.0))
    k0 = int(math.ceil(-mid_edge * step))
    nbins = npix * step
    idx = (k - k0).ravel()
    keep = (idx >= 0) & (idx < nbins)
    counts = np.bincount(idx[keep], minlength=nbins).astype(np.float64)
    sums = np.bincount(idx[keep], weights=work.ravel()[keep], minlength=nbins)
    empty = counts == 0
    if empty.sum() > 0.05 * nbins:
        raise InputFileError(f"image: {int(empty.sum())} of {nbins} ESF bins are empty; the edge "
                         f"angle is too small or the ROI too short along the edge")
    centres = (np.arange(nbins) + k0 - 0.5) / step
    esf = np.empty(nbins)
    esf[~empty] = sums[~empty] / counts[~empty]
    if empty.any():  # sfrmat fills empty bins from their neighbours
        esf[empty] = np.interp(centres[empty], centres[~empty], esf[~empty])
    return esf, centres


def _mtf(deriv: np.ndarray, bin_normal: float) -> tuple[np.ndarray, np.ndarray]:
    """ISO MTF from the (unwindowed) LSF samples; frequencies in cycles/pixel.

    :func:`physics.measure.mtf.mtf_from_lsf` of the Hamming-windowed LSF on the DFT grid
    ``k / (n bin)`` (no aperture removed, as ISO 12233 defines it), times the 3-tap
    derivative correction.
    """
    n = deriv.size
    peak = np.flatnonzero(deriv == deriv.max()).mean()
    if not np.sum(deriv * _hamming(n, [peak])[0]) > 0:
        raise InputFileError("image: the LSF has zero area; no edge found")
    freq, mtf = mtf_from_lsf(deriv, bin_normal, window=_hamming(n, [peak])[0], oversample=1)
    keep = freq <= MAX_REPORTED_FREQUENCY + 1e-12
    freq, mtf = freq[keep], mtf[keep]
    k = np.arange(freq.size)
    # The 3-tap central difference has transfer sinc(2k/n) (numpy's normalised sinc).
    correction = np.minimum(1.0 / np.abs(np.sinc(2.0 * k / n)), MAX_DERIVATIVE_CORRECTION)
    return freq, mtf * correction


def _fit_gaussian_lsf(position: np.ndarray, lsf: np.ndarray, bin_normal: float,
                      angle_rad: float):
    """Gaussian PSF sigma (px) from a least-squares fit of the measured LSF.

    Returns ``(sigma, extra_var, model)``: ``model(x)`` is the fitted LSF without its
    baseline, at any positions (for the ESF goodness of fit).

    The measured LSF of a Gaussian PSF of sigma ``s`` is that Gaussian convolved
    with the pixel aperture projected on the edge normal (boxes of cos(a) and
    sin(a) px), the 1/4-px bins (box of width h) and the 3-tap central difference
    (box of width 2h). The two wide boxes, cos(a) and 2h, are modelled exactly;
    the narrow ones by their variance (sin(a)**2 + h**2)/12 added to the
    Gaussian's. A constant baseline absorbs a slope of the flat field.
    """
    h = bin_normal
    w1, w2 = math.cos(angle_rad), 2.0 * h
    outer, inner = (w1 + w2) / 2.0, abs(w1 - w2) / 2.0
    extra_var = (math.sin(angle_rad) ** 2 + h**2) / 12.0
    ipk = int(np.argmax(lsf))
    half = lsf[ipk] / 2.0
    lo, hi = ipk, ipk
    while lo > 0 and lsf[lo - 1] >= half:
        lo -= 1
    while hi < lsf.size - 1 and lsf[hi + 1] >= half:
        hi += 1
    s0 = max((hi - lo + 1) * h / FWHM_PER_SIGMA, 0.3)
    # Fit the core: +-6 sigma (at least +-3 px) around the peak.
    window = np.abs(position - position[ipk]) <= max(6.0 * s0, 3.0)
    x, y = position[window], lsf[window]

    def f1(u):  # antiderivative of the normal CDF
        return u * ndtr(u) + np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)

    def shape(p, xs):
        a, mu, log_s, _ = p
        s = math.sqrt(math.exp(2.0 * log_s) + extra_var)
        u = xs - mu
        return a * (f1((u + outer) / s) - f1((u + inner) / s) - f1((u - inner) / s)
                    + f1((u - outer) / s)) * s / (w1 * w2)

    def model(p):
        return shape(p, x) + p[3]

    p0 = [1.0, position[ipk], math.log(max(math.sqrt(max(s0**2 - 1 / 12, 0.0)), 0.1)), 0.0]
    fit = least_squares(lambda p: model(p) - y, p0, method="trf", x_scale="jac",
                        bounds=([-np.inf, -np.inf, math.log(SIGMA_FLOOR_PX), -np.inf], np.inf))
    if not fit.success:
        raise InputFileError(f"image: the Gaussian fit of the LSF did not converge ({fit.message})")
    return math.exp(fit.x[2]), extra_var, lambda xs: shape(fit.x, xs)
