"""The X-ray tube's focal spot and the penumbra blur it casts on the detector.

A point of an object at height ``h`` above the scintillator, lit by a source
point displaced by ``s`` (perpendicular to the central ray) from the spot centre,
is imaged at a detector position displaced by ``-s * h / (D - h)``, where ``D`` is
the source height above the scintillator. The penumbra kernel of an object plane
is therefore the focal-spot intensity map point-reflected and scaled by

    m = h / (D - h) = (object-to-scintillator distance) / (source-to-object distance).

In an optical-lens-coupled system ``h`` is tens to hundreds of micrometres and
``D`` several centimetres, so a 30-55 um spot (paper, Sec. 2.1) blurs by far less
than a micrometre: the reason the design tolerates a cheap tube.

Shapes
------
``"gaussian"``
    Circular Gaussian; ``size_um`` is its FWHM.
``"disc"``
    Uniform disc; ``size_um`` is its diameter.
``"ellipse"``
    Uniform ellipse from the line-focus principle: the electron beam lights a
    line of length ``line_length_um`` on the anode face, inclined at the anode
    angle ``theta`` to the central ray, which sees it foreshortened to
    ``line_length_um * sin(theta)`` (Bushberg et al., *The Essential Physics of
    Medical Imaging*, 3rd ed., 2012, Sec. 6.2 "line focus principle"). Viewed
    at an angle ``phi`` from the central ray towards the cathode the apparent
    length is ``line_length_um * sin(theta + phi)`` (the heel side, ``phi < 0``,
    is shorter). ``size_um`` is the width across the anode-cathode axis, which is
    not foreshortened. ``tan(theta)`` is sometimes quoted; it is the small-angle
    approximation of ``sin(theta)`` and overestimates by 2 % at 12 degrees.
``"image"``
    A measured or user-given 2D intensity map (rows = y, columns = x) with its
    pixel size ``image_pixel_um``; its array centre is the spot centre.

All lengths are micrometres.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from physics.measure.mtf import FWHM_PER_SIGMA, gaussian_kernel_2d, mtf_from_lsf
from physics.tracing import is_concrete
from physics.units import UnitError, to_float

__all__ = [
    "FocalSpot",
    "apparent_length_um",
    "penumbra_magnification",
    "kernel_at_detector",
    "penumbra_mtf",
    "spot_width_um",
    "source_points",
    "source_positions",
]

SHAPES = ("gaussian", "disc", "ellipse", "image")



def _length(value, key: str, *, positive: bool = True):
    """Boundary conversion of a length; traced values (under jax.grad) pass through."""
    if not is_concrete(value) or isinstance(value, jax.Array):
        return value
    return to_float(value, "um", key=key, min_value=0.0, inclusive_min=not positive, allow_bare=True)


@dataclass(frozen=True)
class FocalSpot:
    """Focal spot of the X-ray tube.

    Parameters
    ----------
    shape : {"gaussian", "disc", "ellipse", "image"}
        Intensity distribution (see the module docstring).
    size_um : float or str or pint.Quantity
        FWHM ("gaussian"), diameter ("disc") or width across the anode-cathode
        axis ("ellipse"). Default 40 um: assumed, inside the 30-55 um the paper
        gives for the Petrick P030-24-12F100W tube (Sec. 2.1).
    line_length_um : float, optional
        "ellipse" only: length of the electron-beam focal line on the anode face.
    anode_angle_deg : float
        "ellipse" only: anode angle (between anode face and central ray).
        Default 12 deg: assumed, SpekPy's default anode angle and typical of
        reflection-target tubes.
    view_angle_deg : float
        "ellipse" only: angle of the viewing direction from the central ray,
        positive towards the cathode (heel effect on the apparent length).
    axis_deg : float
        Direction of the anode-cathode axis in the detector plane, degrees from
        +x. Default 90 (along y): assumed, tube axis perpendicular to the
        tomosynthesis arc in the x-z plane.
    image : array_like, optional
        "image" only: non-negative 2D intensity map (rows = y, columns = x).
    image_pixel_um : float, optional
        "image" only: pixel size of ``image``.

    Notes
    -----
    Instances are JAX pytrees whose leaves are ``size_um`` and
    ``line_length_um``, so ``jax.grad`` with respect to the spot size works,
    e.g. ``jax.grad(lambda s: f(dataclasses.replace(spot, size_um=s)))(40.0)``.
    """

    shape: str = "gaussian"
    size_um: float = 40.0
    line_length_um: float | None = None
    anode_angle_deg: float = 12.0
    view_angle_deg: float = 0.0
    axis_deg: float = 90.0
    image: np.ndarray | None = None
    image_pixel_um: float | None = None

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"focal_spot.shape: {self.shape!r} is not one of {SHAPES}")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)
        if self.shape == "image":
            if self.image is None or self.image_pixel_um is None:
                raise ValueError("focal_spot.image: shape 'image' needs image and image_pixel_um")
            img = np.asarray(self.image, dtype=np.float64)
            if img.ndim != 2 or min(img.shape) < 1:
                raise ValueError(f"focal_spot.image: expected a 2D array, got shape {img.shape}")
            if not np.all(np.isfinite(img)) or np.any(img < 0) or img.sum() <= 0:
                raise ValueError("focal_spot.image: must be finite, non-negative and not all zero")
            img.setflags(write=False)
            set_("image", img)
            set_("image_pixel_um", _length(self.image_pixel_um, "focal_spot.image_pixel_um"))
            return
        if self.image is not None:
            raise ValueError(f"focal_spot.image: only allowed with shape 'image', not {self.shape!r}")
        set_("size_um", _length(self.size_um, "focal_spot.size_um"))
        if self.shape == "ellipse":
            if self.line_length_um is None:
                raise ValueError("focal_spot.line_length_um: shape 'ellipse' needs line_length_um")
            set_("line_length_um", _length(self.line_length_um, "focal_spot.line_length_um"))
            theta = to_float(self.anode_angle_deg, "deg", key="focal_spot.anode_angle_deg",
                             min_value=0.0, max_value=90.0, inclusive_min=False)
            phi = to_float(self.view_angle_deg, "deg", key="focal_spot.view_angle_deg")
            if not 0.0 < theta + phi < 180.0:
                raise UnitError(
                    f"focal_spot.view_angle_deg: {phi!r} deg puts the view behind the anode "
                    f"(anode angle {theta} deg); need 0 < anode + view < 180 deg")
            set_("anode_angle_deg", theta)
            set_("view_angle_deg", phi)
        elif self.line_length_um is not None:
            raise ValueError(f"focal_spot.line_length_um: only allowed with shape 'ellipse', not {self.shape!r}")
        set_("axis_deg", to_float(self.axis_deg, "deg", key="focal_spot.axis_deg"))

    # -- geometry in the spot's own plane -------------------------------------------------
    def semi_axes_um(self):
        """Semi-axes ``(across, along)`` the anode-cathode axis (disc/ellipse), in um."""
        if self.shape == "disc":
            return self.size_um / 2, self.size_um / 2
        if self.shape == "ellipse":
            along = apparent_length_um(self.line_length_um, self.anode_angle_deg,
                                       view_angle_deg=self.view_angle_deg)
            return self.size_um / 2, along / 2
        raise ValueError(f"focal_spot.shape: semi-axes are defined for disc/ellipse, not {self.shape!r}")

    def covariance_um2(self) -> np.ndarray:
        """Second-moment matrix (2x2, x/y in um^2) of the intensity distribution."""
        if self.shape == "gaussian":
            s2 = (self.size_um / FWHM_PER_SIGMA) ** 2
            return jnp.eye(2) * s2
        if self.shape == "image":
            y, x, w = _image_grid(self)
            mx, my = (w * x).sum(), (w * y).sum()
            cxx = (w * (x - mx) ** 2).sum()
            cyy = (w * (y - my) ** 2).sum()
            cxy = (w * (x - mx) * (y - my)).sum()
            # pixel boxes add q^2/12 of variance per axis
            q2 = self.image_pixel_um**2 / 12.0
            return np.array([[cxx + q2, cxy], [cxy, cyy + q2]])
        a, b = self.semi_axes_um()  # uniform ellipse: variance = semi-axis^2 / 4
        rot = _rotation(self.axis_deg)
        # local frame: first axis along the anode-cathode axis
        local = jnp.diag(jnp.array([b**2 / 4, a**2 / 4]))
        return rot @ local @ rot.T


def _flatten(spot):
    return (spot.size_um, spot.line_length_um), tuple(
        (f.name, getattr(spot, f.name)) for f in dataclasses.fields(spot)
        if f.name not in ("size_um", "line_length_um"))


def _unflatten(aux, children):
    spot = object.__new__(FocalSpot)  # skip validation: leaves may be tracers or placeholders
    for name, value in aux:
        object.__setattr__(spot, name, value)
    object.__setattr__(spot, "size_um", children[0])
    object.__setattr__(spot, "line_length_um", children[1])
    return spot


jax.tree_util.register_pytree_node(FocalSpot, _flatten, _unflatten)


def _rotation(angle_deg: float):
    t = math.radians(angle_deg)
    return jnp.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def _image_grid(spot: FocalSpot):
    """Pixel-centre coordinates (um, centred) and normalised weights of an image spot."""
    img = spot.image
    ny, nx = img.shape
    q = spot.image_pixel_um
    y, x = np.meshgrid((np.arange(ny) - (ny - 1) / 2) * q, (np.arange(nx) - (nx - 1) / 2) * q, indexing="ij")
    return y, x, img / img.sum()


def apparent_length_um(line_length_um, anode_angle_deg, *, view_angle_deg=0.0):
    """Apparent focal-line length by the line-focus principle.

    ``line_length_um * sin(anode_angle + view_angle)``; ``view_angle_deg`` is
    positive towards the cathode (Bushberg et al. 2012, Sec. 6.2).
    """
    return line_length_um * jnp.sin(jnp.deg2rad(anode_angle_deg + view_angle_deg))


def penumbra_magnification(object_height_um, source_distance_um):
    """Scale ``h / (D - h)`` from the focal spot to its penumbra on the detector.

    Parameters
    ----------
    object_height_um : float
        Height ``h`` of the object plane above the scintillator (>= 0).
    source_distance_um : float
        Height ``D`` of the source above the scintillator (> h).
    """
    if is_concrete(object_height_um) and is_concrete(source_distance_um):
        h, d = float(object_height_um), float(source_distance_um)
        if not (math.isfinite(h) and h >= 0):
            raise ValueError(f"object_height_um: {object_height_um!r} must be finite and >= 0")
        if not (math.isfinite(d) and d > h):
            raise ValueError(f"source_distance_um: {source_distance_um!r} must exceed the object height {h}")
    return object_height_um / (source_distance_um - object_height_um)


def _default_half_width(spot: FocalSpot, m: float, pixel_um: float) -> int:
    """Kernel half-width (pixels) that holds the whole penumbra; needs concrete values."""
    try:
        m = float(m)
        if spot.shape == "gaussian":
            extent = 4.0 * float(spot.size_um) / FWHM_PER_SIGMA
        elif spot.shape == "image":
            ny, nx = spot.image.shape
            extent = 0.5 * math.hypot(ny, nx) * spot.image_pixel_um
        else:
            extent = max(float(v) for v in spot.semi_axes_um())
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise ValueError("half_width_px: pass it explicitly when the spot size or geometry is "
                         "traced (jax.grad/jit), the kernel shape must be static") from None
    # rounded up to a multiple of 4 so that nearby geometries share compiled kernels
    return 4 * int(math.ceil((math.ceil(m * extent / pixel_um) + 1) / 4))


def kernel_at_detector(spot: FocalSpot, *, object_height_um, source_distance_um, pixel_um: float,
                       half_width_px: int | None = None, supersample: int = 4) -> jnp.ndarray:
    """Normalised, pixel-integrated penumbra kernel of an object plane.

    Parameters
    ----------
    spot : FocalSpot
    object_height_um : float
        Height of the object plane above the scintillator front face.
    source_distance_um : float
        Height of the source above the scintillator (source-to-scintillator
        distance along the central ray).
    pixel_um : float
        Pixel size of the grid the kernel is sampled on (e.g. 0.40625 um).
    half_width_px : int, optional
        Kernel half-width; the kernel is ``(2 * half_width_px + 1)`` square.
        Default: just large enough for the whole penumbra (needs concrete
        values; pass it explicitly under ``jax.jit``/``jax.grad``).
    supersample : int
        Sub-samples per pixel and axis for disc/ellipse area coverage.

    Returns
    -------
    jnp.ndarray
        Non-negative kernel summing to one, centred on the middle element;
        convolve the object-plane transmission (on the detector grid) with it.

    Notes
    -----
    Gaussian: exact pixel integrals (erf). Disc/ellipse: area coverage from
    ``supersample**2`` sub-samples, each with a linear ramp over one sub-sample
    across the edge, so the kernel is a continuous, differentiable function of
    the spot size. Image: exact area-weighted (box overlap) resampling of the
    point-reflected map scaled by ``m``. A penumbra much smaller than a pixel
    gives a delta kernel.
    """
    pixel_um = to_float(pixel_um, "um", key="pixel_um", min_value=0.0, inclusive_min=False, allow_bare=True)
    if not (isinstance(supersample, int) and supersample >= 1):
        raise ValueError(f"supersample: {supersample!r} must be a positive integer")
    m = penumbra_magnification(object_height_um, source_distance_um)
    if half_width_px is None:
        half_width_px = _default_half_width(spot, m, pixel_um)
    if not (isinstance(half_width_px, int) and half_width_px >= 0):
        raise ValueError(f"half_width_px: {half_width_px!r} must be a non-negative integer")
    if spot.shape == "gaussian":
        sigma = jnp.maximum(m * spot.size_um / FWHM_PER_SIGMA, 1e-4 * pixel_um)
        return gaussian_kernel_2d(sigma, pitch=pixel_um, half_width=half_width_px, integrate=True)
    if spot.shape == "image":
        w = jnp.maximum(m * spot.image_pixel_um, 1e-6 * pixel_um)
        flipped = spot.image[::-1, ::-1]  # point reflection through the pinhole geometry
        return _image_kernel(jnp.asarray(flipped / flipped.sum(), jnp.float32), w, half_width_px, pixel_um)
    a, b = spot.semi_axes_um()  # across / along the anode-cathode axis
    ra = jnp.maximum(m * a, 1e-9 * pixel_um)
    rb = jnp.maximum(m * b, 1e-9 * pixel_um)
    return _ellipse_kernel(ra, rb, half_width_px, pixel_um, supersample, spot.axis_deg)


#: Largest half-width (cells) of the kernel :func:`penumbra_mtf` samples; beyond it the grid coarsens.
MAX_PENUMBRA_KERNEL_HALF = 700


def spot_width_um(spot: FocalSpot) -> float:
    """Largest FWHM-like width of the spot in its own plane (um): the FWHM of a Gaussian,
    the diameter (largest axis) of a disc or ellipse, the extent of an image."""
    if spot.shape == "gaussian":
        return float(spot.size_um)
    if spot.shape == "image":
        return float(max(spot.image.shape) * spot.image_pixel_um)
    return 2.0 * float(max(spot.semi_axes_um()))


def penumbra_mtf(spot: FocalSpot, *, source_object_um: float, source_detector_um: float,
                 freqs_per_um) -> np.ndarray:
    """MTF of the focal-spot penumbra referred to the object plane, at ``freqs_per_um``.

    The object sits ``source_object_um`` from the spot and the detector
    ``source_detector_um``: magnification ``M = SDD / SOD``, penumbra on the detector
    ``(M - 1)`` times the spot, hence ``(M - 1) / M`` times the spot at the object plane.
    The numerical kernel (:func:`kernel_at_detector`) is sampled on a detector grid
    whose pitch, referred to the object plane, resolves the penumbra (1/8 of its width)
    and keeps every frequency below Nyquist (coarsened so the kernel has at most
    :data:`MAX_PENUMBRA_KERNEL_HALF` cells per side; beyond that grid's Nyquist the
    MTF is < 1e-6 and returned as 0). Its LSF goes through the toolkit's
    :func:`physics.measure.mtf.mtf_from_lsf` with the sampling cell's aperture divided out.
    """
    sod, sdd = float(source_object_um), float(source_detector_um)
    if not (math.isfinite(sod) and math.isfinite(sdd) and 0 < sod < sdd):
        raise ValueError(f"source_object_um / source_detector_um: {source_object_um!r} / {source_detector_um!r} "
                         f"must satisfy 0 < SOD < SDD")
    f = np.asarray(freqs_per_um, float)
    magnification = sdd / sod
    width = spot_width_um(spot) * ((sdd - sod) / sod) / magnification
    pitch = min(width / 8.0, 0.25 / float(np.max(f)))
    extent = 2.5 * width  # Gaussian: 4.2 sigma; disc/ellipse: 2.5 radii
    pitch = max(pitch, extent / MAX_PENUMBRA_KERNEL_HALF, 1e-6)
    half = int(math.ceil(extent / pitch)) + 1
    kernel = kernel_at_detector(spot, object_height_um=sdd - sod, source_distance_um=sdd,
                                pixel_um=pitch * magnification, half_width_px=half,
                                supersample=4 if half < 200 else 1)
    lsf = np.asarray(kernel, dtype=float).sum(axis=0)
    mtf = np.zeros_like(f)
    ok = f <= 0.5 / pitch
    mtf[ok] = mtf_from_lsf(lsf, pitch, freqs=f[ok], aperture=pitch)[1]
    return mtf


def _centres(half_width_px, pixel_um):
    return (jnp.arange(2 * half_width_px + 1) - half_width_px) * pixel_um


def _normalise(kernel, half_width_px):
    """Normalise to unit sum; a penumbra that misses every sub-sample is a delta."""
    total = kernel.sum()
    delta = jnp.zeros_like(kernel).at[half_width_px, half_width_px].set(1.0)
    return jnp.where(total > 1e-12, kernel / jnp.where(total > 1e-12, total, 1.0), delta)


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _ellipse_kernel(ra, rb, half_width_px, pixel_um, supersample, axis_deg):
    """Area coverage of the ellipse with semi-axes ra (across) and rb (along the axis)."""
    centres = _centres(half_width_px, pixel_um)
    sub = pixel_um / supersample
    offs = (jnp.arange(supersample) - (supersample - 1) / 2) * sub
    grid = (centres[:, None] + offs[None, :]).reshape(-1)
    y, x = jnp.meshgrid(grid, grid, indexing="ij")
    t = math.radians(axis_deg)
    u = x * math.cos(t) + y * math.sin(t)  # along the anode-cathode axis
    v = -x * math.sin(t) + y * math.cos(t)  # across it
    rho = jnp.sqrt((u / rb) ** 2 + (v / ra) ** 2 + 1e-30)
    grad = jnp.sqrt((u / rb**2) ** 2 + (v / ra**2) ** 2 + 1e-30) / rho
    signed_dist = (1.0 - rho) / grad  # > 0 inside; first-order distance to the ellipse
    cover = jnp.clip(0.5 + signed_dist / sub, 0.0, 1.0)
    n = centres.shape[0]
    return _normalise(cover.reshape(n, supersample, n, supersample).sum(axis=(1, 3)), half_width_px)


def _box_overlap_matrix(centres, pixel_um, starts, width):
    """Fraction of each source box ``[starts, starts+width]`` inside each pixel."""
    def ramp(x):  # clip(x, 0, 1), derivative one-sided so ties keep gradients consistent
        return jnp.where(x < 0, 0.0, jnp.where(x >= 1, 1.0, x))

    return (ramp((centres[:, None] + pixel_um / 2 - starts[None, :]) / width)
            - ramp((centres[:, None] - pixel_um / 2 - starts[None, :]) / width))


@partial(jax.jit, static_argnums=(2, 3))
def _image_kernel(img, w, half_width_px, pixel_um):
    """Box-overlap resampling of the (already point-reflected) map with pixel ``w``."""
    centres = _centres(half_width_px, pixel_um)
    ny, nx = img.shape
    ax = _box_overlap_matrix(centres, pixel_um, (jnp.arange(nx) - nx / 2) * w, w)
    ay = _box_overlap_matrix(centres, pixel_um, (jnp.arange(ny) - ny / 2) * w, w)
    return _normalise(ay @ img @ ax.T, half_width_px)


def _unit_disc_points(n: int) -> np.ndarray:
    """Equal-weight points on the unit disc with 4-fold symmetry (sunflower lattice).

    Radii follow the uniform-disc CDF, angles the golden angle; every point
    comes with its 90/180/270 degree rotations, so the mean is zero and the
    covariance is isotropic exactly.
    """
    k = n // 4
    r = np.sqrt((np.arange(k) + 0.5) / k)
    phi = np.arange(k) * math.pi * (3.0 - math.sqrt(5.0))
    pts = [np.stack([r * np.cos(phi + j * math.pi / 2), r * np.sin(phi + j * math.pi / 2)], -1)
           for j in range(4)]
    return np.concatenate(pts, 0)


def source_points(spot: FocalSpot, *, n: int):
    """Quadrature of the focal spot: offsets and weights of point sources.

    Parameters
    ----------
    spot : FocalSpot
    n : int
        Number of points: 1 (the centre) or a multiple of 4. For "image"
        spots, at most ``n`` points (block centroids of the map; empty blocks
        are dropped).

    Returns
    -------
    offsets_um : jnp.ndarray, shape (n, 2)
        (x, y) offsets in the spot plane (perpendicular to the central ray), um.
    weights : jnp.ndarray, shape (n,)
        Non-negative, summing to one.

    Notes
    -----
    Gaussian and disc/ellipse points are a 4-fold symmetric sunflower lattice
    whose radii are rescaled so that the point set reproduces the spot's mean
    (zero) and covariance exactly; averaging transmissions over these source
    points is exact for linear and accurate for smooth responses, and handles
    thick or multi-height objects that a single penumbra kernel cannot.
    Offsets scale linearly with ``size_um`` (differentiable).
    """
    if not (isinstance(n, int) and n >= 1 and (n == 1 or n % 4 == 0)):
        raise ValueError(f"n: {n!r} must be 1 or a positive multiple of 4")
    if n == 1:
        if spot.shape == "image":
            y, x, w = _image_grid(spot)
            c = np.array([[(w * x).sum(), (w * y).sum()]])
            return jnp.asarray(c, dtype=jnp.float32), jnp.ones(1)
        return jnp.zeros((1, 2)), jnp.ones(1)
    if spot.shape == "image":
        return _image_points(spot, n)
    unit = _unit_disc_points(n)
    unit = unit / np.sqrt(np.mean(np.sum(unit**2, -1)))  # now E|p|^2 = 1, E p p^T = I/2
    if spot.shape == "gaussian":
        # same covariance as the Gaussian: E|p|^2 = 2 sigma^2; radial profile made Gaussian
        k = n // 4
        u = (np.arange(k) + 0.5) / k
        r = np.sqrt(-2.0 * np.log1p(-u))  # Rayleigh quantiles
        r = r / np.sqrt(np.mean(r**2))
        phi = np.arange(k) * math.pi * (3.0 - math.sqrt(5.0))
        unit = np.concatenate([np.stack([r * np.cos(phi + j * math.pi / 2),
                                         r * np.sin(phi + j * math.pi / 2)], -1) for j in range(4)], 0)
        sigma = spot.size_um / FWHM_PER_SIGMA
        offsets = jnp.asarray(unit, dtype=jnp.float32) * (math.sqrt(2.0) * sigma)
    else:
        a, b = spot.semi_axes_um()
        # uniform ellipse: E u^2 = b^2/4 along the axis, E v^2 = a^2/4 across
        scale = jnp.stack([b, a]) * (math.sqrt(2.0) / 2.0)
        local = jnp.asarray(unit, dtype=jnp.float32) * scale
        offsets = local @ _rotation(spot.axis_deg).T
    return offsets, jnp.full((n,), 1.0 / n)


def _image_points(spot: FocalSpot, n: int):
    y, x, w = _image_grid(spot)
    ny, nx = w.shape
    b = 1
    while math.ceil(ny / b) * math.ceil(nx / b) > n:
        b += 1
    py, px = (-ny) % b, (-nx) % b
    pad = lambda a: np.pad(a, ((0, py), (0, px)))  # noqa: E731
    blocks = lambda a: pad(a).reshape((ny + py) // b, b, (nx + px) // b, b).sum(axis=(1, 3))  # noqa: E731
    wb = blocks(w)
    keep = wb > 0
    cx = blocks(w * x)[keep] / wb[keep]
    cy = blocks(w * y)[keep] / wb[keep]
    return jnp.asarray(np.stack([cx, cy], -1), dtype=jnp.float32), jnp.asarray(wb[keep] / wb[keep].sum())


def source_positions(spot: FocalSpot, source_um, *, n: int):
    """3D positions (um) of the spot's quadrature points around a source centre.

    The spot plane is taken perpendicular to the central ray from the source to
    the scintillator centre (the tube turns with the arc), with its first axis
    in the plane spanned by that ray and +x (for a source in the x-z plane:
    ``(cos t, 0, -sin t)``) and its second axis along +y.

    Returns
    -------
    positions_um : jnp.ndarray, shape (n, 3)
    weights : jnp.ndarray, shape (n,)
    """
    s = jnp.asarray(source_um, dtype=jnp.float32)
    if s.shape != (3,):
        raise ValueError(f"source_um: expected 3 coordinates (x, y, z) in um, got shape {s.shape}")
    offsets, weights = source_points(spot, n=n)
    ray = s / jnp.linalg.norm(s)
    e2 = jnp.array([0.0, 1.0, 0.0])
    e1 = jnp.cross(e2, ray)  # (cos t, 0, -sin t) for ray (sin t, 0, cos t)
    e1 = e1 / jnp.linalg.norm(e1)
    e2 = jnp.cross(ray, e1)
    return s[None, :] + offsets[:, :1] * e1[None, :] + offsets[:, 1:] * e2[None, :], weights
