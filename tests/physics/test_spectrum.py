"""Tube spectra against SpekPy and Beer-Lambert."""

import numpy as np

from physics.errors import InputFileError
import pytest
import spekpy
from hypothesis import given, settings, strategies as st

from physics.spectrum import Spectrum, load_spectrum, tube_spectrum


@pytest.mark.parametrize("filters", [(("Be", 200.0),), (("Be", 500.0), ("Al", 500.0))])
def test_hvl1_in_aluminium_matches_spekpy(filters):
    ours = tube_spectrum(kvp=50.0, filters=filters, bin_kev=0.25)
    ref = spekpy.Spek(kvp=50.0, th=12.0, dk=0.25)
    for material, t_um in filters:
        ref.filter(material, t_um / 1000.0)
    # Different attenuation tables (xraylib vs SpekPy's own): agree within 2 %.
    assert ours.hvl1_mm("Al") == pytest.approx(ref.get_hvl1(), rel=0.02)


def test_photon_number_scales_with_current_times_time():
    a = tube_spectrum(kvp=50.0, current_ma=1.0, exposure_s=1.0)
    b = tube_spectrum(kvp=50.0, current_ma=2.0, exposure_s=0.25)
    np.testing.assert_allclose(b.photons, 0.5 * a.photons, rtol=1e-9)


def test_spectrum_ends_at_kvp_and_per_sr_matches_spekpy_fluence():
    spec = tube_spectrum(kvp=50.0, filters=(), bin_kev=1.0)
    assert spec.energies_kev.max() < 50.0
    ref = spekpy.Spek(kvp=50.0, th=12.0, dk=1.0)
    # SpekPy's fluence at 1 m per cm^2 is photons/sr divided by (100 cm)^2.
    assert spec.total_photons / 100.0**2 == pytest.approx(ref.get_flu(), rel=1e-6)


def test_inverse_square_law():
    spec = tube_spectrum(kvp=50.0)
    np.testing.assert_allclose(spec.photons_per_um2(2e4) / spec.photons_per_um2(4e4), 4.0)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 2000.0), st.floats(0.0, 2000.0))
def test_filtration_is_beer_lambert_and_hardens_the_beam(t1, t2):
    spec = tube_spectrum(kvp=50.0, filters=())
    one = spec.filtered("Al", t1).filtered("Al", t2)
    both = spec.filtered("Al", t1 + t2)
    # atol: bins filtered down to ~1e-305 photons lose relative precision in the subnormals.
    np.testing.assert_allclose(one.photons, both.photons, rtol=1e-9, atol=1e-12 * both.photons.max())
    assert both.total_photons <= spec.total_photons
    if t1 + t2 > 10:
        assert both.mean_energy_kev > spec.mean_energy_kev


def test_load_two_column_spectrum(tmp_path):
    path = tmp_path / "measured.txt"
    path.write_text("# energy keV, counts per keV\n10, 5\n11, 7\n12, 3\n")
    spec = load_spectrum(path, per="keV", scale=2.0)
    np.testing.assert_allclose(spec.photons, [10.0, 14.0, 6.0])
    assert spec.bin_width_kev == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kvp": 500.0}, "kvp: 500.0 kV is outside"),
        ({"kvp": 10.0}, "kvp: 10.0 kV is outside"),
        ({"current_ma": -1.0}, "current_ma"),
        ({"filters": (("Be", -5.0),)}, "filter Be: thickness must be >= 0"),
        ({"filters": (("Kryptonite", 5.0),)}, "unknown material 'Kryptonite'"),
    ],
)
def test_bad_tube_settings_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tube_spectrum(**kwargs)


def test_bad_spectrum_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_spectrum(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("10 1\nabc-secret 2\n")
    with pytest.raises(InputFileError, match="line 2") as info:
        load_spectrum(bad)
    assert "secret" not in str(info.value)  # file contents are never echoed
    with pytest.raises(ValueError, match="NaN"):
        Spectrum(np.array([1.0, 2.0]), np.array([1.0, np.nan]), 1.0)


def test_fluence_at_is_inverse_square_times_air_transmission():
    """Photons per um^2 on the central ray: 1/r^2 without air; with air, exp(-mu_air r) on top."""
    from physics.materials import linear_attenuation_per_um

    spec = tube_spectrum(kvp=50.0, current_ma=1.0, exposure_s=1.0)
    e, vacuum = spec.fluence_at(2.0e5, air_path=False)
    np.testing.assert_allclose(vacuum, spec.trimmed().photons / 2.0e5**2, rtol=1e-12)
    e2, near = spec.fluence_at(1.0e5, air_path=True)
    _, far = spec.fluence_at(2.0e5, air_path=True)
    np.testing.assert_array_equal(e, e2)
    np.testing.assert_allclose(far / near, 0.25 * np.exp(-linear_attenuation_per_um("Air", e) * 1.0e5), rtol=1e-9)
