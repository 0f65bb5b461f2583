"""Projection geometries: tomosynthesis builders, ASTRA-style vector geometries, JSON I/O.

World frame (micrometres)
-------------------------
* The scintillator (detector) is the plane ``z = 0``, centred at the origin.
* The object sits at ``z > 0`` (heights above the scintillator); the X-ray source is
  above the object.
* 3D geometries are ASTRA ``cone_vec`` rows in this frame, one row per view:
  ``(src_x, src_y, src_z, det_x, det_y, det_z, u_x, u_y, u_z, v_x, v_y, v_z)``, where
  ``det`` is the detector centre, ``u`` the vector from detector column ``c`` to ``c+1``
  and ``v`` from row ``r`` to ``r+1``. Pixel ``(r, c)`` is centred at
  ``det + (c - cols/2 + 1/2) u + (r - rows/2 + 1/2) v`` (ASTRA's convention).
* 2D geometries live in the x-z plane and are ASTRA ``fanflat_vec`` rows with ASTRA's
  ``(x, y)`` = our ``(x, z)``: ``(src_x, src_z, det_x, det_z, u_x, u_z)``.

Array orientation
-----------------
* Volumes are ``(nz, ny, nx)`` (2D: ``(nz, nx)``); index 0 is the lowest coordinate on
  every axis, so slice 0 is the lowest height.
* Projections are ``(views, rows, cols)`` (2D: ``(views, cols)``).
* ASTRA 3D uses the same volume order ``(slice, row, col) = (z, y, x)`` but stores
  projections as ``(rows, views, cols)``: ours = ``np.swapaxes(astra_proj, 0, 1)``.
* ASTRA 2D puts volume row 0 at the *top* (``y = WindowMaxY``). :func:`from_astra` and
  :meth:`Geometry.to_astra` therefore map ASTRA 2D ``(x, y)`` to our ``(x, z = -y)``, a
  reflection that leaves line integrals unchanged and makes the *same* array give the
  same sinogram in both (ASTRA 2D sinograms are ``(views, cols)`` like ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from physics.imageio import ImageFileError, read_json, write_json

#: Effective detector pixel: 6.5 um sCMOS pixel / 16x (20x objective with a 160 mm tube
#: lens instead of the 200 mm design tube lens) - system description in the paper.
DEFAULT_DET_PIXEL_UM = 6.5 / 16.0

_FORMAT = "xray-lens-twin/geometry"
#: ASTRA vector projection type of each (beam, ndim).
_KINDS = {("cone", 3): "cone_vec", ("cone", 2): "fanflat_vec",
          ("parallel", 3): "parallel3d_vec", ("parallel", 2): "parallel_vec"}
_VERSION = 1


@dataclass(frozen=True, eq=False)
class Geometry:
    """A divergent-beam projection geometry with its reconstruction volume grid.

    Attributes
    ----------
    vectors : np.ndarray
        ``(views, 12)`` ``cone_vec`` rows (3D) or ``(views, 6)`` ``fanflat_vec`` rows (2D,
        ASTRA ``(x, y)`` = our ``(x, z)``), in um.
    det_shape : tuple of int
        ``(rows, cols)`` (3D) or ``(cols,)`` (2D).
    vol_shape : tuple of int
        ``(nz, ny, nx)`` (3D) or ``(nz, nx)`` (2D).
    vol_window : tuple of (float, float)
        ``(min, max)`` extent in um per volume array axis, in array order
        (``z, y, x`` or ``z, x``).
    units : str
        Always ``"um"``.
    beam : str
        ``"cone"`` (divergent: ``fanflat_vec`` / ``cone_vec``, the first 2 or 3 vector
        columns are the source position) or ``"parallel"`` (``parallel_vec`` /
        ``parallel3d_vec``: they are the ray direction, as in ASTRA).
    """

    vectors: np.ndarray
    det_shape: tuple
    vol_shape: tuple
    vol_window: tuple
    units: str = "um"
    beam: str = "cone"

    def __post_init__(self):
        vec = np.array(self.vectors, dtype=np.float64)
        if vec.ndim != 2 or vec.shape[1] not in (6, 12):
            raise ValueError(f"vectors: expected shape (views, 6) or (views, 12), got {vec.shape}")
        if vec.shape[0] == 0:
            raise ValueError("vectors: zero views; a geometry needs at least one view")
        if not np.all(np.isfinite(vec)):
            raise ValueError("vectors: contain NaN or inf")
        vec.setflags(write=False)
        object.__setattr__(self, "vectors", vec)
        ndim = 3 if vec.shape[1] == 12 else 2
        det = _int_tuple(self.det_shape, "det_shape", ndim - 1)
        vol = _int_tuple(self.vol_shape, "vol_shape", ndim)
        win = tuple((float(a), float(b)) for a, b in self.vol_window)
        if len(win) != ndim:
            raise ValueError(f"vol_window: expected {ndim} (min, max) pairs, got {len(win)}")
        for axis, (lo, hi) in zip("zyx" if ndim == 3 else "zx", win):
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise ValueError(f"vol_window.{axis}: need finite min < max, got ({lo}, {hi})")
        if self.units != "um":
            raise ValueError(f"units: only 'um' is supported, got {self.units!r}")
        if self.beam not in ("cone", "parallel"):
            raise ValueError(f"beam: expected 'cone' or 'parallel', got {self.beam!r}")
        object.__setattr__(self, "det_shape", det)
        object.__setattr__(self, "vol_shape", vol)
        object.__setattr__(self, "vol_window", win)
        _check_views(self)

    # ----------------------------------------------------------------- derived views
    @property
    def ndim(self) -> int:
        """2 for ``fanflat_vec`` (x-z plane), 3 for ``cone_vec``."""
        return 3 if self.vectors.shape[1] == 12 else 2

    @property
    def n_views(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def kind(self) -> str:
        """ASTRA projection type: ``cone_vec``, ``fanflat_vec``, ``parallel3d_vec``, ``parallel_vec``."""
        return _KINDS[(self.beam, self.ndim)]

    @property
    def parallel(self) -> bool:
        """True for parallel-beam geometries (the vector table holds ray directions)."""
        return self.beam == "parallel"

    @property
    def proj_shape(self) -> tuple:
        """Shape of the projection stack: ``(views, rows, cols)`` or ``(views, cols)``."""
        return (self.n_views, *self.det_shape)

    @property
    def voxel_um(self) -> tuple:
        """Voxel size per array axis (``dz, dy, dx`` or ``dz, dx``) in um."""
        return tuple((hi - lo) / n for (lo, hi), n in zip(self.vol_window, self.vol_shape))

    @property
    def heights_um(self) -> np.ndarray:
        """Slice centre heights above the scintillator (z), in um, ascending."""
        (lo, hi), nz = self.vol_window[0], self.vol_shape[0]
        return lo + (np.arange(nz) + 0.5) * (hi - lo) / nz

    def _xyz(self, cols) -> np.ndarray:
        """Rows of 3-vectors (x, y, z) from columns of the vector table (2D: y = 0)."""
        if self.ndim == 3:
            return self.vectors[:, cols].copy()
        x, z = self.vectors[:, cols[0]], self.vectors[:, cols[1]]
        return np.stack([x, np.zeros_like(x), z], axis=1)

    @property
    def source_positions_um(self) -> np.ndarray:
        """``(views, 3)`` source positions (x, y, z) in um (2D geometries: y = 0)."""
        if self.parallel:
            raise ValueError(f"geometry: a {self.kind} geometry has ray directions, no source positions")
        return self._xyz([0, 1, 2] if self.ndim == 3 else [0, 1])

    @property
    def ray_directions(self) -> np.ndarray:
        """``(views, 3)`` unit ray directions (x, y, z), source -> detector centre."""
        ray = self._xyz([0, 1, 2] if self.ndim == 3 else [0, 1])
        if not self.parallel:
            ray = self.detector_centres_um - ray
        return ray / np.linalg.norm(ray, axis=1, keepdims=True)

    @property
    def detector_vectors_um(self) -> tuple:
        """``(u, v)``: ``(views, 3)`` column and row steps (2D: v is the unit normal of the x-z plane)."""
        if self.ndim == 3:
            return self.vectors[:, 6:9].copy(), self.vectors[:, 9:12].copy()
        return self._xyz([4, 5]), np.tile([0.0, 1.0, 0.0], (self.n_views, 1))

    @property
    def detector_centres_um(self) -> np.ndarray:
        """``(views, 3)`` detector centres (x, y, z) in um."""
        return self._xyz([3, 4, 5] if self.ndim == 3 else [2, 3])

    @property
    def det_pixel_um(self) -> tuple:
        """Detector pixel pitch ``(|v|, |u|)`` of view 0 (2D: ``(|u|,)``), in um."""
        if self.ndim == 3:
            return (float(np.linalg.norm(self.vectors[0, 9:12])),
                    float(np.linalg.norm(self.vectors[0, 6:9])))
        return (float(np.linalg.norm(self.vectors[0, 4:6])),)

    # ----------------------------------------------------------------- derived geometries
    def subset(self, views) -> "Geometry":
        """The same geometry restricted to the given view indices (e.g. ordered subsets)."""
        idx = np.asarray(views, dtype=int).reshape(-1)
        if idx.size == 0:
            raise ValueError("views: zero views selected")
        if idx.min() < -self.n_views or idx.max() >= self.n_views:
            raise ValueError(f"views: index out of range for {self.n_views} views")
        return replace(self, vectors=self.vectors[idx])

    def with_heights(self, heights_um) -> "Geometry":
        """The same geometry with the volume's z grid set to evenly spaced slice centres."""
        h = np.asarray(heights_um, dtype=float).reshape(-1)
        dz = self.voxel_um[0]
        lo, hi = _z_window(h, dz, key="heights_um")
        return replace(self, vol_shape=(h.size, *self.vol_shape[1:]),
                       vol_window=((lo, hi), *self.vol_window[1:]))

    def is_flat_panel_parallel(self) -> bool:
        """True when every view's detector is parallel to the slices with u || x (and v || y)."""
        if self.ndim == 3:
            u, v = self.vectors[:, 6:9], self.vectors[:, 9:12]
            return bool(np.all(u[:, 1:] == 0) and np.all(v[:, [0, 2]] == 0))
        return bool(np.all(self.vectors[:, 5] == 0))

    # ----------------------------------------------------------------- serialisation
    def to_json_dict(self) -> dict:
        """A JSON-ready dict (the ``geometry.json`` format); derived fields are informative."""
        axes = "zyx" if self.ndim == 3 else "zx"
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "units": self.units,
            "type": self.kind,
            "vectors": self.vectors.tolist(),
            "vector_layout": (("src_x src_y src_z det_x det_y det_z u_x u_y u_z v_x v_y v_z"
                               if self.ndim == 3 else "src_x src_z det_x det_z u_x u_z")
                              .replace("src", "ray" if self.parallel else "src")),
            "det_shape": list(self.det_shape),
            "det_shape_axes": "rows cols" if self.ndim == 3 else "cols",
            "vol_shape": list(self.vol_shape),
            "vol_axes": " ".join(axes),
            "vol_window": {a: list(w) for a, w in zip(axes, self.vol_window)},
            "voxel_um": list(self.voxel_um),
            "slice_heights_um": self.heights_um.tolist(),
            **({} if self.parallel else {"source_positions_um": self.source_positions_um.tolist()}),
            "det_pixel_um": list(self.det_pixel_um),
        }

    @classmethod
    def from_json_dict(cls, d: dict) -> "Geometry":
        """Inverse of :meth:`to_json_dict`; checks format and required keys."""
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise ValueError(f"geometry: not a {_FORMAT} document (format={d.get('format')!r})"
                             if isinstance(d, dict) else "geometry: expected a JSON object")
        for key in ("type", "vectors", "det_shape", "vol_shape", "vol_window", "units"):
            if key not in d:
                raise ValueError(f"geometry.{key}: missing")
        kinds = {kind: key for key, kind in _KINDS.items()}
        if d["type"] not in kinds:
            raise ValueError(f"geometry.type: expected one of {', '.join(kinds)}, got {d['type']!r}")
        beam, ndim = kinds[d["type"]]
        axes = "zyx" if ndim == 3 else "zx"
        try:
            window = tuple(tuple(d["vol_window"][a]) for a in axes)
        except (KeyError, TypeError):
            raise ValueError(f"geometry.vol_window: expected keys {list(axes)}") from None
        return cls(vectors=np.asarray(d["vectors"], dtype=float), det_shape=tuple(d["det_shape"]),
                   vol_shape=tuple(d["vol_shape"]), vol_window=window, units=d["units"], beam=beam)

    def to_astra(self) -> tuple[dict, dict]:
        """``(proj_geom, vol_geom)`` dicts as ``astra.create_proj_geom``/``create_vol_geom`` make.

        Arrays keep their meaning: our volume array goes to ASTRA unchanged; 3D projections
        come back from ASTRA as ``(rows, views, cols)``.
        """
        if self.ndim == 3:
            (z0, z1), (y0, y1), (x0, x1) = self.vol_window
            nz, ny, nx = self.vol_shape
            proj = {"type": self.kind, "DetectorRowCount": self.det_shape[0],
                    "DetectorColCount": self.det_shape[1], "Vectors": self.vectors.copy()}
            vol = {"GridRowCount": ny, "GridColCount": nx, "GridSliceCount": nz,
                   "option": {"WindowMinX": x0, "WindowMaxX": x1, "WindowMinY": y0,
                              "WindowMaxY": y1, "WindowMinZ": z0, "WindowMaxZ": z1}}
            return proj, vol
        (z0, z1), (x0, x1) = self.vol_window
        nz, nx = self.vol_shape
        vec = self.vectors.copy()
        vec[:, 1::2] *= -1.0  # our z -> ASTRA -y (see module docstring)
        proj = {"type": self.kind, "DetectorCount": self.det_shape[0], "Vectors": vec}
        vol = {"GridRowCount": nz, "GridColCount": nx,
               "option": {"WindowMinX": x0, "WindowMaxX": x1, "WindowMinY": -z1, "WindowMaxY": -z0}}
        return proj, vol


# --------------------------------------------------------------------------- builders
def tomosynthesis(*, n_views: int, arc_deg: float, source_distance_um: float, det_shape,
                  det_pixel_um: float = DEFAULT_DET_PIXEL_UM, vol_shape, voxel_um,
                  heights_um=None, z_range=None) -> Geometry:
    """3D tomosynthesis: source on an arc about the scintillator centre, detector fixed.

    Source of view k: ``(R sin(theta_k), 0, R cos(theta_k))`` with ``theta_k`` evenly
    spread over ``[-arc/2, +arc/2]`` (0 for one view). Detector: plane ``z = 0`` centred
    at the origin, ``u = (pixel, 0, 0)`` along columns (x), ``v = (0, pixel, 0)`` along
    rows (y). The volume is centred on the z axis.

    Parameters
    ----------
    n_views : int
        Number of views (>= 1).
    arc_deg : float
        Total arc angle in degrees, in ``[0, 180)``.
    source_distance_um : float
        Source to scintillator-centre distance ``R`` in um.
    det_shape : (int, int)
        Detector ``(rows, cols)``.
    det_pixel_um : float
        Detector pixel (default: effective pixel 6.5 um / 16 = 0.40625 um).
    vol_shape : (int, int, int)
        ``(nz, ny, nx)``.
    voxel_um : float or (float, float, float)
        Voxel size, scalar or ``(dz, dy, dx)``, in um.
    heights_um : sequence of float, optional
        The ``nz`` slice centre heights, evenly spaced by ``dz``.
    z_range : (float, float), optional
        ``(bottom, top)`` of the slab in um, with ``top - bottom = nz * dz``. Give exactly
        one of ``heights_um`` and ``z_range``.
    """
    vol = _int_tuple(vol_shape, "vol_shape", 3)
    det = _int_tuple(det_shape, "det_shape", 2)
    dz, dy, dx = _voxel(voxel_um, 3)
    z0, z1 = _slab(vol[0], dz, heights_um, z_range)
    src = _arc_sources(n_views, arc_deg, source_distance_um, top_um=z1)
    pix = _positive(det_pixel_um, "det_pixel_um")
    n = src.shape[0]
    vec = np.zeros((n, 12))
    vec[:, 0], vec[:, 2] = src[:, 0], src[:, 1]
    vec[:, 6] = pix
    vec[:, 10] = pix
    window = ((z0, z1), (-vol[1] * dy / 2, vol[1] * dy / 2), (-vol[2] * dx / 2, vol[2] * dx / 2))
    return Geometry(vectors=vec, det_shape=det, vol_shape=vol, vol_window=window)


def tomosynthesis_2d(*, n_views: int, arc_deg: float, source_distance_um: float, det_cols: int,
                     det_pixel_um: float = DEFAULT_DET_PIXEL_UM, vol_shape, voxel_um,
                     heights_um=None, z_range=None) -> Geometry:
    """2D tomosynthesis in the x-z plane (one detector row); see :func:`tomosynthesis`.

    ``vol_shape`` is ``(nz, nx)`` and ``voxel_um`` a scalar or ``(dz, dx)``.
    """
    vol = _int_tuple(vol_shape, "vol_shape", 2)
    (cols,) = _int_tuple((det_cols,), "det_cols", 1)
    dz, dx = _voxel(voxel_um, 2)
    z0, z1 = _slab(vol[0], dz, heights_um, z_range)
    src = _arc_sources(n_views, arc_deg, source_distance_um, top_um=z1)
    pix = _positive(det_pixel_um, "det_pixel_um")
    vec = np.zeros((src.shape[0], 6))
    vec[:, 0], vec[:, 1] = src[:, 0], src[:, 1]
    vec[:, 4] = pix
    window = ((z0, z1), (-vol[1] * dx / 2, vol[1] * dx / 2))
    return Geometry(vectors=vec, det_shape=(cols,), vol_shape=vol, vol_window=window)


def from_astra(proj_geom: dict, vol_geom: dict, *, unit_um: float = 1.0) -> Geometry:
    """Build a :class:`Geometry` from ASTRA geometry dicts (astra itself is not needed).

    Every ASTRA projection type is accepted: ``parallel``, ``parallel_vec``, ``fanflat``,
    ``fanflat_vec`` (with a 2D volume) and ``parallel3d``, ``parallel3d_vec``, ``cone``,
    ``cone_vec`` (with a 3D volume). The *same* volume array projected by ASTRA and by
    :func:`recon.forward_project` gives the same sinogram (3D: ASTRA's
    ``(rows, views, cols)`` is our ``(views, rows, cols)`` swapped); ASTRA's 2D volume
    ``(rows, cols)`` is our ``(nz, nx)`` with row 0 at ASTRA's top (see the module notes).

    Parameters
    ----------
    proj_geom, vol_geom : dict
        As made by ``astra.create_proj_geom`` / ``astra.create_vol_geom``.
    unit_um : float
        Length of one ASTRA unit in um (ASTRA is unit-free; its default volume window
        makes one unit one voxel). All positions, windows and pixel sizes are scaled by
        it; ray directions are directions and are not.
    """
    if not isinstance(proj_geom, dict) or not isinstance(vol_geom, dict):
        raise ValueError("from_astra: proj_geom and vol_geom must be dicts")
    scale = _positive(unit_um, "unit_um")
    kind = proj_geom.get("type")
    three_d = "GridSliceCount" in vol_geom
    opt = vol_geom.get("option", {})
    try:
        rows, cols = int(vol_geom["GridRowCount"]), int(vol_geom["GridColCount"])
    except KeyError as exc:
        raise ValueError(f"vol_geom.{exc.args[0]}: missing") from None

    def window(axis, n):
        lo = opt.get(f"WindowMin{axis}", -n / 2.0)
        hi = opt.get(f"WindowMax{axis}", n / 2.0)
        return float(lo) * scale, float(hi) * scale

    if kind not in _ASTRA_TYPES:
        raise ValueError(f"proj_geom.type: expected one of {', '.join(_ASTRA_TYPES)}, got {kind!r}")
    beam, ndim, builder, width = _ASTRA_TYPES[kind]
    if (ndim == 3) != three_d:
        raise ValueError(f"proj_geom.type: {kind!r} needs a {ndim}D vol_geom "
                         f"({'with' if ndim == 3 else 'without'} GridSliceCount)")
    vec = builder(proj_geom) if builder is not None else _get(proj_geom, "Vectors", width).copy()
    first = 3 if ndim == 3 else 2  # the source (cone) or ray direction (parallel) columns
    vec[:, first if beam == "parallel" else 0:] *= scale
    if ndim == 2:
        vec[:, 1::2] *= -1.0  # ASTRA (x, y) -> our (x, z = -y): row 0 at the top (max y)
        y0, y1 = window("Y", rows)
        return Geometry(vectors=vec, det_shape=(int(_req(proj_geom, "DetectorCount")),),
                        vol_shape=(rows, cols), vol_window=((-y1, -y0), window("X", cols)), beam=beam)
    slices = int(vol_geom["GridSliceCount"])
    det = (int(_req(proj_geom, "DetectorRowCount")), int(_req(proj_geom, "DetectorColCount")))
    return Geometry(vectors=vec, det_shape=det, vol_shape=(slices, rows, cols),
                    vol_window=(window("Z", slices), window("Y", rows), window("X", cols)), beam=beam)


def circular(kind: str, *, angles_rad, det_shape, det_pixel_um, vol_shape, voxel_um,
             source_origin_um: float | None = None, origin_det_um: float = 0.0) -> Geometry:
    """A circular scan as ASTRA builds it (``parallel``, ``fanflat``, ``parallel3d``, ``cone``).

    The object rotates about the volume centre; view ``k`` sits at angle ``angles_rad[k]``
    exactly as in ``astra.create_proj_geom(kind, ...)`` (2D: ASTRA's ``(x, y)`` plane, our
    ``(x, z)``; 3D: rotation about z). The volume is centred on the rotation axis.

    Parameters
    ----------
    kind : str
        ``"parallel"``, ``"fanflat"`` (2D) or ``"parallel3d"``, ``"cone"`` (3D).
    angles_rad : sequence of float
        View angles in radians (any spacing).
    det_shape : int or (int, int)
        Detector columns (2D) or ``(rows, cols)`` (3D).
    det_pixel_um : float or (float, float)
        Detector pitch (2D), or ``(row pitch, column pitch)`` (3D), in um.
    vol_shape : tuple of int
        ``(nz, nx)`` (2D) or ``(nz, ny, nx)`` (3D).
    voxel_um : float
        Voxel size (cubic), um.
    source_origin_um, origin_det_um : float
        Source-to-axis and axis-to-detector distances (fan/cone beams), um.
    """
    if kind not in ("parallel", "fanflat", "parallel3d", "cone"):
        raise ValueError(f"kind: expected parallel, fanflat, parallel3d or cone, got {kind!r}")
    three_d = kind in ("parallel3d", "cone")
    angles = np.asarray(angles_rad, dtype=float).reshape(-1)
    if angles.size == 0 or not np.all(np.isfinite(angles)):
        raise ValueError(f"angles_rad: need at least one finite angle, got {angles_rad!r}")
    vol = _int_tuple(vol_shape, "vol_shape", 3 if three_d else 2)
    vox = _positive(voxel_um, "voxel_um")
    pg = {"type": kind, "ProjectionAngles": angles}
    if three_d:
        rows, cols = _int_tuple(det_shape, "det_shape", 2)
        dv, du = (_positive(det_pixel_um, "det_pixel_um"),) * 2 if np.ndim(det_pixel_um) == 0 else \
            tuple(_positive(v, "det_pixel_um") for v in det_pixel_um)
        pg |= {"DetectorRowCount": rows, "DetectorColCount": cols, "DetectorSpacingX": du,
               "DetectorSpacingY": dv}
        half = [n * vox / 2 for n in vol]
        vg = {"GridSliceCount": vol[0], "GridRowCount": vol[1], "GridColCount": vol[2],
              "option": {"WindowMinZ": -half[0], "WindowMaxZ": half[0], "WindowMinY": -half[1],
                         "WindowMaxY": half[1], "WindowMinX": -half[2], "WindowMaxX": half[2]}}
    else:
        (n_cols,) = _int_tuple(np.atleast_1d(det_shape), "det_shape", 1)
        pg |= {"DetectorCount": n_cols, "DetectorWidth": _positive(det_pixel_um, "det_pixel_um")}
        half = [n * vox / 2 for n in vol]
        vg = {"GridRowCount": vol[0], "GridColCount": vol[1],
              "option": {"WindowMinY": -half[0], "WindowMaxY": half[0], "WindowMinX": -half[1],
                         "WindowMaxX": half[1]}}
    if kind in ("fanflat", "cone"):
        pg |= {"DistanceOriginSource": _positive(source_origin_um, "source_origin_um"),
               "DistanceOriginDetector": float(origin_det_um)}
    return from_astra(pg, vg)


def save(path, geom: Geometry) -> Path:
    """Write ``geom`` as ``geometry.json`` (atomic)."""
    if not isinstance(geom, Geometry):
        raise ValueError(f"geom: expected a recon.geometry.Geometry, got {type(geom).__name__}")
    return write_json(path, geom.to_json_dict())


def load(path) -> Geometry:
    """Read a geometry JSON written by :func:`save`; errors name the file."""
    try:
        return Geometry.from_json_dict(read_json(path))
    except ImageFileError:
        raise
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- helpers
def _int_tuple(value, key, n) -> tuple:
    try:
        t = tuple(int(v) for v in value)
        ok = all(float(v) == int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: expected {n} positive integers, got {value!r}") from None
    if len(t) != n or not ok or any(v <= 0 for v in t):
        raise ValueError(f"{key}: expected {n} positive integers, got {value!r}")
    return t


def _positive(value, key) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: expected a positive number in um, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{key}: expected a positive number in um, got {value!r}")
    return v


def _voxel(voxel_um, n) -> tuple:
    if np.ndim(voxel_um) == 0:
        return (_positive(voxel_um, "voxel_um"),) * n
    vals = tuple(voxel_um)
    if len(vals) != n:
        raise ValueError(f"voxel_um: expected a scalar or {n} values, got {voxel_um!r}")
    return tuple(_positive(v, "voxel_um") for v in vals)


def _z_window(heights, dz, *, key) -> tuple:
    h = np.asarray(heights, dtype=float).reshape(-1)
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise ValueError(f"{key}: need at least one finite height, got {heights!r}")
    if h.size > 1:
        steps = np.diff(h)
        if not np.allclose(steps, dz, rtol=1e-6, atol=1e-9 * max(1.0, abs(dz))):
            raise ValueError(f"{key}: heights must be ascending and evenly spaced by the voxel "
                             f"height dz = {dz} um, got steps {steps.tolist()}")
    return float(h[0] - dz / 2), float(h[-1] + dz / 2)


def _slab(nz, dz, heights_um, z_range) -> tuple:
    if (heights_um is None) == (z_range is None):
        raise ValueError("heights_um / z_range: give exactly one of them")
    if heights_um is not None:
        if np.size(heights_um) != nz:
            raise ValueError(f"heights_um: expected {nz} heights (vol_shape[0]), got {np.size(heights_um)}")
        return _z_window(heights_um, dz, key="heights_um")
    try:
        lo, hi = (float(v) for v in z_range)
    except (TypeError, ValueError):
        raise ValueError(f"z_range: expected (bottom, top) in um, got {z_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not math.isclose(hi - lo, nz * dz, rel_tol=1e-6):
        raise ValueError(f"z_range: top - bottom must equal nz * dz = {nz * dz} um, got {z_range!r}")
    return lo, hi


def _arc_sources(n_views, arc_deg, radius, *, top_um) -> np.ndarray:
    """``(n, 2)`` source (x, z) on the arc; refuses sources at or below the volume top."""
    if isinstance(n_views, bool) or int(n_views) != n_views or n_views < 1:
        raise ValueError(f"n_views: expected an integer >= 1, got {n_views!r}")
    arc = float(arc_deg)
    if not (math.isfinite(arc) and 0.0 <= arc < 180.0):
        raise ValueError(f"arc_deg: expected 0 <= arc < 180 degrees (a source at 90 degrees lies "
                         f"in the detector plane), got {arc_deg!r}")
    r = _positive(radius, "source_distance_um")
    theta = np.deg2rad(np.linspace(-arc / 2, arc / 2, int(n_views)) if n_views > 1 else np.zeros(1))
    src = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    lowest = float(src[:, 1].min())
    if lowest <= top_um:
        raise ValueError(f"source_distance_um/arc_deg: the lowest source is at z = {lowest:.6g} um, "
                         f"not above the volume top z = {top_um:.6g} um")
    return src


def _req(d, key):
    if key not in d:
        raise ValueError(f"proj_geom.{key}: missing")
    return d[key]


def _get(d, key, width) -> np.ndarray:
    vec = np.asarray(_req(d, key), dtype=float)
    if vec.ndim != 2 or vec.shape[1] != width:
        raise ValueError(f"proj_geom.{key}: expected shape (views, {width}), got {vec.shape}")
    return vec


def _fanflat_vectors(pg) -> np.ndarray:
    """ASTRA's geom_2vec for ``fanflat``: angles rotate source and detector about the origin."""
    ang = np.asarray(_req(pg, "ProjectionAngles"), dtype=float).reshape(-1)
    dso, dod = float(_req(pg, "DistanceOriginSource")), float(_req(pg, "DistanceOriginDetector"))
    w = float(_req(pg, "DetectorWidth"))
    s, c = np.sin(ang), np.cos(ang)
    return np.stack([s * dso, -c * dso, -s * dod, c * dod, c * w, s * w], axis=1)


def _parallel_vectors(pg) -> np.ndarray:
    """ASTRA's geom_2vec for ``parallel``: ray (sin, -cos), detector through the origin."""
    ang = np.asarray(_req(pg, "ProjectionAngles"), dtype=float).reshape(-1)
    w = float(_req(pg, "DetectorWidth"))
    s, c, z = np.sin(ang), np.cos(ang), np.zeros_like(ang)
    return np.stack([s, -c, z, z, c * w, s * w], axis=1)


def _parallel3d_vectors(pg) -> np.ndarray:
    """ASTRA's geom_2vec for ``parallel3d``: rotation about the z axis."""
    ang = np.asarray(_req(pg, "ProjectionAngles"), dtype=float).reshape(-1)
    dw, dh = float(_req(pg, "DetectorSpacingX")), float(_req(pg, "DetectorSpacingY"))
    s, c, z = np.sin(ang), np.cos(ang), np.zeros_like(ang)
    return np.stack([s, -c, z, z, z, z, c * dw, s * dw, z, z, z, z + dh], axis=1)


def _cone_vectors(pg) -> np.ndarray:
    """ASTRA's geom_2vec for ``cone``: rotation about the z axis."""
    ang = np.asarray(_req(pg, "ProjectionAngles"), dtype=float).reshape(-1)
    dso, dod = float(_req(pg, "DistanceOriginSource")), float(_req(pg, "DistanceOriginDetector"))
    dw, dh = float(_req(pg, "DetectorSpacingX")), float(_req(pg, "DetectorSpacingY"))
    s, c, z = np.sin(ang), np.cos(ang), np.zeros_like(ang)
    return np.stack([s * dso, -c * dso, z, -s * dod, c * dod, z, c * dw, s * dw, z, z, z, z + dh], axis=1)


#: ASTRA type -> (beam, ndim, vector builder or None for *_vec, vector width).
_ASTRA_TYPES = {
    "parallel": ("parallel", 2, _parallel_vectors, 6),
    "parallel_vec": ("parallel", 2, None, 6),
    "fanflat": ("cone", 2, _fanflat_vectors, 6),
    "fanflat_vec": ("cone", 2, None, 6),
    "parallel3d": ("parallel", 3, _parallel3d_vectors, 12),
    "parallel3d_vec": ("parallel", 3, None, 12),
    "cone": ("cone", 3, _cone_vectors, 12),
    "cone_vec": ("cone", 3, None, 12),
}


def _check_views(g: Geometry) -> None:
    """Refuse geometries the projector cannot handle, naming the first bad view."""
    u, v = g.detector_vectors_um
    normal = np.cross(u, v)
    nn = np.linalg.norm(normal, axis=1)
    for k in range(g.n_views):
        if np.linalg.norm(u[k]) == 0 or (g.ndim == 3 and np.linalg.norm(v[k]) == 0) or nn[k] == 0:
            raise ValueError(f"vectors[{k}]: detector vectors u, v are zero or parallel")
    if g.parallel:
        ray = g._xyz([0, 1, 2] if g.ndim == 3 else [0, 1])
        norm = np.linalg.norm(ray, axis=1)
        bad = np.flatnonzero((norm == 0) | (np.abs(np.einsum("ij,ij->i", ray, normal))
                                            <= 1e-9 * norm * nn))
        if bad.size:
            raise ValueError(f"vectors[{bad[0]}]: the ray direction is zero or parallel to the detector")
        return
    src, det = g.source_positions_um, g.detector_centres_um
    dist = np.abs(np.einsum("ij,ij->i", src - det, normal)) / nn
    scale = np.linalg.norm(src - det, axis=1)
    bad = np.flatnonzero(dist <= 1e-9 * np.maximum(scale, 1.0))
    if bad.size:
        raise ValueError(f"vectors[{bad[0]}]: the source lies in the detector plane")
    lo = np.array([w[0] for w in g.vol_window][::-1])  # world order x, (y,) z
    hi = np.array([w[1] for w in g.vol_window][::-1])
    s = src if g.ndim == 3 else src[:, [0, 2]]
    inside = np.all((s > lo) & (s < hi), axis=1)
    if np.any(inside):
        raise ValueError(f"vectors[{np.flatnonzero(inside)[0]}]: the source lies inside the volume")
