"""Distance-driven forward and back projection (De Man & Basu 2004) in JAX, 2D and 3D.

The volume is cut into slices perpendicular to each view's *main axis*, the world axis
along which its central ray runs most (the classic ``|dx| >= |dy|`` switch, extended to
three axes). On each slice the detector cell boundaries are mapped from the source onto
the slice plane, and the slice is resampled onto the detector by overlap lengths.

When each slice maps onto the detector by a scale and a shift per axis (tomosynthesis:
a detector parallel to the slices with ``u || x``, ``v || y``; parallel rays without cross
terms: every 2D parallel beam) the footprint is exactly separable and both passes use the
same 1D map for every row and column. On the CPU such groups run through the compiled
loops of :mod:`recon.native` (:func:`_fp_group_native`, called from the jitted code by
``jax.experimental.buffer_callback``: XLA:CPU runs the gathers of this path at 1.3-1.8 ns per element,
3-10x slower). ``Projector(..., kernel="xla")`` keeps them in JAX: in 2D the slices'
integral tables are built once for all views and their integrals up to the detector
boundaries added over a block of slices before one difference
(:func:`_fp_group_integrals`, with :mod:`recon.dd1d`); in 3D they take the general path
below, which is exact for them as well. Otherwise (fan beams off the slice normal in
full scans, tilted, rolled or shifted detectors, oblique parallel rays, wide cone beams)
each slice is resampled in two 1D passes by cumulative sums and gathers
(:mod:`recon.dd1d`): the column pass follows each voxel row's own line and the row pass
each detector column's own trace on the slice (:func:`_sheared_maps`): the
distance-driven footprint, to first order in the shear. In 3D on the CPU these general
groups run the same two passes in the compiled loops of
:func:`recon.native.forward_sheared` (:func:`_fp_group_sheared`; 2D general groups stay
in JAX). The line integral of cell
``(r, c)`` is ``L(r, c)`` times the sum over slices of the cell averages, with
``L = slice thickness * |ray| / |ray . main axis|`` for the ray through the cell centre.

Values: volumes hold linear attenuation coefficients in 1/um, projections are line
integrals (dimensionless); geometry lengths in um.

Both operators are jit-compiled (the native kernels are called from the compiled code),
batch views with ``vmap`` in chunks (``lax.map`` over
chunks, ``lax.scan`` over slices) so peak memory stays bounded, and carry a
``custom_vjp``: the VJP of :func:`forward_project` is :func:`back_project` and vice versa,
so ``jax.grad`` through either is exact and fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.buffer_callback import buffer_callback

from recon import dd1d, native
from recon.geometry import Geometry

#: Intermediate arrays per chunk of views are kept under this many bytes (assumed budget:
#: small against the 16 GiB target for the largest case; on the 2-core test machine blocks
#: of 4-64 MiB ran fastest, larger ones spill out of cache).
CHUNK_BUDGET_BYTES = 32 * 2**20

#: View chunks traced one by one (not looped) up to this count; see :func:`_map_chunks`
#: (assumed: compile time grows with it, 4 covers the benchmark cases).
MAX_UNROLLED_CHUNKS = 4

# World axes are x=0, y=1, z=2; volume array axis of each world axis.
_ARRAY_AXIS = {3: {0: 2, 1: 1, 2: 0}, 2: {0: 1, 2: 0}}


@dataclass(frozen=True)
class _Group:
    """Static description of the views that share one main axis (hashable, jit-static)."""

    views: tuple          # view indices into the geometry
    m: int                # main world axis (slices are perpendicular to it)
    a: int                # in-plane world axis the detector columns map onto
    b: int                # in-plane world axis the detector rows map onto (3D), -1 in 2D
    perm: tuple           # volume array axes -> (m, b, a) or (m, a)
    chunk: int            # views per vmap batch
    n_chunks: int
    slab: int             # slices per vmap batch
    affine: bool          # parallel rays, or a detector parallel to the slices: affine map
    native: bool = False  # affine group run by the compiled kernels of recon.native
    sheared: bool = False  # general 3D group run by recon.native.forward_sheared / back_sheared
    bp_slab: int = 1      # slices per back-projection step of an affine group (one view per step)


@dataclass(frozen=True)
class _Plan:
    ndim: int
    beam: str             # "cone" (params "src" = source) or "parallel" ("src" = ray direction)
    vol_shape: tuple
    det_shape: tuple      # (rows, cols); rows = 1 in 2D
    n_views: int
    groups: tuple


def _vectors_xyz(geom: Geometry):
    """Source (parallel beams: ray direction), detector centre, u, v as (views, 3) arrays in
    world x, y, z (2D: y = 0)."""
    first = geom._xyz([0, 1, 2] if geom.ndim == 3 else [0, 1])
    u, v = geom.detector_vectors_um
    return first, geom.detector_centres_um, u, v


def _bounds_xyz(geom: Geometry):
    """World-axis (x, y, z) window minimum and voxel size (y: 0 and 1 in 2D)."""
    lo, size = np.zeros(3), np.ones(3)
    for axis_world, axis_arr in _ARRAY_AXIS[geom.ndim].items():
        w0, w1 = geom.vol_window[axis_arr]
        lo[axis_world], size[axis_world] = w0, (w1 - w0) / geom.vol_shape[axis_arr]
    return lo, size


def _plan(geom: Geometry, view_chunk: int | None, kernel: str = "native") -> _Plan:
    """Group views by (main axis, column axis) and size the view chunks.

    ``kernel="native"`` runs affine groups (separable footprints) and general 3D groups
    (per-row and per-column maps, :func:`_sheared_maps`) through :mod:`recon.native`;
    ``"xla"`` runs them in JAX: 2D affine groups by slice integral tables
    (:func:`_fp_group_integrals`), 3D through the general per-row path.
    """
    src, det, u, v = _vectors_xyz(geom)
    lo, size = _bounds_xyz(geom)
    hi = lo + size * np.array([geom.vol_shape[_ARRAY_AXIS[geom.ndim][w]] if w in _ARRAY_AXIS[geom.ndim]
                               else 1 for w in range(3)])
    rows, cols = (1, geom.det_shape[0]) if geom.ndim == 2 else geom.det_shape
    world = (0, 1, 2) if geom.ndim == 3 else (0, 2)
    keys = []
    for k in range(geom.n_views):
        central = src[k] if geom.parallel else det[k] - src[k]
        m = max(world, key=lambda w: abs(central[w]))
        if geom.parallel:
            pass  # every ray has the central direction, so none runs along the slices
        elif lo[m] <= src[k, m] <= hi[m]:
            raise ValueError(f"vectors[{k}]: the source lies within the volume's extent along the "
                             f"view's main axis ({'xyz'[m]}); distance-driven slicing needs it outside")
        else:
            corners = [det[k] + su * cols / 2 * u[k] + sv * rows / 2 * v[k]
                       for su in (-1, 1) for sv in ((-1, 1) if geom.ndim == 3 else (0,))]
            if any(np.sign(c[m] - src[k, m]) != np.sign(central[m]) or c[m] == src[k, m]
                   for c in corners):
                raise ValueError(f"vectors[{k}]: some detector rays run parallel to or away from "
                                 f"the slices (main axis {'xyz'[m]}); the detector is too tilted")
        inplane = [w for w in world if w != m]
        if geom.ndim == 3:
            # columns run along the slice axis that u, carried along the central ray onto the
            # slice, follows most (u itself may lie along the main axis: a tilted detector)
            u_slice = u[k] - u[k, m] * central / central[m]
            a = max(inplane, key=lambda w: abs(u_slice[w]))
            b = [w for w in inplane if w != a][0]
        else:
            a, b = inplane[0], -1
        keys.append((m, a, b))
    amap = _ARRAY_AXIS[geom.ndim]
    groups = []
    for key in sorted(set(keys)):
        views = tuple(i for i, kk in enumerate(keys) if kk == key)
        m, a, b = key
        perm = (amap[m], amap[b], amap[a]) if geom.ndim == 3 else (amap[m], amap[a])
        chunk, slab = _block_sizes(geom, perm, (rows, cols), len(views), view_chunk)
        idx = list(views)
        affine = _affine_group(geom, idx, src, u, v, m, a, b)
        native = affine and kernel == "native"
        sheared = geom.ndim == 3 and not affine and kernel == "native"
        if native or geom.ndim == 3:
            # a 3D separable footprint in XLA takes the general path (exact here too:
            # every row and column of its maps is the same)
            affine = False
        bp_slab = _bp_slab(geom, perm, (rows, cols)) if affine else 1
        groups.append(_Group(views=views, m=m, a=a, b=b, perm=perm, chunk=chunk,
                             n_chunks=-(-len(views) // chunk), slab=slab, affine=affine,
                             native=native, sheared=sheared, bp_slab=bp_slab))
    return _Plan(ndim=geom.ndim, beam=geom.beam, vol_shape=geom.vol_shape, det_shape=(rows, cols),
                 n_views=geom.n_views, groups=tuple(groups))


def _affine_group(geom, idx, src, u, v, m, a, b) -> bool:
    """Whether every view of a group maps each slice onto the detector by a scale and a
    shift per axis (no shear): parallel rays, or a detector parallel to the slices; in 3D
    its columns must also trace lines of constant ``b`` and its rows lines of constant
    ``a`` on the slices (no roll; for parallel rays, no shear from oblique rays)."""
    if not geom.parallel:
        return bool(np.all(u[idx, m] == 0) and np.all(v[idx, m] == 0)
                    and (geom.ndim == 2 or np.all(u[idx, b] == 0) and np.all(v[idx, a] == 0)))
    if geom.ndim == 2:
        return True
    ray = src[idx]
    # the detector's steps carried along the rays onto a slice: their cross components
    u_b = u[idx, b] - u[idx, m] * ray[:, b] / ray[:, m]
    v_a = v[idx, a] - v[idx, m] * ray[:, a] / ray[:, m]
    tol = 1e-9 * (np.linalg.norm(u[idx], axis=1) + np.linalg.norm(v[idx], axis=1))
    return bool(np.all(np.abs(u_b) <= tol) and np.all(np.abs(v_a) <= tol))


def _block_sizes(geom, perm, det, n_views, view_chunk):
    """Views per chunk and slices per block so one block's intermediates fit the budget."""
    if view_chunk is not None and (isinstance(view_chunk, bool) or int(view_chunk) != view_chunk
                                   or view_chunk < 1):
        raise ValueError(f"view_chunk: expected a positive integer, got {view_chunk!r}")
    n = [geom.vol_shape[ax] for ax in perm]
    rows, cols = det
    # Largest arrays per (view, slice) pair: the half-resampled slice and the detector image,
    # each with a few temporaries (cumulative sum, gathered values); 8 bytes covers float64.
    pair = 4 * 8 * ((n[1] if len(n) == 3 else 1) * (max(cols, n[-1]) + 1) + rows * cols)
    pairs = max(1, CHUNK_BUDGET_BYTES // pair)
    chunk = min(n_views, int(view_chunk) if view_chunk else max(1, min(n_views, pairs)))
    slab = max(1, min(n[0], pairs // chunk))
    return chunk, slab


def _bp_slab(geom, perm, det):
    """Slices per back-projection step of a 2D affine group (one view per step): per slice,
    its row with a few temporaries (8 bytes covers float64)."""
    n = [geom.vol_shape[ax] for ax in perm]
    rows, cols = det
    per_slice = 8 * 4 * (n[1] + 1)
    return max(1, min(n[0], CHUNK_BUDGET_BYTES // per_slice))


def _params(geom: Geometry, plan: _Plan, dtype):
    """Per-group arrays (traced, so one compilation serves every geometry of the same shape)."""
    src, det, u, v = _vectors_xyz(geom)
    lo, size = _bounds_xyz(geom)
    out = []
    for g in plan.groups:
        idx = np.asarray(g.views)
        pad = g.chunk * g.n_chunks - idx.size
        idx = np.concatenate([idx, np.repeat(idx[:1], pad)])  # padded views are dropped later
        out.append({name: jnp.asarray(arr[idx], dtype) for name, arr in
                    (("src", src), ("det", det), ("u", u), ("v", v))}
                   | {"lo": jnp.asarray(lo, dtype), "size": jnp.asarray(size, dtype)})
    return tuple(out)


# ----------------------------------------------------------------------------- kernels
def _knots(s, dc, d, n_det, c_k, m, a, lo, size):
    """Detector boundaries 0..n_det along ``d`` (through the centre) on slice ``c_k``, voxel units."""
    e = jnp.arange(n_det + 1, dtype=s.dtype) - n_det / 2
    p_m, p_a = dc[m] + e * d[m], dc[a] + e * d[a]
    lam = (c_k - s[m]) / (p_m - s[m])
    return (s[a] + lam * (p_a - s[a]) - lo[a]) / size[a]


def _affine(s, dc, d, c_k, m, a, lo, size, beam):
    """``(alpha, beta)`` with boundary ``e`` at ``alpha (e - n_det/2) + beta`` (voxel units).

    Cone beam: valid when the detector is parallel to the slices (``d[m] = 0``), so the
    slice maps to the detector by one scale and one shift. Parallel beam (``s`` is the ray
    direction): always affine, the detector is projected along the rays onto the slice.
    """
    if beam == "parallel":
        slope = s[a] / s[m]
        return (d[a] - d[m] * slope) / size[a], (dc[a] + (c_k - dc[m]) * slope - lo[a]) / size[a]
    lam = (c_k - s[m]) / (dc[m] - s[m])
    return lam * d[a] / size[a], (s[a] + lam * (dc[a] - s[a]) - lo[a]) / size[a]


def _edges(s, dc, d, n_det, n_vox, c_k, m, a, lo, size):
    """Voxel boundaries 0..n_vox along world axis ``a`` on slice ``c_k``, in detector cell units."""
    coord = lo[a] + jnp.arange(n_vox + 1, dtype=s.dtype) * size[a]
    p0 = dc - (n_det / 2) * d
    num = (c_k - s[m]) * (p0[a] - s[a]) - (coord - s[a]) * (p0[m] - s[m])
    den = (coord - s[a]) * d[m] - (c_k - s[m]) * d[a]
    return num / den


def _to_slice(points, s, c_k, m, beam):
    """Detector ``points`` (..., 3) carried along their rays onto the plane ``x_m = c_k``."""
    if beam == "parallel":  # s is the ray direction
        return points + ((c_k - points[..., m]) / s[m])[..., None] * s
    return s + ((c_k - s[m]) / (points[..., m] - s[m]))[..., None] * (points - s)


def _to_detector(points, s, dc, u, v, beam):
    """Detector ``(col, row)`` offsets from the centre, in cells, of world ``points`` (..., 3)
    carried along their rays (not restricted to the detector's extent)."""
    n = jnp.cross(u, v)
    d = s if beam == "parallel" else points - s
    q = points + ((dc - points) @ n / (d @ n))[..., None] * d - dc
    uu, vv, uv, qu, qv = u @ u, v @ v, u @ v, q @ u, q @ v
    det = uu * vv - uv * uv
    return (qu * vv - qv * uv) / det, (qv * uu - qu * uv) / det


def _slice_points(c_k, a_pos, b_pos, m, a, b):
    """World points of slice ``c_k`` from in-plane coordinates (broadcast together)."""
    a_pos, b_pos = jnp.broadcast_arrays(a_pos, b_pos)
    comp = {m: jnp.full_like(a_pos, c_k), a: a_pos, b: b_pos}
    return jnp.stack([comp[0], comp[1], comp[2]], axis=-1)


def _sheared_maps(s, dc, u, v, c_k, n_vox, plan: _Plan, g: _Group, lo, size):
    """Boundary positions of the two 1D passes of a 3D view on slice ``c_k``, with shear.

    The column pass resamples each voxel row (``n_b`` of them) along the line through its
    centre: ``tx[i]`` are the column boundaries where they cross that line (voxel units)
    and ``ex[i]`` the voxel boundaries on it in column units. The row pass resamples each
    detector column along the trace of its centre line on the slice: ``ty[:, c]`` are the
    row boundaries there (voxel units) and ``ey[:, c]`` the voxel boundaries in row units.
    For a detector parallel to the slices and aligned with the volume axes (or parallel
    rays with such a projection) every row of ``tx`` and column of ``ty`` is the same: the
    separable footprint. A rolled detector, oblique parallel rays or a cone beam whose
    magnification varies across the detector make them differ: the footprint of a voxel
    is then a parallelogram, which these per-row and per-column maps follow to first order.
    """
    rows, cols = plan.det_shape
    n_b, n_a = n_vox[1], n_vox[-1]
    m, a, b, beam = g.m, g.a, g.b, plan.beam
    dt = s.dtype
    b_mid = lo[b] + (jnp.arange(n_b, dtype=dt) + 0.5) * size[b]
    b_edge = lo[b] + jnp.arange(n_b + 1, dtype=dt) * size[b]
    # column boundaries: lines on the detector, traced onto the slice through two points
    p0 = dc + (jnp.arange(cols + 1, dtype=dt) - cols / 2)[:, None] * u
    x0, x1 = _to_slice(p0, s, c_k, m, beam), _to_slice(p0 + v, s, c_k, m, beam)
    slope = (x1[:, a] - x0[:, a]) / (x1[:, b] - x0[:, b])
    tx = (x0[None, :, a] + (b_mid[:, None] - x0[None, :, b]) * slope - lo[a]) / size[a]
    a_edge = lo[a] + jnp.arange(n_a + 1, dtype=dt) * size[a]
    ex = _to_detector(_slice_points(c_k, a_edge[None, :], b_mid[:, None], m, a, b), s, dc, u, v, beam)[0]
    # row boundaries along each column's centre line
    cc = (jnp.arange(cols, dtype=dt) - cols / 2 + 0.5)[None, :, None] * u
    pr = dc + cc + (jnp.arange(rows + 1, dtype=dt) - rows / 2)[:, None, None] * v
    ty = (_to_slice(pr, s, c_k, m, beam)[..., b] - lo[b]) / size[b]
    y0, y1 = _to_slice(dc + cc[0], s, c_k, m, beam), _to_slice(dc + cc[0] + v, s, c_k, m, beam)
    a_line = y0[None, :, a] + (b_edge[:, None] - y0[None, :, b]) * ((y1[:, a] - y0[:, a]) / (y1[:, b] - y0[:, b]))
    ey = _to_detector(_slice_points(c_k, a_line, b_edge[:, None], m, a, b), s, dc, u, v, beam)[1]
    return tx, ex + cols / 2, ty, ey + rows / 2


def _path_length(s, dc, u, v, rows, cols, m, size, beam):
    """Slice thickness times the secant of each cell-centre ray to the main axis."""
    if beam == "parallel":
        return jnp.full((rows, cols), size[m] * jnp.linalg.norm(s) / jnp.abs(s[m]), s.dtype)
    cu = jnp.arange(cols, dtype=s.dtype) - cols / 2 + 0.5
    cv = jnp.arange(rows, dtype=s.dtype) - rows / 2 + 0.5
    # one (rows, cols) array per component: XLA fuses these into one loop, where a
    # (rows, cols, 3) stack and its norm took 5 ms per 512 x 512 view
    ray = [(dc[k] - s[k]) + cu[None, :] * u[k] + cv[:, None] * v[k] for k in range(3)]
    return size[m] * jnp.sqrt(ray[0] ** 2 + ray[1] ** 2 + ray[2] ** 2) / jnp.abs(ray[m])


def _chunked(p, g: _Group):
    """Reshape per-view arrays of a group to (n_chunks, chunk, ...)."""
    return {k: p[k].reshape(g.n_chunks, g.chunk, *p[k].shape[1:]) for k in ("src", "det", "u", "v")}


def _slice_blocks(n_m, g: _Group):
    """Slice indices padded to whole blocks; padded entries repeat the last slice's geometry."""
    n_blocks = -(-n_m // g.slab)
    k = np.minimum(np.arange(n_blocks * g.slab), n_m - 1)
    return n_blocks, k.reshape(n_blocks, g.slab)


def _fp_one(sl, k, s, dc, u, v, lo, size, plan: _Plan, g: _Group):
    """Cell averages of slice ``k`` (array ``sl``) on the detector of one view."""
    rows, cols = plan.det_shape
    c_k = lo[g.m] + (k + 0.5) * size[g.m]
    if plan.ndim == 3:
        n_vox = [plan.vol_shape[ax] for ax in g.perm]
        tx, _, ty, _ = _sheared_maps(s, dc, u, v, c_k, n_vox, plan, g, lo, size)
        img = jax.vmap(lambda f, t: dd1d.forward(f, t, 0))(sl, tx)                      # per voxel row
        return jax.vmap(lambda f, t: dd1d.forward(f, t, 0), in_axes=1, out_axes=1)(img, ty)  # per column
    return dd1d.forward(sl, _knots(s, dc, u, cols, c_k, g.m, g.a, lo, size), axis=-1)


def _bp_one(q, k, s, dc, u, v, lo, size, n_vox, plan: _Plan, g: _Group):
    """Transpose of :func:`_fp_one`: one view's weighted projection onto slice ``k``."""
    rows, cols = plan.det_shape
    c_k = lo[g.m] + (k + 0.5) * size[g.m]
    if plan.ndim == 3:
        tx, ex, ty, ey = _sheared_maps(s, dc, u, v, c_k, n_vox, plan, g, lo, size)
        q = jax.vmap(lambda h, t, e: dd1d.adjoint(h, t, e, 0), in_axes=1, out_axes=1)(q, ty, ey)
        return jax.vmap(lambda h, t, e: dd1d.adjoint(h, t, e, 0))(q, tx, ex)
    return dd1d.adjoint(q, _knots(s, dc, u, cols, c_k, g.m, g.a, lo, size),
                        _edges(s, dc, u, cols, n_vox[-1], c_k, g.m, g.a, lo, size), axis=-1)


def _slab_volume(volume, g: _Group):
    """Volume transposed to (n_m, [n_b,] n_a), zero-padded to whole blocks of slices."""
    vol_t = jnp.transpose(volume, g.perm)
    n_m = vol_t.shape[0]
    n_blocks, kk = _slice_blocks(n_m, g)
    vol_t = jnp.concatenate([vol_t, jnp.zeros((kk.size - n_m, *vol_t.shape[1:]), vol_t.dtype)])
    return vol_t.reshape(n_blocks, g.slab, *vol_t.shape[1:]), jnp.asarray(kk, volume.dtype)


def _view_lengths(views, plan: _Plan, g: _Group, size):
    """Path length factor of every cell of the views ``views["src", "det", "u", "v"]``
    (arrays with a leading view axis): (views, rows, cols), (views, cols) in 2D."""
    rows, cols = plan.det_shape
    lengths = jax.vmap(lambda s, dc, u, v: _path_length(s, dc, u, v, rows, cols, g.m, size, plan.beam))(
        views["src"], views["det"], views["u"], views["v"])
    return lengths if plan.ndim == 3 else lengths.reshape(lengths.shape[0], cols)


def _fp_group(volume, p, plan: _Plan, g: _Group):
    if g.sheared:
        return _fp_group_sheared(volume, p, plan, g)
    if g.native:
        return _fp_group_native(volume, p, plan, g)
    if g.affine:
        return _fp_group_integrals(volume, p, plan, g)
    rows, cols = plan.det_shape
    vol_t, kk = _slab_volume(volume, g)
    lo, size = p["lo"], p["size"]
    one = functools.partial(_fp_one, lo=lo, size=size, plan=plan, g=g)
    # vmap over the slices of a block (geometry shared), then over the views of a chunk.
    per_view = jax.vmap(jax.vmap(one, in_axes=(0, 0, None, None, None, None)),
                        in_axes=(None, None, 0, 0, 0, 0))

    def chunk_fn(c):
        def block_step(acc, xs):
            block, k = xs
            return acc + per_view(block, k, c["src"], c["det"], c["u"], c["v"]).sum(1), None

        shape = (g.chunk, rows, cols) if plan.ndim == 3 else (g.chunk, cols)
        acc, _ = jax.lax.scan(block_step, jnp.zeros(shape, volume.dtype), (vol_t, kk))
        return acc * _view_lengths(c, plan, g, size)

    return _map_chunks(chunk_fn, _chunked(p, g), g)


def _integrals_one(table, k, s, dc, u, v, lo, size, plan: _Plan, g: _Group):
    """2D: slice ``k`` integrated up to each detector cell boundary, over alpha.

    ``table``: :func:`recon.dd1d.integral_table` of the slice (shared by all views).
    """
    c_k = lo[g.m] + (k + 0.5) * size[g.m]
    return dd1d.integrals_affine(table, *_affine(s, dc, u, c_k, g.m, g.a, lo, size, plan.beam),
                                 plan.det_shape[1], axis=0)


def _fp_group_integrals(volume, p, plan: _Plan, g: _Group):
    """2D forward projection for a parallel detector, from the detector side: each slice's
    integral table is built once for all views, the integrals up to the detector
    boundaries of a block of slices are added (fused with their gathers) and differenced
    once per block, not once per slice. Summing integrals over *all* slices first would
    lose float32 precision (they grow with the volume, the cell values do not).
    """
    rows, cols = plan.det_shape
    vol_t, kk = _slab_volume(volume, g)
    tables = dd1d.integral_table(vol_t, -1)  # per slice row, shared by all views
    lo, size = p["lo"], p["size"]
    one = functools.partial(_integrals_one, lo=lo, size=size, plan=plan, g=g)
    per_view = jax.vmap(jax.vmap(one, in_axes=(0, 0, None, None, None, None)),
                        in_axes=(None, None, 0, 0, 0, 0))

    def chunk_fn(c):
        def block_step(acc, xs):
            table, k = xs
            integrals = per_view(table, k, c["src"], c["det"], c["u"], c["v"]).sum(1)
            return acc + dd1d._diff(integrals, 1), None

        zero = jnp.zeros((g.chunk, rows, cols) if plan.ndim == 3 else (g.chunk, cols), volume.dtype)
        acc, _ = jax.lax.scan(block_step, zero, (tables, kk))
        return acc * _view_lengths(c, plan, g, size)

    return _map_chunks(chunk_fn, _chunked(p, g), g)


def _slice_maps(s, dc, u, v, k, lo, size, plan: _Plan, g: _Group):
    """Column and row ``(alpha, beta)`` of slice ``k`` (see :func:`_affine`)."""
    c_k = lo[g.m] + (k + 0.5) * size[g.m]
    return (_affine(s, dc, u, c_k, g.m, g.a, lo, size, plan.beam),
            _affine(s, dc, v, c_k, g.m, g.b, lo, size, plan.beam))


def _native_maps(p, plan: _Plan, g: _Group):
    """``(ax, bx, ay, by)`` in 3D, ``(ax, bx)`` in 2D, each ``(views, slices)``: the column
    (and row) maps of every slice for every view of a native group (see :func:`_affine`)."""
    n = len(g.views)
    lo, size = p["lo"], p["size"]
    k = jnp.arange(plan.vol_shape[g.perm[0]], dtype=lo.dtype)

    def per_view(s, dc, u, v):
        if plan.ndim == 2:
            return jax.vmap(lambda kk: _affine(s, dc, u, lo[g.m] + (kk + 0.5) * size[g.m], g.m, g.a,
                                               lo, size, plan.beam))(k)
        (ax, bx), (ay, by) = jax.vmap(lambda kk: _slice_maps(s, dc, u, v, kk, lo, size, plan, g))(k)
        return ax, bx, ay, by

    return jax.vmap(per_view)(*(p[name][:n] for name in ("src", "det", "u", "v")))


def _group_lengths(p, plan: _Plan, g: _Group):
    """Path length factor of every cell of every view of a group: (views, rows, cols),
    (views, cols) in 2D."""
    n = len(g.views)
    return _view_lengths({name: p[name][:n] for name in ("src", "det", "u", "v")}, plan, g, p["size"])


def _host_call(fn, shape, dtype, *args):
    """``fn(*args, out=out)`` on numpy views of XLA's own buffers, from compiled code.

    ``jax.experimental.buffer_callback`` hands the kernel the input and output buffers
    in place: no copies (the volume of the large 3D case is 1 GiB), and their dtypes as
    they are (``jax.pure_callback`` converts on its thread, where a caller's
    ``jax.enable_x64`` context does not hold, so float64 arrived as float32).
    """
    def call(ctx, out, *bufs):
        fn(*(np.asarray(b) for b in bufs), out=np.asarray(out))

    return buffer_callback(call, jax.ShapeDtypeStruct(shape, dtype), vmap_method="sequential")(*args)


def _fp_group_native(volume, p, plan: _Plan, g: _Group):
    """3D forward projection of a separable group by :func:`recon.native.forward_separable`
    (slices parallel to the detector, or parallel rays whose detector columns and rows
    follow two volume axes: each slice maps onto the detector by a scale and a shift per
    axis, footprint ``W_rows S W_cols^T``)."""
    rows, cols = plan.det_shape
    if plan.ndim == 2:  # the 2D kernels read slices along either array axis in place
        fn = functools.partial(native.forward_rows, n_cols=cols, transposed=g.perm != (0, 1))
        proj = _host_call(fn, (len(g.views), cols), volume.dtype, volume, *_native_maps(p, plan, g))
    else:
        fn = functools.partial(native.forward_separable, det_shape=(rows, cols))
        proj = _host_call(fn, (len(g.views), rows, cols), volume.dtype, jnp.transpose(volume, g.perm),
                          *_native_maps(p, plan, g))
    return proj * _group_lengths(p, plan, g)


def _bp_group_native(proj, p, plan: _Plan, g: _Group):
    """Transpose of :func:`_fp_group_native` (:func:`recon.native.back_separable`)."""
    weighted, maps = proj * _group_lengths(p, plan, g), _native_maps(p, plan, g)
    if plan.ndim == 2:
        fn = functools.partial(native.back_rows, vol_shape=plan.vol_shape, transposed=g.perm != (0, 1))
        return _host_call(fn, plan.vol_shape, proj.dtype, weighted, *maps)
    n_vox = tuple(plan.vol_shape[ax] for ax in g.perm)
    fn = functools.partial(native.back_separable, vol_shape=n_vox)
    return jnp.transpose(_host_call(fn, n_vox, proj.dtype, weighted, *maps), np.argsort(g.perm))


def _sheared_kernel_args(p, plan: _Plan, g: _Group):
    """Keywords and view arrays of :func:`recon.native.forward_sheared` for a group."""
    n = len(g.views)
    keywords = dict(axes=(g.m, g.a, g.b), parallel=plan.beam == "parallel")
    return keywords, (*(p[name][:n] for name in ("src", "det", "u", "v")), p["lo"], p["size"])


def _fp_group_sheared(volume, p, plan: _Plan, g: _Group):
    """3D forward projection of a general group (cone beams, tilted or rolled detectors,
    oblique parallel rays) by :func:`recon.native.forward_sheared`: the operator of
    :func:`_fp_one` (maps of :func:`_sheared_maps`), computed in compiled loops."""
    keywords, arrays = _sheared_kernel_args(p, plan, g)
    fn = functools.partial(native.forward_sheared, det_shape=plan.det_shape, **keywords)
    proj = _host_call(fn, (len(g.views), *plan.det_shape), volume.dtype,
                      jnp.transpose(volume, g.perm), *arrays)
    return proj * _group_lengths(p, plan, g)


def _bp_group_sheared(proj, p, plan: _Plan, g: _Group):
    """Transpose of :func:`_fp_group_sheared` (:func:`recon.native.back_sheared`)."""
    keywords, arrays = _sheared_kernel_args(p, plan, g)
    n_vox = tuple(plan.vol_shape[ax] for ax in g.perm)
    fn = functools.partial(native.back_sheared, vol_shape=n_vox, **keywords)
    out = _host_call(fn, n_vox, proj.dtype, proj * _group_lengths(p, plan, g), *arrays)
    return jnp.transpose(out, np.argsort(g.perm))


def _map_chunks(chunk_fn, chunks, g: _Group):
    """``chunk_fn`` over the view chunks, stacked and cut to the group's views.

    A few chunks are traced one by one rather than with ``lax.map``: XLA:CPU then spreads
    the work over both cores; inside a ``lax.map`` loop it ran on one (2D forward
    benchmark, 2 idle cores: about 2x wall time). Many chunks keep the loop, so
    compilation stays small.
    """
    if g.n_chunks <= MAX_UNROLLED_CHUNKS:
        out = jnp.stack([chunk_fn({k: v[i] for k, v in chunks.items()}) for i in range(g.n_chunks)])
    else:
        out = jax.lax.map(chunk_fn, chunks)
    return out.reshape(-1, *out.shape[2:])[: len(g.views)]


def _bp_one_view(q, k, s, dc, u, v, lo, size, n_vox, plan: _Plan, g: _Group):
    """2D: one view on slice ``k`` for an affine group; ``q`` is the view's integral table
    along its columns, built once per view for every slice."""
    c_k = lo[g.m] + (k + 0.5) * size[g.m]
    return dd1d.adjoint_affine_table(q, *_affine(s, dc, u, c_k, g.m, g.a, lo, size, plan.beam),
                                     n_vox[-1], axis=-1)


def _bp_group_by_view(proj, p, plan: _Plan, g: _Group):
    """2D back projection of an affine group: one view per scan step onto a block of slices.

    Each view's integral table is built once and serves every slice; the views are
    added in the accumulator, not by a sum over a vmapped axis (XLA:CPU fuses such a sum
    into the gathers and runs it in a cache-hostile order: 2x slower on the tooth).
    """
    n_vox = [plan.vol_shape[ax] for ax in g.perm]  # (n_m, n_a)
    n = len(g.views)
    lo, size = p["lo"], p["size"]
    src, det, u, v = (p[k][:n] for k in ("src", "det", "u", "v"))
    tables = dd1d.integral_table(proj * _group_lengths(p, plan, g), -1)
    slab = g.bp_slab
    n_blocks = -(-n_vox[0] // slab)
    kk = np.minimum(np.arange(n_blocks * slab), n_vox[0] - 1).reshape(n_blocks, slab)
    one = functools.partial(_bp_one_view, lo=lo, size=size, n_vox=n_vox, plan=plan, g=g)
    per_slice = jax.vmap(one, in_axes=(None, 0, None, None, None, None))

    def block_fn(k):
        def step(acc, xs):
            q, s, dc, uu, vv = xs
            return acc + per_slice(q, k, s, dc, uu, vv), None

        acc, _ = jax.lax.scan(step, jnp.zeros((slab, *n_vox[1:]), proj.dtype),
                              (tables, src, det, u, v))
        return acc

    if n_blocks == 1:
        vol_t = block_fn(jnp.asarray(kk[0], proj.dtype))
    else:
        vol_t = jax.lax.map(block_fn, jnp.asarray(kk, proj.dtype)).reshape(-1, *n_vox[1:])
    return jnp.transpose(vol_t[: n_vox[0]], np.argsort(g.perm))


def _bp_group(proj, p, plan: _Plan, g: _Group):
    if g.sheared:
        return _bp_group_sheared(proj, p, plan, g)
    if g.native:
        return _bp_group_native(proj, p, plan, g)
    if g.affine:
        return _bp_group_by_view(proj, p, plan, g)
    n_vox = [plan.vol_shape[ax] for ax in g.perm]  # (n_m, [n_b,] n_a)
    lo, size = p["lo"], p["size"]
    pad = g.chunk * g.n_chunks - proj.shape[0]
    proj = jnp.concatenate([proj, jnp.zeros((pad, *proj.shape[1:]), proj.dtype)])
    weighted = (proj * _view_lengths(p, plan, g, size)).reshape(g.n_chunks, g.chunk, *proj.shape[1:])
    chunks = _chunked(p, g)
    n_blocks, kk = _slice_blocks(n_vox[0], g)
    one = functools.partial(_bp_one, lo=lo, size=size, n_vox=n_vox, plan=plan, g=g)
    # vmap over the slices of a block (projection shared), then over the views of a chunk.
    per_view = jax.vmap(jax.vmap(one, in_axes=(None, 0, None, None, None, None)),
                        in_axes=(0, None, 0, 0, 0, 0))

    def block_fn(k):
        def chunk_step(acc, xs):
            q, c = xs
            return acc + per_view(q, k, c["src"], c["det"], c["u"], c["v"]).sum(0), None

        acc, _ = jax.lax.scan(chunk_step, jnp.zeros((g.slab, *n_vox[1:]), proj.dtype),
                              (weighted, chunks))
        return acc

    vol_t = jax.lax.map(block_fn, jnp.asarray(kk, proj.dtype))
    vol_t = vol_t.reshape(-1, *n_vox[1:])[: n_vox[0]]
    return jnp.transpose(vol_t, np.argsort(g.perm))


def _fp_impl(plan: _Plan, volume, params):
    outs = [_fp_group(volume, p, plan, g) for g, p in zip(plan.groups, params)]
    if len(outs) == 1 and plan.groups[0].views == tuple(range(plan.n_views)):
        return outs[0]
    order = np.argsort(np.concatenate([g.views for g in plan.groups]))
    return jnp.take(jnp.concatenate(outs), jnp.asarray(order), axis=0)


def _bp_impl(plan: _Plan, proj, params):
    total = None
    for g, p in zip(plan.groups, params):
        part = _bp_group(jnp.take(proj, jnp.asarray(g.views), axis=0), p, plan, g)
        total = part if total is None else total + part
    return total


_fp_impl_jit = jax.jit(_fp_impl, static_argnums=0)
_bp_impl_jit = jax.jit(_bp_impl, static_argnums=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fp(plan, volume, params):
    return _fp_impl_jit(plan, volume, params)


def _fp_fwd(plan, volume, params):
    return _fp_impl_jit(plan, volume, params), params


def _fp_bwd(plan, params, cot):
    # Gradients flow to the volume only; the geometry is treated as constant.
    return _bp(plan, cot, params), jax.tree.map(jnp.zeros_like, params)


_fp.defvjp(_fp_fwd, _fp_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _bp(plan, proj, params):
    return _bp_impl_jit(plan, proj, params)


def _bp_fwd(plan, proj, params):
    return _bp_impl_jit(plan, proj, params), params


def _bp_bwd(plan, params, cot):
    return _fp(plan, cot, params), jax.tree.map(jnp.zeros_like, params)


_bp.defvjp(_bp_fwd, _bp_bwd)



# ----------------------------------------------------------------------------- public API
def _as_float(x, key):
    if isinstance(x, np.ndarray) or not isinstance(x, jax.Array):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
    dtype = jnp.float64 if (x.dtype == np.float64 and jax.config.jax_enable_x64) else jnp.float32
    x = jnp.asarray(x, dtype)
    if not isinstance(x, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{key}: contains NaN or inf")
    return x


def _check_geometry(geometry):
    if not isinstance(geometry, Geometry):
        raise ValueError(f"geometry: expected a recon.geometry.Geometry, got {type(geometry).__name__}")


class Projector:
    """The distance-driven projector pair of one geometry, as a linear operator.

    ``A = Projector(geometry)``; ``A.forward(x)`` (also ``A(x)``) maps a volume
    ``A.vol_shape`` to projections ``A.proj_shape`` and ``A.adjoint(p)`` is its exact
    transpose. Every algorithm in :mod:`recon.algorithms` accepts a Projector (or a
    Geometry, which it wraps): another projector (a GPU kernel, a matrix) works with all
    of them if it offers the same members: ``geometry``, ``vol_shape``, ``proj_shape``,
    ``dtype``, ``forward``, ``adjoint``, ``subset(views)`` and ``subset_runs(subsets)``.

    Quantities an algorithm derives from the geometry alone (normalisations, operator
    norms) are kept in :meth:`cached`, so they are computed once per projector.

    Parameters
    ----------
    geometry : Geometry
    view_chunk : int, optional
        Views vectorised together (default: sized to :data:`CHUNK_BUDGET_BYTES`).
    dtype : str
        ``"float32"`` (default) or ``"float64"`` (needs ``jax_enable_x64``): the compute
        type; inputs are cast to it, so float32 data stay float32 with x64 enabled.
    kernel : {"native", "xla"}, optional
        Who runs views with a separable footprint (tomosynthesis, parallel beams along
        the volume axes, 2D parallel beams) and every other 3D view (cone-beam CT,
        tilted or rolled detectors, oblique parallel rays): ``"native"``, the compiled
        CPU loops of :mod:`recon.native` (3-20x faster on the CPU), or ``"xla"``, the
        same operators in JAX (runs on any JAX device; forward-mode and plain autodiff
        through it). Default: ``"native"`` when JAX runs on the CPU, ``"xla"`` on an
        accelerator (a callback would copy every pass to the host). Both give the same
        projections to rounding; 2D fan-beam views off the slice normal always use XLA.
    """

    def __init__(self, geometry: Geometry, *, view_chunk: int | None = None, dtype="float32",
                 kernel: str | None = None):
        _check_geometry(geometry)
        if str(np.dtype(dtype)) not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
        if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
            raise ValueError("dtype: float64 needs jax_enable_x64 (jax.config.update('jax_enable_x64', True))")
        if kernel is None:
            kernel = "native" if jax.default_backend() == "cpu" else "xla"
        if kernel not in ("native", "xla"):
            raise ValueError(f"kernel: expected 'native' or 'xla', got {kernel!r}")
        self.geometry = geometry
        self.dtype = jnp.dtype(dtype)
        self.view_chunk = view_chunk
        self.kernel = kernel
        self._plan = _plan(geometry, view_chunk, kernel)
        self._params = _params(geometry, self._plan, self.dtype)
        self._cache = {}

    vol_shape = property(lambda self: self.geometry.vol_shape, doc="Volume shape.")
    proj_shape = property(lambda self: self.geometry.proj_shape, doc="Projection stack shape.")

    def __repr__(self):
        return (f"Projector({self.geometry.kind}, vol_shape={self.vol_shape}, "
                f"proj_shape={self.proj_shape}, dtype={self.dtype}, kernel={self.kernel!r})")

    def _cast(self, x, shape, key):
        if not isinstance(x, jax.core.Tracer):
            x = _as_float(x, key)
        x = jnp.asarray(x, self.dtype)
        if x.shape != shape:
            raise ValueError(f"{key}: shape {x.shape} does not match {shape}")
        return x

    def forward(self, volume):
        """Line integrals of ``volume`` (1/um) for every view: ``proj_shape``."""
        return _fp(self._plan, self._cast(volume, self.vol_shape, "volume"), self._params)

    __call__ = forward

    def adjoint(self, projections):
        """Exact transpose of :meth:`forward`: ``vol_shape``."""
        return _bp(self._plan, self._cast(projections, self.proj_shape, "projections"), self._params)

    def subset(self, views) -> "Projector":
        """The projector of the given views only (ordered subsets)."""
        return Projector(self.geometry.subset(views), view_chunk=self.view_chunk, dtype=self.dtype,
                         kernel=self.kernel)

    def subset_runs(self, subsets):
        """Subsets grouped into runs that one compiled loop can sweep.

        Parameters
        ----------
        subsets : list of index arrays
            View indices of each subset, in update order.

        Returns
        -------
        list of ``(positions, forward, adjoint, params)``: ``positions`` are consecutive
        indices into ``subsets``; ``forward(x, P)`` and ``adjoint(q, P)`` are pure functions
        of the subset parameters ``P``, and ``params`` stacks each subset's ``P`` on a
        leading axis (for ``lax.scan``). Consecutive subsets share a run when their static
        plan (view count, main axes) is equal.
        """
        runs = []
        for pos, idx in enumerate(subsets):
            geom = self.geometry.subset(idx)
            plan = _plan(geom, self.view_chunk, self.kernel)
            params = _params(geom, plan, self.dtype)
            if runs and runs[-1][0] == plan:
                runs[-1][1].append(pos)
                runs[-1][2].append(params)
            else:
                runs.append((plan, [pos], [params]))
        out = []
        for plan, positions, params in runs:
            stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
            out.append((positions, functools.partial(_fp, plan), functools.partial(_bp, plan), stacked))
        return out

    def cached(self, key, compute):
        """``compute()`` the first time ``key`` is asked for, the stored value after."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def as_projector(operator) -> "Projector":
    """A Projector for ``operator``: itself if it is one, a new one for a Geometry."""
    if isinstance(operator, Geometry):
        return Projector(operator)
    for name in ("forward", "adjoint", "vol_shape", "proj_shape", "geometry", "dtype"):
        if not hasattr(operator, name):
            raise ValueError(f"geometry: expected a recon.Geometry or a Projector, got "
                             f"{type(operator).__name__} (no {name!r})")
    return operator


def _compute_dtype(x):
    """float64 for float64 input when x64 is on, float32 otherwise."""
    x = np.asarray(x) if not isinstance(x, jax.Array) else x
    return "float64" if (x.dtype == np.float64 and jax.config.jax_enable_x64) else "float32"


def forward_project(volume, geometry: Geometry, *, view_chunk: int | None = None):
    """Distance-driven line integrals of ``volume`` for every view of ``geometry``.

    ``Projector(geometry).forward(volume)``, computed in float64 only for float64 input
    with ``jax_enable_x64`` on.

    Parameters
    ----------
    volume : array ``geometry.vol_shape`` (``(nz, ny, nx)`` or ``(nz, nx)``)
        Linear attenuation coefficient in 1/um.
    geometry : Geometry
    view_chunk : int, optional
        Views vectorised together.

    Returns
    -------
    jax.Array ``geometry.proj_shape``: ``(views, rows, cols)`` or ``(views, cols)``.
    """
    _check_geometry(geometry)
    volume = _as_float(volume, "volume")
    if volume.shape != geometry.vol_shape:
        raise ValueError(f"volume: shape {volume.shape} does not match geometry.vol_shape "
                         f"{geometry.vol_shape}")
    return Projector(geometry, view_chunk=view_chunk, dtype=volume.dtype).forward(volume)


def back_project(projections, geometry: Geometry, *, view_chunk: int | None = None):
    """Exact adjoint of :func:`forward_project` (unfiltered, unnormalised back projection).

    Parameters
    ----------
    projections : array ``geometry.proj_shape``
    geometry : Geometry
    view_chunk : int, optional

    Returns
    -------
    jax.Array ``geometry.vol_shape``.
    """
    _check_geometry(geometry)
    projections = _as_float(projections, "projections")
    if projections.shape != geometry.proj_shape:
        raise ValueError(f"projections: shape {projections.shape} does not match "
                         f"geometry.proj_shape {geometry.proj_shape}")
    return Projector(geometry, view_chunk=view_chunk, dtype=projections.dtype).adjoint(projections)


def _raw_forward(volume, geometry: Geometry, *, view_chunk: int | None = None):
    """The forward projector without the custom VJP, all in JAX (tests differentiate it with
    plain AD)."""
    plan = _plan(geometry, view_chunk, "xla")
    return _fp_impl(plan, volume, _params(geometry, plan, volume.dtype))
