"""Test objects as antialiased absorber-thickness maps (um) on a pixel grid.

Every map has shape ``(rows, cols)``; pixel ``(i, j)`` covers
``x in [(j - cols/2) p, (j + 1 - cols/2) p]`` and likewise ``y`` with rows, so
the image centre is the world origin (the detector convention of
``physics.projection``). Values are mean absorber thickness over the pixel:
pixel sum x pixel area = absorber volume. Maps are ``jax.numpy`` float32
arrays; random phantoms take an explicit ``jax.random`` key and are
deterministic in it.

Antialiasing: rectangles (line-pair charts) and half-planes (edges) use exact
area coverage; the Siemens star and the random microstructures are
supersampled (``supersample**2`` sub-samples per pixel; star edges also get a
linear coverage ramp over one sub-sample).

Chart defaults (JIMA RT RC-style). The group structure (equal lines and
spaces, widths 0.4-15 um; the 0.4 um group of a JIMA chart has six lines per
Yxlon, "The phenomenon of fake resolution", 2023,
https://yxlon.comet.tech/en/blog/jima-fake-resolution) is public, but no
datasheet for the RC-04 absorber was found (search of stored pages/docs for
"JIMA RT RC-04 resolution chart gold thickness", June 2025). The default
absorber is therefore **assumed**: 1.0 um of tungsten, because comparable
micro-fabricated X-ray resolution targets use 1-2.5 um heavy-metal patterns
(e.g. 1-2.5 um Au on SiN, https://www.alcorix.com/resolution-targets.html)
and W and Au (both 19.3 g/cm^3) attenuate alike at 10-50 keV (xraylib:
1 um W transmits 0.957 at 30 keV, 1 um Au 0.948). Pass ``material``/
``thickness_um`` for a chart you know.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from physics.projection import Layer, LayeredObject
from physics.units import to_float

__all__ = [
    "CHART_MATERIAL",
    "CHART_THICKNESS_UM",
    "EDGE_THICKNESS_UM",
    "line_pair_chart",
    "slanted_edge",
    "edge_coverage",
    "siemens_star",
    "random_microstructure",
    "chart_stack_3d",
]

#: Assumed JIMA-style chart absorber (see the module docstring).
CHART_MATERIAL = "W"
CHART_THICKNESS_UM = 1.0
#: Tungsten edge thickness: 500 um W transmits exp(-5.74) = 0.32 % at 50 keV,
#: the most penetrating photon of a 50 kVp spectrum, and 3.4e-5 at 40 keV
#: (xraylib CS_Total x 19.3 g/cm^3), so the edge is opaque for the whole
#: spectrum; 100 um would still pass 13 % at 40 keV.
EDGE_THICKNESS_UM = 500.0

ORIENTATIONS = ("vertical", "horizontal")


# -- validation ----------------------------------------------------------------------------
def _pos(value, key: str) -> float:
    """A positive finite length in um (plain number, or a quantity/string like "0.5 um")."""
    return to_float(value, "um", key=key, min_value=0.0, inclusive_min=False, allow_bare=True)


def _shape(shape, key: str = "shape") -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
        ok = rows >= 1 and cols >= 1 and (rows, cols) == tuple(shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{key}: expected (rows, cols) positive integers, got {shape!r}")
    return rows, cols


def _supersample(value) -> int:
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"supersample: {value!r} must be a positive integer")
    return value


# -- grids and coverage --------------------------------------------------------------------
def _centres(n: int, p: float, supersample: int = 1) -> jnp.ndarray:
    """Sub-sample centres (um) along one axis, pixel-major."""
    sub = (jnp.arange(supersample) - (supersample - 1) / 2) / supersample
    return ((jnp.arange(n)[:, None] - (n - 1) / 2 + sub[None, :]) * p).reshape(-1)


def _interval_overlap(lo, hi, n: int, p):
    """Fraction of each pixel (along one axis) inside ``[lo, hi]``; lo/hi shape (k,)."""
    e = (jnp.arange(n + 1) - n / 2) * p
    ov = jnp.minimum(hi[:, None], e[None, 1:]) - jnp.maximum(lo[:, None], e[None, :-1])
    return jnp.clip(ov / p, 0.0, 1.0)


@partial(jax.jit, static_argnums=(1, 2))
def _rectangles(r, rows: int, cols: int, p):
    """Exact pixel coverage of a union of disjoint axis-aligned rectangles [x0, y0, x1, y1]."""
    ox = _interval_overlap(r[:, 0], r[:, 2], cols, p)
    oy = _interval_overlap(r[:, 1], r[:, 3], rows, p)
    return oy.T @ ox


def _downsample(fine, supersample: int, rows: int, cols: int):
    return fine.reshape(rows, supersample, cols, supersample).mean(axis=(1, 3))


def _box_sum_cdf(s, a, b):
    """CDF at ``s`` of U(-a/2, a/2) + U(-b/2, b/2): exact half-plane pixel coverage."""
    big, small = jnp.maximum(a, b), jnp.maximum(jnp.minimum(a, b), 1e-6 * (a + b))
    half = (big + small) / 2
    lower = (s + half) ** 2 / (2 * big * small)
    middle = (s + big / 2) / big
    upper = 1.0 - (half - s) ** 2 / (2 * big * small)
    cdf = jnp.where(s <= -(big - small) / 2, lower, jnp.where(s < (big - small) / 2, middle, upper))
    return jnp.clip(jnp.where(s <= -half, 0.0, jnp.where(s >= half, 1.0, cdf)), 0.0, 1.0)


# -- line-pair chart -----------------------------------------------------------------------
def line_pair_chart(*, line_widths_um=(1.0, 2.0, 3.0), n_lines=5, pixel_size_um, shape=None,
                    orientations=ORIENTATIONS, thickness_um=CHART_THICKNESS_UM,
                    material=CHART_MATERIAL, line_length_um=None, gap_um=None, height_um=0.0):
    """JIMA-RC-style chart: groups of equal lines and spaces.

    Parameters
    ----------
    line_widths_um : sequence of float
        Line (= space) width of each group, 0.4-15 um; the period is twice it.
    n_lines : int
        Lines per group (JIMA groups have 5-6; the extent across the lines is
        ``(2 n_lines - 1) * width``).
    pixel_size_um : float
        Pixel size of the map.
    shape : (rows, cols), optional
        Map shape; default: just large enough (groups plus gaps and margins).
    orientations : sequence of {"vertical", "horizontal"}
        One group per width and orientation. "vertical": lines run along y,
        the profile is taken along x.
    thickness_um : float
        Absorber thickness (default: assumed 1 um, module docstring).
    material : str
        Absorber material name (default: assumed "W").
    line_length_um : float, optional
        Length of the lines; default twice the group extent.
    gap_um : float, optional
        Clear space between groups and to the border; default
        ``max(2 * max(width), 10 * pixel)``.
    height_um : float
        Height of the chart above the scintillator, written into the layout.

    Returns
    -------
    thickness_map : jnp.ndarray, shape (rows, cols)
        Absorber thickness in um (exact area coverage).
    layout : dict
        ``{"pixel_size_um", "image_shape": [rows, cols], "groups": [{"name",
        "line_width_um", "n_lines", "orientation", "bbox_px": [x0, y0, x1, y1]
        (x = column, x1/y1 exclusive), "bbox_um": [x0, y0, x1, y1] (world, um,
        origin at the image centre), "height_um"}], "material", "thickness_um"}``.
        Group left/top edges sit on pixel boundaries, so ``bbox_px`` starts
        exactly at the group and ends at the pixel holding its far edge.
    """
    p = _pos(pixel_size_um, "pixel_size_um")
    widths = [_pos(w, "line_widths_um") for w in np.atleast_1d(line_widths_um)]
    for w in widths:
        if not 0.4 - 1e-9 <= w <= 15.0 + 1e-9:
            raise ValueError(f"line_widths_um: {w:g} um is outside the supported 0.4-15 um")
    if not (isinstance(n_lines, (int, np.integer)) and n_lines >= 2):
        raise ValueError(f"n_lines: {n_lines!r} must be an integer >= 2")
    orientations = tuple(orientations)
    if not orientations or any(o not in ORIENTATIONS for o in orientations):
        raise ValueError(f"orientations: {orientations!r} must be a non-empty subset of {ORIENTATIONS}")
    thickness = _pos(thickness_um, "thickness_um")
    if not isinstance(material, str) or not material:
        raise ValueError(f"material: {material!r} must be a material name")
    height = float(height_um)
    if not (math.isfinite(height) and height >= 0):
        raise ValueError(f"height_um: {height_um!r} must be finite and >= 0")
    gap = _pos(gap_um, "gap_um") if gap_um is not None else max(2 * max(widths), 10 * p)
    gap_px = int(math.ceil(gap / p))

    # group footprints (um): across-line extent and line length
    groups = []
    for w in widths:
        extent = (2 * n_lines - 1) * w
        length = _pos(line_length_um, "line_length_um") if line_length_um is not None else 2 * extent
        for o in orientations:
            size = (extent, length) if o == "vertical" else (length, extent)  # (x, y)
            groups.append(dict(w=w, o=o, size=size))
    # grid: one column per width, one row per orientation; cells in whole pixels
    n_col, n_row = len(widths), len(orientations)
    cell_w = [max(int(math.ceil(g["size"][0] / p)) for g in groups[c * n_row:(c + 1) * n_row])
              for c in range(n_col)]
    cell_h = [max(int(math.ceil(groups[c * n_row + r]["size"][1] / p)) for c in range(n_col))
              for r in range(n_row)]
    need = (sum(cell_h) + gap_px * (n_row + 1), sum(cell_w) + gap_px * (n_col + 1))
    rows, cols = _shape(shape) if shape is not None else need
    if rows < need[0] or cols < need[1]:
        raise ValueError(f"shape: {shape!r} is too small for the chart; need at least {list(need)} "
                         f"(rows, cols) at {p:g} um pixels")
    off_y, off_x = (rows - need[0]) // 2, (cols - need[1]) // 2

    rects, layout_groups = [], []
    for idx, g in enumerate(groups):
        c, r = divmod(idx, n_row)
        x0_px = off_x + gap_px * (c + 1) + sum(cell_w[:c])
        y0_px = off_y + gap_px * (r + 1) + sum(cell_h[:r])
        x0, y0 = (x0_px - cols / 2) * p, (y0_px - rows / 2) * p
        w, (sx, sy) = g["w"], g["size"]
        for k in range(n_lines):
            a = 2 * k * w
            rects.append([x0 + a, y0, x0 + a + w, y0 + sy] if g["o"] == "vertical"
                         else [x0, y0 + a, x0 + sx, y0 + a + w])
        layout_groups.append({
            "name": f"{w:g}um_{g['o']}",
            "line_width_um": w,
            "n_lines": int(n_lines),
            "orientation": g["o"],
            "bbox_px": [x0_px, y0_px, x0_px + int(math.ceil(sx / p - 1e-9)),
                        y0_px + int(math.ceil(sy / p - 1e-9))],
            "bbox_um": [x0, y0, x0 + sx, y0 + sy],
            "height_um": height,
        })
    tmap = thickness * _rectangles(jnp.asarray(rects, jnp.float32), rows, cols, p)
    layout = {"pixel_size_um": p, "image_shape": [rows, cols], "groups": layout_groups,
              "material": material, "thickness_um": thickness}
    return tmap, layout


# -- slanted edge --------------------------------------------------------------------------
def slanted_edge(*, angle_deg=5.0, pixel_size_um, shape, thickness_um=EDGE_THICKNESS_UM,
                 material="W", offset_um=0.0):
    """A straight absorber edge, tilted for slanted-edge (ISO 12233) analysis.

    The absorber fills the half-plane ``x cos(a) + y sin(a) > offset_um``:
    ``angle_deg = 5`` gives a near-vertical edge (absorber on the +x side)
    tilted by 5 degrees; ``angle_deg = 95`` a near-horizontal one.

    Parameters
    ----------
    angle_deg : float
        Direction of the edge normal from +x, degrees.
    pixel_size_um : float
    shape : (rows, cols)
    thickness_um : float
        Default 500 um W: opaque at 50 kVp (see ``EDGE_THICKNESS_UM``).
    material : str
        Returned for the caller; the map holds thickness only.
    offset_um : float
        Signed distance of the edge from the image centre.

    Returns
    -------
    thickness_map : jnp.ndarray, shape (rows, cols)
        Exact area coverage times ``thickness_um``.
    material : str
    """
    p = _pos(pixel_size_um, "pixel_size_um")
    rows, cols = _shape(shape)
    t = _pos(thickness_um, "thickness_um")
    a = math.radians(float(angle_deg))
    if not math.isfinite(a):
        raise ValueError(f"angle_deg: {angle_deg!r} must be finite")
    return t * _edge_coverage(p, a, float(offset_um), rows, cols), material


def edge_coverage(angle_rad, offset_um, *, pixel_size_um: float, shape):
    """Exact area coverage of the half-plane ``x cos(a) + y sin(a) > offset_um`` (0..1).

    The map of :func:`slanted_edge` without its thickness, traceable in ``angle_rad``
    and ``offset_um`` (calibration fits the edge position and angle as nuisance
    parameters by gradient).
    """
    rows, cols = _shape(shape)
    return _edge_coverage(_pos(pixel_size_um, "pixel_size_um"), angle_rad, offset_um, rows, cols)


@partial(jax.jit, static_argnums=(3, 4))
def _edge_coverage(p, a, offset, rows, cols):
    x = _centres(cols, p)[None, :]
    y = _centres(rows, p)[:, None]
    d = x * jnp.cos(a) + y * jnp.sin(a) - offset
    return _box_sum_cdf(d, p * jnp.abs(jnp.cos(a)), p * jnp.abs(jnp.sin(a))).astype(jnp.float32)


# -- Siemens star --------------------------------------------------------------------------
def siemens_star(*, n_spokes=36, pixel_size_um, shape, thickness_um=CHART_THICKNESS_UM,
                 radius_um=None, supersample=4, material=CHART_MATERIAL):
    """Siemens star: ``n_spokes`` absorbing wedges (half duty cycle) in a disc.

    Absorber where ``sin(n_spokes * phi) > 0`` and ``r < radius_um``; the
    spatial period at radius ``r`` is ``2 pi r / n_spokes``.

    Parameters
    ----------
    n_spokes : int
    pixel_size_um : float
    shape : (rows, cols)
    thickness_um : float
        Default: the assumed chart absorber (1 um W).
    radius_um : float, optional
        Default: 45 % of the smaller image side.
    supersample : int
        Sub-samples per pixel and axis.
    material : str

    Returns
    -------
    thickness_map : jnp.ndarray, shape (rows, cols)
    material : str
    """
    p = _pos(pixel_size_um, "pixel_size_um")
    rows, cols = _shape(shape)
    t = _pos(thickness_um, "thickness_um")
    ss = _supersample(supersample)
    if not (isinstance(n_spokes, (int, np.integer)) and n_spokes >= 2):
        raise ValueError(f"n_spokes: {n_spokes!r} must be an integer >= 2")
    radius = _pos(radius_um, "radius_um") if radius_um is not None else 0.45 * min(rows, cols) * p
    return t * _star_coverage(p, radius, int(n_spokes), rows, cols, ss), material


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _star_coverage(p, radius, n_spokes, rows, cols, ss):
    sub = p / ss
    x = _centres(cols, p, ss)[None, :]
    y = _centres(rows, p, ss)[:, None]
    r = jnp.hypot(x, y)
    phi = jnp.arctan2(y, x)
    # signed angular distance to the nearest spoke boundary (> 0 inside a spoke)
    delta = jnp.arcsin(jnp.clip(jnp.sin(n_spokes * phi), -1.0, 1.0)) / n_spokes
    in_spoke = jnp.clip(0.5 + r * jnp.sin(delta) / sub, 0.0, 1.0)
    in_disc = jnp.clip(0.5 + (radius - r) / sub, 0.0, 1.0)
    return _downsample(jnp.minimum(in_spoke, in_disc), ss, rows, cols)


# -- random microstructure -----------------------------------------------------------------
MICRO_KINDS = ("cells", "pores", "fibres")


def random_microstructure(key, *, shape, pixel_size_um, kind="cells", n_features=40,
                          radius_range_um=(1.0, 4.0), fibre_length_range_um=(10.0, 60.0),
                          matrix_thickness_um=10.0, supersample=4):
    """Random cell-like blobs, pores in a matrix, or fibres, as a thickness map.

    Features are solids and the map holds their projected thickness along z:

    - "cells": ellipsoids with in-plane semi-axes drawn from
      ``radius_range_um``, a random in-plane orientation and z semi-axis
      ``sqrt(a b)``; thickness ``2 c sqrt(1 - rho^2)``.
    - "pores": spherical pores (radius <= matrix/2) in a slab of
      ``matrix_thickness_um``; thickness = slab minus pore chords, >= 0.
    - "fibres": cylinders lying in the plane (radius from
      ``radius_range_um``, length from ``fibre_length_range_um``, random
      direction) with hemispherical ends; thickness ``2 sqrt(r^2 - d^2)``.

    Overlapping features add (cells, fibres) or remove (pores) thickness.
    Feature centres keep one maximal radius (cells, pores) or half a length
    (fibres) away from the border, so no feature is cut by it.

    Parameters
    ----------
    key : jax.random.PRNGKey
        The map is a deterministic function of the key and the options.
    shape : (rows, cols)
    pixel_size_um : float
    kind : {"cells", "pores", "fibres"}
    n_features : int
    radius_range_um : (float, float)
    fibre_length_range_um : (float, float)
    matrix_thickness_um : float
        "pores" only.
    supersample : int

    Returns
    -------
    jnp.ndarray, shape (rows, cols)
        Thickness in um.
    """
    p = _pos(pixel_size_um, "pixel_size_um")
    rows, cols = _shape(shape)
    ss = _supersample(supersample)
    if kind not in MICRO_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {MICRO_KINDS}")
    if not (isinstance(n_features, (int, np.integer)) and n_features >= 0):
        raise ValueError(f"n_features: {n_features!r} must be a non-negative integer")
    r_lo, r_hi = (_pos(v, "radius_range_um") for v in radius_range_um)
    l_lo, l_hi = (_pos(v, "fibre_length_range_um") for v in fibre_length_range_um)
    if r_lo > r_hi or l_lo > l_hi:
        raise ValueError("radius_range_um / fibre_length_range_um: ranges must be (low, high) with low <= high")
    matrix = _pos(matrix_thickness_um, "matrix_thickness_um")
    if kind == "pores" and 2 * r_hi > matrix:
        raise ValueError(f"radius_range_um: pores of radius {r_hi:g} um do not fit in a "
                         f"{matrix:g} um matrix (need radius <= matrix/2)")
    reach = r_hi if kind != "fibres" else l_hi / 2 + r_hi
    half_w, half_h = cols * p / 2 - reach, rows * p / 2 - reach
    if half_w <= 0 or half_h <= 0:
        raise ValueError(f"shape: {shape!r} at {p:g} um is too small for features reaching {reach:g} um")

    return _render_features(key, jnp.array([half_w, half_h, r_lo, r_hi, l_lo, l_hi, matrix, p]),
                            kind, int(n_features), rows, cols, ss)


@partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _render_features(key, params, kind, n, rows, cols, ss):
    half_w, half_h, r_lo, r_hi, l_lo, l_hi, matrix, p = (params[i] for i in range(8))
    k_pos, k_rad, k_rad2, k_ang, k_len = jax.random.split(key, 5)
    centres = jax.random.uniform(k_pos, (n, 2), minval=-1.0, maxval=1.0) * jnp.stack([half_w, half_h])
    ra = jax.random.uniform(k_rad, (n,), minval=r_lo, maxval=r_hi)
    rb = jax.random.uniform(k_rad2, (n,), minval=r_lo, maxval=r_hi)
    ang = jax.random.uniform(k_ang, (n,), minval=0.0, maxval=jnp.pi)
    length = jax.random.uniform(k_len, (n,), minval=l_lo, maxval=l_hi)

    x = _centres(cols, p, ss)[None, :]
    y = _centres(rows, p, ss)[:, None]

    def feature(i):
        cx, cy = centres[i, 0], centres[i, 1]
        c, s = jnp.cos(ang[i]), jnp.sin(ang[i])
        u = (x - cx) * c + (y - cy) * s
        v = -(x - cx) * s + (y - cy) * c
        if kind == "cells":
            rho2 = (u / ra[i]) ** 2 + (v / rb[i]) ** 2
            return 2.0 * jnp.sqrt(ra[i] * rb[i]) * jnp.sqrt(jnp.clip(1.0 - rho2, 0.0, None))
        if kind == "pores":
            return 2.0 * jnp.sqrt(jnp.clip(ra[i] ** 2 - u**2 - v**2, 0.0, None))
        along = jnp.clip(u, -length[i] / 2, length[i] / 2)
        d2 = (u - along) ** 2 + v**2
        return 2.0 * jnp.sqrt(jnp.clip(ra[i] ** 2 - d2, 0.0, None))

    fine = jax.lax.fori_loop(0, n, lambda i, acc: acc + feature(i),
                             jnp.zeros((rows * ss, cols * ss), jnp.float32))
    if kind == "pores":
        fine = jnp.clip(matrix - fine, 0.0, None)
    return _downsample(fine, ss, rows, cols)


# -- 3D chart stack for tomosynthesis ------------------------------------------------------
def chart_stack_3d(key, *, pixel_size_um, shape, chart_height_um=200.0,
                   line_widths_um=(1.0, 2.0, 3.0), n_lines=5,
                   chart_thickness_um=CHART_THICKNESS_UM, material=CHART_MATERIAL,
                   clutter_heights_um=(50.0, 400.0), clutter_kinds=("fibres", "cells"),
                   clutter_features=20, clutter_radius_range_um=(0.5, 2.0)):
    """A layered 3D phantom: a line-pair chart at one height, clutter at others.

    Default heights are assumed (the paper gives none): the chart 200 um above
    the scintillator, random fibres 50 um and cells 400 um above it, all of
    the chart material, so that out-of-plane clutter of chart-like contrast
    overlaps the chart in every view and tomosynthesis has to separate it.

    Parameters
    ----------
    key : jax.random.PRNGKey
        Drives the clutter (one split key per clutter layer).
    pixel_size_um : float
        Pixel of every layer (and of the layout).
    shape : (rows, cols)
        Shape of every layer; the chart is centred in it.
    chart_height_um : float
    line_widths_um, n_lines, chart_thickness_um, material
        As in :func:`line_pair_chart`.
    clutter_heights_um : sequence of float
    clutter_kinds : sequence of str
        One :func:`random_microstructure` kind per clutter height.
    clutter_features : int
        Features per clutter layer.
    clutter_radius_range_um : (float, float)

    Returns
    -------
    obj : physics.projection.LayeredObject
        Materials ``(material,)``; layers sorted by height.
    layout : dict
        The chart layout (schema of :func:`line_pair_chart`) with
        ``height_um = chart_height_um`` for every group.
    """
    heights = tuple(float(h) for h in clutter_heights_um)
    kinds = tuple(clutter_kinds)
    if len(heights) != len(kinds):
        raise ValueError(f"clutter_kinds: {kinds!r} must name one kind per clutter height {heights!r}")
    for h in heights + (float(chart_height_um),):
        if not (math.isfinite(h) and h >= 0):
            raise ValueError(f"chart_height_um / clutter_heights_um: {h!r} must be finite and >= 0")
    chart, layout = line_pair_chart(line_widths_um=line_widths_um, n_lines=n_lines,
                                    pixel_size_um=pixel_size_um, shape=shape,
                                    thickness_um=chart_thickness_um, material=material,
                                    height_um=chart_height_um)
    layers = [Layer(float(chart_height_um), chart[None], layout["pixel_size_um"])]
    keys = jax.random.split(key, max(len(heights), 1))
    for k, h, kind in zip(keys, heights, kinds):
        t = random_microstructure(k, shape=shape, pixel_size_um=pixel_size_um, kind=kind,
                                  n_features=clutter_features, radius_range_um=clutter_radius_range_um,
                                  supersample=2)
        layers.append(Layer(h, t[None], layout["pixel_size_um"]))
    layers.sort(key=lambda layer: layer.height_um)
    return LayeredObject((material,), tuple(layers)), layout
