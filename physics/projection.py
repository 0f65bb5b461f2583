"""Objects and their cone-beam projection by Beer-Lambert, for any source position.

World frame (shared with ``recon``): micrometres; the scintillator front face is
the plane ``z = 0`` centred on the origin; ``x`` runs along detector columns,
``y`` along rows; objects sit at ``z > 0`` and the source above them. A detector
grid of shape ``(rows, cols)`` and pixel ``p`` has pixel centres at
``((j - (cols-1)/2) p, (i - (rows-1)/2) p)``.

Objects
-------
:class:`Layer` / :class:`LayeredObject`
    Thin layers: per-material thickness maps (um) at heights ``z``, each on its
    own pixel grid.
:class:`VoxelObject`
    Per-material volume fractions on a voxel grid.

Projection
----------
The ray from the source ``S`` to the detector point ``d`` crosses the plane at
height ``z`` at ``P = d (1 - z/S_z) + S_xy z/S_z``: a plane is imaged onto the
detector by the magnification ``S_z / (S_z - z)`` about the source's foot point.
A detector sample (a box of side ``a``) therefore sees an axis-aligned box of
side ``a (1 - z/S_z)`` in the layer; :func:`path_lengths` averages the layer's
piecewise-constant map over that box exactly (separable box overlaps, the
distance-driven footprint of De Man & Basu, Phys. Med. Biol. 49 (2004) 2463),
and divides by ``cos`` of the ray's angle to the z axis (an oblique ray crosses
a layer of thickness ``t`` over ``t / cos``). Area weighting is chosen over
bilinear sampling because it conserves the projected mass at every
magnification, does not alias when layer pixels are finer than the detector
samples, and is the same footprint model the reconstruction uses. Voxel objects
are projected slice by slice, each slice as a layer of thickness ``f dz`` at its
mid-height.

:func:`transmitted_signal` then forms ``sum_E w(E) exp(-sum_m mu_m(E) L_m)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax

from physics.tracing import is_concrete
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Layer",
    "LayeredObject",
    "VoxelObject",
    "path_lengths",
    "transmitted_signal",
    "chebyshev_log_signal",
    "detector_coordinates",
]


def _check_values(arr, key: str, *, upper: float | None = None) -> None:
    """Non-negative, finite (and <= upper) check; skipped for traced arrays."""
    if not is_concrete(arr):
        return
    a = np.asarray(arr)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{key}: contains NaN or infinite values")
    if a.size and a.min() < 0:
        raise ValueError(f"{key}: contains negative values (min {a.min():g})")
    if upper is not None and a.size and a.max() > upper:
        raise ValueError(f"{key}: values exceed {upper:g} (max {a.max():g})")


def _positive(value, key: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{key}: {value!r} must be a finite positive length in um")
    return v


def _materials(materials, key: str) -> tuple[str, ...]:
    if isinstance(materials, str) or not all(isinstance(m, str) for m in materials) or not materials:
        raise ValueError(f"{key}: expected a non-empty sequence of material names, got {materials!r}")
    mats = tuple(materials)
    if len(set(mats)) != len(mats):
        raise ValueError(f"{key}: duplicate material names in {mats}")
    return mats


@dataclass(frozen=True)
class Layer:
    """A thin layer: per-material thickness maps at one height.

    Parameters
    ----------
    height_um : float
        Height of the layer above the scintillator front face (>= 0).
    thickness_um : array_like, shape (n_mat, ny, nx)
        Thickness (um) of each material; zero where there is none.
    pixel_size_um : float
        Pixel size of the maps.
    center_um : tuple of float
        World (x, y) of the map centre. Pixel (i, j) has its centre at
        ``center + ((j - (nx-1)/2) p, (i - (ny-1)/2) p)``.
    """

    height_um: float
    thickness_um: jnp.ndarray
    pixel_size_um: float
    center_um: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        h = float(self.height_um)
        if not (math.isfinite(h) and h >= 0):
            raise ValueError(f"layer.height_um: {self.height_um!r} must be finite and >= 0")
        object.__setattr__(self, "height_um", h)
        object.__setattr__(self, "pixel_size_um", _positive(self.pixel_size_um, "layer.pixel_size_um"))
        c = tuple(float(v) for v in self.center_um)
        if len(c) != 2 or not all(math.isfinite(v) for v in c):
            raise ValueError(f"layer.center_um: {self.center_um!r} must be two finite numbers")
        object.__setattr__(self, "center_um", c)
        t = self.thickness_um if isinstance(self.thickness_um, jax.Array) else jnp.asarray(self.thickness_um)
        if t.ndim != 3 or min(t.shape) < 1:
            raise ValueError(f"layer.thickness_um: expected shape (n_mat, ny, nx), got {t.shape}")
        _check_values(t, "layer.thickness_um")
        object.__setattr__(self, "thickness_um", t)


@dataclass(frozen=True)
class LayeredObject:
    """Thin layers of materials, e.g. charts at several heights.

    Parameters
    ----------
    materials : sequence of str
        Material names (``physics.materials`` names); index ``m`` of every
        layer's ``thickness_um`` refers to ``materials[m]``.
    layers : sequence of Layer
    """

    materials: tuple[str, ...]
    layers: tuple[Layer, ...]

    def __post_init__(self):
        mats = _materials(self.materials, "object.materials")
        object.__setattr__(self, "materials", mats)
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("object.layers: need at least one layer")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"object.layers[{k}]: expected a Layer, got {type(layer).__name__}")
            if layer.thickness_um.shape[0] != len(mats):
                raise ValueError(f"object.layers[{k}].thickness_um: has {layer.thickness_um.shape[0]} "
                                 f"material maps but object.materials lists {len(mats)}: {mats}")
        object.__setattr__(self, "layers", layers)

    @property
    def top_um(self) -> float:
        """Height of the highest layer."""
        return max(layer.height_um for layer in self.layers)


@dataclass(frozen=True)
class VoxelObject:
    """Per-material volume fractions on a voxel grid.

    Parameters
    ----------
    materials : sequence of str
    fractions : array_like, shape (n_mat, nz, ny, nx)
        Volume fraction of each material in each voxel, in [0, 1]; fractions
        of one voxel sum to at most 1 (the rest is vacuum/air, neglected).
    voxel_size_um : tuple (dz, dy, dx)
    bottom_um : float
        Height of the bottom face of slice 0 above the scintillator (>= 0).
    center_um : tuple of float
        World (x, y) of the grid centre.
    """

    materials: tuple[str, ...]
    fractions: jnp.ndarray
    voxel_size_um: tuple[float, float, float]
    bottom_um: float = 0.0
    center_um: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        mats = _materials(self.materials, "object.materials")
        object.__setattr__(self, "materials", mats)
        f = self.fractions if isinstance(self.fractions, jax.Array) else jnp.asarray(self.fractions)
        if f.ndim != 4 or min(f.shape) < 1 or f.shape[0] != len(mats):
            raise ValueError(f"object.fractions: expected shape (n_mat={len(mats)}, nz, ny, nx), got {f.shape}")
        _check_values(f, "object.fractions", upper=1.0 + 1e-6)
        if is_concrete(f) and float(np.asarray(f).sum(axis=0).max()) > 1.0 + 1e-5:
            raise ValueError("object.fractions: volume fractions of a voxel sum to more than 1")
        object.__setattr__(self, "fractions", f)
        vs = tuple(self.voxel_size_um)
        if len(vs) != 3:
            raise ValueError(f"object.voxel_size_um: expected (dz, dy, dx), got {self.voxel_size_um!r}")
        object.__setattr__(self, "voxel_size_um",
                           tuple(_positive(v, f"object.voxel_size_um[{k}]") for k, v in enumerate(vs)))
        b = float(self.bottom_um)
        if not (math.isfinite(b) and b >= 0):
            raise ValueError(f"object.bottom_um: {self.bottom_um!r} must be finite and >= 0")
        object.__setattr__(self, "bottom_um", b)
        c = tuple(float(v) for v in self.center_um)
        if len(c) != 2 or not all(math.isfinite(v) for v in c):
            raise ValueError(f"object.center_um: {self.center_um!r} must be two finite numbers")
        object.__setattr__(self, "center_um", c)

    @property
    def top_um(self) -> float:
        return self.bottom_um + self.fractions.shape[1] * self.voxel_size_um[0]


# -- pytrees: arrays are leaves (differentiable), geometry is static -----------------------
def _register(cls, leaves, unflatten_fields):
    def flatten(obj):
        return tuple(getattr(obj, n) for n in leaves), tuple(
            (n, getattr(obj, n)) for n in unflatten_fields)

    def unflatten(aux, children):
        obj = object.__new__(cls)  # no validation: children may be tracers or placeholders
        for n, v in aux:
            object.__setattr__(obj, n, v)
        for n, v in zip(leaves, children):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)


# heights and centres are leaves too: one compilation serves every height, and jax.grad
# with respect to distances works; pixel sizes fix the (static) tap counts.
_register(Layer, ("thickness_um", "height_um", "center_um"), ("pixel_size_um",))
_register(LayeredObject, ("layers",), ("materials",))
_register(VoxelObject, ("fractions", "bottom_um", "center_um"), ("materials", "voxel_size_um"))


# -- geometry -----------------------------------------------------------------------------
def detector_coordinates(n: int, pixel_um: float) -> jnp.ndarray:
    """Centres (um) of ``n`` detector samples of size ``pixel_um`` along one axis."""
    return (jnp.arange(n) - (n - 1) / 2) * pixel_um


def _ramp(x):
    """clip(x, 0, 1) with the one-sided derivative 1 on [0, 1): at a pixel edge exactly one
    pixel takes the derivative, so gradients stay mass-conserving on aligned grids."""
    return jnp.where(x < 0, 0.0, jnp.where(x >= 1, 1.0, x))


#: Above this many taps per sample, :func:`_overlap_resample` takes box integrals from a
#: cumulative sum (two gathers per sample whatever its width) instead of unrolling one
#: gather per tap: a 75 um panel pixel over a 0.4 um chart cell is 186 taps, whose
#: unrolled graph took 15 s to compile. 8 assumed: below it the taps cost no more.
MAX_OVERLAP_TAPS = 8


def _box_integrals(values, lo, hi, width, axis):
    """The wide-sample form of :func:`_overlap_resample`: ``(I(hi) - I(lo)) / width`` with
    ``I(x)`` the signal's integral over ``[0, x]`` (pixels outside the grid are 0).

    ``I(x) = K[i] + f[i] x`` with ``K = cum - i f``, which is continuous in ``x`` across a
    pixel edge, so a position rounded differently where ``i`` is taken cannot move a
    whole pixel's signal (see recon.dd1d).
    """
    n_src = values.shape[axis]
    idx = jnp.arange(n_src, dtype=values.dtype)
    idx = idx if axis == -1 else idx[:, None]
    k_tab = jnp.cumsum(values, axis=axis) - values - idx * values   # cum before pixel i, minus i f_i
    along = (lambda x: x) if axis == -1 else (lambda x: x[:, None])

    def integral(x):
        xc = jnp.clip(x, 0, n_src)
        i = jnp.minimum(xc.astype(jnp.int32), n_src - 1)  # xc >= 0: truncation is floor
        return (jnp.take(k_tab, i, axis=axis) + jnp.take(values, i, axis=axis) * along(xc.astype(values.dtype)))

    return (integral(hi) - integral(lo)) / along(width.astype(values.dtype))


def _overlap_resample(values, axis_len_det, sample_um, scale, shift, src_pixel, src_start, taps, axis=-1):
    """Mean of a piecewise-constant signal over mapped detector boxes, along ``axis`` (-1 or -2).

    Detector sample ``j`` covers ``[e_j, e_j + sample]`` (``e_j`` its lower edge),
    which maps to ``[e_j scale + shift, (e_j + sample) scale + shift]`` in source
    coordinates; source pixel ``k`` covers ``[src_start + k q, src_start + (k+1) q]``.
    The result is the exact box average; pixels outside the source grid are 0.
    """
    n_src = values.shape[axis]
    lower = (jnp.arange(axis_len_det) - axis_len_det / 2) * sample_um
    lo = (lower * scale + shift - src_start) / src_pixel  # in source-pixel units
    hi = ((lower + sample_um) * scale + shift - src_start) / src_pixel
    width = hi - lo
    if taps > MAX_OVERLAP_TAPS:
        return _box_integrals(values, lo, hi, width, axis)
    first = jnp.floor(lo).astype(jnp.int32)
    out = None
    for t in range(taps):  # taps is static and small: ceil(footprint/pixel) + 1
        k = first + t
        kf = k.astype(lo.dtype)
        w = _ramp(hi - kf) - _ramp(lo - kf)  # overlap of [lo, hi] with pixel [k, k+1]
        w = jnp.where((k >= 0) & (k < n_src), w / width, 0.0).astype(values.dtype)
        term = jnp.take(values, jnp.clip(k, 0, n_src - 1), axis=axis) * (w if axis == -1 else w[:, None])
        out = term if out is None else out + term
    return out


def _project_plane(maps, height, pixel, center, source, det_shape, sample_um):
    """Box-averaged maps (n_mat, ny, nx) at ``height`` seen from each detector sample."""
    sx, sy, sz = source[0], source[1], source[2]
    scale = 1.0 - height / sz  # detector -> layer coordinates
    ny, nx = maps.shape[-2:]
    # static tap count: footprint <= sample (scale <= 1), so it spans <= ceil(sample/pixel)+1 pixels
    taps = int(math.ceil(sample_um / pixel)) + 1
    x_start = center[0] - nx * pixel / 2
    y_start = center[1] - ny * pixel / 2
    # Rows first (a gather of whole contiguous rows), then columns: no transposes.
    along_y = _overlap_resample(maps, det_shape[0], sample_um, scale, sy * height / sz, pixel, y_start, taps,
                                axis=-2)
    return _overlap_resample(along_y, det_shape[1], sample_um, scale, sx * height / sz, pixel, x_start, taps)


def _obliquity(source, det_shape, sample_um):
    """1 / cos(angle of the ray to the z axis) at each detector sample centre."""
    u = detector_coordinates(det_shape[1], sample_um)
    v = detector_coordinates(det_shape[0], sample_um)
    dx = source[0] - u[None, :]
    dy = source[1] - v[:, None]
    return jnp.sqrt(dx**2 + dy**2 + source[2] ** 2) / source[2]


def path_lengths(obj, source_um, *, det_shape, det_pixel_um, oversample=1):
    """Path length (um) through each material along the ray from the source to each detector sample.

    Parameters
    ----------
    obj : LayeredObject or VoxelObject
    source_um : array_like, shape (3,)
        Source position (x, y, z) in um; ``z`` must exceed the object's top.
    det_shape : tuple of int
        Detector (rows, cols) in pixels.
    det_pixel_um : float
        Detector (effective) pixel size in um.
    oversample : int
        Samples per pixel and axis; samples are boxes of ``det_pixel_um /
        oversample`` tiling each pixel.

    Returns
    -------
    jnp.ndarray, shape (n_mat, rows * oversample, cols * oversample)

    Notes
    -----
    Linear in the thickness maps / fractions (differentiable w.r.t. them and
    the source position), jit-able with ``det_shape``, ``det_pixel_um`` and
    ``oversample`` static. Memory: a few output-sized arrays per material
    (2048x2048 detector, 2x oversampling: 64 MB each, float32).
    """
    rows, cols = _shape(det_shape)
    det_pixel_um = _positive(det_pixel_um, "det_pixel_um")
    if not (isinstance(oversample, int) and oversample >= 1):
        raise ValueError(f"oversample: {oversample!r} must be a positive integer")
    source = jnp.asarray(source_um)
    if source.shape != (3,):
        raise ValueError(f"source_um: expected (x, y, z) in um, got shape {source.shape}")
    if not jnp.issubdtype(source.dtype, jnp.floating):
        source = source.astype(jnp.float32)
    if not isinstance(obj, (LayeredObject, VoxelObject)):
        raise ValueError(f"obj: expected a LayeredObject or VoxelObject, got {type(obj).__name__}")
    heights = ([layer.height_um for layer in obj.layers] if isinstance(obj, LayeredObject)
               else [obj.bottom_um])
    if is_concrete(source) and all(is_concrete(h) for h in heights):
        sz = float(source[2])
        if not (math.isfinite(sz) and sz > obj.top_um):
            raise ValueError(f"source_um: z = {sz!r} um must be above the object's top at {obj.top_um:g} um")
    if isinstance(obj, VoxelObject) and not math.isclose(*obj.voxel_size_um[1:], rel_tol=1e-9):
        raise ValueError(f"object.voxel_size_um: dy and dx must be equal (square pixels), "
                         f"got {obj.voxel_size_um[1:]}")
    return _path_lengths(obj, source, (rows * oversample, cols * oversample), det_pixel_um / oversample)


@partial(jax.jit, static_argnums=(2, 3))
def _path_lengths(obj, source, shape, sample):
    if isinstance(obj, LayeredObject):
        total = None
        for layer in obj.layers:
            proj = _project_plane(layer.thickness_um, layer.height_um, layer.pixel_size_um,
                                  layer.center_um, source, shape, sample)
            total = proj if total is None else total + proj
    else:
        total = _project_voxels(obj, source, shape, sample)
    return total * _obliquity(source, shape, sample).astype(total.dtype)[None]


def _project_voxels(obj: VoxelObject, source, shape, sample):
    dz, _, dx = obj.voxel_size_um
    f = obj.fractions
    nz = f.shape[1]

    def body(k, acc):
        z = obj.bottom_um + (k + 0.5) * dz  # slice mid-height
        maps = jax.lax.dynamic_index_in_dim(f, k, axis=1, keepdims=False) * dz
        return acc + _project_plane(maps, z, dx, obj.center_um, source, shape, sample)

    init = jnp.zeros((f.shape[0],) + shape, dtype=f.dtype)
    return jax.lax.fori_loop(0, nz, body, init)


def _shape(det_shape) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in det_shape)
    except (TypeError, ValueError):
        raise ValueError(f"det_shape: expected (rows, cols), got {det_shape!r}") from None
    if rows < 1 or cols < 1 or (rows, cols) != tuple(det_shape):
        raise ValueError(f"det_shape: expected two positive integers, got {det_shape!r}")
    return rows, cols


# -- Beer-Lambert -------------------------------------------------------------------------
def transmitted_signal(path_lengths, mu_per_um, weights, *, method="auto", lut_size=4096,
                       energy_chunk=8):
    """Polychromatic Beer-Lambert signal ``sum_E w(E) exp(-sum_m mu_m(E) L_m)``.

    Parameters
    ----------
    path_lengths : array_like, shape (n_mat, ...)
        Path length (um) through each material, e.g. from :func:`path_lengths`.
    mu_per_um : array_like, shape (n_mat, n_E)
        Linear attenuation coefficients (1/um).
    weights : array_like, shape (n_E,)
        Weight of each energy bin, e.g. incident photons per bin and sample
        area times the energy the scintillator absorbs per photon.
    method : {"auto", "direct", "lut", "chebyshev"}
        "direct": exact sum over energies, in chunks of ``energy_chunk`` bins
        (memory: ``energy_chunk`` image-sized arrays). "lut" (one material
        only): tabulate ``log S(L)`` on ``lut_size`` points from 0 to max(L)
        and interpolate linearly (exact for one energy; relative error
        ~1e-5 for 50 kVp spectra through tungsten, see the tests).
        "chebyshev" (one material only): the degree-16 Chebyshev interpolant
        of ``log S(L)`` on [0, max(L)], evaluated per sample by Clenshaw's
        recurrence (arithmetic only, ~1.8x faster than the table's gathers on
        CPU), used where it agrees with ``log S`` within :data:`CHEBYSHEV_TOL`
        on the table's ``lut_size`` points (relative error of ``S`` <= 2e-6
        per unit of log-attenuation; holds up to ~5 attenuation lengths of
        W, Al, Au or C at 30-90 kVp); beyond that, e.g. thick objects whose ``log S`` bends
        sharply, the table is evaluated instead (decided inside the compiled
        function by ``lax.cond``; :func:`chebyshev_log_signal` reports the
        agreement). "auto": "chebyshev" for one material, else "direct".
    lut_size, energy_chunk : int

    Returns
    -------
    jnp.ndarray, shape ``path_lengths.shape[1:]``
    """
    L = jnp.asarray(path_lengths)
    mu = jnp.asarray(mu_per_um, dtype=L.dtype if jnp.issubdtype(L.dtype, jnp.floating) else None)
    w = jnp.asarray(weights, dtype=mu.dtype)
    if mu.ndim != 2 or L.ndim < 1 or mu.shape[0] != L.shape[0]:
        raise ValueError(f"mu_per_um: expected shape (n_mat={L.shape[0] if L.ndim else '?'}, n_E), "
                         f"got {mu.shape}; path_lengths has shape {L.shape}")
    if w.shape != (mu.shape[1],):
        raise ValueError(f"weights: expected shape ({mu.shape[1]},), got {w.shape}")
    for arr, key in ((mu, "mu_per_um"), (w, "weights")):
        _check_values(arr, key)
    if method not in ("auto", "direct", "lut", "chebyshev"):
        raise ValueError(f"method: {method!r} is not one of 'auto', 'direct', 'lut', 'chebyshev'")
    if method in ("lut", "chebyshev") and L.shape[0] != 1:
        raise ValueError(f"method: {method!r} needs a single material, path_lengths has {L.shape[0]}")
    if int(lut_size) < 2 or int(energy_chunk) < 1:
        raise ValueError(f"lut_size / energy_chunk: {lut_size!r} / {energy_chunk!r} must be >= 2 / >= 1")
    if method == "lut":
        return _signal_lut(L[0], mu, w, int(lut_size))
    if method == "chebyshev" or (method == "auto" and L.shape[0] == 1):
        return _signal_chebyshev(L[0], mu, w, int(lut_size))
    return _signal_direct(L, mu, w, int(energy_chunk))


@partial(jax.jit, static_argnums=(3,))
def _signal_direct(L, mu, w, chunk):
    n_mat, n_e = mu.shape
    flat = L.reshape(n_mat, -1)
    chunk = max(1, min(chunk, n_e))
    pad = (-n_e) % chunk
    mu_c = jnp.pad(mu, ((0, 0), (0, pad))).T.reshape(-1, chunk, n_mat)
    w_c = jnp.pad(w, (0, pad)).reshape(-1, chunk)  # padded bins weigh 0

    def step(acc, xs):
        mu_k, w_k = xs
        return acc + w_k @ jnp.exp(-(mu_k @ flat)), None

    out, _ = jax.lax.scan(step, jnp.zeros(flat.shape[1], dtype=flat.dtype), (mu_c, w_c))
    return out.reshape(L.shape[1:])


def _log_signal(mu, w, lengths):
    """``log S(L) = log sum_E w(E) exp(-mu(E) L)`` at the points ``lengths`` (one material)."""
    return jnp.log(w @ jnp.exp(-mu[0][:, None] * lengths[None, :]) + 1e-38)


def _lut_eval(L, table, l_max):
    size = table.shape[0]
    pos = jnp.clip(L / l_max * (size - 1), 0.0, size - 1.0)
    i0 = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, size - 2)
    frac = pos - i0
    return jnp.exp(table[i0] * (1.0 - frac) + table[i0 + 1] * frac)


@partial(jax.jit, static_argnums=(3,))
def _signal_lut(L, mu, w, size):
    l_max = jnp.maximum(jnp.max(L), 1e-6)
    table = _log_signal(mu, w, jnp.linspace(0.0, 1.0, size, dtype=L.dtype) * l_max)
    return _lut_eval(L, table, l_max)


#: Degree of the Chebyshev interpolant of ``log S(L)`` (method "chebyshev").
CHEBYSHEV_DEGREE = 16
#: Largest disagreement between the Chebyshev interpolant of ``log(S(L) / S(0))`` and the
#: function on the table's points, per unit of the largest ``|log(S / S(0))|`` (at least 1),
#: for the interpolant to be used: a relative error of ``S`` <= 2e-6 per unit of
#: log-attenuation (float32 rounding of the compared values is ~1e-7 per unit).
CHEBYSHEV_TOL = 2e-6


def _clenshaw(coeffs, x):
    """``sum_k c_k T_k(x)`` by Clenshaw's recurrence (stable on [-1, 1])."""
    x2 = 2.0 * x
    b1, b2 = jnp.broadcast_to(coeffs[-1], x.shape), jnp.zeros_like(x)
    for c in coeffs[-2:0:-1]:  # static degree: unrolled, fused into one elementwise pass
        b1, b2 = c + x2 * b1 - b2, b1
    return coeffs[0] + x * b1 - b2


def chebyshev_log_signal(mu_per_um, weights, l_max, *, degree: int = CHEBYSHEV_DEGREE, check_size: int = 4096):
    """Chebyshev interpolant of ``log(S(L) / S(0))`` on ``[0, l_max]`` and its relative error.

    ``S(L) = sum_E w(E) exp(-mu(E) L)`` for one material (``mu_per_um`` of shape
    (1, n_E)). Interpolates at the ``degree + 1`` Chebyshev points of the first kind
    (coefficients by the discrete cosine sum, near-minimax), in ``x = 2 L / l_max - 1``;
    ``S(0)`` is divided out so that float32 rounding scales with the attenuation, not
    with the number of quanta.

    Returns
    -------
    coeffs : jnp.ndarray, shape (degree + 1,)
    log_s0 : jnp.ndarray (scalar)
        ``log S(0)``.
    error : jnp.ndarray (scalar)
        Largest ``|p(L) - log(S(L)/S(0))|`` over ``check_size`` equispaced points of
        ``[0, l_max]`` (the points of the "lut" table), divided by
        ``max(1, |log(S(l_max)/S(0))|)``; compared with :data:`CHEBYSHEV_TOL`.
    """
    mu = jnp.asarray(mu_per_um)
    w = jnp.asarray(weights, dtype=mu.dtype)
    n = degree + 1
    theta = np.pi * (np.arange(n) + 0.5) / n
    to_coeffs = (2.0 / n) * np.cos(np.arange(n)[:, None] * theta[None, :])
    to_coeffs[0] /= 2.0
    s0 = jnp.maximum(jnp.sum(w), 1e-30)
    w = w / s0  # log S(L) - log S(0), computed without cancellation
    nodes = jnp.asarray((np.cos(theta) + 1.0) / 2.0, mu.dtype) * l_max
    coeffs = jnp.asarray(to_coeffs, mu.dtype) @ _log_signal(mu, w, nodes)
    check = jnp.linspace(0.0, 1.0, check_size, dtype=mu.dtype)
    exact = _log_signal(mu, w, check * l_max)
    log_s0 = jnp.log(s0 + 1e-38)
    error = jnp.max(jnp.abs(_clenshaw(coeffs, 2.0 * check - 1.0) - exact)) / jnp.maximum(1.0, jnp.abs(exact[-1]))
    return coeffs, log_s0, error


@partial(jax.jit, static_argnums=(3,))
def _signal_chebyshev(L, mu, w, size):
    l_max = jnp.maximum(jnp.max(L), 1e-6)
    coeffs, log_s0, error = chebyshev_log_signal(mu, w, l_max, check_size=size)

    def smooth(_):
        return jnp.exp(_clenshaw(coeffs, L * (2.0 / l_max) - 1.0) + log_s0)

    def bent(_):
        return _lut_eval(L, _log_signal(mu, w, jnp.linspace(0.0, 1.0, size, dtype=L.dtype) * l_max), l_max)

    return jax.lax.cond(error <= CHEBYSHEV_TOL, smooth, bent, None)
