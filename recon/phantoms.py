"""Analytic test objects: ellipses/ellipsoids with exact line integrals.

Used by the tests and benchmarks to check the projector against ground truth. Lengths
in um; values are attenuation coefficients in 1/um.
"""

from __future__ import annotations

import numpy as np

from recon.geometry import Geometry


def _grid(geom: Geometry, supersample: int):
    """Sub-voxel sample coordinates per array axis (world units)."""
    axes = []
    for (lo, hi), n in zip(geom.vol_window, geom.vol_shape):
        step = (hi - lo) / (n * supersample)
        axes.append(lo + (np.arange(n * supersample) + 0.5) * step)
    return np.meshgrid(*axes, indexing="ij")


def ellipsoid_volume(geom: Geometry, *, centre, semi_axes, value: float = 1.0,
                     supersample: int = 4) -> np.ndarray:
    """Voxelised axis-aligned ellipsoid (3D) or ellipse (2D), partial voxels by supersampling.

    Parameters
    ----------
    centre, semi_axes : sequences in world order (x, y, z), or (x, z) in 2D, um.
    value : float
        Attenuation coefficient inside, 1/um.
    supersample : int
        Samples per voxel edge used to estimate partial-volume fractions.
    """
    c, a = np.asarray(centre, float), np.asarray(semi_axes, float)
    coords = _grid(geom, supersample)[::-1]  # array order (z, [y,] x) -> world order
    r2 = sum(((x - ci) / ai) ** 2 for x, ci, ai in zip(coords, c, a))
    inside = (r2 <= 1.0).astype(np.float64)
    shape = []
    for n in geom.vol_shape:
        shape += [n, supersample]
    return value * inside.reshape(shape).mean(axis=tuple(range(1, 2 * geom.ndim, 2)))


def ellipsoid_line_integrals(geom: Geometry, *, centre, semi_axes, value: float = 1.0) -> np.ndarray:
    """Exact line integrals through every detector cell centre, shape ``geom.proj_shape``."""
    c, a = np.asarray(centre, float), np.asarray(semi_axes, float)
    vec = geom.vectors
    if geom.ndim == 3:
        src, det, u, v = vec[:, 0:3], vec[:, 3:6], vec[:, 6:9], vec[:, 9:12]
        rows, cols = geom.det_shape
    else:
        src, det, u = vec[:, 0:2], vec[:, 2:4], vec[:, 4:6]
        v, (rows, cols) = np.zeros_like(u), (1, geom.det_shape[0])
    cu = np.arange(cols) - cols / 2 + 0.5
    cv = np.arange(rows) - rows / 2 + 0.5
    pix = (det[:, None, None] + cu[None, None, :, None] * u[:, None, None]
           + cv[None, :, None, None] * v[:, None, None])
    s = src[:, None, None, :]
    d = pix - s
    # Solve |(s + t d - c) / a|^2 = 1 for t; chord length = (t2 - t1) |d|.
    p, q = (s - c) / a, d / a
    qa, qb, qc = (q * q).sum(-1), 2 * (p * q).sum(-1), (p * p).sum(-1) - 1
    disc = np.maximum(qb * qb - 4 * qa * qc, 0.0)
    chord = np.sqrt(disc) / qa * np.linalg.norm(d, axis=-1)
    out = value * chord
    return out if geom.ndim == 3 else out[:, 0, :]
