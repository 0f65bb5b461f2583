"""Filtered back projection for every geometry kind: parallel, full-scan fan/cone, tomosynthesis.

All three share one pipeline: weight each projection, filter its rows with
:func:`recon.filters.fbp_filter` (a Ram-Lak ramp on the sampling of the plane through
the rotation axis), and back-project by *interpolation* (each voxel centre is projected
onto each detector and the filtered projection is read there, linearly interpolated),
times the view's angular weight. An interpolating back projection needs no
normalisation, so nothing is computed per call beyond the filter and one pass.

* **Parallel beam** (``parallel``, ``parallel3d`` and their ``_vec`` forms; Kak & Slaney
  1988, eq. 3.40 and 3.61): ``f(x) = sum_k w_k q_k(x . theta_k)``, with ``w_k`` the
  angular weights of the actual ray directions modulo pi.
* **Fan / cone beam over a full circle** (FDK, Feldkamp et al. 1984; Kak & Slaney eq.
  3.156): projections are cosine-weighted, filtered on the virtual detector through the
  rotation axis (pitch ``pixel * SO / SD``) and back-projected with the distance weight
  ``(SO / L)^2``, ``L`` the voxel's depth along the detector normal; the angular weights
  of the source angles modulo 2 pi carry a factor 1/2 (each ray is measured twice).
  Short scans (they need Parker weights) are refused.
* **Tomosynthesis** (cone beam, fixed detector, limited arc): the per-view parallel-beam
  approximation, each view divided by the cosine of its obliquity, filtered on the
  object-plane sampling (pixel / magnification), optionally with the slice-thickness
  window.

Angular weights are half the angle between each view's neighbours (sorted), wrapping
around the period unless the views leave a gap of more than 3x their median step and
1/18 of the period (a limited scan, whose end views get their one neighbouring step). Evenly spaced views over
the full period all get ``period / n``; uneven spacing is weighted as measured.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from recon.filters import fbp_filter
from recon.geometry import Geometry

#: A scan is closed (wraps around its period) unless its largest angular gap exceeds both
#: this many times its median step and :data:`GAP_FRACTION` of the period (assumed: random
#: angles leave gaps of a few median steps; a missing wedge is tens of degrees).
GAP_FACTOR = 3.0
GAP_FRACTION = 1 / 18


def angular_weights(phi, period):
    """Angular weight of each view from its angle ``phi`` (radians) modulo ``period``.

    Returns ``(weights, closed)``: half the gap between each view's sorted neighbours;
    ``closed`` tells whether the scan wraps around (see the module notes).
    """
    phi = np.mod(np.asarray(phi, dtype=float), period)
    n = phi.size
    if n < 2:
        raise ValueError("projections: fbp needs at least 2 views (the angular step is undefined)")
    order = np.argsort(phi, kind="stable")
    sp = phi[order]
    gaps = np.diff(np.concatenate([sp, sp[:1] + period]))  # gap after each sorted view
    median = np.median(gaps[:-1]) if n > 2 else gaps[0]
    closed = bool(gaps.max() <= max(GAP_FACTOR * median, GAP_FRACTION * period))
    if not closed:  # open the scan at its largest gap, so its ends are the first and last view
        cut = int(np.argmax(gaps))
        order = np.roll(order, -(cut + 1))
        sp = np.unwrap(phi[order], period=period)
        inner = np.diff(sp)
        w = np.empty(n)
        w[1:-1] = (inner[:-1] + inner[1:]) / 2
        w[0], w[-1] = inner[0], inner[-1]
    else:
        w = (gaps + np.roll(gaps, 1)) / 2
    out = np.empty(n)
    out[order] = w
    return out, closed


def _plane_basis(directions):
    """Unit axis least spanned by ``directions`` and two unit vectors spanning its normal plane."""
    _, _, vt = np.linalg.svd(np.asarray(directions, dtype=float))
    return vt[2], vt[0], vt[1]


def _frames(geometry: Geometry):
    first = geometry._xyz([0, 1, 2] if geometry.ndim == 3 else [0, 1])
    u, v = geometry.detector_vectors_um
    normal = np.cross(u, v)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return first, geometry.detector_centres_um, u, v, normal


def _closest_point(points, directions):
    """Least-squares point nearest to the lines ``points + t directions``."""
    d = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    proj = np.eye(3)[None] - d[:, :, None] * d[:, None, :]
    return np.linalg.lstsq(proj.sum(0), np.einsum("kij,kj->i", proj, points), rcond=None)[0]


def _plan_fbp(geometry: Geometry):
    """Per-view weights, pre-weights and filter sampling for the geometry's kind."""
    first, det, u, v, normal = _frames(geometry)
    n = geometry.n_views
    ones = np.ones(n)
    if geometry.parallel:
        ray = first / np.linalg.norm(first, axis=1, keepdims=True)
        axis, e1, e2 = ((np.array([0.0, 1.0, 0.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
                        if geometry.ndim == 2 else _plane_basis(ray))
        if np.max(np.abs(ray @ axis)) > 1e-6:
            raise ValueError("geometry: fbp needs parallel rays in one plane (a circular scan); "
                             "use sirt, sart or cgls for this geometry")
        w, _ = angular_weights(np.arctan2(ray @ e2, ray @ e1), math.pi)
        # filter pitch: the detector column step seen across the rays
        along = np.linalg.norm(u - (u * ray).sum(1, keepdims=True) * ray, axis=1)
        return {"kind": "parallel", "weights": w, "tau": float(np.mean(along)), "pre": None,
                "so": ones, "arc_deg": 180.0}
    src = first
    fixed = bool(np.all(det == det[0]) and np.all(u == u[0]) and np.all(v == v[0]))
    sd = np.abs(((det - src) * normal).sum(1))  # source to detector plane, along the normal
    if fixed:
        centre = np.array([np.mean(wd) for wd in geometry.vol_window][::-1])
        if geometry.ndim == 2:
            centre = np.array([centre[0], 0.0, centre[1]])
        ray = centre - src
        depth = np.abs((ray * normal).sum(1))
        cos = depth / np.linalg.norm(ray, axis=1)
        u_hat = u[0] / np.linalg.norm(u[0])
        w, _ = angular_weights(np.arctan2((-ray) @ u_hat, (-ray) @ normal[0]), 2 * math.pi)
        mag = sd / depth
        arc = float(np.degrees(np.ptp(np.unwrap(np.arctan2((-ray) @ u_hat, (-ray) @ normal[0])))))
        tau = float(np.linalg.norm(u[0]) / np.mean(mag))
        return {"kind": "tomosynthesis", "weights": w / cos, "tau": tau, "pre": None, "so": ones,
                "arc_deg": arc}
    centre = _closest_point(src, normal)
    rel = src - centre
    axis, e1, e2 = ((np.array([0.0, 1.0, 0.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
                    if geometry.ndim == 2 else _plane_basis(rel))
    w, closed = angular_weights(np.arctan2(rel @ e2, rel @ e1), 2 * math.pi)
    if not closed:
        raise ValueError("geometry: fbp for fan/cone beams needs a full circular scan (short scans "
                         "need Parker weights, not implemented); use sirt, sart or cgls")
    so = np.abs(((centre - src) * normal).sum(1))  # source to rotation axis, along the normal
    tau = float(np.mean(np.linalg.norm(u, axis=1) * so / sd))
    return {"kind": "fan" if geometry.ndim == 2 else "cone", "weights": w / 2, "tau": tau,
            "pre": sd, "so": so, "arc_deg": 360.0}


def _cosine_weights(geometry: Geometry, sd):
    """``SD / |ray to pixel|`` for every detector pixel of every view (FDK pre-weighting)."""
    src, det, u, v, _ = _frames(geometry)
    rows, cols = (1, geometry.det_shape[0]) if geometry.ndim == 2 else geometry.det_shape
    cu = np.arange(cols) - cols / 2 + 0.5
    cv = np.arange(rows) - rows / 2 + 0.5
    ray = (det - src)[:, None, None] + cu[None, None, :, None] * u[:, None, None] \
        + cv[None, :, None, None] * v[:, None, None]
    cos = sd[:, None, None] / np.linalg.norm(ray, axis=-1)
    return cos.reshape(geometry.proj_shape)


def _projection_maps(geometry: Geometry, so):
    """Per view, the detector position of a world point ``X`` as ratios of affine maps.

    Returns ``(maps, weight_scale)``: ``maps`` is ``(views, 3, 4)`` with rows ``(col, row,
    w)`` such that ``col = (c . [X, 1]) / (w . [X, 1])`` in detector column units (column
    ``j`` centred at ``j``), likewise ``row``; ``w`` is 1 for parallel beams and the depth
    of ``X`` along the detector normal (scaled by ``|u x v|``) for cone beams, so the FDK
    distance weight is ``(weight_scale / w)^2``.
    """
    first, det, u, v, _ = _frames(geometry)
    rows, cols = (1, geometry.det_shape[0]) if geometry.ndim == 2 else geometry.det_shape
    n = np.cross(u, v)
    vn, nu = np.cross(v, n), np.cross(n, u)
    m_u = vn / np.einsum("ij,ij->i", u, vn)[:, None]
    m_v = nu / np.einsum("ij,ij->i", v, nu)[:, None]
    maps = np.zeros((geometry.n_views, 3, 4))
    off = np.array([cols / 2 - 0.5, rows / 2 - 0.5])
    if geometry.parallel:
        r = first
        rn = np.einsum("ij,ij->i", r, n)[:, None]
        for i, m in enumerate((m_u, m_v)):
            a = m - n * np.einsum("ij,ij->i", r, m)[:, None] / rn
            maps[:, i, :3] = a
            maps[:, i, 3] = -np.einsum("ij,ij->i", a, det) + off[i]
        maps[:, 2, 3] = 1.0
        return maps, np.ones(geometry.n_views)
    s = first
    dsn = np.einsum("ij,ij->i", det - s, n)[:, None]
    for i, m in enumerate((m_u, m_v)):
        a = np.einsum("ij,ij->i", s - det, m)[:, None] * n + dsn * m
        a = a + off[i] * n  # add the centre offset times w
        maps[:, i, :3] = a
        maps[:, i, 3] = -np.einsum("ij,ij->i", a, s)
    maps[:, 2, :3] = n
    maps[:, 2, 3] = -np.einsum("ij,ij->i", n, s)
    return maps, so * np.linalg.norm(n, axis=1)


@functools.partial(jax.jit, static_argnames=("det_shape", "projective", "distance_weight"))
def _interp_backproject(q, maps, weight, scale, axes, *, det_shape, projective, distance_weight):
    """``sum_k weight_k [(scale_k / w)^2] q_k(col, row)`` at every voxel centre, linear interpolation.

    ``projective``: divide by ``w`` (cone beams); ``distance_weight``: the FDK weight.

    ``q``: ``(views, rows, cols)``; ``maps``: :func:`_projection_maps`; ``axes``: the voxel
    centre coordinates ``(x, y, z)`` (1D each); returns ``(nz, ny, nx)``. ``q`` is zero
    outside the detector (a zero border is added and positions are clamped onto it).
    """
    rows, cols = det_shape
    x, y, z = axes
    qp = jnp.pad(q, ((0, 0), (1, 1), (1, 1))).reshape(q.shape[0], -1)
    width = cols + 2

    def affine(c):
        return (c[0] * x[None, None, :] + c[1] * y[None, :, None]) + (c[2] * z[:, None, None] + c[3])

    def view(acc, xs):
        mk, wk, sk, qk = xs
        inv = 1 / affine(mk[2]) if projective else None
        col = affine(mk[0]) * inv if projective else affine(mk[0])
        col = jnp.clip(col + 1, 0, cols + 1)
        c0 = jnp.minimum(col.astype(jnp.int32), cols)
        fc = col - c0
        if rows == 1:
            idx = c0 + width
            val = jnp.take(qk, idx, mode="clip") * (1 - fc) + jnp.take(qk, idx + 1, mode="clip") * fc
        else:
            row = affine(mk[1]) * inv if projective else affine(mk[1])
            row = jnp.clip(row + 1, 0, rows + 1)
            r0 = jnp.minimum(row.astype(jnp.int32), rows)
            fr = row - r0
            idx = r0 * width + c0
            val = ((jnp.take(qk, idx, mode="clip") * (1 - fc) + jnp.take(qk, idx + 1, mode="clip") * fc)
                   * (1 - fr)
                   + (jnp.take(qk, idx + width, mode="clip") * (1 - fc)
                      + jnp.take(qk, idx + width + 1, mode="clip") * fc) * fr)
        if distance_weight:
            val = val * (sk * inv) ** 2
        return acc + wk * val, None

    shape = (z.shape[0], y.shape[0], x.shape[0])
    acc, _ = jax.lax.scan(view, jnp.zeros(shape, q.dtype), (maps, weight, scale, qp))
    return acc


def fbp_volume(p, geometry: Geometry, *, apodisation_cutoff: float = 1.0,
               slice_thickness_um: float | None = None):
    """Filtered back projection of line integrals ``p`` (``geometry.proj_shape``) -> (volume, info)."""
    plan = _plan_fbp(geometry)
    dtype = p.dtype
    rows, cols = (1, geometry.det_shape[0]) if geometry.ndim == 2 else geometry.det_shape
    q = p.reshape(geometry.n_views, rows, cols)
    if plan["pre"] is not None:
        q = q * jnp.asarray(_cosine_weights(geometry, plan["pre"]).reshape(q.shape), dtype)
    n_fft, response = fbp_filter(cols, plan["tau"], arc_deg=plan["arc_deg"],
                                 apodisation_cutoff=apodisation_cutoff,
                                 slice_thickness_um=(slice_thickness_um
                                                     if plan["kind"] == "tomosynthesis" else None))
    q = jnp.fft.irfft(jnp.fft.rfft(q, n=n_fft, axis=-1) * jnp.asarray(response, dtype),
                      n=n_fft, axis=-1)[..., :cols].astype(dtype)
    maps, scale = _projection_maps(geometry, plan["so"])
    lo = [w[0] for w in geometry.vol_window]
    size = geometry.voxel_um
    centres = [lo[i] + (np.arange(geometry.vol_shape[i]) + 0.5) * size[i] for i in range(geometry.ndim)]
    if geometry.ndim == 2:
        axes = (centres[1], np.zeros(1), centres[0])
    else:
        axes = (centres[2], centres[1], centres[0])
    cast = functools.partial(jnp.asarray, dtype=dtype)
    vol = _interp_backproject(q, cast(maps), cast(plan["weights"]), cast(scale),
                              tuple(cast(a) for a in axes), det_shape=(rows, cols),
                              projective=not geometry.parallel,
                              distance_weight=plan["kind"] in ("fan", "cone"))
    info = {"kind": plan["kind"], "apodisation_cutoff": apodisation_cutoff,
            "slice_thickness_um": slice_thickness_um, "arc_deg": plan["arc_deg"],
            "filter_sampling_um": plan["tau"]}
    return vol.reshape(geometry.vol_shape), info
