"""Design figures of the chain as differentiable functions, and a bounded gradient optimiser.

Figures of one view's detector response (:func:`physics.chain.view_response`),
all pure JAX so ``jax.grad`` reaches every continuous system parameter:

* :func:`presampled_mtf` - MTF along x of the total blur (scintillator-optics PSF,
  focal-spot penumbra, scatter) times the camera-pixel aperture ``sinc(f p)``.
* :func:`mtf_crossing` - first frequency where it falls to a level (MTF50, MTF10).
* :func:`dqe` - the cascaded-systems DQE of the chain's own noise model
  (:mod:`physics.camera`): absorbed fraction ``eta``, ``g`` photoelectrons per
  absorbed quantum (Poisson), blur ``T(f)``, pixel aperture ``s(f)``, additive
  noise ``D`` (dark, read, rounding, e^2 per pixel) against ``Phi`` incident quanta
  per pixel::

      DQE(f) = eta T^2 s^2 / (T^2 s^2 + 1/g + D / (eta Phi g^2))

  which is ``eta g / (1 + g)`` at zero frequency without additive noise (the
  scintillator study's DQE(0)). Aliasing of the noise and the Swank factor are not
  modelled (one mean gain per quantum, as in the chain).
* :func:`line_pair_snr` - SNR of one element of a line-pair group of width ``W``:
  ``C sqrt(NEQ(1/2W) W^2)``, contrast ``C`` of the bars times the noise-equivalent
  quanta in a ``W x W`` area at the group's fundamental frequency.
* :func:`exposure_for_snr` - the exposure at which that SNR reaches a target
  (closed form: ``SNR^2`` is a quadratic in the exposure once read noise counts).

:func:`minimize_bounded` runs L-BFGS-B (scipy) on jax value-and-gradient in the
unit box and records every evaluation; :func:`grid_values` evaluates a grid for
comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from physics import materials
from physics.measure.mtf import first_crossing, mtf_from_lsf
from physics.chain import ImagingSystem, ViewResponse

__all__ = ["presampled_mtf", "mtf_crossing", "dqe", "line_pair_snr", "exposure_for_snr",
           "OptimizationResult", "minimize_bounded", "grid_values"]


def presampled_mtf(system: ImagingSystem, response: ViewResponse, freq_per_um):
    """MTF along x at ``freq_per_um`` (array): the blur kernel's LSF through the toolkit's
    :func:`physics.measure.mtf.mtf_from_lsf`, times the pixel aperture (JAX; differentiable)."""
    f = jnp.atleast_1d(jnp.asarray(freq_per_um, dtype=jnp.float32))
    lsf = jnp.sum(jnp.asarray(response.psf), axis=0)
    blur = jnp.asarray(mtf_from_lsf(lsf, system.cell_um, freqs=f)[1], jnp.float32)
    return blur * jnp.sinc(f * system.pixel_um)


def mtf_crossing(system: ImagingSystem, response: ViewResponse, level: float, *, n_freq: int = 257):
    """First frequency (1/um) where :func:`presampled_mtf` falls to ``level``, up to the
    pixel Nyquist frequency (returned if it never does): the toolkit's
    :func:`physics.measure.mtf.first_crossing` on a grid of ``n_freq`` frequencies
    (linear interpolation, differentiable under ``jax.grad``)."""
    f = jnp.linspace(0.0, 0.5 / system.pixel_um, n_freq)
    m = presampled_mtf(system, response, f)
    return jnp.asarray(first_crossing(f, m, level, never=f[-1]), jnp.float32)


def _quanta(system: ImagingSystem, response: ViewResponse):
    """(absorbed, incident) quanta per camera pixel for this view's exposure."""
    absorbed = jnp.sum(response.quanta_weights)
    interact = system.detector.interaction_probability(response.energies_kev)
    incident = jnp.sum(response.quanta_weights / jnp.maximum(interact, 1e-30))
    o2 = system.oversample**2
    return absorbed * o2, incident * o2


def _additive_e2(system: ImagingSystem):
    cam = system.camera
    return cam.dark_current_e_per_s * system.exposure_s + cam.read_noise_e**2 + cam.gain_e_per_adu**2 / 12.0


def dqe(system: ImagingSystem, response: ViewResponse, freq_per_um):
    """Cascaded-systems DQE at ``freq_per_um`` (see the module docstring)."""
    absorbed, incident = _quanta(system, response)
    eta = absorbed / incident
    g = response.electrons_per_quantum
    t2 = presampled_mtf(system, response, freq_per_um) ** 2
    return eta * t2 / (t2 + 1.0 / g + _additive_e2(system) / (absorbed * g**2))


def _contrast(response: ViewResponse, material: str, thickness_um: float):
    mu = jnp.asarray(materials.linear_attenuation_per_um(material, response.energies_kev), jnp.float32)
    w = response.quanta_weights
    return 1.0 - jnp.sum(w * jnp.exp(-mu * thickness_um)) / jnp.sum(w)


def line_pair_snr(system: ImagingSystem, response: ViewResponse, *, width_um: float, material: str,
                  thickness_um: float):
    """SNR of one ``W x W`` element of a line-pair group of width ``W`` (bars of ``material``)."""
    _, incident = _quanta(system, response)
    neq_per_um2 = dqe(system, response, 0.5 / width_um)[0] * incident / system.pixel_um**2
    return _contrast(response, material, thickness_um) * jnp.sqrt(neq_per_um2 * width_um**2)


def exposure_for_snr(system: ImagingSystem, response: ViewResponse, *, width_um: float, material: str,
                     thickness_um: float, target_snr: float):
    """Exposure (s) at which :func:`line_pair_snr` equals ``target_snr``.

    Quanta scale with the exposure ``t`` and so does the dark signal; read noise does
    not: ``SNR^2 = K t / (a + b + c / t)`` gives ``t`` as the positive root of
    ``K t^2 - S^2 (a + b) t - S^2 c = 0``.
    """
    absorbed, incident = _quanta(system, response)
    t0 = system.exposure_s
    eta = absorbed / incident
    g = response.electrons_per_quantum
    f = 0.5 / width_um
    t2 = presampled_mtf(system, response, f)[0] ** 2
    cam = system.camera
    a = t2 + 1.0 / g
    b = cam.dark_current_e_per_s / (absorbed / t0 * g**2)
    c = (cam.read_noise_e**2 + cam.gain_e_per_adu**2 / 12.0) / (absorbed / t0 * g**2)
    contrast = _contrast(response, material, thickness_um)
    k = contrast**2 * width_um**2 * (incident / t0) / system.pixel_um**2 * eta * t2
    s2 = target_snr**2
    return (s2 * (a + b) + jnp.sqrt((s2 * (a + b)) ** 2 + 4 * k * s2 * c)) / (2 * k)


@dataclass(frozen=True)
class OptimizationResult:
    """Outcome of :func:`minimize_bounded` (in the unit box).

    Attributes
    ----------
    u : np.ndarray
        Optimum in ``[0, 1]^n``.
    value : float
        Objective there.
    path : np.ndarray (evaluations, n)
        Every point evaluated, in order.
    values : np.ndarray
        Objective at each of them.
    evaluations : int
        Value-and-gradient evaluations.
    converged : bool
    message : str
    """

    u: np.ndarray
    value: float
    path: np.ndarray
    values: np.ndarray
    evaluations: int
    converged: bool
    message: str


def minimize_bounded(value_and_grad: Callable, u0, *, constraints=(), max_evaluations: int = 60,
                     tol: float = 1e-4) -> OptimizationResult:
    """Minimise ``f(u)`` over ``[0, 1]^n`` with jax gradients.

    L-BFGS-B without constraints; SLSQP with inequality constraints
    ``c(u) >= 0`` given as ``(value_and_grad_c, ...)``. The objective is divided by
    its magnitude at ``u0`` so ``tol`` is relative (1e-4: far below any design
    difference that matters, and the chain runs in float32). Points equal in float32
    are evaluated (and counted) once.
    """
    u0 = np.clip(np.asarray(u0, dtype=np.float64), 0.0, 1.0)
    path, values = [], []
    cache = {}

    def call(u):
        key = np.asarray(u, np.float32).tobytes()
        if key not in cache:
            v, g = value_and_grad(jnp.asarray(u, jnp.float32))
            cache[key] = (float(v), np.asarray(g, dtype=np.float64))
            path.append(np.array(u))
            values.append(float(v))
        return cache[key]

    scale = max(abs(call(u0)[0]), 1e-30)

    def fun(u):
        v, g = call(u)
        return v / scale, g / scale

    bounds = [(0.0, 1.0)] * u0.size
    if constraints:
        cons = [{"type": "ineq", "fun": (lambda u, c=c: float(c(jnp.asarray(u, jnp.float32))[0])),
                 "jac": (lambda u, c=c: np.asarray(c(jnp.asarray(u, jnp.float32))[1], dtype=np.float64))}
                for c in constraints]
        res = minimize(fun, u0, jac=True, method="SLSQP", bounds=bounds, constraints=cons,
                       options={"maxiter": max_evaluations, "ftol": tol})
    else:
        res = minimize(fun, u0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxfun": max_evaluations, "ftol": tol, "gtol": 1e-8})
    best = np.clip(np.asarray(res.x, dtype=np.float64), 0.0, 1.0)
    value = call(best)[0]
    return OptimizationResult(u=best, value=value, path=np.array(path), values=np.array(values),
                              evaluations=len(path), converged=bool(res.success), message=str(res.message))


def grid_values(value: Callable, axes: list[np.ndarray]) -> np.ndarray:
    """``value(u)`` on the Cartesian grid of ``axes`` (unit-box coordinates), shape of the grid."""
    shape = tuple(len(a) for a in axes)
    out = np.empty(shape)
    for idx in np.ndindex(*shape):
        u = jnp.asarray([axes[k][i] for k, i in enumerate(idx)], jnp.float32)
        out[idx] = float(value(u))
    return out
