"""Calibration by gradient descent through the differentiable imaging chain.

Example: recover the scintillator thickness from an edge image. The noiseless
chain (:func:`physics.chain.expected_view`) is a pure JAX function of the screen
thickness, so the least-squares misfit between a measured (here: simulated,
noisy) flat-field-corrected edge image and the model is minimised with
``jax.value_and_grad`` and Adam (optax), in log-thickness so the thickness stays
positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from physics import chain
from physics.camera import flat_dark_correct
from physics.chain import ImagingSystem

__all__ = ["CalibrationResult", "fit_scintillator_thickness", "model_transmission"]


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of a calibration fit.

    Attributes
    ----------
    value : float
        Fitted parameter (um).
    history : tuple of float
        Parameter after each step.
    loss : tuple of float
        Misfit after each step.
    """

    value: float
    history: tuple[float, ...]
    loss: tuple[float, ...]


def model_transmission(system: ImagingSystem, obj, source_um, *, thickness_um, psf_size: int,
                       object_plane_um: float = 0.0):
    """Noiseless flat/dark-corrected transmission for a given screen thickness (differentiable)."""
    s = chain.with_params(system, detector__scintillator__thickness_um=thickness_um)
    response = chain.view_response(s, source_um, object_plane_um=object_plane_um, psf_size=psf_size)
    raw = chain.expected_view(s, obj, source_um, response=response)
    flat, dark = chain.open_field(s, source_um, response)
    return flat_dark_correct(raw, flat=flat, dark=dark)


def fit_scintillator_thickness(measured, system: ImagingSystem, obj, source_um, *, initial_um: float,
                               steps: int = 60, learning_rate: float = 0.05, psf_size: int | None = None,
                               object_plane_um: float = 0.0, callback=None) -> CalibrationResult:
    """Fit the screen thickness (um) that makes the model reproduce ``measured``.

    Parameters
    ----------
    measured : array (rows, cols)
        Flat/dark-corrected transmission image of the calibration object.
    system, obj, source_um
        The model (all parameters but the thickness fixed).
    initial_um : float
        Starting thickness.
    steps, learning_rate : int, float
        Adam iterations on log-thickness.
    psf_size : int, optional
        Fixed PSF support (cells); default: the support for twice ``initial_um``.
    callback : callable, optional
        ``callback(step, thickness_um, loss)`` after each step (progress).
    """
    measured = jnp.asarray(measured, dtype=jnp.float32)
    if measured.shape != system.roi_shape:
        raise ValueError(f"measured: shape {measured.shape} does not match the system ROI {system.roi_shape}")
    if not bool(jnp.all(jnp.isfinite(measured))):
        raise ValueError("measured: contains NaN or inf")
    if not initial_um > 0:
        raise ValueError(f"initial_um: {initial_um!r} must be > 0")
    if psf_size is None:
        psf_size = chain.psf_support(chain.with_params(system, detector__scintillator__thickness_um=2.0 * initial_um))
    source = np.asarray(source_um, dtype=np.float32)  # concrete: kernel sizes depend on it

    def loss_fn(log_t):
        model = model_transmission(system, obj, source, thickness_um=jnp.exp(log_t), psf_size=psf_size,
                                   object_plane_um=object_plane_um)
        return jnp.mean((model - measured) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))
    # Decaying step: fast approach, then settle instead of oscillating in the noise.
    opt = optax.adam(optax.exponential_decay(learning_rate, transition_steps=steps, decay_rate=0.05))
    param = jnp.log(jnp.asarray(initial_um, dtype=jnp.float32))
    state = opt.init(param)
    history, losses = [], []
    for step in range(steps):
        loss, grad = value_and_grad(param)
        updates, state = opt.update(grad, state)
        param = optax.apply_updates(param, updates)
        history.append(float(jnp.exp(param)))
        losses.append(float(loss))
        if callback is not None:
            callback(step, history[-1], losses[-1])
    return CalibrationResult(value=history[-1], history=tuple(history), loss=tuple(losses))
