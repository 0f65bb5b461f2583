"""Compiled CPU kernels of the distance-driven projector (Numba, outside XLA): the
separable footprint, and the general 3D footprint with per-row and per-column maps
(:func:`forward_sheared`, see the section "3D, sheared" below).

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
def _row_table(row, k_row, f_row):
    """Fill ``(k_row, f_row)`` (float64) so that the integral of ``row`` up to ``x`` in
    cell ``i`` is ``k_row[i] + f_row[i] x`` (continuous across cell edges)."""
    run = 0.0
    for i in range(row.size):
        fi = float(row[i])
        f_row[i] = fi
        k_row[i] = run - i * fi
        run += fi


@numba.njit(nogil=True, cache=True)
def _integral_tables(rows):
    """:func:`_row_table` of every row: ``(K, f)``, each ``rows.shape``."""
    k_tab = np.empty(rows.shape, np.float64)
    f = np.empty(rows.shape, np.float64)
    for r in range(rows.shape[0]):
        _row_table(rows[r], k_tab[r], f[r])
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


# ----------------------------------------------------------------------------- 3D, sheared
# Views whose slices do not map onto the detector by a scale and a shift per axis (circular
# cone beams, tilted or rolled detectors, oblique parallel rays): the two 1D passes of
# recon.projector._sheared_maps, each voxel row along its own column boundaries tx[b, :] and
# each detector column along its own row boundaries ty[:, c]. Both passes integrate their
# rows (float64) and difference the integrals at the cell boundaries, as recon.dd1d.forward
# does; the back projection runs the transpose of every step in reverse (the integrals'
# transpose is a scatter onto the boundary's voxel and a suffix sum), so it is the exact
# adjoint up to rounding. Vectors arrive in (m, a, b) order: main axis, column axis, row axis.


@numba.njit(nogil=True, cache=True, fastmath=True)
def _onto_slice(p_m, p_a, p_b, s, c_k, parallel):
    """``(a, b)`` of the point ``p`` carried along its ray onto the plane ``x_m = c_k``
    (recon.projector._to_slice; ``s`` is the source, or the ray direction if ``parallel``)."""
    if parallel:
        lam = (c_k - p_m) / s[0]
        return p_a + lam * s[1], p_b + lam * s[2]
    lam = (c_k - s[0]) / (p_m - s[0])
    return s[1] + lam * (p_a - s[1]), s[2] + lam * (p_b - s[2])


@numba.njit(nogil=True, cache=True, fastmath=True)
def _sheared_setup(s, dc, u, v, c_k, lo, size, parallel, tx0, tx1, ty, wy, pm0, pb0):
    """The maps of one (view, slice), as recon.projector._sheared_maps.

    Column boundary ``j`` on voxel row ``b`` sits at ``tx0[j] + b_mid tx1[j]`` (voxel
    units along ``a``; ``b_mid`` the row centre in um): the detector's column line traced
    onto the slice through two points. ``ty[r, c]`` are the row boundaries along detector
    column ``c``'s centre line (voxel units along ``b``), ``wy`` the inverse cell widths
    there. ``pm0``, ``pb0``: scratch (cols,). Loops are kept free of branches so they
    vectorise.
    """
    rows1, cols = ty.shape
    rows = rows1 - 1
    inv_a, inv_b = 1.0 / size[1], 1.0 / size[2]
    for j in range(cols + 1):  # cols + 1 lines: cheap, kept scalar
        e = j - cols / 2.0
        pm, pa, pb = dc[0] + e * u[0], dc[1] + e * u[1], dc[2] + e * u[2]
        a0, b0 = _onto_slice(pm, pa, pb, s, c_k, parallel)
        a1, b1 = _onto_slice(pm + v[0], pa + v[1], pb + v[2], s, c_k, parallel)
        slope = (a1 - a0) / (b1 - b0)
        tx0[j] = (a0 - b0 * slope - lo[1]) * inv_a
        tx1[j] = slope * inv_a
    for c in range(cols):
        cc = c - cols / 2.0 + 0.5
        pm0[c] = dc[0] + cc * u[0]
        pb0[c] = dc[2] + cc * u[2]
    s0, s2, v0, v2, lo2 = s[0], s[2], v[0], v[2], lo[2]
    dk, ratio = c_k - s0, s2 / s0
    if parallel or v0 == 0.0:
        # each column's boundaries are evenly spaced on the slice (parallel rays, or a
        # detector row step v parallel to the slices): ty = base + slope (r - rows/2),
        # one division per column instead of one per boundary
        for c in range(cols):
            if parallel:
                base = (pb0[c] + (c_k - pm0[c]) * ratio - lo2) * inv_b
                step = (v2 - v0 * ratio) * inv_b
            else:
                lam = dk / (pm0[c] - s0)
                base = (s2 + lam * (pb0[c] - s2) - lo2) * inv_b
                step = lam * v2 * inv_b
            pm0[c], pb0[c] = base, step
        for r in range(rows + 1):
            er = r - rows / 2.0
            tyr = ty[r]
            for c in range(cols):
                tyr[c] = pm0[c] + er * pb0[c]
        for c in range(cols):
            pm0[c] = 1.0 / pb0[c]
        for r in range(rows):
            w = wy[r]
            for c in range(cols):
                w[c] = pm0[c]
        return
    for r in range(rows + 1):  # one detector row at a time (1D views vectorise)
        er = r - rows / 2.0
        tyr = ty[r]
        for c in range(cols):
            pm = pm0[c] + er * v0
            pb = pb0[c] + er * v2
            tyr[c] = (s2 + dk / (pm - s0) * (pb - s2) - lo2) * inv_b
    for r in range(rows):
        t0, t1, w = ty[r], ty[r + 1], wy[r]
        for c in range(cols):
            w[c] = 1.0 / (t1[c] - t0[c])


@numba.njit(nogil=True, cache=True, fastmath=True)
def _column_maps(tx0, tx1, b_mid, n_a, tt, iw, tc, ic):
    """Column boundaries on voxel row ``b_mid`` (``tt``), inverse cell widths ``iw``, and
    the boundaries clipped to the row (``tc``) with their voxel (``ic``)."""
    m = tt.size - 1
    for j in range(m + 1):
        tt[j] = tx0[j] + b_mid * tx1[j]
    for j in range(m):
        iw[j] = 1.0 / (tt[j + 1] - tt[j])
    for j in range(m + 1):
        t = min(max(tt[j], 0.0), float(n_a))
        tc[j] = t
        ic[j] = min(int(t), n_a - 1)


@numba.njit(nogil=True, cache=True)
def _all_zero(x):
    """Whether every column line is parallel to the rows' normal on the slice (the same
    column boundaries on every voxel row: a circular scan's detector columns)."""
    for j in range(x.size):
        if x[j] != 0.0:
            return False
    return True


@numba.njit(nogil=True, cache=True, fastmath=True)
def _rows_reached(ty, n_b):
    """First and one-past-last voxel row any detector row boundary pair can read."""
    t_lo, t_hi = ty[0, 0], ty[0, 0]
    for r in range(ty.shape[0]):
        for c in range(ty.shape[1]):
            t_lo = min(t_lo, ty[r, c])
            t_hi = max(t_hi, ty[r, c])
    b0 = min(max(int(np.floor(t_lo)), 0), n_b - 1)
    b1 = min(max(int(np.floor(t_hi)) + 1, b0 + 1), n_b)
    return b0, b1


@numba.njit(nogil=True, cache=True, fastmath=True)
def _forward_sheared_views(vol, src, det, u, v, lo, size, parallel, out, k0, k1, v0, v1):
    """Views ``v0 .. v1 - 1`` of the sheared forward pass: cell averages summed over slices
    ``k0 .. k1 - 1`` into ``out[v0:v1]``."""
    n_b, n_a = vol.shape[1], vol.shape[2]
    rows, cols = out.shape[1], out.shape[2]
    tx0, tx1, tt, iw, ii = (np.empty(cols + 1), np.empty(cols + 1), np.empty(cols + 1),
                            np.empty(cols + 1), np.empty(cols + 1))
    tc, ic = np.empty(cols + 1), np.empty(cols + 1, np.int64)
    ty, wy = np.empty((rows + 1, cols)), np.empty((rows, cols))
    pm0, pb0, cum = np.empty(cols), np.empty(cols), np.empty(cols)
    k_row, f_row = np.empty(n_a), np.empty(n_a)
    img, k_img = np.zeros((n_b, cols)), np.zeros((n_b, cols))
    jj = np.empty((rows + 1, cols))
    for vi in range(v0, v1):
        acc = out[vi]
        acc[:, :] = 0
        for k in range(k0, k1):
            c_k = lo[0] + (k + 0.5) * size[0]
            _sheared_setup(src[vi], det[vi], u[vi], v[vi], c_k, lo, size, parallel, tx0, tx1, ty, wy,
                           pm0, pb0)
            b0, b1 = _rows_reached(ty, n_b)  # voxel rows no detector column reads add nothing
            shared = _all_zero(tx1)
            if shared:
                _column_maps(tx0, tx1, 0.0, n_a, tt, iw, tc, ic)
            sl = vol[k]
            for b in range(b0, b1):  # column pass: each voxel row along its own boundaries
                _row_table(sl[b], k_row, f_row)
                if not shared:
                    _column_maps(tx0, tx1, lo[2] + (b + 0.5) * size[2], n_a, tt, iw, tc, ic)
                for j in range(cols + 1):
                    ii[j] = k_row[ic[j]] + f_row[ic[j]] * tc[j]
                im = img[b]
                for j in range(cols):
                    im[j] = (ii[j + 1] - ii[j]) * iw[j]
            cum[:] = 0.0  # row pass: each detector column along its own boundaries
            for b in range(b0, b1):
                for c in range(cols):
                    k_img[b, c] = cum[c] - b * img[b, c]
                    cum[c] += img[b, c]
            for r in range(rows + 1):
                for c in range(cols):
                    t = min(max(ty[r, c], float(b0)), float(b1))
                    i0 = min(int(t), b1 - 1)
                    jj[r, c] = k_img[i0, c] + img[i0, c] * t
            for r in range(rows):
                for c in range(cols):
                    acc[r, c] += (jj[r + 1, c] - jj[r, c]) * wy[r, c]


@numba.njit(nogil=True, cache=True, fastmath=True)
def _back_sheared_slices(proj, src, det, u, v, lo, size, parallel, out, k0, k1):
    """Transpose of :func:`_forward_sheared_views` onto slices ``k0 .. k1 - 1`` of ``out``:
    each step of the forward pass transposed, in reverse order."""
    n_views, rows, cols = proj.shape
    n_b, n_a = out.shape[1], out.shape[2]
    tx0, tx1, tt, hh = np.empty(cols + 1), np.empty(cols + 1), np.empty(cols + 1), np.empty(cols + 2)
    iw, tc, ic = np.empty(cols + 1), np.empty(cols + 1), np.empty(cols + 1, np.int64)
    ty, wy = np.empty((rows + 1, cols)), np.empty((rows, cols))
    pm0, pb0 = np.empty(cols), np.empty(cols)
    hy = np.zeros((rows + 2, cols))
    s_img = np.empty((n_b, cols))   # weight of "every row before the boundary's row"
    p_img = np.empty((n_b, cols))   # weight of the boundary's own row
    g_img = np.empty((n_b, cols))
    suffix = np.empty(cols)
    s_row, p_row = np.empty(n_a), np.empty(n_a)
    hh[0] = 0.0
    hh[cols + 1] = 0.0
    for k in range(k0, k1):
        sl = out[k]
        sl[:, :] = 0
        c_k = lo[0] + (k + 0.5) * size[0]
        for vi in range(n_views):
            _sheared_setup(src[vi], det[vi], u[vi], v[vi], c_k, lo, size, parallel, tx0, tx1, ty, wy,
                           pm0, pb0)
            b0, b1 = _rows_reached(ty, n_b)
            shared = _all_zero(tx1)
            if shared:
                _column_maps(tx0, tx1, 0.0, n_a, tt, iw, tc, ic)
            q = proj[vi]
            for r in range(rows):  # hy[r + 1] = q[r] / width; hy[0] = hy[rows + 1] = 0
                for c in range(cols):
                    hy[r + 1, c] = q[r, c] * wy[r, c]
            s_img[b0:b1, :] = 0.0
            p_img[b0:b1, :] = 0.0
            for r in range(rows + 1):  # boundary r carries h[r - 1] - h[r] onto its voxel row
                for c in range(cols):
                    d = hy[r, c] - hy[r + 1, c]
                    t = min(max(ty[r, c], float(b0)), float(b1))
                    i0 = min(int(t), b1 - 1)
                    s_img[i0, c] += d
                    p_img[i0, c] += d * t
            suffix[:] = 0.0
            for b in range(b1 - 1, b0 - 1, -1):  # rows before a boundary's row: full weight
                for c in range(cols):
                    g_img[b, c] = p_img[b, c] - b * s_img[b, c] + suffix[c]
                    suffix[c] += s_img[b, c]
            for b in range(b0, b1):  # column pass transposed, per voxel row
                if not shared:
                    _column_maps(tx0, tx1, lo[2] + (b + 0.5) * size[2], n_a, tt, iw, tc, ic)
                gi = g_img[b]
                for j in range(cols):
                    hh[j + 1] = gi[j] * iw[j]
                s_row[:] = 0.0
                p_row[:] = 0.0
                for j in range(cols + 1):
                    d = hh[j] - hh[j + 1]
                    s_row[ic[j]] += d
                    p_row[ic[j]] += d * tc[j]
                srow = sl[b]
                run = 0.0
                for i in range(n_a - 1, -1, -1):
                    srow[i] += p_row[i] - i * s_row[i] + run
                    run += s_row[i]


def _sheared_vectors(src, det, u, v, lo, size, axes):
    """Vectors and bounds reordered to (main, column, row) axes, float64 and contiguous."""
    order = list(axes)
    return ([np.ascontiguousarray(np.asarray(x, np.float64)[:, order]) for x in (src, det, u, v)]
            + [np.ascontiguousarray(np.asarray(x, np.float64)[order]) for x in (lo, size)])


def forward_sheared(volume, src, det, u, v, lo, size, *, det_shape, axes, parallel, out=None):
    """Distance-driven projection of a slice stack with per-row and per-column maps
    (the general 3D path of :mod:`recon.projector`, :func:`recon.projector._sheared_maps`).

    Parameters
    ----------
    volume : ndarray (n_slices, n_b, n_a), float32 or float64
        Slices along world axis ``m``; ``n_a`` voxels along world axis ``a`` (detector
        columns), ``n_b`` along ``b`` (rows).
    src, det, u, v : ndarray (n_views, 3)
        Source (the ray direction if ``parallel``), detector centre, column and row steps
        per view, world x, y, z (um).
    lo, size : ndarray (3,)
        Volume window minimum and voxel size per world axis (um).
    det_shape : (rows, cols)
    axes : (m, a, b)
        World axes of the slices' normal, the columns and the rows.
    parallel : bool
    out : ndarray, optional
        Written in place.

    Returns
    -------
    ndarray (n_views, rows, cols): cell averages summed over slices, ``volume``'s dtype
    (the projector multiplies by the path length).
    """
    volume = np.ascontiguousarray(volume)
    vecs = _sheared_vectors(src, det, u, v, lo, size, axes)
    n_views, n_m = vecs[0].shape[0], volume.shape[0]
    out = _output(out, (n_views, *det_shape), volume.dtype)
    args = (volume, *vecs, bool(parallel))
    if n_views >= THREADS:  # views split over the threads, each writing its own images
        _run(_forward_sheared_views, (*args, out, 0, n_m), n_views)
        return out
    # fewer views than threads (a SART subset): slices split, each part into its own
    # images, added after
    parts = _split(n_m)
    partial = [out] + [np.empty_like(out) for _ in parts[1:]]
    _run_parts([(_forward_sheared_views, (*args, acc, int(a), int(b), 0, n_views))
                for acc, (a, b) in zip(partial, parts)])
    for acc in partial[1:]:
        out += acc
    return out


def back_sheared(projections, src, det, u, v, lo, size, *, vol_shape, axes, parallel, out=None):
    """Exact transpose of :func:`forward_sheared` onto ``vol_shape`` ``(n_slices, n_b, n_a)``."""
    projections = np.ascontiguousarray(projections)
    vecs = _sheared_vectors(src, det, u, v, lo, size, axes)
    out = _output(out, vol_shape, projections.dtype)
    _run(_back_sheared_slices, (projections, *vecs, bool(parallel), out), vol_shape[0])
    return out
