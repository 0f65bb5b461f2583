"""physics.optimize: the chain's design figures agree with the measurement toolkit's definitions
(IEC DQE from MTF and NPS, the cascaded DQE(0)) and are differentiable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics import chain
from physics.detector import LensCoupled
from physics.measure.mtf import dqe as toolkit_dqe
from physics.measure.mtf import dqe0_poisson_gain, mtf_from_psf
from physics.optimize import dqe, exposure_for_snr, line_pair_snr, mtf_crossing, presampled_mtf
from physics.scintillator import Scintillator
from physics.spectrum import tube_spectrum

SOURCE = np.array([0.0, 0.0, 5e4], np.float32)


@pytest.fixture(scope="module")
def system_response():
    system = chain.ImagingSystem(spectrum=tube_spectrum(kvp=50.0, exposure_s=10.0),
                                 detector=LensCoupled(scintillator=Scintillator("ZnWO4", 10.0), n_depth_layers=8),
                                 roi_shape=(16, 16), oversample=2)
    return system, chain.view_response(system, SOURCE)


def test_dqe_is_the_iec_ratio_of_the_cascaded_mtf_and_nps(system_response):
    system, r = system_response
    f = np.array([0.0, 0.5, 1.0])  # 1/um
    absorbed = float(jnp.sum(r.quanta_weights)) * system.oversample**2
    interact = np.asarray(system.detector.interaction_probability(r.energies_kev))
    incident = float(np.sum(np.asarray(r.quanta_weights) / interact)) * system.oversample**2
    g = float(r.electrons_per_quantum)
    cam = system.camera
    additive = cam.dark_current_e_per_s * system.exposure_s + cam.read_noise_e**2 + cam.gain_e_per_adu**2 / 12
    mtf = np.asarray(presampled_mtf(system, r, f))
    nps = absorbed * g**2 * mtf**2 + absorbed * g + additive  # e^2 per pixel
    expected = toolkit_dqe(mtf, nps, mean_signal=absorbed * g, quanta_per_area=incident)
    np.testing.assert_allclose(np.asarray(dqe(system, r, f)), expected, rtol=1e-4)
    # Without additive noise DQE(0) is the cascaded eta g / (1 + g).
    quiet = chain.with_params(system, detector__camera__read_noise_e=0.0, detector__camera__dark_current_e_per_s=0.0,
                              detector__camera__gain_e_per_adu=1e-6)
    assert float(dqe(quiet, r, 0.0)[0]) == pytest.approx(dqe0_poisson_gain(absorbed / incident, g), rel=1e-4)


def test_presampled_mtf_matches_the_toolkit_and_crossings_are_consistent(system_response):
    system, r = system_response
    f = np.linspace(0.05, 1.0, 8)
    ours = np.asarray(presampled_mtf(system, r, f)) / np.sinc(f * system.pixel_um)
    _, theirs = mtf_from_psf(np.asarray(r.psf), system.cell_um, freqs=f)
    np.testing.assert_allclose(ours, theirs, atol=0.01)
    f50 = float(mtf_crossing(system, r, 0.5))
    assert float(presampled_mtf(system, r, f50)[0]) == pytest.approx(0.5, abs=0.01)


def test_snr_and_exposure_are_inverse(system_response):
    system, r = system_response
    kw = {"width_um": 1.0, "material": "W", "thickness_um": 1.0}
    snr = float(line_pair_snr(system, r, **kw))
    t = float(exposure_for_snr(system, r, target_snr=snr, **kw))
    assert t == pytest.approx(system.exposure_s, rel=1e-3)
    g = jax.grad(lambda s: exposure_for_snr(system, r, target_snr=s, **kw))(jnp.float32(snr))
    assert float(g) > 0
