"""Gradient-descent calibration through the differentiable chain recovers a known screen thickness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics import chain, phantoms
from physics.calibrate import fit_scintillator_thickness, model_transmission
from physics.detector import LensCoupled
from physics.projection import Layer, LayeredObject
from physics.scintillator import Scintillator
from physics.spectrum import tube_spectrum


@pytest.fixture(scope="module")
def edge_setup():
    spec = tube_spectrum(kvp=50.0, exposure_s=10.0)
    system = chain.ImagingSystem(spectrum=spec, detector=LensCoupled(scintillator=Scintillator("ZnWO4", 20.0)),
                                 roi_shape=(32, 32), oversample=2)
    cell = system.cell_um
    edge, _ = phantoms.slanted_edge(angle_deg=5.0, pixel_size_um=cell, shape=(64, 64),
                                    thickness_um=20.0, material="W")
    obj = LayeredObject(("W",), (Layer(0.0, edge[None], cell),))
    source = np.array([0.0, 0.0, 5e4], dtype=np.float32)
    psf = chain.psf_support(chain.with_params(system, detector__scintillator__thickness_um=40.0))
    return system, obj, source, psf


def test_thickness_gradient_matches_finite_difference(edge_setup):
    system, obj, source, psf = edge_setup
    target = model_transmission(system, obj, source, thickness_um=12.0, psf_size=psf)

    def loss(t):
        return jnp.mean((model_transmission(system, obj, source, thickness_um=t, psf_size=psf) - target) ** 2)

    t0, h = 16.0, 0.05
    grad = float(jax.grad(loss)(t0))
    fd = (float(loss(t0 + h)) - float(loss(t0 - h))) / (2 * h)
    assert grad == pytest.approx(fd, rel=0.05)
    assert grad > 0  # too thick -> more blur -> misfit grows with thickness


def test_fit_recovers_known_thickness_from_noisy_edge(edge_setup):
    system, obj, source, psf = edge_setup
    truth = 20.0
    clean = model_transmission(system, obj, source, thickness_um=truth, psf_size=psf)
    measured = clean + 0.005 * jax.random.normal(jax.random.PRNGKey(3), clean.shape)
    result = fit_scintillator_thickness(measured, system, obj, source, initial_um=8.0, steps=40,
                                        learning_rate=0.1, psf_size=psf)
    assert result.value == pytest.approx(truth, rel=0.05)
    assert result.loss[-1] < result.loss[0]


def test_fit_rejects_bad_measurements(edge_setup):
    system, obj, source, psf = edge_setup
    with pytest.raises(ValueError, match="does not match the system ROI"):
        fit_scintillator_thickness(np.ones((10, 10)), system, obj, source, initial_um=5.0, psf_size=psf)
    bad = np.ones((32, 32))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_scintillator_thickness(bad, system, obj, source, initial_um=5.0, psf_size=psf)
