"""Compiled CPU kernels of the separable distance-driven footprint (Numba, outside XLA).

A slice that maps onto the detector by a scale and a shift per axis (tomosynthesis:
a detector parallel to the slices; parallel rays whose detector columns and rows follow
two volume axes) has the separable footprint ``W_rows S W_cols^T`` (De Man & Basu
2004): each detector cell takes the overlap-weighted average of the voxels its
boundaries, mapped onto the slice, enclose. The boundaries of cell ``j`` on the slice are
``t_j = alpha (j - m/2) + beta`` in voxel units.

Why outside XLA: these loops are gathers of a few taps per output. XLA:CPU runs a gather
at 1.3-1.8 ns per element whatever its shape, which held the JAX version of this path at
about 50 M voxel-views per CPU-second (issue 10 asks 100 M per second on two cores).
Compiled loops run the taps from cache and vectorise the row pass.

Both directions build the same weight table from the same boundaries, in the same
function (:func:`_weights`): the back projection is the exact transpose of the forward
projection up to float rounding (dot-tested in ``tests/recon/test_native.py``). Work is
split over threads (views for the forward pass, slices for the back projection, so
no two threads write the same output) with the GIL released inside the kernels.

Values: volumes in 1/um, projections line integrals / path length (the projector
multiplies by the path length outside, see :mod:`recon.projector`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

#: Threads the kernels split their work over (the machine's cores; each kernel call
#: blocks until all its parts are done).
THREADS = max(1, os.cpu_count() or 1)

def _new_pool():
    return ThreadPoolExecutor(max_workers=max(1, THREADS - 1), thread_name_prefix="recon-native")


_POOL = _new_pool()


def _reset_pool_after_fork():
    # a forked child inherits the pool's bookkeeping but not its threads: work submitted
    # to it would wait forever
    global _POOL
    _POOL = _new_pool()


os.register_at_fork(after_in_child=_reset_pool_after_fork)


@numba.njit(nogil=True, cache=True, fastmath=True)
def _weights(alpha, beta, m, n):
    """Overlap weights of ``m`` cells with boundaries ``alpha (j - m/2) + beta`` on ``n`` voxels.

    Returns ``(start, count, w)``: cell ``j`` averages voxels ``start[j] .. start[j] +
    count[j] - 1`` with weights ``w[j, :count[j]]`` (overlap length over cell width);
    voxels outside ``[0, n)`` add nothing, as in :func:`recon.dd1d.forward`.
    """
    taps = int(abs(alpha)) + 2
    start = np.zeros(m, np.int64)
    count = np.zeros(m, np.int64)
    w = np.zeros((m, taps), np.float64)
    half = m / 2.0
    t0 = alpha * (0 - half) + beta
    for j in range(m):
        t1 = alpha * (j + 1 - half) + beta
        lo, hi = min(t0, t1), max(t0, t1)
        t0 = t1
        if hi <= 0.0 or lo >= n or hi <= lo:
            continue
        inv = 1.0 / (hi - lo)
        first = max(int(np.floor(lo)), 0)
        last = min(int(np.ceil(hi)), n)
        c = 0
        for i in range(first, last):
            ov = min(hi, i + 1.0) - max(lo, float(i))
            if ov > 0.0 and c < taps:
                if c == 0:
                    start[j] = i
                w[j, c] = ov * inv
                c += 1
        count[j] = c
    return start, count, w


@numba.njit(nogil=True, cache=True, fastmath=True)
def _used_range(start, count, n):
    """First and one-past-last voxel any cell reads (``(0, 0)`` if none)."""
    lo, hi = n, 0
    for j in range(start.size):
        if count[j] > 0:
            lo = min(lo, start[j])
            hi = max(hi, start[j] + count[j])
    return (lo, hi) if hi > lo else (0, 0)


@numba.njit(nogil=True, cache=True, fastmath=True)
def _pair_weights(ax, bx, ay, by, v, k, rows, cols, n_b, n_a, like):
    """Column and row weights of view ``v`` on slice ``k`` (row weights in ``like``'s
    dtype, for the vectorised row pass) and the voxel rows ``b0 .. b1 - 1`` they touch
    (``b0 == b1`` when the detector misses the slice)."""
    cs, cc, cw = _weights(ax[v, k], bx[v, k], cols, n_a)
    rs, rc, rw = _weights(ay[v, k], by[v, k], rows, n_b)
    b0, b1 = _used_range(rs, rc, n_b)
    if _used_range(cs, cc, n_a)[1] == 0:
        b1 = b0
    return cs, cc, cw, rs, rc, rw.astype(like.dtype), b0, b1


@numba.njit(nogil=True, cache=True, fastmath=True)
def _forward_views(vol, ax, bx, ay, by, out, v0, v1):
    """``out[v] = sum_k W_rows(v, k) vol[k] W_cols(v, k)^T`` for views ``v0 .. v1 - 1``."""
    n_m, n_b, n_a = vol.shape
    rows, cols = out.shape[1], out.shape[2]
    tmp = np.zeros((n_b, cols), out.dtype)
    for v in range(v0, v1):
        acc = out[v]
        acc[:, :] = 0
        for k in range(n_m):
            cs, cc, cw, rs, rc, rwf, b0, b1 = _pair_weights(ax, bx, ay, by, v, k, rows, cols, n_b, n_a, tmp)
            if b1 == b0:
                continue
            sl = vol[k]
            for b in range(b0, b1):  # columns: a few taps per cell, from cache
                srow, trow = sl[b], tmp[b]
                for j in range(cols):
                    s = 0.0
                    for t in range(cc[j]):
                        s += cw[j, t] * srow[cs[j] + t]
                    trow[j] = s
            for r in range(rows):  # rows: whole detector rows, vectorised
                arow = acc[r]
                for t in range(rc[r]):
                    w = rwf[r, t]
                    trow = tmp[rs[r] + t]
                    for j in range(cols):
                        arow[j] += w * trow[j]


@numba.njit(nogil=True, cache=True, fastmath=True)
def _back_slices(proj, ax, bx, ay, by, out, k0, k1):
    """Transpose of :func:`_forward_views` onto slices ``k0 .. k1 - 1`` of ``out``."""
    n_views, rows, cols = proj.shape
    n_b, n_a = out.shape[1], out.shape[2]
    tmp = np.zeros((n_b, cols), out.dtype)
    for k in range(k0, k1):
        sl = out[k]
        sl[:, :] = 0
        for v in range(n_views):
            cs, cc, cw, rs, rc, rwf, b0, b1 = _pair_weights(ax, bx, ay, by, v, k, rows, cols, n_b, n_a, tmp)
            if b1 == b0:
                continue
            tmp[b0:b1, :] = 0
            q = proj[v]
            for r in range(rows):  # rows onto voxel rows
                qrow = q[r]
                for t in range(rc[r]):
                    w = rwf[r, t]
                    trow = tmp[rs[r] + t]
                    for j in range(cols):
                        trow[j] += w * qrow[j]
            for b in range(b0, b1):  # cells onto voxels
                srow, trow = sl[b], tmp[b]
                for j in range(cols):
                    val = trow[j]
                    for t in range(cc[j]):
                        srow[cs[j] + t] += cw[j, t] * val


def _split(n: int):
    """``THREADS`` contiguous ranges covering ``0 .. n - 1`` (fewer if ``n`` is small)."""
    edges = np.linspace(0, n, min(THREADS, n) + 1).round().astype(int)
    return list(zip(edges[:-1], edges[1:]))


def _run_parts(calls):
    """Run ``(kernel, args)`` calls in parallel: all but the first on the pool, the first
    in this thread (one hand-off less per call: a SART sweep makes two calls per view)."""
    futures = [_POOL.submit(kernel, *args) for kernel, args in calls[1:]]
    kernel, args = calls[0]
    kernel(*args)
    for f in futures:
        f.result()  # re-raises a kernel's exception here


def _run(kernel, args, n):
    _run_parts([(kernel, (*args, int(a), int(b))) for a, b in _split(n)])


def _maps(*maps):
    return [np.ascontiguousarray(x, np.float64) for x in maps]


def _output(out, shape, dtype):
    """``out`` checked (C-contiguous, writeable, of ``shape`` and ``dtype``), or a new array."""
    if out is None:
        return np.empty(shape, dtype)
    if out.shape != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out: expected a writeable C-contiguous {np.dtype(dtype)} array of shape "
                         f"{tuple(shape)}, got {out.dtype} {out.shape}")
    return out


def forward_separable(volume, ax, bx, ay, by, det_shape, *, out=None):
    """Separable distance-driven projection of a slice stack.

    Parameters
    ----------
    volume : ndarray (n_slices, n_b, n_a), float32 or float64
        Slices in the order of the maps; ``n_a`` runs along the detector columns.
    ax, bx, ay, by : ndarray (n_views, n_slices)
        ``(alpha, beta)`` of the column and row boundaries on each slice (voxel units).
    det_shape : (rows, cols)
    out : ndarray, optional
        Written in place (as the compiled caller's output buffer is).

    Returns
    -------
    ndarray (n_views, rows, cols): cell averages summed over slices, ``volume``'s dtype.
    """
    volume = np.ascontiguousarray(volume)
    ax, bx, ay, by = _maps(ax, bx, ay, by)
    out = _output(out, (ax.shape[0], *det_shape), volume.dtype)
    _run(_forward_views, (volume, ax, bx, ay, by, out), ax.shape[0])
    return out


def back_separable(projections, ax, bx, ay, by, vol_shape, *, out=None):
    """Exact transpose of :func:`forward_separable`.

    Parameters
    ----------
    projections : ndarray (n_views, rows, cols)
    ax, bx, ay, by : ndarray (n_views, n_slices)
    vol_shape : (n_slices, n_b, n_a)
    out : ndarray, optional
        Written in place.

    Returns
    -------
    ndarray ``vol_shape``, ``projections``' dtype.
    """
    projections = np.ascontiguousarray(projections)
    ax, bx, ay, by = _maps(ax, bx, ay, by)
    out = _output(out, vol_shape, projections.dtype)
    _run(_back_slices, (projections, ax, bx, ay, by, out), vol_shape[0])
    return out


# ----------------------------------------------------------------------------- 2D
# One detector row per view: too short for weight tables to pay off. Each slice is
# integrated once (float64, shared by every view), so a cell average is the difference
# of the integrals at its two boundaries over the cell width; the integrals of all
# slices are added first and differenced once per view (float64 keeps that exact
# enough). The transpose integrates each view once and samples it at the voxel
# boundaries. Same weights as the 3D kernels and recon.dd1d, by another route.
#: Slices whose integral tables are built together: a transposed volume (slices along
#: its second axis) is then read a cache line at a time (assumed: 16 float32 = 64 bytes).
SLICE_BLOCK = 16


@numba.njit(nogil=True, cache=True)
def _integral_tables(rows):
    """``(K, f)`` with the integral of row ``r`` up to ``x`` in cell ``i`` ``K[r, i] + f[r, i] x``."""
    n_r, n = rows.shape
    k_tab = np.empty((n_r, n), np.float64)
    f = np.empty((n_r, n), np.float64)
    for r in range(n_r):
        cum = 0.0
        for i in range(n):
            f[r, i] = rows[r, i]
            k_tab[r, i] = cum - i * f[r, i]
            cum += f[r, i]
    return k_tab, f


@numba.njit(nogil=True, cache=True, fastmath=True)
def _forward_rows(vol, transposed, ax, bx, acc, k0, k1):
    """2D: add the integrals of slices ``k0 .. k1 - 1`` up to every detector boundary of
    every view, over the cell width, into ``acc`` (views, cols + 1). Slice ``k`` is
    ``vol[k]``, or ``vol[:, k]`` if ``transposed``."""
    n_views, n_b1 = acc.shape
    cols = n_b1 - 1
    n_a = vol.shape[0] if transposed else vol.shape[1]
    half = cols / 2.0
    k_tab = np.empty((SLICE_BLOCK, n_a), np.float64)
    f_tab = np.empty((SLICE_BLOCK, n_a), np.float64)
    cum = np.empty(SLICE_BLOCK, np.float64)
    for kb in range(k0, k1, SLICE_BLOCK):
        nb = min(SLICE_BLOCK, k1 - kb)
        cum[:] = 0.0
        for i in range(n_a):  # the block's integral tables, in cache for all views
            for b in range(nb):
                x = vol[i, kb + b] if transposed else vol[kb + b, i]
                f_tab[b, i] = x
                k_tab[b, i] = cum[b] - i * x
                cum[b] += x
        for b in range(nb):
            k_row, f_row = k_tab[b], f_tab[b]
            for v in range(n_views):
                alpha, beta = ax[v, kb + b], bx[v, kb + b]
                inv = 1.0 / alpha
                for j in range(cols + 1):
                    t = min(max(alpha * (j - half) + beta, 0.0), float(n_a))
                    i = min(int(t), n_a - 1)
                    acc[v, j] += (k_row[i] + f_row[i] * t) * inv


@numba.njit(nogil=True, cache=True, fastmath=True)
def _back_rows(k_tab, q, ax, bx, out, transposed, k0, k1):
    """Transpose of :func:`_forward_rows` onto slices ``k0 .. k1 - 1`` of ``out``."""
    n_views, cols = q.shape
    n_a = out.shape[0] if transposed else out.shape[1]
    half = cols / 2.0
    acc = np.empty((SLICE_BLOCK, n_a + 1), np.float64)
    for kb in range(k0, k1, SLICE_BLOCK):
        nb = min(SLICE_BLOCK, k1 - kb)
        for b in range(nb):
            k = kb + b
            row = acc[b]
            row[:] = 0.0
            for v in range(n_views):
                alpha, beta = ax[v, k], bx[v, k]
                sign = 1.0 if alpha > 0 else -1.0
                inv = 1.0 / alpha
                for i in range(n_a + 1):
                    e = min(max((i - beta) * inv + half, 0.0), float(cols))
                    c = min(int(e), cols - 1)
                    row[i] += sign * (k_tab[v, c] + q[v, c] * e)
        for i in range(n_a):  # written a cache line at a time when transposed
            for b in range(nb):
                d = acc[b, i + 1] - acc[b, i]
                if transposed:
                    out[i, kb + b] = d
                else:
                    out[kb + b, i] = d


def forward_rows(volume, ax, bx, n_cols, *, transposed=False, out=None):
    """2D distance-driven projection: :func:`forward_separable` with one voxel row per
    slice and one detector row.

    Parameters
    ----------
    volume : ndarray (n_slices, n_a), or (n_a, n_slices) if ``transposed``
    ax, bx : ndarray (n_views, n_slices)
        Column boundary maps of each slice (voxel units).
    n_cols : int
    transposed : bool
        Slices run along the volume's second axis (views whose main axis is the array's
        column axis): read in place rather than transposed first.
    out : ndarray, optional
        Written in place.

    Returns
    -------
    ndarray (n_views, n_cols), ``volume``'s dtype.
    """
    volume = np.ascontiguousarray(volume)
    ax, bx = _maps(ax, bx)
    # slices are split over the threads (a one-view subset keeps both busy), each thread
    # adding into its own float64 integrals; they are summed and differenced once
    parts = _split(ax.shape[1])
    accs = [np.zeros((ax.shape[0], n_cols + 1)) for _ in parts]
    _run_parts([(_forward_rows, (volume, bool(transposed), ax, bx, acc, int(a), int(b)))
                for acc, (a, b) in zip(accs, parts)])
    total = accs[0]
    for acc in accs[1:]:
        total += acc
    out = _output(out, (ax.shape[0], n_cols), volume.dtype)
    np.subtract(total[:, 1:], total[:, :-1], out=out, casting="same_kind")
    return out


def back_rows(projections, ax, bx, vol_shape, *, transposed=False, out=None):
    """Exact transpose of :func:`forward_rows`: ``vol_shape`` (``(n_slices, n_a)``, or
    ``(n_a, n_slices)`` if ``transposed``); ``out`` is written in place if given."""
    k_tab, q = _integral_tables(np.ascontiguousarray(projections))
    ax, bx = _maps(ax, bx)
    out = _output(out, vol_shape, np.asarray(projections).dtype)
    _run(_back_rows, (k_tab, q, ax, bx, out, bool(transposed)), ax.shape[1])
    return out
