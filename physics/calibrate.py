"""Calibration: fit continuous model parameters to measured images through the chain.

The noiseless chain is a pure JAX function of its continuous parameters, so a
measured image is fitted by weighted least squares (Levenberg-Marquardt) with the
exact Jacobian from forward-mode autodiff (one directional derivative per
parameter), and the curvature of the likelihood at the optimum gives standard
uncertainties.

Likelihood
----------
Pixels are Gaussian with the Poisson-Gaussian variance of a camera,
``var = a * mean + b`` (shot noise proportional to the signal plus a
signal-independent read/dark term; EMVA 1288). ``a`` and ``b`` are estimated from
the residuals of a first, unweighted fit (binned by predicted value), because the
effective gain of a scintillator chain (light per X-ray quantum, flat-field
division, vendor processing of real images) is rarely known well enough to fix
them. A second fit uses those weights.

Uncertainties
-------------
Scintillator blur correlates the noise of neighbouring pixels (X-ray quanta are
Poisson *before* the blur), so the independent-pixel Fisher information
``H = J^T W J`` would overstate the information. The covariance is the sandwich
``H^-1 (J^T W^1/2 R W^1/2 J) H^-1`` with ``R`` the residuals' own autocorrelation
(lags up to ``correlation_px``), which reduces to ``H^-1`` for white noise.
Correlation coefficients near +-1 or relative uncertainties near 1 are reported
as identifiability warnings.

This module knows nothing about scenario files: parameters are named by the
caller (``twin.calibrate`` maps scenario keys onto an :class:`ImagingSystem`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import nnls
from scipy.signal import fftconvolve

from physics import chain
from physics.camera import expected_adu, flat_dark_correct
from physics.chain import ImagingSystem
from physics.errors import InputFileError
from physics.phantoms import edge_coverage
from physics.projection import Layer, LayeredObject

__all__ = ["Parameter", "FitResult", "fit_least_squares", "model_transmission", "edge_object",
           "uniform_frame_moments", "frame_moments", "edge_initial_guess", "CORRELATION_WARNING", "RELATIVE_STD_WARNING"]

#: |correlation| above which two fitted parameters are reported as not separately identifiable
#: (assumed: 0.95 inflates each variance ~10x over an independent fit, 1/(1-r^2)).
CORRELATION_WARNING = 0.95
#: Relative standard uncertainty above which the likelihood is reported as flat (assumed).
RELATIVE_STD_WARNING = 0.5


@dataclass(frozen=True)
class Parameter:
    """One fitted parameter.

    Parameters
    ----------
    name : str
    initial : float
    lower, upper : float
        Bounds (the fit is projected onto them).
    log : bool
        Fit ``log(value)`` (positive parameters spanning scales, e.g. thickness).
    scale : float
        Typical size of a change, for conditioning linear parameters (default:
        ``|initial|`` or 1).
    nuisance : bool
        Fitted but not reported as a result (edge position, level...).
    """

    name: str
    initial: float
    lower: float = -math.inf
    upper: float = math.inf
    log: bool = False
    scale: float | None = None
    nuisance: bool = False

    def __post_init__(self):
        if not (self.lower <= self.initial <= self.upper):
            raise ValueError(f"{self.name}: initial value {self.initial!r} is outside "
                             f"[{self.lower!r}, {self.upper!r}]")
        if self.log and not self.initial > 0:
            raise ValueError(f"{self.name}: a log-scaled parameter must start > 0, got {self.initial!r}")

    @property
    def _scale(self) -> float:
        return self.scale or (abs(self.initial) if self.initial else 1.0)

    def to_u(self, x):
        return jnp.log(x) if self.log else x / self._scale

    def from_u(self, u):
        return jnp.exp(u) if self.log else u * self._scale

    def u_bounds(self) -> tuple[float, float]:
        if self.log:
            lo = math.log(self.lower) if self.lower > 0 else -math.inf
            return lo, math.log(self.upper) if math.isfinite(self.upper) else math.inf
        return self.lower / self._scale, self.upper / self._scale


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit_least_squares`.

    Attributes
    ----------
    names : tuple of str
        All parameters, nuisance included, in fit order.
    values, std : np.ndarray
        Fitted values and standard uncertainties (inf where the curvature is zero).
    correlation : np.ndarray (n, n)
        Correlation of the fitted parameters.
    chi2_per_dof : float
        Weighted misfit per degree of freedom (about 1 for a good fit).
    loss : tuple of float
        ``chi2_per_dof`` after each accepted step (both stages).
    evaluations : int
        Chain evaluations: forward passes plus one per Jacobian column.
    model : np.ndarray
        Best-fit prediction.
    noise : (a, b)
        The variance model ``var = a * mean + b`` used as weights.
    residual_correlation : np.ndarray
        Autocorrelation of the normalised residuals used for the covariance.
    warnings : tuple of str
    nuisance : tuple of bool
    """

    names: tuple[str, ...]
    values: np.ndarray
    std: np.ndarray
    correlation: np.ndarray
    chi2_per_dof: float
    loss: tuple[float, ...]
    evaluations: int
    model: np.ndarray
    noise: tuple[float, float]
    residual_correlation: np.ndarray
    warnings: tuple[str, ...] = ()
    nuisance: tuple[bool, ...] = field(default_factory=tuple)

    def value(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def std_of(self, name: str) -> float:
        return float(self.std[self.names.index(name)])


def fit_least_squares(predict: Callable[[dict], jax.Array], measured, parameters: list[Parameter], *,
                      noise: tuple[float, float] | None = None, sigma=None, max_iter: int = 30,
                      tol: float = 1e-4, correlation_px: int = 4, mask=None, affine: bool = False,
                      ceiling: float | None = None, callback=None) -> FitResult:
    """Fit ``parameters`` so that ``predict(values)`` matches ``measured``.

    Parameters
    ----------
    predict : callable
        ``predict({name: scalar}) -> array`` (pure JAX, same shape as ``measured``).
    measured : array
    parameters : list of Parameter
    noise : (a, b), optional
        Fixed variance model ``var = a * mean + b``; default: estimated from the
        residuals of an unweighted first fit (see the module docstring).
    sigma : array, optional
        Fixed per-sample standard deviations (overrides ``noise``); no
        residual-correlation correction (samples are taken as independent).
    max_iter, tol : int, float
        Levenberg-Marquardt steps per stage; stop when chi2 falls by less than ``tol``
        (relative).
    correlation_px : int
        Largest residual-autocorrelation lag (pixels) in the covariance.
    mask : bool array, optional
        Samples to use (default: all).
    affine : bool
        Fit ``level * predict(values) + background`` with two more nuisance
        parameters ``level`` and ``background`` (unknown flat field, offset, vendor
        grey-level scaling, inverted polarity); their Jacobian columns are exact
        and cost no chain evaluation.
    ceiling : float, optional
        Saturation level of ``measured`` (its grey levels, after the affine map): the
        detector or its readout clipped every sample at or above it, which then says only
        that the truth is at least ``ceiling``. The model is clipped alike,
        ``min(model, ceiling)`` (zero Jacobian where clipped), and ``measured`` is set to
        ``ceiling`` there, so a saturated sample costs only a model that falls below it
        (a censored likelihood); the noise model is estimated from the unsaturated samples.
    callback : callable, optional
        ``callback(stage, step, values_dict, chi2_per_dof)``.
    """
    measured = np.asarray(measured, dtype=np.float64)
    if not np.all(np.isfinite(measured)):
        raise InputFileError("measured: contains NaN or inf")
    unsaturated = np.ones(measured.shape, bool)
    if ceiling is not None:
        unsaturated = measured < ceiling
        if not unsaturated.any():
            raise ValueError(f"ceiling: every sample is at or above {ceiling:g}")
        measured = np.minimum(measured, ceiling)
    if not parameters:
        raise ValueError("parameters: nothing to fit")
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise ValueError(f"parameters: duplicate names in {names}")
    use = np.ones(measured.shape, bool) if mask is None else np.asarray(mask, bool)
    if use.shape != measured.shape:
        raise ValueError(f"mask: shape {use.shape} does not match the measurement {measured.shape}")
    n_used = int(use.sum())
    if n_used <= len(parameters):
        raise ValueError(f"measured: {n_used} samples cannot determine {len(parameters)} parameters")

    # Compiled once per model and parametrisation (not per starting point): repeated fits reuse it.
    transforms = tuple((p.name, p.log, p._scale) for p in parameters)
    forward, jacobian = _compiled(predict, transforms, measured.shape)
    bounds = [p.u_bounds() for p in parameters]
    u = np.array([float(p.to_u(p.initial)) for p in parameters])
    if affine:
        # level and background: linear, so their Jacobian columns are the model and ones.
        bounds += [(-math.inf, math.inf)] * 2
        u = np.concatenate([u, [1.0, 0.0]])
    lo, hi = (np.array(b) for b in zip(*bounds))
    scale = 1.0
    counter = {"n": 0}

    def values_of(u):
        out = {p.name: float(p.from_u(u[i])) for i, p in enumerate(parameters)}
        if affine:
            out.update(level=float(u[-2]), background=float(u[-1]) * scale)
        return out

    def run_forward(u):
        counter["n"] += 1
        base = np.asarray(forward(jnp.asarray(u[:len(parameters)], jnp.float32)), dtype=np.float64)
        out = u[-2] * base + u[-1] * scale if affine else base
        return out if ceiling is None else np.minimum(out, ceiling)

    def run_jacobian(u):
        counter["n"] += len(parameters)
        base, jac = jacobian(jnp.asarray(u[:len(parameters)], jnp.float32))
        jac = np.asarray(jac, dtype=np.float64)
        base = np.asarray(base, dtype=np.float64)
        if affine:
            jac = np.concatenate([u[-2] * jac, base[..., None], np.full(base.shape + (1,), scale)], axis=-1)
            base = u[-2] * base + u[-1] * scale
        return jac if ceiling is None else np.where((base < ceiling)[..., None], jac, 0.0)

    if affine:
        scale = float(np.std(measured)) or 1.0
        base0 = run_forward(np.concatenate([u[:-2], [1.0, 0.0]]))
        design = np.stack([base0[use], np.ones(n_used)], 1)
        (level0, bg0), *_ = np.linalg.lstsq(design, measured[use], rcond=None)
        u[-2:] = level0, bg0 / scale
    all_params = list(parameters) + ([Parameter("level", 1.0, nuisance=True, scale=1.0),
                                      Parameter("background", 0.0, nuisance=True, scale=scale)]
                                     if affine else [])

    losses: list[float] = []
    if sigma is not None:
        s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), measured.shape)
        if not np.all(s > 0):
            raise ValueError("sigma: must be > 0 everywhere")
        u = _levenberg_marquardt(run_forward, run_jacobian, measured, lambda m: s, u, lo, hi, use,
                                 max_iter, tol, losses, callback, 1, values_of)
        a_b = (math.nan, math.nan)
    else:
        if noise is None:
            u = _levenberg_marquardt(run_forward, run_jacobian, measured, lambda m: np.ones_like(m), u, lo,
                                     hi, use, max_iter, tol, losses, callback, 1, values_of)
            noise = estimate_noise(measured, run_forward(u), use & unsaturated)
        a_b = tuple(float(v) for v in noise)

        def s_of(m):
            return np.sqrt(np.maximum(a_b[0] * m + a_b[1], 1e-12 * max(a_b[1], 1e-30)))

        u = _levenberg_marquardt(run_forward, run_jacobian, measured, s_of, u, lo, hi, use, max_iter, tol,
                                 losses, callback, 2, values_of)
    pred = run_forward(u)
    jac = run_jacobian(u)
    s = np.broadcast_to(sigma, measured.shape) if sigma is not None else s_of(pred)
    resid = np.where(use, (measured - pred) / s, 0.0)
    dof = max(n_used - len(u), 1)
    chi2 = float(np.sum(resid**2) / dof)
    jw = np.where(use[..., None], jac / s[..., None], 0.0)
    if sigma is not None or measured.ndim != 2:
        rho = np.ones((1,) * measured.ndim)
        cov_u = chi2 * _pinv(_gram(jw)) if sigma is None else _pinv(_gram(jw))
    else:
        rho = residual_autocorrelation(resid, use, correlation_px)
        h_inv = _pinv(_gram(jw))
        meat = _correlated_gram(jw, rho)
        cov_u = chi2 * h_inv @ meat @ h_inv
    var_u = np.clip(np.diag(cov_u), 0.0, None)
    std_u = np.sqrt(var_u)
    parameters = all_params
    names = [p.name for p in parameters]
    values = np.array([float(p.from_u(u[i])) for i, p in enumerate(parameters)])
    deriv = np.array([values[i] if p.log else p._scale for i, p in enumerate(parameters)])
    std = np.abs(deriv) * std_u
    singular = ~np.isfinite(std) | (np.diag(_gram(jw)) <= 0)
    std = np.where(singular, np.inf, std)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov_u / np.sqrt(np.outer(var_u, var_u))
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    warnings = _identifiability(parameters, values, std, corr)
    return FitResult(names=tuple(names), values=values, std=std, correlation=corr, chi2_per_dof=chi2,
                     loss=tuple(losses), evaluations=counter["n"], model=pred, noise=a_b,
                     residual_correlation=rho, warnings=tuple(warnings),
                     nuisance=tuple(p.nuisance for p in parameters))


@functools.lru_cache(maxsize=16)
def _compiled(predict, transforms, shape):
    """Jitted forward model and (model, Jacobian) in the fit variables, kept for repeated fits
    of the same ``predict`` (e.g. several noise draws)."""

    def model(u):
        out = predict({name: jnp.exp(u[i]) if log else u[i] * scale
                       for i, (name, log, scale) in enumerate(transforms)})
        if out.shape != shape:
            raise ValueError(f"predict returned shape {out.shape}, the measurement is {shape}")
        return out

    def with_aux(u):
        out = model(u)
        return out, out

    def model_and_jacobian(u):
        jac, out = jax.jacfwd(with_aux, has_aux=True)(u)
        return out, jac

    return jax.jit(model), jax.jit(model_and_jacobian)


def _levenberg_marquardt(forward, jacobian, measured, sigma_of, u, lo, hi, use, max_iter, tol, losses,
                         callback, stage, values_of):
    """Projected Levenberg-Marquardt on ``sum(((measured - f(u)) / sigma(f(u)))^2)``.

    The weights are frozen within a stage at the starting prediction (iteratively
    reweighted least squares across stages).
    """
    u = np.clip(u, lo, hi)
    pred = forward(u)
    s = sigma_of(pred)
    dof = max(int(use.sum()) - len(u), 1)

    def chi2_of(p):
        return float(np.sum(np.where(use, ((measured - p) / s) ** 2, 0.0))) / dof

    chi2 = chi2_of(pred)
    losses.append(chi2)
    damping = 1e-3
    for step in range(max_iter):
        jac = jacobian(u)
        jw = np.where(use[..., None], jac / s[..., None], 0.0).reshape(-1, len(u))
        r = np.where(use, (measured - pred) / s, 0.0).ravel()
        a = jw.T @ jw
        g = jw.T @ r
        improved = False
        for _ in range(12):
            lhs = a + damping * np.diag(np.maximum(np.diag(a), 1e-12 * max(np.max(np.diag(a)), 1e-300)))
            try:
                du = np.linalg.solve(lhs, g)
            except np.linalg.LinAlgError:
                du = np.linalg.lstsq(lhs, g, rcond=None)[0]
            trial = np.clip(u + du, lo, hi)
            trial_pred = forward(trial)
            trial_chi2 = chi2_of(trial_pred)
            if np.isfinite(trial_chi2) and trial_chi2 <= chi2:
                improved = True
                break
            damping *= 4.0
        if not improved:
            break
        drop = (chi2 - trial_chi2) / max(chi2, 1e-300)
        u, pred, chi2 = trial, trial_pred, trial_chi2
        damping = max(damping / 3.0, 1e-7)
        losses.append(chi2)
        if callback is not None:
            callback(stage, step, {k: float(v) for k, v in values_of(u).items()}, chi2)
        if drop < tol:
            break
    return u


def estimate_noise(measured, predicted, use, *, n_bins: int = 12) -> tuple[float, float]:
    """Poisson-Gaussian variance model ``var = a * mean + b`` (a, b >= 0) from residuals.

    Samples are binned by predicted value (quantiles); the mean squared residual per
    bin is fitted by non-negative least squares. A single level (no spread of the
    prediction) gives ``a = 0``.
    """
    m = np.asarray(predicted)[use].ravel()
    r2 = ((np.asarray(measured) - np.asarray(predicted))[use].ravel()) ** 2
    edges = np.unique(np.quantile(m, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 3:
        return 0.0, float(np.mean(r2))
    idx = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(idx, minlength=edges.size - 1)
    ok = counts > 0
    mean_m = np.bincount(idx, m, minlength=edges.size - 1)[ok] / counts[ok]
    mean_r2 = np.bincount(idx, r2, minlength=edges.size - 1)[ok] / counts[ok]
    w = np.sqrt(counts[ok])
    (a, b), _ = nnls(np.stack([mean_m, np.ones_like(mean_m)], 1) * w[:, None] / mean_r2[:, None].clip(1e-300),
                     w * mean_r2 / mean_r2.clip(1e-300))
    if a * mean_m.max() + b <= 0:
        return 0.0, float(np.mean(r2))
    return float(a), float(max(b, 1e-6 * (a * abs(mean_m).max() + b)))


def residual_autocorrelation(resid, use, max_lag: int) -> np.ndarray:
    """Autocorrelation of a residual image at lags ``-max_lag..max_lag`` (rho[centre] = 1).

    Each lag is averaged over the pairs where both samples are used.
    """
    e = np.where(use, resid, 0.0)
    w = use.astype(float)
    k = int(max_lag)
    num = fftconvolve(e, e[::-1, ::-1], mode="full")
    den = fftconvolve(w, w[::-1, ::-1], mode="full")
    cy, cx = e.shape[0] - 1, e.shape[1] - 1
    num = num[cy - k:cy + k + 1, cx - k:cx + k + 1]
    den = np.round(den[cy - k:cy + k + 1, cx - k:cx + k + 1])
    rho = np.where(den > 0, num / np.maximum(den, 1), 0.0)
    return rho / rho[k, k]


def _gram(jw):
    flat = jw.reshape(-1, jw.shape[-1])
    return flat.T @ flat


def _correlated_gram(jw, rho):
    """``sum_d rho(d) sum_p jw[p] jw[p + d]^T`` over the lags of ``rho``."""
    k = rho.shape[0] // 2
    n = jw.shape[-1]
    rows, cols = jw.shape[:2]
    out = np.zeros((n, n))
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            r = rho[dy + k, dx + k]
            if r == 0.0:
                continue
            a = jw[max(0, -dy):rows - max(0, dy), max(0, -dx):cols - max(0, dx)]
            b = jw[max(0, dy):rows - max(0, -dy), max(0, dx):cols - max(0, -dx)]
            out += r * np.einsum("ijk,ijl->kl", a, b)
    return 0.5 * (out + out.T)


def _pinv(a):
    return np.linalg.pinv(a, rcond=1e-12, hermitian=True)


def _identifiability(parameters, values, std, corr) -> list[str]:
    out = []
    shown = [i for i, p in enumerate(parameters) if not p.nuisance]
    for i in shown:
        p = parameters[i]
        if not np.isfinite(std[i]):
            out.append(f"{p.name}: the data do not constrain it (zero curvature of the likelihood)")
        elif values[i] != 0 and std[i] / abs(values[i]) > RELATIVE_STD_WARNING:
            out.append(f"{p.name}: flat likelihood, standard uncertainty {std[i]:.3g} is "
                       f"{100 * std[i] / abs(values[i]):.0f} % of the value")
    for a in range(len(parameters)):
        for b in range(a + 1, len(parameters)):
            if (a in shown or b in shown) and abs(corr[a, b]) > CORRELATION_WARNING:
                out.append(f"{parameters[a].name} and {parameters[b].name}: correlation {corr[a, b]:+.3f}; "
                           "not separately identifiable from these data")
    return out


# --------------------------------------------------------------------------- edge model
def edge_object(*, material: str, thickness_um, height_um: float, angle_deg, offset_um, cell_um: float,
                shape) -> LayeredObject:
    """Slanted absorber edge as a one-layer object, traceable in angle and offset.

    Same convention as :func:`physics.phantoms.slanted_edge`: absorber where
    ``x cos(a) + y sin(a) > offset``.
    """
    cover = edge_coverage(jnp.deg2rad(angle_deg), offset_um, pixel_size_um=cell_um, shape=shape)
    return LayeredObject((material,), (Layer(height_um, (thickness_um * cover)[None], cell_um),))


def model_transmission(system: ImagingSystem, obj, source_um, *, psf_size: int, object_plane_um: float = 0.0):
    """Noiseless flat/dark-corrected transmission of ``obj`` through the detector's grey-level
    response (:meth:`physics.detector.Detector.grey_level`; the identity for a linear camera),
    differentiable in ``system``."""
    response = chain.view_response(system, source_um, object_plane_um=object_plane_um, psf_size=psf_size)
    raw = chain.expected_view(system, obj, source_um, response=response)
    flat, dark = chain.open_field(system, source_um, response)
    return system.detector.grey_level(flat_dark_correct(raw, flat=flat, dark=dark))


# --------------------------------------------------------------------------- noise frames
def uniform_frame_moments(system: ImagingSystem, source_um, *, psf_size: int | None = None,
                          illuminated: bool = True):
    """Mean and variance (ADU, ADU^2) of one pixel of a uniformly lit (or dark) raw frame.

    From the chain's noise model (:func:`physics.chain.sample_view`): absorbed quanta
    Poisson per field cell *before* the blur, photoelectrons Poisson given them, dark
    electrons, Gaussian read noise, rounding (1/12 ADU^2):
    ``var_e = g^2 lambda sum_c K(c)^2 + mu_e + dark t + read^2``, with ``K`` the share
    of one cell's light landing in a pixel (PSF convolved with the pixel box) and
    ``g`` the photoelectrons per quantum. Differentiable in the camera gain and read
    noise (and every other continuous parameter). Saturation is not modelled.
    """
    cam = system.camera
    dark_e = cam.dark_current_e_per_s * system.exposure_s
    if illuminated:
        response = chain.view_response(system, source_um, psf_size=psf_size)
        o = system.oversample
        lam = jnp.sum(response.quanta_weights)
        share = jax.scipy.signal.convolve2d(response.psf, jnp.ones((o, o)), mode="full")
        g = response.electrons_per_quantum
        mu_e = lam * o**2 * g
        var_e = g**2 * lam * jnp.sum(share**2) + mu_e
    else:
        mu_e = var_e = jnp.zeros(())
    mean = expected_adu(mu_e, camera=cam, exposure_s=system.exposure_s)
    var = (var_e + dark_e + cam.read_noise_e**2) / cam.gain_e_per_adu**2 + 1.0 / 12.0
    return mean, var


def frame_moments(frames, *, border: int = 0) -> tuple[float, float, int]:
    """Sample mean, variance and effective sample count of uniform raw frames.

    A stack of two or more frames uses frame differences for the variance (removes
    fixed-pattern and illumination non-uniformity); a single frame its spatial
    variance. ``border`` pixels are dropped on each side.
    """
    a = np.asarray(frames, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputFileError(f"noise frames: expected (rows, cols) or (frames, rows, cols), got shape {a.shape}")
    if border:
        a = a[:, border:-border, border:-border]
    if a.shape[1] * a.shape[2] < 16:
        raise InputFileError(f"noise frames: {a.shape[1]}x{a.shape[2]} pixels are too few for a variance")
    mean = float(a.mean())
    if a.shape[0] >= 2:
        diff = a[1:] - a[:-1]
        var = float(diff.var() / 2.0)
        n = diff.size
    else:
        var = float(a[0].var(ddof=1))
        n = a[0].size
    return mean, var, n


def edge_initial_guess(image, *, pixel_um: float) -> tuple[float, float]:
    """Starting edge angle (deg) and offset (um) for :func:`edge_object` from an edge image.

    The mean grey-level gradient points from the absorber to the open side, so the
    absorber normal is its opposite; the offset is the median projected position of
    the pixels closest to the mid grey level. Image centre = world origin, pixel
    ``(i, j)`` at ``((j + 0.5 - cols/2) p, (i + 0.5 - rows/2) p)``.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 4:
        raise InputFileError(f"edge image: expected a 2D image of at least 4x4 pixels, got shape {img.shape}")
    gy, gx = np.gradient(img)
    angle = math.atan2(-float(gy.sum()), -float(gx.sum()))
    rows, cols = img.shape
    x = (np.arange(cols) + 0.5 - cols / 2) * pixel_um
    y = (np.arange(rows) + 0.5 - rows / 2) * pixel_um
    d = x[None, :] * math.cos(angle) + y[:, None] * math.sin(angle)
    lo, hi = np.percentile(img, [5, 95])
    near = np.abs(img - 0.5 * (lo + hi)) <= 0.1 * (hi - lo)
    offset = float(np.median(d[near])) if near.any() else 0.0
    return math.degrees(angle), offset
