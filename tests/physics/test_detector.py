"""Detector interface: lens-coupled and flat-panel detectors against conservation and hand calculations."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from physics import chain, materials
from physics.camera import adu_to_electrons, flat_dark_correct
from physics.detector import FLAT_PANEL_READOUT, FlatPanel, LensCoupled, Photoconductor
from physics.measure.mtf import FWHM_PER_SIGMA, lsf_fwhm
from physics.projection import Layer, LayeredObject
from physics.scintillator import Scintillator
from physics.spectrum import tube_spectrum

E = np.array([20.0, 40.0])
ONE = np.array([1.0, 0.0])  # monoenergetic 20 keV


@pytest.mark.parametrize("detector", [LensCoupled(), FlatPanel(), FlatPanel(Photoconductor(), blur_fwhm_um=0.0)],
                         ids=["lens", "indirect", "direct"])
def test_gain_is_deposited_energy_times_yield_for_one_energy(detector):
    # Energy conservation: for one energy, g = E (deposited / interacting) x quanta per keV x losses.
    eta = float(detector.interaction_probability(E)[0])
    eta_e = float(detector.absorbed_energy_fraction(E)[0])
    deposited_kev = 20.0 * eta_e / eta
    g = float(detector.electrons_per_quantum(E, ONE))
    if isinstance(detector, LensCoupled):
        s = detector.scintillator
        losses = float(detector.microscope.collection_efficiency(s.refractive_index,
                                                                 substrate_index=s.substrate_index)) \
            * detector.camera.qe_at(s.emission_nm)
        per_kev = s.light_yield_per_kev
    elif detector.direct:
        losses, per_kev = 1.0, 1000.0 / detector.converter.pair_energy_ev
    else:
        losses = detector.optical_coupling * detector.camera.qe_at(detector.converter.emission_nm)
        per_kev = detector.converter.light_yield_per_kev
    assert g == pytest.approx(deposited_kev * per_kev * losses, rel=1e-5)
    assert 0.5 * 20.0 < deposited_kev <= 20.0  # fluorescence escape takes at most half


def test_direct_conversion_a_se_numbers():
    # The amorphous density (4.28 g/cm^3), not crystalline Se's 4.81, sets the absorption:
    # -ln(1 - P) = (mu/rho) rho T scales with rho; ~20 keV / 50 eV = 400 pairs at most.
    panel = FlatPanel(Photoconductor(), blur_fwhm_um=0.0)
    mu_rho = materials.mass_attenuation("Se", E)[0]
    p = float(panel.interaction_probability(E)[0])
    assert -math.log1p(-p) == pytest.approx(mu_rho * 4.28 * 200e-4, rel=1e-4)
    assert 250 < float(panel.electrons_per_quantum(E, ONE)) <= 400
    psf = np.asarray(panel.psf(E, ONE, cell_um=25.0))
    assert psf.shape == (1, 1) and psf[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("fwhm", [60.0, 100.0, 150.0])
def test_flat_panel_psf_has_the_stated_fwhm(fwhm):
    cell = 12.5
    panel = FlatPanel(blur_fwhm_um=fwhm)
    psf = np.asarray(panel.psf(E, ONE, cell_um=cell))
    assert psf.shape[0] % 2 == 1 and float(psf.sum()) == pytest.approx(1.0, abs=1e-6)
    assert lsf_fwhm(psf.sum(axis=0), cell, aperture=cell) == pytest.approx(fwhm, rel=0.02)


def test_dqe0_of_a_panel_is_its_absorbed_fraction_and_the_lens_loses_to_its_gain():
    spec = tube_spectrum(kvp=50.0, exposure_s=1.0).trimmed()
    e, n = spec.energies_kev, np.asarray(spec.photons)
    panel, lens = FlatPanel(), LensCoupled()
    eta_p = float(np.sum(n * panel.interaction_probability(e)) / n.sum())
    g_p = float(panel.electrons_per_quantum(e, n))
    assert g_p > 100  # hundreds of electrons per absorbed X-ray: the panel is quantum-limited
    assert float(panel.dqe0(e, n)) == pytest.approx(eta_p * g_p / (1 + g_p), rel=1e-5)
    assert float(panel.dqe0(e, n)) > 0.99 * eta_p
    g = float(lens.electrons_per_quantum(e, n))
    eta_l = float(np.sum(n * lens.interaction_probability(e)) / n.sum())
    assert float(lens.dqe0(e, n)) == pytest.approx(eta_l * g / (1 + g), rel=1e-5)


def _flat_panel_system(**kw):
    spec = tube_spectrum(kvp=50.0, exposure_s=1.0, current_ma=1.0)
    return chain.ImagingSystem(spectrum=spec, detector=FlatPanel(**kw), exposure_s=1.0, roi_shape=(16, 16),
                               oversample=2, air_path=False)


def test_chain_with_a_flat_panel_counts_the_photons_by_hand():
    # Open field on the central ray: photons per pixel = N(E) a^2 / r^2 (inverse square, normal
    # incidence near the axis), electrons = sum N eta g over the spectrum.
    system = _flat_panel_system()
    r = 1.0e6  # 1 m
    source = np.array([0.0, 0.0, r], np.float32)
    response = chain.view_response(system, source)
    flat, dark = chain.open_field(system, source, response)
    e_flat = float(adu_to_electrons(flat, camera=system.camera)[8, 8]
                   - adu_to_electrons(dark, camera=system.camera)[8, 8])
    spec = system.spectrum.trimmed()
    n = np.asarray(spec.photons) * system.pixel_um**2 / r**2
    eta = np.asarray(system.detector.interaction_probability(spec.energies_kev))
    expected = np.sum(n * eta) * float(system.detector.electrons_per_quantum(spec.energies_kev, n))
    assert e_flat == pytest.approx(expected, rel=2e-3)
    assert system.pixel_um == FLAT_PANEL_READOUT.pixel_um


def test_chain_with_a_flat_panel_gives_beer_lambert_through_a_slab():
    system = _flat_panel_system()
    source = np.array([0.0, 0.0, 1.0e6], np.float32)
    rows, cols = system.field_shape
    t = jnp.full((1, rows + 16, cols + 16), 100.0, jnp.float32)
    obj = LayeredObject(("Al",), (Layer(1000.0, t, system.cell_um),))
    response = chain.view_response(system, source, object_plane_um=1000.0)
    raw = chain.expected_view(system, obj, source, response=response)
    flat, dark = chain.open_field(system, source, response)
    centre = np.asarray(flat_dark_correct(raw, flat=flat, dark=dark))[6:10, 6:10]
    mu = materials.linear_attenuation_per_um("Al", response.energies_kev)
    w = np.asarray(response.quanta_weights)
    np.testing.assert_allclose(centre, (w * np.exp(-mu * 100.0)).sum() / w.sum(), rtol=2e-3)


def test_lens_coupled_is_the_default_published_detector():
    d = LensCoupled()
    assert d.pixel_um == pytest.approx(6.5 / 16.0)
    size = d.psf_support(d.pixel_um / 2)
    psf = np.asarray(d.psf(E, ONE, cell_um=d.pixel_um / 2))
    assert psf.shape == (size, size) and float(psf.sum()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="detector"):
        chain.ImagingSystem(spectrum=tube_spectrum(kvp=50.0), detector=Scintillator())
    with pytest.raises(ValueError, match="optical_coupling"):
        FlatPanel(optical_coupling=0.0)
    assert math.isclose(FWHM_PER_SIGMA, 2.3548, rel_tol=1e-4)


def test_geometric_magnification_set_up_is_a_configuration_of_the_chain():
    # Flat panel 50 mm from the source, object 5 mm from it (M = 10): a 200 um wide W strip
    # casts a 2 mm shadow, 26.7 panel pixels of 75 um, whatever the blur (width at half depth).
    from physics.focal_spot import FocalSpot

    sod, sdd, width = 5000.0, 50000.0, 200.0
    # 1 ms at 1 mA: ~1e3 absorbed quanta per 75 um pixel, far below the panel's full well
    spec = tube_spectrum(kvp=50.0, exposure_s=1e-3, current_ma=1.0)
    system = chain.ImagingSystem(spectrum=spec, focal_spot=FocalSpot("gaussian", 5.0), detector=FlatPanel(),
                                 exposure_s=1e-3, roi_shape=(8, 64), oversample=2, air_path=False)
    pitch = 2.0                                        # object-plane map pitch, um
    x = (np.arange(400) - 199.5) * pitch
    strip = np.where(np.abs(x) < width / 2, 100.0, 0.0)[None, :] * np.ones((160, 1))
    obj = LayeredObject(("W",), (Layer(sdd - sod, jnp.asarray(strip[None], jnp.float32), pitch),))
    source = np.array([0.0, 0.0, sdd], np.float32)
    response = chain.view_response(system, source, object_plane_um=sdd - sod)
    raw = chain.expected_view(system, obj, source, response=response)
    flat, dark = chain.open_field(system, source, response)
    row = np.asarray(flat_dark_correct(raw, flat=flat, dark=dark))[4]
    depth = 1.0 - row
    half = depth.max() / 2
    inside = np.flatnonzero(depth >= half)
    # width at half depth by linear interpolation at both flanks, in panel pixels
    lo, hi = inside[0], inside[-1]
    left = lo - (depth[lo] - half) / (depth[lo] - depth[lo - 1])
    right = hi + (depth[hi] - half) / (depth[hi] - depth[hi + 1])
    assert (right - left) * system.pixel_um == pytest.approx(width * sdd / sod, rel=0.03)
    assert float(flat.max()) < 0.5 * system.camera.max_adu   # not saturated
    assert row.min() < 0.05                                  # 100 um of W is nearly opaque


# -- photon budget ---------------------------------------------------------------------------

@pytest.mark.parametrize("detector", [LensCoupled(), FlatPanel(), FlatPanel(Photoconductor(), blur_fwhm_um=0.0)],
                         ids=["lens", "indirect", "direct"])
def test_photon_budget_stages_conserve_energy_and_end_in_the_frame_gain(detector):
    """Stages for a 20 keV beam: absorbed = incident x eta; the first conversion stage's
    quanta carry no more energy than the absorbed X-rays deposit; stages only lose quanta
    after the conversion; the electrons are absorbed x the frame model's gain."""
    spec = np.array([1.0e4, 0.0])
    b = detector.photon_budget(E, spec)
    names = [name for name, _ in b.stages]
    assert names[:2] == ["incident X-rays", "absorbed X-rays"]
    eta = float(detector.interaction_probability(E)[0])
    assert b.incident == pytest.approx(1.0e4) and b.absorbed == pytest.approx(1.0e4 * eta, rel=1e-6)
    assert b.electrons == pytest.approx(b.absorbed * float(detector.electrons_per_quantum(E, spec)), rel=1e-6)
    deposited_kev = 1.0e4 * 20.0 * float(detector.absorbed_energy_fraction(E)[0])
    first = b.stages[2][1]
    if isinstance(detector, FlatPanel) and detector.direct:
        assert first * detector.converter.pair_energy_ev / 1000.0 == pytest.approx(deposited_kev, rel=1e-5)
    else:  # optical photons of 1240/lambda eV each: far less energy than deposited (yield ~10 %)
        screen = detector.converter if isinstance(detector, FlatPanel) else detector.scintillator
        assert 0.0 < first * 1.23984 / screen.emission_nm < deposited_kev
    later = [q for _, q in b.stages[2:]]
    assert all(x >= y for x, y in zip(later, later[1:]))
    assert b.dqe0 == pytest.approx(float(detector.dqe0(E, spec)), rel=1e-5)


def test_quantum_sink_of_the_lens_coupled_system_is_the_photoelectrons():
    """The published set-up collects ~0.5 photoelectron per absorbed X-ray (NA 0.42 in a film
    of index 2.2): a secondary quantum sink, so DQE(0) < eta / 2; a CsI panel's sink is the
    absorbed X-rays (hundreds of photoelectrons each)."""
    spec = tube_spectrum(kvp=50.0, current_ma=1.0, exposure_s=1.0)
    e, n = spec.fluence_at(1.0e5, air_path=True)
    lens = LensCoupled().photon_budget(e, n * 0.40625**2)
    assert lens.quantum_sink[0] == "photoelectrons" and lens.gain < 1.0
    assert lens.dqe0 < 0.5 * lens.absorbed / lens.incident
    panel = FlatPanel().photon_budget(e, n * 75.0**2)
    assert panel.quantum_sink[0] == "absorbed X-rays" and panel.gain > 100
    assert panel.dqe0 == pytest.approx(panel.absorbed / panel.incident, rel=0.01)


@pytest.mark.parametrize("snr", [3.0, 30.0])
def test_budget_exposure_gives_the_target_snr(snr):
    """Signal a t g over the noise sqrt(a t g (1 + g) + read^2 + dark t) at the returned t is the target."""
    spec = tube_spectrum(kvp=50.0, current_ma=1.0, exposure_s=1.0)
    e, n = spec.fluence_at(5.0e4, air_path=True)
    for det, pixel in ((LensCoupled(), 0.40625), (FlatPanel(), 75.0)):
        b = det.photon_budget(e, n * pixel**2 * 1e-3, exposure_s=2.0)  # the quanta of 2 s
        t = b.exposure_for_snr_s(snr)
        a, g = b.absorbed / 2.0, b.gain
        noise = math.sqrt(a * t * g * (1 + g) + b.read_noise_e**2 + b.dark_e_per_s * t)
        assert a * t * g / noise == pytest.approx(snr, rel=1e-9)
# --------------------------------------------------------------------------- glare and grey-level response
def test_glare_kernel_has_the_2d_exponential_second_moment():
    """exp(-r/L) in 2D: <x^2> = 3 L^2 (<r^2> = 6 L^4 / L^2); cells of L/4 add pitch^2/12."""
    from physics.detector import exponential_kernel_2d

    length, pitch = 20.0, 5.0
    k = np.asarray(exponential_kernel_2d(length, pitch=pitch, half_width=64), float)  # 16 L
    x = (np.arange(k.shape[0]) - 64) * pitch
    assert k.sum() == pytest.approx(1.0, rel=1e-6) and np.all(k >= 0)
    second = float(np.sum(k.sum(axis=0) * x**2))
    assert second == pytest.approx(3 * length**2 + pitch**2 / 12, rel=0.01)


@pytest.mark.parametrize("w, fwhm, length, sh", [(0.0, 40.0, 100.0, 0.0), (0.3, 40.0, 100.0, 0.0),
                                                  (0.1, 60.0, 50.0, 0.0), (0.2, 40.0, 100.0, 0.4)])
def test_flat_panel_glare_mtf_is_the_analytic_mixture(w, fwhm, length, sh):
    """The MTF of (1 - w) Gauss + w exp(-r/L) is (1 - w) exp(-2 pi^2 s^2 f^2) + w (1 + (2 pi f L)^2)^-3/2
    (the Hankel transform of the 2D exponential), times the cell aperture sinc(f cell); a
    shoulder mixes a second exponential (20 um) into the core the same way."""
    cell = 5.0
    panel = FlatPanel(blur_fwhm_um=fwhm, glare_fraction=w, glare_length_um=length, shoulder_fraction=sh,
                      shoulder_length_um=20.0)
    psf = np.asarray(panel.psf(E, ONE, cell_um=cell), float)
    assert psf.shape[0] == panel.psf_support(cell) and psf.sum() == pytest.approx(1.0, rel=1e-5)
    lsf = psf.sum(axis=0)
    x = (np.arange(lsf.size) - lsf.size // 2) * cell
    f = np.array([0.001, 0.003, 0.006, 0.01])  # 1/um
    mtf = np.abs(np.exp(-2j * np.pi * f[:, None] * x[None, :]) @ lsf)
    s = fwhm / FWHM_PER_SIGMA
    exp_mtf = lambda lg: (1 + (2 * np.pi * f * lg) ** 2) ** -1.5  # noqa: E731
    core = (1 - sh) * np.exp(-2 * np.pi**2 * s**2 * f**2) + sh * exp_mtf(20.0)
    expected = ((1 - w) * core + w * exp_mtf(length)) * np.sinc(f * cell)
    np.testing.assert_allclose(mtf, expected, atol=0.004)


def test_grey_level_response_is_linear_at_gamma_1_log_at_0_monotone_and_smooth_between():
    from physics.detector import GreyLevelResponse
    import jax

    t = jnp.linspace(0.0, 1.2, 50)
    np.testing.assert_allclose(GreyLevelResponse(1.0, 0.05)(t), t + 0.05 - 1.0, atol=1e-6)
    np.testing.assert_allclose(GreyLevelResponse(0.0, 0.05)(t), np.log(np.asarray(t) + 0.05), rtol=1e-6)
    for g in (-1.0, -0.3, 1e-5, 0.4, 2.0):
        assert np.all(np.diff(np.asarray(GreyLevelResponse(g, 0.01)(t))) > 0)
    # Continuous in gamma across the log limit, value and derivative (no 0/0).
    value = lambda g: GreyLevelResponse(g, 0.02)(jnp.asarray(0.3))  # noqa: E731
    assert float(value(2e-4)) == pytest.approx(float(value(0.0)), rel=1e-3)
    assert float(value(-2e-4)) == pytest.approx(float(value(0.0)), rel=1e-3)
    d0 = float(jax.grad(value)(0.0))
    assert d0 == pytest.approx(0.5 * math.log(0.32) ** 2, rel=1e-3)  # d/dg (e^{gL}-1)/g at 0 = L^2/2
    assert np.isfinite(float(jax.grad(value)(1e-4)))
    with pytest.raises(ValueError, match="offset"):
        GreyLevelResponse(1.0, -0.1)


def test_lens_coupled_image_is_linear_and_flat_panel_grey_level_uses_its_response():
    from physics.detector import GreyLevelResponse

    t = jnp.asarray([0.1, 0.5, 1.0])
    np.testing.assert_allclose(LensCoupled().grey_level(t), t)
    panel = FlatPanel(response=GreyLevelResponse(0.0, 0.01))
    np.testing.assert_allclose(panel.grey_level(t), np.log(np.asarray(t) + 0.01), rtol=1e-6)
