"""The composed imaging chain against conservation laws and hand calculations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics import chain, materials
from physics.camera import adu_to_electrons, expected_frame, flat_dark_correct
from physics.focal_spot import FocalSpot
from physics.measure import measure_edge
from physics.phantoms import slanted_edge
from physics.projection import Layer, LayeredObject
from physics.spectrum import tube_spectrum

SOURCE = np.array([0.0, 0.0, 5e4], dtype=np.float32)


@pytest.fixture(scope="module")
def system():
    return chain.ImagingSystem(spectrum=tube_spectrum(kvp=50.0, exposure_s=10.0), roi_shape=(32, 32), oversample=2)


def _slab(system, thickness_um, material="W", height=10.0):
    cell = system.cell_um
    rows, cols = system.field_shape
    t = jnp.full((1, rows + 16, cols + 16), thickness_um, dtype=jnp.float32)
    return LayeredObject((material,), (Layer(height, t, cell),))


def test_effective_pixel_is_camera_pixel_over_16(system):
    assert system.pixel_um == pytest.approx(6.5 / 16.0)
    assert system.cell_um == pytest.approx(6.5 / 32.0)


def test_empty_object_gives_unit_transmission(system):
    response = chain.view_response(system, SOURCE)
    raw = chain.expected_view(system, _slab(system, 0.0), SOURCE, response=response)
    flat, dark = chain.open_field(system, SOURCE, response)
    np.testing.assert_allclose(np.asarray(flat_dark_correct(raw, flat=flat, dark=dark)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("thickness", [0.5, 2.0, 8.0])
def test_uniform_slab_transmission_is_polychromatic_beer_lambert(system, thickness):
    # A uniform slab: the image is flat and equals the detected-spectrum-weighted mean of
    # exp(-mu t / cos) computed by hand (the PSF conserves a uniform field in the centre).
    response = chain.view_response(system, SOURCE)
    raw = chain.expected_view(system, _slab(system, thickness), SOURCE, response=response)
    flat, dark = chain.open_field(system, SOURCE, response)
    t_img = np.asarray(flat_dark_correct(raw, flat=flat, dark=dark))[12:20, 12:20]
    mu = materials.linear_attenuation_per_um("W", response.energies_kev)
    w = np.asarray(response.quanta_weights)
    expected = (w * np.exp(-mu * thickness)).sum() / w.sum()
    np.testing.assert_allclose(t_img, expected, rtol=2e-3)


def test_signal_is_conserved_through_blur_and_binning(system):
    # Total photoelectrons = absorbed quanta x electrons per quantum, up to the light that
    # the PSF spreads past the ROI border (a centred point source loses none).
    response = chain.view_response(system, SOURCE)
    rows, cols = system.field_shape
    quanta = jnp.zeros((rows, cols)).at[rows // 2, cols // 2].set(1000.0)
    adu = expected_frame(quanta, psf=response.psf, electrons_per_quantum=response.electrons_per_quantum,
                         oversample=system.oversample, camera=system.camera, exposure_s=system.exposure_s)
    electrons = adu_to_electrons(adu, camera=system.camera) \
        - system.camera.dark_current_e_per_s * system.exposure_s
    assert float(jnp.sum(electrons)) == pytest.approx(1000.0 * float(response.electrons_per_quantum), rel=1e-3)


def test_noisy_frames_average_to_the_expected_frame(system):
    response = chain.view_response(system, SOURCE)
    obj = _slab(system, 1.0)
    mean = np.asarray(chain.expected_view(system, obj, SOURCE, response=response))
    frames = np.stack([np.asarray(chain.sample_view(jax.random.PRNGKey(i), system, obj, SOURCE,
                                                    response=response), dtype=np.float64) for i in range(12)])
    assert abs(frames.mean() - mean.mean()) < 4 * frames.std() / np.sqrt(frames.size)
    assert frames.max() <= system.camera.max_adu


def test_focal_spot_blur_grows_with_spot_size_and_object_height():
    # Geometric-magnification regime (object halfway to the source) so the penumbra matters.
    spec = tube_spectrum(kvp=50.0, exposure_s=10.0)
    widths = {}
    for size, height in [(5.0, 25.0), (40.0, 25.0), (40.0, 100.0)]:
        s = chain.ImagingSystem(spectrum=spec, focal_spot=FocalSpot("gaussian", size),
                                roi_shape=(64, 64), oversample=1)
        edge, _ = slanted_edge(angle_deg=5.0, pixel_size_um=s.cell_um, shape=(96, 96), thickness_um=20.0)
        obj = LayeredObject(("W",), (Layer(height, edge[None], s.cell_um),))
        source = np.array([0.0, 0.0, 1e4], dtype=np.float32)
        response = chain.view_response(s, source, object_plane_um=height)
        img = chain.expected_view(s, obj, source, response=response)
        widths[(size, height)] = measure_edge(np.asarray(img), roi=(8, 8, 56, 56)).sigma_px
    assert widths[(5.0, 25.0)] < widths[(40.0, 25.0)] < widths[(40.0, 100.0)]
