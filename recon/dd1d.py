"""One-dimensional distance-driven resampling between a voxel row and detector cells.

Positions are in *voxel index units* along the axis: voxel ``i`` covers ``[i, i+1]``.
Detector cell ``j`` covers ``[t_j, t_{j+1}]`` (the detector boundaries mapped onto the
slice; ``t`` may increase or decrease, monotonically). The distance-driven weight of
voxel ``i`` for cell ``j`` is the overlap length over the cell width,
``|[i, i+1] & [t_j, t_{j+1}]| / |t_{j+1} - t_j|`` (De Man & Basu 2004).

Both directions are gathers on cumulative sums, O(n + m) per row, never a dense matrix:

* forward: integrate the piecewise-constant voxel row at each cell boundary (linear
  interpolation of its cumulative sum on the uniform voxel grid), take differences;
* adjoint: integrate the piecewise-constant cell values at each voxel boundary. The
  cell containing voxel boundary ``i`` comes from ``e_i``, the boundary's position in
  detector cell units (the inverse of the boundary mapping); the partial-cell fraction
  uses the same ``t`` as the forward pass, so the pair is an exact transpose.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _along(x, axis, ndim):
    """Reshape a 1D per-position array to broadcast along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = -1
    return x.reshape(shape)


def _gather(x, idx, axis):
    # Indices are clipped by the callers, so the gather needs no bounds handling.
    # (mode="clip" measured 2.4x faster than "promise_in_bounds" on XLA:CPU)
    return jnp.take(x, idx, axis=axis, mode="clip")


def _gather_pair(cum, x, idx, axis):
    """``cum[idx]`` and ``x[idx]`` along ``axis`` with one gather of value pairs."""
    n = x.shape[axis]
    pair = jnp.stack([jax.lax.slice_in_dim(cum, 0, n, axis=axis), x], axis=-1)
    out = jnp.take(pair, idx, axis=axis, mode="clip")
    return out[..., 0], out[..., 1]


def _diff(x, axis):
    n = x.shape[axis]
    return (jax.lax.slice_in_dim(x, 1, n, axis=axis) - jax.lax.slice_in_dim(x, 0, n - 1, axis=axis))


def forward(f, t, axis: int):
    """Cell averages of the piecewise-constant ``f`` along ``axis`` for cells with boundaries ``t``.

    Parameters
    ----------
    f : array, n voxels along ``axis``
    t : array (m + 1,), cell boundaries in voxel index units, monotone
    axis : int

    Returns
    -------
    array with ``m`` cells along ``axis``.
    """
    axis = axis % f.ndim
    n = f.shape[axis]
    zero = jnp.zeros_like(jax.lax.slice_in_dim(f, 0, 1, axis=axis))
    cum = jnp.concatenate([zero, jnp.cumsum(f, axis=axis)], axis=axis)
    tc = jnp.clip(t, 0, n)
    i0 = jnp.clip(jnp.floor(tc).astype(jnp.int32), 0, n - 1)
    frac = _along(tc - i0, axis, f.ndim)
    ct = _gather(cum, i0, axis) + _gather(f, i0, axis) * frac
    return _diff(ct, axis) / _along(t[1:] - t[:-1], axis, f.ndim)


def adjoint(g, t, e, axis: int):
    """Transpose of :func:`forward`: spread cell values ``g`` back onto ``len(e) - 1`` voxels.

    Parameters
    ----------
    g : array, m cells along ``axis``
    t : array (m + 1,), cell boundaries in voxel index units (as in :func:`forward`)
    e : array (n + 1,), voxel boundaries ``0..n`` in detector-cell units (inverse map of ``t``)
    axis : int
    """
    axis = axis % g.ndim
    m = g.shape[axis]
    zero = jnp.zeros_like(jax.lax.slice_in_dim(g, 0, 1, axis=axis))
    cum = jnp.concatenate([zero, jnp.cumsum(g, axis=axis)], axis=axis)
    cell = jnp.clip(jnp.floor(e).astype(jnp.int32), 0, m - 1)
    pos = jnp.arange(e.shape[0], dtype=t.dtype)
    frac = jnp.clip((pos - t[cell]) / (t[cell + 1] - t[cell]), 0, 1)
    r = _gather(cum, cell, axis) + _gather(g, cell, axis) * _along(frac, axis, g.ndim)
    return jnp.sign(t[-1] - t[0]) * _diff(r, axis)


def forward_affine(f, alpha, beta, m: int, axis: int):
    """:func:`forward` for affine boundaries ``t_j = alpha (j - m/2) + beta``, ``j = 0..m``.

    The tomosynthesis case (detector parallel to the slices): no per-boundary division.
    """
    axis = axis % f.ndim
    n = f.shape[axis]
    zero = jnp.zeros_like(jax.lax.slice_in_dim(f, 0, 1, axis=axis))
    cum = jnp.concatenate([zero, jnp.cumsum(f, axis=axis)], axis=axis)
    t = alpha * (jnp.arange(m + 1, dtype=f.dtype) - m / 2) + beta
    tc = jnp.clip(t, 0, n)
    i0 = jnp.minimum(tc.astype(jnp.int32), n - 1)  # tc >= 0, so truncation is floor
    frac = _along(tc - i0, axis, f.ndim)
    ct = _gather(cum, i0, axis) + _gather(f, i0, axis) * frac
    return _diff(ct, axis) * (1 / alpha)


def adjoint_affine(g, alpha, beta, n: int, axis: int):
    """Transpose of :func:`forward_affine` onto ``n`` voxels."""
    axis = axis % g.ndim
    m = g.shape[axis]
    zero = jnp.zeros_like(jax.lax.slice_in_dim(g, 0, 1, axis=axis))
    cum = jnp.concatenate([zero, jnp.cumsum(g, axis=axis)], axis=axis)
    e = (jnp.arange(n + 1, dtype=g.dtype) - beta) * (1 / alpha) + m / 2
    ec = jnp.clip(e, 0, m)
    cell = jnp.minimum(ec.astype(jnp.int32), m - 1)
    frac = _along(ec - cell, axis, g.ndim)
    r = _gather(cum, cell, axis) + _gather(g, cell, axis) * frac
    return jnp.sign(alpha) * _diff(r, axis)
