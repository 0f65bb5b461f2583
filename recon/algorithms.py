"""Reconstruction algorithms on a projector pair.

Every function takes line-integral projections (``-log(I / I0)``, shape
``geometry.proj_shape``) and a :class:`~recon.geometry.Geometry` or a
:class:`~recon.projector.Projector` (any object with its members), optionally other slice
heights (``heights_um``, evenly spaced; with a Geometry) and a
``callback(step, total, info)`` for progress, and returns :class:`Slices` in attenuation
units (1/um). One iteration of each iterative method is one compiled call (subsets are
swept by ``lax.scan``); the Python loop over iterations only reports progress and
checkpoints.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from recon.fbp import fbp_volume
from recon.geometry import Geometry
from recon.projector import Projector, _as_float, _compute_dtype, as_projector

METHODS = ("sas", "fbp", "sart", "sirt", "cgls", "grad")


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
        ``"sirt"``, ``"sart"``, ``"cgls"`` or ``"grad"``.
    iteration : int
        Iterations done.
    x : array
        The current iterate, ``geometry.vol_shape``, 1/um.
    history : tuple of float
        Per-iteration relative residual (sirt, sart) or relative loss (grad).
    optimizer_leaves : tuple of arrays
        grad: the leaves of the optax state (``jax.tree.leaves``); cgls: its residual,
        search direction and gradient norm; empty otherwise.
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
    """``(p, A)``: projections in the projector's dtype and the projector (a Geometry is wrapped)."""
    if isinstance(geometry, Geometry):
        if heights_um is not None:
            geometry = geometry.with_heights(heights_um)
        p = _as_float(projections, "projections")
        A = Projector(geometry, dtype=_compute_dtype(p))
    else:
        A = as_projector(geometry)
        if heights_um is not None:
            raise ValueError("heights_um: give it with a Geometry, not a Projector (the projector's "
                             "volume grid is fixed)")
        p = _as_float(projections, "projections")
    p = jnp.asarray(p, A.dtype)
    if p.shape != A.proj_shape:
        raise ValueError(f"projections: shape {p.shape} does not match geometry.proj_shape "
                         f"{A.proj_shape}")
    return p, A


def _result(x, A, method, info) -> Slices:
    return Slices(data=x, heights_um=A.geometry.heights_um, voxel_um=A.geometry.voxel_um,
                  method=method, info=info)


def _safe_inverse(x, rel=1e-6):
    """1/x where x is a meaningful weight, 0 where no ray (or no voxel) contributes."""
    return jnp.where(x > rel * jnp.max(x), 1.0 / jnp.where(x > 0, x, 1.0), 0.0)


def _notify(callback, step, total, info):
    if callback is not None:
        callback(step, total, info)


def shift_and_add(projections, geometry, *, heights_um=None, callback=None) -> Slices:
    """Shift-and-add (simple back projection), normalised to attenuation units.

    ``x = A^T p / A^T A 1``: each voxel averages the registered projections, weighted as
    the projector weights them, so a uniform object is returned exactly. The normaliser
    is kept on the projector.
    """
    p, A = _prepare(projections, geometry, heights_um)
    norm = A.cached("sas_norm", lambda: _safe_inverse(A.adjoint(A.forward(jnp.ones(A.vol_shape, A.dtype)))))
    x = A.adjoint(p) * norm
    _notify(callback, 1, 1, {})
    return _result(x, A, "sas", {})


def fbp(projections, geometry, *, heights_um=None, apodisation_cutoff: float = 1.0,
        slice_thickness_um: float | None = None, callback=None) -> Slices:
    """Filtered back projection for parallel beams, full fan/cone scans and tomosynthesis.

    See :mod:`recon.fbp`: a Ram-Lak ramp (Hann-apodised) on the sampling through the
    rotation axis, angular weights from the actual view directions, an interpolating back
    projection (FDK distance weights for fan/cone beams). For tomosynthesis, the per-view
    parallel-beam approximation with an optional slice-thickness window.

    Parameters
    ----------
    apodisation_cutoff : float
        Hann window cut-off as a fraction of Nyquist (1.0: full band).
    slice_thickness_um : float, optional
        Tomosynthesis: target slice thickness for the slice-thickness window (None: none).
    """
    p, A = _prepare(projections, geometry, heights_um)
    x, info = fbp_volume(p, A.geometry, apodisation_cutoff=apodisation_cutoff,
                         slice_thickness_um=slice_thickness_um)
    _notify(callback, 1, 1, {})
    return _result(x, A, "fbp", info)


def _check_iterations(iterations):
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations: expected an integer >= 1, got {iterations!r}")
    return int(iterations)


#: The per-subset column sums C_s are kept if they take at most this many bytes in all
#: (assumed: small against the 16 GiB target); above it they are recomputed in each step
#: (one more back projection of ones per subset).
SUBSET_NORM_BUDGET_BYTES = 512 * 2**20


def _os_setup(A, n_subsets):
    """Compiled sweep over the ordered subsets: ``x -> (x', |p - Ax|^2)`` (kept on ``A``)."""
    def build():
        subsets = [np.arange(s, A.geometry.n_views, n_subsets) for s in range(n_subsets)]
        runs = A.subset_runs(subsets)
        keep_cols = n_subsets * math.prod(A.vol_shape) * A.dtype.itemsize <= SUBSET_NORM_BUDGET_BYTES
        ones_x = jnp.ones(A.vol_shape, A.dtype)
        prepared = []
        for positions, fwd, adj, params in runs:
            idx = np.stack([subsets[i] for i in positions])  # (k, views per subset)
            row = jax.lax.map(lambda P: _safe_inverse(fwd(ones_x, P)), params)
            col = (jax.lax.map(lambda P: _safe_inverse(adj(jnp.ones_like(row[0]), P)), params)
                   if keep_cols else None)
            prepared.append((idx, fwd, adj, params, row, col))

        def make_step(fwd, adj, relaxation, positivity):
            def step(carry, xs):
                x, sq = carry
                P, ps, r, c = xs
                res = ps - fwd(x, P)
                if not keep_cols:  # c is a placeholder: recompute C_s
                    c = _safe_inverse(adj(jnp.ones_like(ps), P))
                x = x + relaxation * c * adj(r * res, P)
                return ((jnp.maximum(x, 0) if positivity else x), sq + jnp.vdot(res, res)), None
            return step

        @functools.partial(jax.jit, static_argnames=("positivity",))
        def sweep(x, p, relaxation, *, positivity):
            carry = (x, jnp.zeros((), A.dtype))
            for idx, fwd, adj, params, row, col in prepared:
                cols = col if keep_cols else jnp.zeros(len(idx), A.dtype)
                carry, _ = jax.lax.scan(make_step(fwd, adj, relaxation, positivity), carry,
                                        (params, p[jnp.asarray(idx)], row, cols))
            return carry

        return sweep

    return A.cached(("os", n_subsets), build)


def _os_iterations(p, A, *, iterations, n_subsets, relaxation, positivity, x0, callback,
                   method, resume=None, checkpoint=None):
    """Ordered-subsets SIRT: ``x += lam C_s A_s^T R_s (p_s - A_s x)`` per subset, then ``x >= 0``.

    One iteration (all subsets) is one compiled call.
    """
    iterations = _check_iterations(iterations)
    n_views = A.geometry.n_views
    if not (isinstance(n_subsets, int) and 1 <= n_subsets <= n_views):
        raise ValueError(f"n_subsets: expected an integer in [1, {n_views}], got {n_subsets!r}")
    if not (0 < relaxation < 2):
        raise ValueError(f"relaxation: expected 0 < relaxation < 2, got {relaxation!r}")
    sweep = _os_setup(A, n_subsets)
    x, done, history = _start(method, resume, x0, A, A.dtype, iterations)
    p_norm = float(jnp.linalg.norm(p)) or 1.0
    lam = jnp.asarray(relaxation, A.dtype)
    for it in range(done, iterations):
        x, sq = sweep(x, p, lam, positivity=bool(positivity))
        history.append(math.sqrt(float(sq)) / p_norm)
        if checkpoint is not None:  # before the callback, so an interrupt there keeps this iteration
            checkpoint(IterationState(method, it + 1, x, tuple(history)))
        _notify(callback, it + 1, iterations, {"residual": history[-1]})
    info = {"iterations": iterations, "n_subsets": n_subsets, "relaxation": relaxation,
            "positivity": positivity, "relative_residual": history}
    return _result(x, A, method, info)


def sirt(projections, geometry, *, iterations: int = 50, relaxation: float = 1.0,
         positivity: bool = True, n_subsets: int = 1, x0=None, heights_um=None,
         callback=None, resume: IterationState | None = None, checkpoint=None) -> Slices:
    """SIRT (simultaneous over all views), optionally with ordered subsets.

    ``relaxation`` in (0, 2); ``positivity`` clips negative attenuation after each update;
    ``callback(iteration, iterations, {"residual": |p - Ax| / |p|})``. ``checkpoint``, if
    given, receives an :class:`IterationState` after every iteration; passing one back as
    ``resume`` runs only the remaining iterations, with the same result.
    """
    p, A = _prepare(projections, geometry, heights_um)
    return _os_iterations(p, A, iterations=iterations, n_subsets=n_subsets,
                          relaxation=relaxation, positivity=positivity, x0=x0, callback=callback,
                          method="sirt", resume=resume, checkpoint=checkpoint)


def sart(projections, geometry, *, iterations: int = 10, relaxation: float = 0.5,
         positivity: bool = True, n_subsets: int | None = None, x0=None, heights_um=None,
         callback=None, resume: IterationState | None = None, checkpoint=None) -> Slices:
    """SART: view-by-view updates (``n_subsets`` = number of views by default).

    Fewer, larger ordered subsets trade convergence speed per iteration for stability;
    ``n_subsets=1`` is SIRT. Default relaxation 0.5 (assumed: a common SART choice that
    damps the view-to-view oscillation with few views). ``resume``/``checkpoint`` as in
    :func:`sirt`.
    """
    p, A = _prepare(projections, geometry, heights_um)
    subsets = A.geometry.n_views if n_subsets is None else n_subsets
    return _os_iterations(p, A, iterations=iterations, n_subsets=subsets,
                          relaxation=relaxation, positivity=positivity, x0=x0, callback=callback,
                          method="sart", resume=resume, checkpoint=checkpoint)


def total_variation(x, *, smoothing: float):
    """Smoothed isotropic TV, ``sum sqrt(|grad x|^2 + eps^2) - eps``, differences in voxels."""
    sq = 0.0
    for axis in range(x.ndim):
        d = jnp.diff(x, axis=axis, append=jax.lax.slice_in_dim(x, x.shape[axis] - 1, x.shape[axis], axis=axis))
        sq = sq + d * d
    return jnp.sum(jnp.sqrt(sq + smoothing**2) - smoothing)


def _operator_norm_sq(A, iterations=12):
    """Largest eigenvalue of A^T A by power iteration from a constant (deterministic) start.

    Computed once per projector (:meth:`~recon.projector.Projector.cached`).
    """
    def power():
        def body(_, carry):
            x, _ = carry
            y = A.adjoint(A.forward(x))
            return y / jnp.linalg.norm(y), jnp.linalg.norm(y) / jnp.linalg.norm(x)

        x = jnp.ones(A.vol_shape, A.dtype)
        _, lam = jax.lax.fori_loop(0, iterations, body, (x / jnp.linalg.norm(x), jnp.zeros((), A.dtype)))
        return float(lam)

    return A.cached("norm_sq", power)


def gradient(projections, geometry, *, iterations: int = 100, tv_weight: float = 0.0,
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

    p, A = _prepare(projections, geometry, heights_um)
    iterations = _check_iterations(iterations)
    if not (tv_weight >= 0 and math.isfinite(tv_weight)):
        raise ValueError(f"tv_weight: expected a finite value >= 0, got {tv_weight!r}")
    if tv_smoothing is None:
        scale = float(jnp.max(jnp.abs(shift_and_add(p, A).data)))
        tv_smoothing = 0.01 * scale if scale > 0 else 1e-6
    if not tv_smoothing > 0:
        raise ValueError(f"tv_smoothing: expected a positive value, got {tv_smoothing!r}")
    if optimizer is None:
        lipschitz = _operator_norm_sq(A) + 4 * A.geometry.ndim * tv_weight / tv_smoothing
        optimizer = optax.sgd(learning_rate=1.0 / lipschitz, momentum=0.9, nesterov=True)

    def loss(x):
        r = A.forward(x) - p
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

    x, done, history = _start("grad", resume, x0, A, A.dtype, iterations)
    state = optimizer.init(x)
    if resume is not None:
        leaves, tree = jax.tree.flatten(state)
        saved = resume.optimizer_leaves
        if len(saved) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(saved, leaves)):
            raise ValueError("resume.optimizer_leaves: do not match this optimizer's state "
                             f"({len(saved)} leaves for {len(leaves)})")
        state = jax.tree.unflatten(tree, [jnp.asarray(a, b.dtype) for a, b in zip(saved, leaves)])
    p_norm_sq = float(jnp.vdot(p, p)) or 1.0
    for it in range(done, iterations):
        x, state, value = step(x, state)
        history.append(float(value) / p_norm_sq)
        if checkpoint is not None:  # before the callback, so an interrupt there keeps this iteration
            checkpoint(IterationState("grad", it + 1, x, tuple(history), tuple(jax.tree.leaves(state))))
        _notify(callback, it + 1, iterations, {"loss": history[-1]})
    info = {"iterations": iterations, "tv_weight": tv_weight, "tv_smoothing": tv_smoothing,
            "positivity": positivity, "relative_loss": history}
    return _result(x, A, "grad", info)


def cgls(projections, geometry, *, iterations: int = 20, x0=None, heights_um=None, callback=None,
         resume: IterationState | None = None, checkpoint=None) -> Slices:
    """CGLS: conjugate gradients on the normal equations ``A^T A x = A^T p`` (Hestenes-Stiefel).

    Minimises ``|Ax - p|`` over the Krylov space; no positivity and no relaxation (stop
    early to regularise). ``callback(iteration, iterations, {"residual": |p - Ax| / |p|})``;
    ``resume``/``checkpoint`` as in :func:`sirt` (the state carries the residual, the search
    direction and the gradient norm).
    """
    p, A = _prepare(projections, geometry, heights_um)
    iterations = _check_iterations(iterations)
    x, done, history = _start("cgls", resume, x0, A, A.dtype, iterations)
    if resume is not None and done > 0:
        saved = resume.optimizer_leaves
        if len(saved) != 3 or np.shape(saved[0]) != A.proj_shape or np.shape(saved[1]) != A.vol_shape:
            raise ValueError("resume.optimizer_leaves: expected (residual, direction, gamma) of cgls")
        r, d, gamma = (jnp.asarray(a, A.dtype) for a in saved)
    else:
        r = p - A.forward(x)
        d = A.adjoint(r)
        gamma = jnp.vdot(d, d)

    @jax.jit
    def step(x, r, d, gamma):
        q = A.forward(d)
        alpha = jnp.where(gamma > 0, gamma / jnp.vdot(q, q), 0.0)
        x, r = x + alpha * d, r - alpha * q
        s = A.adjoint(r)
        gamma_new = jnp.vdot(s, s)
        d = s + jnp.where(gamma > 0, gamma_new / gamma, 0.0) * d
        return x, r, d, gamma_new, jnp.linalg.norm(r)

    p_norm = float(jnp.linalg.norm(p)) or 1.0
    for it in range(done, iterations):
        x, r, d, gamma, res = step(x, r, d, gamma)
        history.append(float(res) / p_norm)
        if checkpoint is not None:
            checkpoint(IterationState("cgls", it + 1, x, tuple(history), (r, d, gamma)))
        _notify(callback, it + 1, iterations, {"residual": history[-1]})
    return _result(x, A, "cgls", {"iterations": iterations, "relative_residual": history})


def reconstruct(projections, geometry, *, method: str, **options) -> Slices:
    """Dispatch to one of :data:`METHODS` (``sas, fbp, sart, sirt, cgls, grad``)."""
    table = {"sas": shift_and_add, "fbp": fbp, "sart": sart, "sirt": sirt, "cgls": cgls,
             "grad": gradient}
    if method not in table:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return table[method](projections, geometry, **options)
