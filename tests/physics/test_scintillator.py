"""Scintillator: absorption against xraylib, energy conservation over layers, light bounds."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xraylib
from hypothesis import given, settings, strategies as st

from physics.scintillator import SCINTILLATORS, Scintillator, Substrate, deposited_energy_per_layer

FAST = settings(max_examples=10, deadline=None)
ENERGIES = np.array([8.0, 12.0, 20.0, 30.0, 45.0])


def test_znwo4_absorbed_fraction_against_xraylib_directly():
    s = Scintillator("ZnWO4", thickness_um=10.0)
    with jax.enable_x64(True):
        got = np.asarray(s.interaction_probability(ENERGIES))
        got_en = np.asarray(s.absorbed_energy_fraction(ENERGIES))
    for e, p, pen in zip(ENERGIES, got, got_en):
        mu = xraylib.CS_Total_CP("ZnWO4", e) * 7.87 * 1e-4  # 1/um
        mu_en = xraylib.CS_Energy_CP("ZnWO4", e) * 7.87 * 1e-4
        assert p == pytest.approx(1 - math.exp(-mu * 10.0), rel=1e-6)
        assert pen == pytest.approx(mu_en / mu * (1 - math.exp(-mu * 10.0)), rel=1e-6)


def test_defaults_and_registry():
    s = Scintillator()
    assert s.material == "ZnWO4" and s.absorber == "ZnWO4"
    assert s.emission_nm == SCINTILLATORS["ZnWO4"].emission_nm
    assert 2.0 < s.refractive_index < 2.4
    assert isinstance(s.substrate, Substrate)
    luag = Scintillator("LuAG:Ce", thickness_um="5 um")
    assert luag.thickness_um == pytest.approx(5.0) and luag.absorber == "LuAG"
    assert luag.light_yield_per_kev == 25.0
    for props in SCINTILLATORS.values():
        assert props.source  # every default carries its source


def test_bad_inputs_name_the_key():
    with pytest.raises(ValueError, match="scintillator.thickness"):
        Scintillator(thickness_um=-1.0)
    with pytest.raises(ValueError, match="scintillator.thickness"):
        Scintillator(thickness_um="10 keV")
    with pytest.raises(ValueError, match="Unobtainium"):
        Scintillator("Unobtainium")
    with pytest.raises(ValueError, match="emission_nm"):
        Scintillator(emission_nm=50.0)
    with pytest.raises(ValueError, match="n_layers"):
        Scintillator().energy_deposited_per_layer(ENERGIES, 0)


@FAST
@given(st.floats(0.5, 100.0), st.integers(1, 40), st.sampled_from(sorted(SCINTILLATORS)))
def test_layers_sum_to_total_and_light_bounded_by_absorbed_energy(thickness, n_layers, name):
    s = Scintillator(name, thickness_um=thickness)
    per_layer = np.asarray(s.energy_deposited_per_layer(ENERGIES, n_layers))
    assert per_layer.shape == (ENERGIES.size, n_layers)
    assert np.all(per_layer >= 0)
    total = ENERGIES * np.asarray(s.absorbed_energy_fraction(ENERGIES))
    np.testing.assert_allclose(per_layer.sum(axis=1), total, rtol=2e-4)
    # light out never exceeds (energy of absorbed photons) x light yield
    light = np.asarray(s.light_per_layer(ENERGIES, n_layers)).sum(axis=1)
    absorbed_energy = ENERGIES * np.asarray(s.interaction_probability(ENERGIES))
    assert np.all(light <= absorbed_energy * s.light_yield_per_kev * (1 + 1e-5))
    # deposition decreases with depth (exponential absorption)
    assert np.all(np.diff(per_layer, axis=1) <= 1e-6 * per_layer.max())


@FAST
@given(st.floats(0.5, 50.0), st.floats(1.05, 3.0))
def test_absorption_monotone_in_thickness(thickness, factor):
    thin = np.asarray(Scintillator(thickness_um=thickness).interaction_probability(ENERGIES))
    thick = np.asarray(Scintillator(thickness_um=thickness * factor).interaction_probability(ENERGIES))
    assert np.all(thick >= thin) and np.all(thick <= 1.0)


def test_thick_limit_absorbs_everything_and_thin_limit_is_linear():
    with jax.enable_x64(True):
        thick = np.asarray(Scintillator(thickness_um=1e4).interaction_probability(ENERGIES))
        np.testing.assert_allclose(thick, 1.0, atol=1e-9)
        s = Scintillator(thickness_um=0.01)
        mu = np.asarray(s.attenuation_per_um(ENERGIES))
        np.testing.assert_allclose(np.asarray(s.interaction_probability(ENERGIES)), mu * 0.01, rtol=1e-3)


def test_layer_light_for_spectrum_and_gain_per_interaction():
    s = Scintillator(thickness_um=10.0)
    photons = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    layer = np.asarray(s.layer_light(ENERGIES, photons, 8))
    assert layer.shape == (8,)
    np.testing.assert_allclose(layer, photons @ np.asarray(s.light_per_layer(ENERGIES, 8)), rtol=1e-6)
    # mean light per interaction lies between the per-energy extremes, below E_max x LY
    g = float(s.light_per_interaction(ENERGIES, photons))
    mu = np.asarray(s.attenuation_per_um(ENERGIES))
    mu_en = np.asarray(s.energy_absorption_per_um(ENERGIES))
    per_e = ENERGIES * mu_en / mu * s.light_yield_per_kev
    assert per_e.min() <= g <= per_e.max()
    with pytest.raises(ValueError, match="photons shape"):
        s.layer_light(ENERGIES, photons[:3], 8)


def test_deposition_differentiable_in_thickness():
    mu = jnp.array([0.05, 0.01])
    mu_en = jnp.array([0.04, 0.008])
    e = jnp.array([15.0, 30.0])

    def total(t):
        return deposited_energy_per_layer(e, mu, mu_en, t, 8).sum()

    g = float(jax.grad(total)(10.0))
    # d/dT of sum E mu_en/mu (1 - exp(-mu T)) = sum E mu_en exp(-mu T)
    expected = float(jnp.sum(e * mu_en * jnp.exp(-mu * 10.0)))
    assert g == pytest.approx(expected, rel=1e-4)
    # a traced thickness passes through the dataclass
    s = Scintillator(thickness_um=10.0)
    g2 = jax.grad(lambda t: Scintillator(thickness_um=t).interaction_probability(ENERGIES).sum())(10.0)
    assert float(g2) > 0 and s.thickness_um == 10.0
