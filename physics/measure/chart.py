"""Line-and-space chart measurement: contrast, peaks and a resolved/not-resolved call.

Layout (``chart.json``, written by the phantom code or by a user for a real chart)::

    {"pixel_size_um": float, "image_shape": [rows, cols],
     "groups": [{"name": str, "line_width_um": float, "n_lines": int,
                 "orientation": "vertical" | "horizontal",
                 "bbox_px": [x0, y0, x1, y1], "bbox_um": [x0, y0, x1, y1],
                 "height_um": float}]}

``orientation = "vertical"``: the lines run along y (rows), so the profile is
taken along x (columns). ``bbox_px``: x = column, x1/y1 exclusive. ``bbox_um``:
world coordinates, origin at the image centre, x along columns, y along rows;
pixel ``i`` of an axis with ``n`` pixels of size ``p`` spans
``[(i - n/2) p, (i + 1 - n/2) p)``. The ``n_lines`` lines (width w) and the
``n_lines - 1`` spaces between them (width w) are centred across the lines in
``bbox_um`` (the phantom writes a ``bbox_um`` exactly (2 n - 1) w wide); the
profile is averaged over the pixels of ``bbox_px``. Optional top-level fields
``material`` and ``thickness_um`` (written by the phantom) are kept as information.

Lines and the resolved criterion (Rayleigh, applied to the line signal)
-----------------------------------------------------------------------
The profile is averaged along the lines over the bbox and extended 1.5
periods beyond it across the lines. "Line signal" ``s`` is the profile's
distance from the background level ``B`` in the lines' direction (lines are
darker than the background in projections, brighter in attenuation slices;
which one is decided by the sign of the profile's correlation with the ideal
pattern). ``B`` is the median of the profile from one line width to 1.5
periods beside the pattern, on the side further from the lines' level (the
other side may hold a neighbouring pattern, as in a USAF 1951 target); where
the image ends on both sides: the background end of the normalisation range of
:func:`physics.measure.noise.normalization_range`.
``sigma`` is the noise of the averaged profile (robust, from differences
along the lines).

**A line** is a local maximum ``p`` of ``s`` inside the pattern that stands out
from the spaces on both sides: its topographic prominence (height above the
higher of the two lowest points that separate it from higher maxima or the
profile's ends, as :func:`scipy.signal.peak_prominences`; of two equal maxima
the right one is taken as the higher) is

* at least ``LINE_PROMINENCE = 0.265`` of the larger of its own line signal
  ``s(p)`` and the group's line signal ``L`` (median of ``s`` at the expected
  line centres, each taken as the largest ``s`` within a quarter period): two
  maxima closer than Rayleigh's dip are one feature, so ripples and bumps on a
  flat bar top (ringing of a sharpened or super-resolved image) are not lines,
  and neither are small ripples in the spaces;
* and, as a noise guard, both the prominence and ``s(p)`` exceed
  ``PEAK_NOISE_SIGMAS = 3`` noise sigmas, so a noise-only group has no lines.
  On a smooth image ``sigma`` is tiny and the relative test alone decides.

A line's position is the midpoint of its extent at half its local prominence
(above the lowest points between it and the neighbouring lines): the middle of
a flat or rippled bar top, whose highest ripple may sit at an edge.
A group is **resolved** when

1. exactly ``n_lines`` lines are centred inside the pattern, one within a
   quarter period of each expected line centre (merged lines give fewer,
   texture between lines more);
2. every dip between two adjacent lines is at least 26.5 % of the smaller of the
   two line signals: ``min(L_i, L_i+1) - S_i >= 0.265 min(L_i, L_i+1)``, with
   ``L_i`` the largest signal within a quarter period of expected line centre
   ``i`` and ``S_i`` the lowest signal between the two. ``min_dip`` (the
   smallest of these dips) is reported for every group whose line signals are
   positive, resolved or not, so it can be averaged over noise draws.

26.5 % is the central dip of two incoherent point images at Rayleigh's
separation (Airy pattern, 0.735 of the peak), so a group is resolved when each
pair of neighbouring lines is at least as separated as Rayleigh's limit. The
same fraction sets what counts as a line, so a maximum that would not be
resolved from its neighbour by Rayleigh's criterion is never counted as a
separate line.

Michelson contrast ``(Imax - Imin) / (Imax + Imin)``: ``Imax`` is the mean of
the profile's maxima and ``Imin`` the mean of its minima over the expected line
and space centres (the extremum within a quarter period of each centre).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.errors import InputFileError, OptionError
from scipy.signal import find_peaks

from physics.imageio import read_json
from physics.measure._common import as_image
from physics.measure.noise import normalization_range

#: Central dip of two incoherent Airy images at Rayleigh's separation (1 - 0.735).
RAYLEIGH_DIP = 0.265
#: A line stands out from the spaces on both sides by this fraction of the larger of its
#: own and the group's line signal: the Rayleigh dip, so maxima Rayleigh would not
#: separate count as one feature.
LINE_PROMINENCE = RAYLEIGH_DIP
#: Noise guard: a line's prominence and signal exceed this many noise sigmas of the
#: averaged profile (assumed: a Gaussian sample exceeds 3 sigma with probability 0.13 %).
PEAK_NOISE_SIGMAS = 3.0
ORIENTATIONS = ("vertical", "horizontal")


@dataclass(frozen=True)
class ChartGroup:
    """One group of equal lines and spaces (see the module docstring for the fields)."""

    name: str
    line_width_um: float
    n_lines: int
    orientation: str
    bbox_px: tuple[int, int, int, int]
    bbox_um: tuple[float, float, float, float]
    height_um: float

    @classmethod
    def from_json(cls, d: dict, *, where: str = "group") -> "ChartGroup":
        if not isinstance(d, dict):
            raise InputFileError(f"{where}: expected an object, got {type(d).__name__}")
        required = ("name", "line_width_um", "n_lines", "orientation", "bbox_px", "bbox_um",
                    "height_um")
        missing = [k for k in required if k not in d]
        if missing:
            raise InputFileError(f"{where}: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(d) - set(required))
        if unknown:
            raise InputFileError(f"{where}: unknown field(s) {', '.join(unknown)}")
        name = d["name"]
        if not isinstance(name, str) or not name:
            raise InputFileError(f"{where}.name: expected a non-empty string, got {name!r}")
        width = _number(d["line_width_um"], f"{where}.line_width_um", positive=True)
        n = d["n_lines"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise InputFileError(f"{where}.n_lines: expected an integer >= 2, got {n!r}")
        orient = d["orientation"]
        if orient not in ORIENTATIONS:
            raise InputFileError(f"{where}.orientation: expected 'vertical' or 'horizontal', "
                             f"got {orient!r}")
        bbox_px = _bbox(d["bbox_px"], f"{where}.bbox_px", integer=True)
        bbox_um = _bbox(d["bbox_um"], f"{where}.bbox_um", integer=False)
        height = _number(d["height_um"], f"{where}.height_um")
        return cls(name, width, n, orient, bbox_px, bbox_um, height)

    def to_json(self) -> dict:
        return {"name": self.name, "line_width_um": self.line_width_um,
                "n_lines": self.n_lines, "orientation": self.orientation,
                "bbox_px": list(self.bbox_px), "bbox_um": list(self.bbox_um),
                "height_um": self.height_um}

    def bbox_px_for(self, image_shape, pixel_size_um: float) -> tuple[int, int, int, int]:
        """The bbox in pixels of an image of another shape/pixel size, from ``bbox_um``.

        The box covers every pixel the group touches (pixel ``i`` spans
        ``[(i - n/2) p, (i + 1 - n/2) p)``), clipped to the image.
        """
        rows, cols = (int(v) for v in image_shape)
        if not (pixel_size_um > 0 and math.isfinite(pixel_size_um)):
            raise OptionError(f"pixel_size_um: must be positive, got {pixel_size_um!r}")
        x0, y0, x1, y1 = self.bbox_um
        tol = 1e-6  # do not grow a box by a pixel for a rounding error
        ix0 = int(math.floor(x0 / pixel_size_um + cols / 2 + tol))
        ix1 = int(math.ceil(x1 / pixel_size_um + cols / 2 - tol))
        iy0 = int(math.floor(y0 / pixel_size_um + rows / 2 + tol))
        iy1 = int(math.ceil(y1 / pixel_size_um + rows / 2 - tol))
        ix0, ix1 = max(ix0, 0), min(max(ix1, ix0 + 1), cols)
        iy0, iy1 = max(iy0, 0), min(max(iy1, iy0 + 1), rows)
        if ix0 >= ix1 or iy0 >= iy1:
            raise OptionError(f"group {self.name!r}: bbox_um {list(self.bbox_um)} lies outside "
                             f"an image of {cols} x {rows} pixels of {pixel_size_um:g} um")
        return ix0, iy0, ix1, iy1


@dataclass(frozen=True)
class ChartLayout:
    """Chart layout: pixel size and shape of the image it was made for, and its groups."""

    pixel_size_um: float
    image_shape: tuple[int, int]
    groups: tuple[ChartGroup, ...]
    material: str | None = None
    thickness_um: float | None = None

    @classmethod
    def from_json(cls, d) -> "ChartLayout":
        """Build from a dict (the parsed ``chart.json``) or a path to it; validates all fields."""
        if not isinstance(d, dict):
            d = read_json(d)
        required = ("pixel_size_um", "image_shape", "groups")
        missing = [k for k in required if k not in d]
        if missing:
            raise InputFileError(f"chart layout: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(d) - set(required) - {"material", "thickness_um"})
        if unknown:
            raise InputFileError(f"chart layout: unknown field(s) {', '.join(unknown)}")
        material = d.get("material")
        if material is not None and (not isinstance(material, str) or not material):
            raise InputFileError(f"material: expected a material name, got {material!r}")
        thickness = d.get("thickness_um")
        if thickness is not None:
            thickness = _number(thickness, "thickness_um", positive=True)
        pixel = _number(d["pixel_size_um"], "pixel_size_um", positive=True)
        shape = d["image_shape"]
        if (not isinstance(shape, (list, tuple)) or len(shape) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                           for v in shape)):
            raise InputFileError(f"image_shape: expected [rows, cols] positive integers, got {shape!r}")
        groups = d["groups"]
        if not isinstance(groups, list) or not groups:
            raise InputFileError(f"groups: expected a non-empty list, got {groups!r}")
        parsed = tuple(ChartGroup.from_json(g, where=f"groups[{i}]")
                       for i, g in enumerate(groups))
        rows, cols = shape
        for i, g in enumerate(parsed):
            x0, y0, x1, y1 = g.bbox_px
            if x0 < 0 or y0 < 0 or x1 > cols or y1 > rows:
                raise InputFileError(f"groups[{i}].bbox_px: {list(g.bbox_px)} lies outside the "
                                 f"image_shape {list(shape)} (x = column, x1/y1 exclusive)")
        return cls(pixel, (rows, cols), parsed, material, thickness)

    def to_json(self) -> dict:
        out = {"pixel_size_um": self.pixel_size_um, "image_shape": list(self.image_shape),
               "groups": [g.to_json() for g in self.groups]}
        if self.material is not None:
            out["material"] = self.material
        if self.thickness_um is not None:
            out["thickness_um"] = self.thickness_um
        return out


@dataclass(frozen=True)
class GroupMeasurement:
    """Measurement of one group (see the module docstring for the definitions).

    ``peaks_found``: lines centred inside the pattern by the line rule (maxima
    that stand out by the Rayleigh fraction of the larger of their own and the
    group's line signal, and by the noise guard); ``peaks_expected``:
    ``n_lines``. ``min_dip``: smallest dip between neighbouring expected lines
    as a fraction of the smaller line signal (above 1 when a space is darker
    than the background beside the pattern; ``None`` when a line signal is not
    positive, e.g. no pattern at all).
    """

    name: str
    line_width_um: float
    contrast: float
    peaks_found: int
    peaks_expected: int
    resolved: bool
    lines_dark: bool
    min_dip: float | None

    def to_json(self) -> dict:
        return {"name": self.name, "line_width_um": self.line_width_um,
                "contrast": self.contrast, "peaks_found": self.peaks_found,
                "peaks_expected": self.peaks_expected, "resolved": self.resolved,
                "lines": "dark" if self.lines_dark else "bright", "min_dip": self.min_dip}


def measure_chart(image, layout: ChartLayout, *, pixel_size_um: float | None = None
                  ) -> list[GroupMeasurement]:
    """Measure every group of ``layout`` in ``image``.

    The layout's ``bbox_px`` is used when the image has the layout's shape and
    pixel size; otherwise (e.g. an enhanced image with half the pixel size) the
    boxes come from ``bbox_um`` and ``pixel_size_um``, which is then required.
    """
    img = as_image(image, name="image")
    same_grid = img.shape == tuple(layout.image_shape) and (
        pixel_size_um is None or math.isclose(pixel_size_um, layout.pixel_size_um,
                                              rel_tol=1e-6))
    if not same_grid and pixel_size_um is None:
        raise OptionError(f"pixel_size_um: the image ({img.shape[0]} x {img.shape[1]}) differs "
                         f"from the layout's image_shape {list(layout.image_shape)}; give the "
                         "image's pixel size to place the groups by bbox_um")
    pixel = layout.pixel_size_um if same_grid else float(pixel_size_um)
    value_range = normalization_range(img)
    out = []
    for g in layout.groups:
        bbox = g.bbox_px if same_grid else g.bbox_px_for(img.shape, pixel)
        out.append(_measure_group(img, g, bbox, pixel, value_range))
    return out


def _measure_group(img, g: ChartGroup, bbox, pixel, value_range) -> GroupMeasurement:
    x0, y0, x1, y1 = bbox
    w = g.line_width_um / pixel                      # line width in px
    period = 2.0 * w
    n = g.n_lines
    # Across the lines the profile reaches 1.5 periods beyond the bbox, so the
    # outer lines can show as extrema and the background beside them is seen.
    margin = int(math.ceil(1.5 * period + 1))
    if g.orientation == "vertical":                 # lines along y: profile along x
        lo_px, hi_px = max(x0 - margin, 0), min(x1 + margin, img.shape[1])
        region, along = img[y0:y1, lo_px:hi_px], 0
        u0, u1, size = g.bbox_um[0], g.bbox_um[2], img.shape[1]
    else:
        lo_px, hi_px = max(y0 - margin, 0), min(y1 + margin, img.shape[0])
        region, along = img[lo_px:hi_px, x0:x1], 1
        u0, u1, size = g.bbox_um[1], g.bbox_um[3], img.shape[0]
    profile = region.mean(axis=along)
    n_avg = region.shape[along]
    # Noise of the averaged profile from differences along the lines (MAD).
    d = np.diff(region, axis=along)
    noise = (1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)
             / math.sqrt(n_avg)) if d.size else 0.0

    x = np.arange(profile.size) + 0.5                # pixel centres, px from the profile start
    # The pattern is centred across the lines in bbox_um (pixel coordinate of a
    # world position u: u / p + size / 2).
    centre = ((u0 + u1) / 2.0) / pixel + size / 2.0 - lo_px
    start = centre - (2 * n - 1) * w / 2.0
    end = start + (2 * n - 1) * w
    line_c = start + w / 2.0 + period * np.arange(n)
    space_c = line_c[:-1] + w

    # Lines dark or bright: sign of the correlation with the ideal pattern.
    ideal = np.zeros_like(profile)
    for c in line_c:
        ideal += np.clip(np.minimum(x + 0.5, c + w / 2) - np.maximum(x - 0.5, c - w / 2), 0, 1)
    corr = float(np.dot(profile - profile.mean(), ideal - ideal.mean()))
    lines_dark = corr < 0
    # Background: profile from one line width to 1.5 periods beside the pattern;
    # where the image ends there, the background end of the normalisation range.
    # Of the two sides, the one further from the lines' level: the other may hold a
    # neighbouring pattern (USAF elements sit one line width apart).
    sides = [profile[(x <= start - w) & (x >= start - 1.5 * period)],
             profile[(x >= end + w) & (x <= end + 1.5 * period)]]
    medians = [float(np.median(v)) for v in sides if v.size]
    if medians:
        background = max(medians) if lines_dark else min(medians)
    else:
        background = value_range[1] if lines_dark else value_range[0]
    signal = (background - profile) if lines_dark else (profile - background)

    def extremum(centres, pick):
        vals = []
        for c in centres:
            sel = np.abs(x - c) <= max(period / 4.0, 0.5)
            vals.append(pick(profile[sel]) if sel.any() else np.interp(c, x, profile))
        return np.array(vals)

    bright_c, dark_c = (space_c, line_c) if lines_dark else (line_c, space_c)
    imax = float(extremum(bright_c, np.max).mean())
    imin = float(extremum(dark_c, np.min).mean())
    if not imax + imin > 0:
        raise InputFileError(f"group {g.name!r}: Michelson contrast needs positive intensities, "
                         f"got Imax {imax:.4g} and Imin {imin:.4g}")
    contrast = (imax - imin) / (imax + imin)

    # Dips between neighbouring expected lines, from the maximum within a quarter
    # period of each line centre; defined whether or not the lines are resolved.
    tops = []
    for c in line_c:
        sel = np.flatnonzero(np.abs(x - c) <= max(period / 4.0, 0.5))
        tops.append(int(sel[np.argmax(signal[sel])]) if sel.size
                    else int(np.argmin(np.abs(x - c))))
    dips = []
    for a, b in zip(tops[:-1], tops[1:]):
        top = float(min(signal[a], signal[b]))
        dips.append((top - float(signal[a:b + 1].min())) / top if top > 0 else None)
    min_dip = None if any(d is None for d in dips) else float(min(dips))

    reference = max(float(np.median(signal[tops])), 0.0)
    centres = find_lines(signal, reference=reference, noise=noise) + 0.5   # x of sample i: i + 0.5
    lines = centres[(centres >= start) & (centres <= end)]
    found = int(lines.size)
    resolved = (found == n and _match(lines, line_c, period / 4.0) is not None
                and min_dip is not None and min_dip >= RAYLEIGH_DIP)
    return GroupMeasurement(name=g.name, line_width_um=g.line_width_um, contrast=float(contrast),
                            peaks_found=found, peaks_expected=n, resolved=bool(resolved),
                            lines_dark=bool(lines_dark), min_dip=min_dip)


def find_lines(signal, *, reference: float = 0.0, noise: float = 0.0,
               line_prominence: float = LINE_PROMINENCE,
               noise_sigmas: float = PEAK_NOISE_SIGMAS) -> np.ndarray:
    """Centres of the lines in a line-signal profile (see the module docstring).

    Parameters
    ----------
    signal : 1D array
        Line signal: distance of the averaged profile from the background, in
        the lines' direction (lines are maxima).
    reference : float
        The group's line signal (median signal at the expected line centres);
        a maximum must stand out by ``line_prominence`` of the larger of its own
        signal and this, so ripples in the spaces are not lines either.
    noise : float
        Noise sigma of ``signal`` (0 for none).
    line_prominence : float
        Minimum prominence as a fraction of ``max(own signal, reference)``.
    noise_sigmas : float
        Minimum prominence and signal in units of ``noise``.

    Returns
    -------
    ndarray of float
        Increasing centres of the lines in sample indices: the midpoint of each
        line's extent at half its local prominence (above the lowest points
        between it and its neighbouring lines), i.e. the middle of a flat or
        rippled bar top, or the maximum of a symmetric peak.
    """
    s = np.asarray(signal, dtype=float)
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError("signal: expected a finite 1D profile")
    if not (0.0 < line_prominence < 1.0):
        raise ValueError(f"line_prominence: expected a fraction in (0, 1), got {line_prominence!r}")
    if not (noise >= 0.0 and math.isfinite(noise)):
        raise ValueError(f"noise: expected a finite sigma >= 0, got {noise!r}")
    floor = noise_sigmas * noise
    # Every local maximum (plateaus count once, at their middle) with its prominence.
    peaks, _ = find_peaks(s)
    prom = _prominences(s, peaks)
    height = s[peaks]
    keep = ((height > 0.0) & (prom >= line_prominence * np.maximum(height, reference))
            & (prom > floor) & (height > floor))
    return _line_centres(s, peaks[keep])


def _line_centres(s: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Centre of each line: midpoint of its extent at half its local prominence.

    A line's stretch is bounded by the lowest points between it and the
    neighbouring lines; its local base is the higher of the lowest points on
    either side within that stretch, and its extent is where ``s`` stays above
    halfway between base and peak (linear interpolation at the ends).
    """
    out = np.empty(peaks.size)
    bounds = [0] + [int(a + np.argmin(s[a:b + 1])) for a, b in zip(peaks[:-1], peaks[1:])] \
        + [s.size - 1]
    for k, p in enumerate(peaks):
        first, last = bounds[k], bounds[k + 1]
        level = 0.5 * (s[p] + max(s[first:p + 1].min(), s[p:last + 1].min()))
        lo = p
        while lo > first and s[lo - 1] >= level:
            lo -= 1
        hi = p
        while hi < last and s[hi + 1] >= level:
            hi += 1
        left = lo - (s[lo] - level) / (s[lo] - s[lo - 1]) if lo > first else float(lo)
        right = hi + (s[hi] - level) / (s[hi] - s[hi + 1]) if hi < last else float(hi)
        out[k] = 0.5 * (left + right)
    return out


def _prominences(s: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Topographic prominence of each peak, ties broken towards the right.

    As :func:`scipy.signal.peak_prominences`, except that on its right a peak's
    search also stops at a sample *equal* to its height: of two equal maxima
    separated by a shallow dip (e.g. a split bar top) only one stands out from
    the dip, so the pair counts as one feature, as it does when they differ.
    """
    out = np.empty(peaks.size)
    n = s.size
    for k, p in enumerate(peaks):
        h = s[p]
        lo, hi = p, p
        while lo > 0 and s[lo - 1] == h:          # the peak's own plateau
            lo -= 1
        while hi < n - 1 and s[hi + 1] == h:
            hi += 1
        left = s[:lo][::-1]
        stop = np.flatnonzero(left > h)
        left_min = left[:stop[0] if stop.size else left.size].min(initial=h)
        right = s[hi + 1:]
        stop = np.flatnonzero(right >= h)
        right_min = right[:stop[0] if stop.size else right.size].min(initial=h)
        out[k] = h - max(left_min, right_min)
    return out


def _match(positions, centres, tol):
    """Index of the peak near each expected centre, or None if any centre has none."""
    if positions.size == 0:
        return None
    out = []
    for c in centres:
        i = int(np.argmin(np.abs(positions - c)))
        if abs(positions[i] - c) > tol:
            return None
        out.append(i)
    return out if len(set(out)) == len(out) else None


def _number(v, key, *, positive=False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputFileError(f"{key}: expected a finite number, got {v!r}")
    if positive and not v > 0:
        raise InputFileError(f"{key}: must be > 0, got {v!r}")
    return float(v)


def _bbox(v, key, *, integer: bool):
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        raise InputFileError(f"{key}: expected [x0, y0, x1, y1], got {v!r}")
    for c in v:
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
            raise InputFileError(f"{key}: expected 4 numbers, got {v!r}")
        if integer and not float(c).is_integer():
            raise InputFileError(f"{key}: pixel coordinates must be integers, got {v!r}")
    x0, y0, x1, y1 = (int(c) for c in v) if integer else (float(c) for c in v)
    if not (x0 < x1 and y0 < y1):
        raise InputFileError(f"{key}: need x0 < x1 and y0 < y1, got {v!r}")
    return (x0, y0, x1, y1)
