"""Reconstruction algorithms on the distance-driven projector pair.

Every function takes line-integral projections (``-log(I / I0)``, shape
``geometry.proj_shape``) and a :class:`~recon.geometry.Geometry`, optionally other slice
heights (``heights_um``, evenly spaced) and a ``callback(step, total, info)`` for
progress, and returns :class:`Slices` in attenuation units (1/um).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from recon.filters import fbp_filter
from recon.geometry import Geometry
from recon.projector import _as_float, back_project, forward_project

METHODS = ("sas", "fbp", "sart", "sirt", "grad")


@dataclass(frozen=True)
class Slices:
    """Reconstructed slices with their calibration.

    Attributes
    ----------
    data : jax.Array
        ``(heights, rows, cols)`` = ``(nz, ny, nx)`` (2D: ``(nz, nx)``), 1/um.
    heights_um : np.ndarray
        Slice centre heights above the scintillator, um.
    voxel_um : tuple
        ``(dz, dy, dx)`` (2D: ``(dz, dx)``), um.
    method : str
    info : dict
        Method parameters and, for iterative methods, the residual history.
    """

    data: jax.Array
    heights_um: np.ndarray
    voxel_um: tuple
    method: str
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class IterationState:
    """Where an iterative method stands after ``iteration`` iterations: enough to go on exactly.

    Passed to the ``checkpoint`` callable of :func:`sirt`, :func:`sart` and
    :func:`gradient` after every iteration, and accepted back as their ``resume``
    argument; continuing from it gives the same result as an uninterrupted run.

    Attributes
    ----------
    method : str
        ``"sirt"``, ``"sart"`` or ``"grad"``.
    iteration : int
        Iterations done.
    x : array
        The current iterate, ``geometry.vol_shape``, 1/um.
    history : tuple of float
        Per-iteration relative residual (sirt, sart) or relative loss (grad).
    optimizer_leaves : tuple of arrays
        grad: the leaves of the optax state (``jax.tree.leaves``); empty otherwise.
    """

    method: str
    iteration: int
    x: jax.Array
    history: tuple
    optimizer_leaves: tuple = ()


def _start(method, resume, x0, geometry, dtype, iterations):
    """Initial iterate, iterations done and history, from ``x0`` or a ``resume`` state."""
    if resume is None:
        x = jnp.zeros(geometry.vol_shape, dtype) if x0 is None else _as_float(x0, "x0")
        if x.shape != geometry.vol_shape:
            raise ValueError(f"x0: shape {x.shape} does not match geometry.vol_shape {geometry.vol_shape}")
        return x, 0, []
    if not isinstance(resume, IterationState):
        raise ValueError(f"resume: expected a recon.algorithms.IterationState, got {type(resume).__name__}")
    if x0 is not None:
        raise ValueError("x0 and resume: give one starting point, not both")
    if resume.method != method:
        raise ValueError(f"resume.method: the state is from {resume.method!r}, not {method!r}")
    if not (isinstance(resume.iteration, int) and 0 <= resume.iteration <= iterations):
        raise ValueError(f"resume.iteration: expected an integer in [0, {iterations}], got {resume.iteration!r}")
    if len(resume.history) != resume.iteration:
        raise ValueError(f"resume.history: expected {resume.iteration} values, got {len(resume.history)}")
    x = _as_float(resume.x, "resume.x")
    if x.shape != geometry.vol_shape:
        raise ValueError(f"resume.x: shape {x.shape} does not match geometry.vol_shape {geometry.vol_shape}")
    return x.astype(dtype), resume.iteration, [float(h) for h in resume.history]


def _prepare(projections, geometry, heights_um):
    if not isinstance(geometry, Geometry):
        raise ValueError(f"geometry: expected a recon.geometry.Geometry, got {type(geometry).__name__}")
    if heights_um is not None:
        geometry = geometry.with_heights(heights_um)
    p = _as_float(projections, "projections")
    if p.shape != geometry.proj_shape:
        raise ValueError(f"projections: shape {p.shape} does not match geometry.proj_shape "
                         f"{geometry.proj_shape}")
    return p, geometry


def _result(x, geometry, method, info) -> Slices:
    return Slices(data=x, heights_um=geometry.heights_um, voxel_um=geometry.voxel_um,
                  method=method, info=info)


def _safe_inverse(x, rel=1e-6):
    """1/x where x is a meaningful weight, 0 where no ray (or no voxel) contributes."""
    return jnp.where(x > rel * jnp.max(x), 1.0 / jnp.where(x > 0, x, 1.0), 0.0)


def _notify(callback, step, total, info):
    if callback is not None:
        callback(step, total, info)


def shift_and_add(projections, geometry: Geometry, *, heights_um=None, callback=None) -> Slices:
    """Shift-and-add (simple back projection), normalised to attenuation units.

    ``x = A^T p / A^T A 1``: each voxel averages the registered projections, weighted as
    the projector weights them, so a uniform object is returned exactly.
    """
    p, geometry = _prepare(projections, geometry, heights_um)
    ones = jnp.ones(geometry.vol_shape, p.dtype)
    norm = back_project(forward_project(ones, geometry), geometry)
    x = back_project(p, geometry) * _safe_inverse(norm)
    _notify(callback, 1, 1, {})
    return _result(x, geometry, "sas", {})


def _view_angles(geometry: Geometry):
    """Angle of each view's central ray (source -> volume centre) to the detector normal."""
    src, det = geometry.source_positions_um, geometry.detector_centres_um
    vec = geometry.vectors
    if geometry.ndim == 3:
        normal = np.cross(vec[:, 6:9], vec[:, 9:12])
    else:
        u = np.stack([vec[:, 4], np.zeros(len(vec)), vec[:, 5]], axis=1)
        normal = np.cross(u, np.tile([0.0, 1.0, 0.0], (len(vec), 1)))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    centre = np.array([np.mean(w) for w in geometry.vol_window][::-1])
    if geometry.ndim == 2:
        centre = np.array([centre[0], 0.0, centre[1]])
    ray = centre - src
    cos = np.abs((ray * normal).sum(1)) / np.linalg.norm(ray, axis=1)
    # magnification of the volume centre onto the detector, along the central ray
    mag = np.abs(((det - src) * normal).sum(1)) / np.abs((ray * normal).sum(1))
    return np.arccos(np.clip(cos, -1, 1)), mag


def fbp(projections, geometry: Geometry, *, heights_um=None, apodisation_cutoff: float = 1.0,
        slice_thickness_um: float | None = None, callback=None) -> Slices:
    """Filtered back projection for tomosynthesis (per-view parallel-beam approximation).

    Each projection row is filtered along the columns (tube travel) with
    :func:`recon.filters.fbp_filter` on the object-plane sampling, divided by the cosine of
    the view's obliquity, and back projected with interpolation weights
    (``A^T q / mean_v A_v^T 1``) times the angular step. Valid when the source distance is
    large against the object (here R ~ 10^4 x the slab) and the views are evenly spaced.

    Parameters
    ----------
    apodisation_cutoff : float
        Hann window cut-off as a fraction of Nyquist (1.0: full band).
    slice_thickness_um : float, optional
        Target slice thickness for the slice-thickness window (None: no window).
    """
    p, geometry = _prepare(projections, geometry, heights_um)
    if geometry.n_views < 2:
        raise ValueError("projections: fbp needs at least 2 views (the angular step is undefined)")
    theta, mag = _view_angles(geometry)
    src = geometry.source_positions_um
    chords = np.linalg.norm(np.diff(src, axis=0), axis=1)
    radius = np.linalg.norm(src - geometry.detector_centres_um, axis=1).mean()
    d_theta = float(np.mean(2 * np.arcsin(np.clip(chords / (2 * radius), 0, 1))))
    arc_deg = math.degrees(d_theta * (geometry.n_views - 1))
    tau = geometry.det_pixel_um[-1] / float(np.mean(mag))
    cols = geometry.det_shape[-1]
    n_fft, response = fbp_filter(cols, tau, arc_deg=arc_deg, apodisation_cutoff=apodisation_cutoff,
                                 slice_thickness_um=slice_thickness_um)
    spectrum = jnp.fft.rfft(p, n=n_fft, axis=-1) * jnp.asarray(response, p.dtype)
    q = jnp.fft.irfft(spectrum, n=n_fft, axis=-1)[..., :cols] * tau
    q = q / jnp.asarray(np.cos(theta), p.dtype).reshape((-1,) + (1,) * (p.ndim - 1))
    norm = back_project(jnp.ones_like(p), geometry) / geometry.n_views
    x = d_theta * back_project(q, geometry) * _safe_inverse(norm)
    _notify(callback, 1, 1, {})
    info = {"apodisation_cutoff": apodisation_cutoff, "slice_thickness_um": slice_thickness_um,
            "arc_deg": arc_deg, "object_plane_sampling_um": tau}
    return _result(x, geometry, "fbp", info)


def _os_iterations(p, geometry, *, iterations, n_subsets, relaxation, positivity, x0, callback,
                   method, resume=None, checkpoint=None):
    """Ordered-subsets SIRT: ``x += lam C_s A_s^T R_s (p_s - A_s x)`` per subset, then ``x >= 0``."""
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations: expected an integer >= 1, got {iterations!r}")
    if not (isinstance(n_subsets, int) and 1 <= n_subsets <= geometry.n_views):
        raise ValueError(f"n_subsets: expected an integer in [1, {geometry.n_views}], got {n_subsets!r}")
    if not (0 < relaxation < 2):
        raise ValueError(f"relaxation: expected 0 < relaxation < 2, got {relaxation!r}")
    subsets = [np.arange(s, geometry.n_views, n_subsets) for s in range(n_subsets)]
    geoms = [geometry.subset(idx) for idx in subsets]
    data = [p[idx] for idx in subsets]
    ones = jnp.ones(geometry.vol_shape, p.dtype)
    row = [_safe_inverse(forward_project(ones, g)) for g in geoms]           # R_s = 1 / A_s 1
    col = [_safe_inverse(back_project(jnp.ones(g.proj_shape, p.dtype), g)) for g in geoms]  # C_s
    x, done, history = _start(method, resume, x0, geometry, p.dtype, int(iterations))
    p_norm = float(jnp.linalg.norm(p)) or 1.0
    for it in range(done, int(iterations)):
        sq = 0.0
        for g, ps, r, c in zip(geoms, data, row, col):
            res = ps - forward_project(x, g)
            sq += float(jnp.vdot(res, res))
            x = x + relaxation * c * back_project(r * res, g)
            if positivity:
                x = jnp.maximum(x, 0)
        history.append(math.sqrt(sq) / p_norm)
        if checkpoint is not None:  # before the callback, so an interrupt there keeps this iteration
            checkpoint(IterationState(method, it + 1, x, tuple(history)))
        _notify(callback, it + 1, int(iterations), {"residual": history[-1]})
    info = {"iterations": int(iterations), "n_subsets": n_subsets, "relaxation": relaxation,
            "positivity": positivity, "relative_residual": history}
    return _result(x, geometry, method, info)


def sirt(projections, geometry: Geometry, *, iterations: int = 50, relaxation: float = 1.0,
         positivity: bool = True, n_subsets: int = 1, x0=None, heights_um=None,
         callback=None, resume: IterationState | None = None, checkpoint=None) -> Slices:
    """SIRT (simultaneous over all views), optionally with ordered subsets.

    ``relaxation`` in (0, 2); ``positivity`` clips negative attenuation after each update;
    ``callback(iteration, iterations, {"residual": |p - Ax| / |p|})``. ``checkpoint``, if
    given, receives an :class:`IterationState` after every iteration; passing one back as
    ``resume`` runs only the remaining iterations, with the same result.
    """
    p, geometry = _prepare(projections, geometry, heights_um)
    return _os_iterations(p, geometry, iterations=iterations, n_subsets=n_subsets,
                          relaxation=relaxation, positivity=positivity, x0=x0, callback=callback,
                          method="sirt", resume=resume, checkpoint=checkpoint)


def sart(projections, geometry: Geometry, *, iterations: int = 10, relaxation: float = 0.5,
         positivity: bool = True, n_subsets: int | None = None, x0=None, heights_um=None,
         callback=None, resume: IterationState | None = None, checkpoint=None) -> Slices:
    """SART: view-by-view updates (``n_subsets`` = number of views by default).

    Fewer, larger ordered subsets trade convergence speed per iteration for stability;
    ``n_subsets=1`` is SIRT. Default relaxation 0.5 (assumed: a common SART choice that
    damps the view-to-view oscillation with few views). ``resume``/``checkpoint`` as in
    :func:`sirt`.
    """
    p, geometry = _prepare(projections, geometry, heights_um)
    subsets = geometry.n_views if n_subsets is None else n_subsets
    return _os_iterations(p, geometry, iterations=iterations, n_subsets=subsets,
                          relaxation=relaxation, positivity=positivity, x0=x0, callback=callback,
                          method="sart", resume=resume, checkpoint=checkpoint)


def total_variation(x, *, smoothing: float):
    """Smoothed isotropic TV, ``sum sqrt(|grad x|^2 + eps^2) - eps``, differences in voxels."""
    sq = 0.0
    for axis in range(x.ndim):
        d = jnp.diff(x, axis=axis, append=jax.lax.slice_in_dim(x, x.shape[axis] - 1, x.shape[axis], axis=axis))
        sq = sq + d * d
    return jnp.sum(jnp.sqrt(sq + smoothing**2) - smoothing)


def _operator_norm_sq(geometry, dtype, iterations=12):
    """Largest eigenvalue of A^T A by power iteration from a constant (deterministic) start."""
    x = jnp.ones(geometry.vol_shape, dtype)
    lam = 0.0
    for _ in range(iterations):
        y = back_project(forward_project(x, geometry), geometry)
        lam = float(jnp.linalg.norm(y) / jnp.linalg.norm(x))
        x = y / jnp.linalg.norm(y)
    return lam


def gradient(projections, geometry: Geometry, *, iterations: int = 100, tv_weight: float = 0.0,
             tv_smoothing: float | None = None, positivity: bool = True, optimizer=None,
             x0=None, heights_um=None, callback=None, resume: IterationState | None = None,
             checkpoint=None) -> Slices:
    """Least squares ``0.5 |Ax - p|^2 + tv_weight TV(x)`` minimised with optax.

    Gradients come from ``jax.grad`` through the projector (its VJP is the back
    projector). The default optimizer is Nesterov-accelerated gradient descent with step
    ``1 / L``, ``L = |A|^2 + 4 ndim tv_weight / eps`` (a Lipschitz bound); any
    ``optax.GradientTransformation`` may be passed instead. ``positivity`` projects onto
    ``x >= 0`` after each step. ``tv_smoothing`` (eps) defaults to 1 % of the
    shift-and-add maximum. ``resume``/``checkpoint`` as in :func:`sirt` (the state also
    carries the optimizer's).
    """
    import optax

    p, geometry = _prepare(projections, geometry, heights_um)
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations: expected an integer >= 1, got {iterations!r}")
    if not (tv_weight >= 0 and math.isfinite(tv_weight)):
        raise ValueError(f"tv_weight: expected a finite value >= 0, got {tv_weight!r}")
    if tv_smoothing is None:
        scale = float(jnp.max(jnp.abs(shift_and_add(p, geometry).data)))
        tv_smoothing = 0.01 * scale if scale > 0 else 1e-6
    if not tv_smoothing > 0:
        raise ValueError(f"tv_smoothing: expected a positive value, got {tv_smoothing!r}")
    if optimizer is None:
        lipschitz = _operator_norm_sq(geometry, p.dtype) + 4 * geometry.ndim * tv_weight / tv_smoothing
        optimizer = optax.sgd(learning_rate=1.0 / lipschitz, momentum=0.9, nesterov=True)

    def loss(x):
        r = forward_project(x, geometry) - p
        value = 0.5 * jnp.vdot(r, r)
        if tv_weight > 0:
            value = value + tv_weight * total_variation(x, smoothing=tv_smoothing)
        return value

    @jax.jit
    def step(x, state):
        value, grad = jax.value_and_grad(loss)(x)
        updates, state = optimizer.update(grad, state, x)
        x = optax.apply_updates(x, updates)
        return (jnp.maximum(x, 0) if positivity else x), state, value

    x, done, history = _start("grad", resume, x0, geometry, p.dtype, int(iterations))
    state = optimizer.init(x)
    if resume is not None:
        leaves, tree = jax.tree.flatten(state)
        saved = resume.optimizer_leaves
        if len(saved) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(saved, leaves)):
            raise ValueError("resume.optimizer_leaves: do not match this optimizer's state "
                             f"({len(saved)} leaves for {len(leaves)})")
        state = jax.tree.unflatten(tree, [jnp.asarray(a, b.dtype) for a, b in zip(saved, leaves)])
    p_norm_sq = float(jnp.vdot(p, p)) or 1.0
    for it in range(done, int(iterations)):
        x, state, value = step(x, state)
        history.append(float(value) / p_norm_sq)
        if checkpoint is not None:  # before the callback, so an interrupt there keeps this iteration
            checkpoint(IterationState("grad", it + 1, x, tuple(history), tuple(jax.tree.leaves(state))))
        _notify(callback, it + 1, int(iterations), {"loss": history[-1]})
    info = {"iterations": int(iterations), "tv_weight": tv_weight, "tv_smoothing": tv_smoothing,
            "positivity": positivity, "relative_loss": history}
    return _result(x, geometry, "grad", info)


def reconstruct(projections, geometry: Geometry, *, method: str, **options) -> Slices:
    """Dispatch to one of :data:`METHODS` (``sas, fbp, sart, sirt, grad``)."""
    table = {"sas": shift_and_add, "fbp": fbp, "sart": sart, "sirt": sirt, "grad": gradient}
    if method not in table:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return table[method](projections, geometry, **options)
