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

import jax.numpy as jnp


def _along(x, axis, ndim):
    """Reshape a 1D per-position array to broadcast along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = -1
    return x.reshape(shape)


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
    zero = jnp.zeros_like(jnp.take(f, jnp.arange(1), axis=axis))
    cum = jnp.concatenate([zero, jnp.cumsum(f, axis=axis)], axis=axis)
    tc = jnp.clip(t, 0, n)
    i0 = jnp.clip(jnp.floor(tc).astype(jnp.int32), 0, n - 1)
    frac = _along(tc - i0, axis, f.ndim)
    ct = jnp.take(cum, i0, axis=axis) + jnp.take(f, i0, axis=axis) * frac
    m = t.shape[0] - 1
    upper = jnp.take(ct, jnp.arange(1, m + 1), axis=axis)
    lower = jnp.take(ct, jnp.arange(0, m), axis=axis)
    return (upper - lower) / _along(t[1:] - t[:-1], axis, f.ndim)


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
    zero = jnp.zeros_like(jnp.take(g, jnp.arange(1), axis=axis))
    cum = jnp.concatenate([zero, jnp.cumsum(g, axis=axis)], axis=axis)
    cell = jnp.clip(jnp.floor(e).astype(jnp.int32), 0, m - 1)
    pos = jnp.arange(e.shape[0], dtype=t.dtype)
    frac = jnp.clip((pos - t[cell]) / (t[cell + 1] - t[cell]), 0, 1)
    r = jnp.take(cum, cell, axis=axis) + jnp.take(g, cell, axis=axis) * _along(frac, axis, g.ndim)
    n = e.shape[0] - 1
    upper = jnp.take(r, jnp.arange(1, n + 1), axis=axis)
    lower = jnp.take(r, jnp.arange(0, n), axis=axis)
    return jnp.sign(t[-1] - t[0]) * (upper - lower)
