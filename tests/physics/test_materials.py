"""Materials against xraylib and physical limits."""

import numpy as np
import pytest
import xraylib
from hypothesis import given, settings, strategies as st

from physics import materials


def test_tungsten_attenuation_matches_xraylib_element_values():
    energies = np.array([10.0, 20.0, 30.0, 50.0])
    expected = np.array([xraylib.CS_Total(74, e) for e in energies])
    np.testing.assert_allclose(materials.mass_attenuation("W", energies), expected, rtol=1e-12)
    rho = xraylib.ElementDensity(74)
    np.testing.assert_allclose(
        materials.linear_attenuation_per_um("W", energies), expected * rho * 1e-4, rtol=1e-12
    )


def test_znwo4_is_the_mass_weighted_sum_of_its_elements():
    # Mixture rule: mu/rho(compound) = sum_i w_i mu/rho(element i), weights from the formula.
    energies = np.array([15.0, 25.0, 40.0])
    zn, w, o = 65.38, 183.84, 15.999
    m = zn + w + 4 * o
    weights = {30: zn / m, 74: w / m, 8: 4 * o / m}
    expected = sum(wt * np.array([xraylib.CS_Total(z, e) for e in energies]) for z, wt in weights.items())
    np.testing.assert_allclose(materials.mass_attenuation("ZnWO4", energies), expected, rtol=2e-3)
    assert materials.get_material("ZnWO4").density_g_cm3 == pytest.approx(7.87)


def test_tungsten_k_edge_jump_is_visible():
    below, above = materials.mass_attenuation("W", [69.4, 69.7])
    assert above > 3 * below  # K-edge of W at 69.525 keV


@settings(max_examples=30, deadline=None)
@given(st.floats(5.0, 100.0))
def test_energy_absorption_never_exceeds_attenuation(energy):
    for name in ("ZnWO4", "LuAG", "W", "Water"):
        mu = materials.mass_attenuation(name, [energy])[0]
        mu_en = materials.mass_energy_absorption(name, [energy])[0]
        assert 0 < mu_en <= mu


def test_user_defined_material_round_trip():
    m = materials.register_material("TestGlass", "SiO2", 2.5, source="unit test")
    assert materials.get_material("TestGlass") is m
    np.testing.assert_allclose(
        materials.linear_attenuation_per_um("TestGlass", [20.0]),
        materials.mass_attenuation("SiO2", [20.0]) * 2.5e-4,
    )


def test_registered_densities_carry_a_source():
    for name in materials.known_materials():
        assert materials.get_material(name).source


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: materials.get_material("Unobtainium"), "unknown material 'Unobtainium'"),
        (lambda: materials.register_material("X", "Qq2", 1.0, source="s"), "formula 'Qq2'"),
        (lambda: materials.register_material("X", "SiO2", -1.0, source="s"), "density must be positive"),
        (lambda: materials.mass_attenuation("W", [np.nan]), "energies_kev"),
        (lambda: materials.mass_attenuation("W", [0.1]), "1..800 keV"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
