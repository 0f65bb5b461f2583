"""Scintillator study: the PSF measures against analytic limits, and a reduced sweep end to end."""


import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import ndtr

from physics.imageio import read_json
from twin.report import verify_report
from twin.run import SCENARIO_DIR
from twin.scenario import load_scenario, parse_scenario
from twin.run import compute_point
from twin.system import DEPTH_LAYER_COUNTS, depth_layers

SCENARIO = SCENARIO_DIR / "scintillator_thickness.toml"


def gaussian_psf(sigma_px: float, size: int) -> np.ndarray:
    """Pixel-integrated (exact) 2D Gaussian, unit sum."""
    edges = np.arange(size + 1) - size / 2
    line = np.diff(ndtr(edges / sigma_px))
    psf = np.outer(line, line)
    return psf / psf.sum()


@settings(max_examples=30, deadline=None)
@given(t=st.floats(0.5, 200.0), na=st.floats(0.1, 0.9), n=st.floats(1.5, 2.4))
def test_depth_layers_resolve_half_the_depth_of_field_or_use_the_most(t, na, n):
    scenario = parse_scenario({"scintillator": {"material": "LuAG:Ce", "thickness": f"{t} um", "depth_layers": 0,
                                                "refractive_index": n, "emission_wavelength": "500 nm"},
                               "optics": {"na": na}})
    layers = depth_layers(scenario)
    assert layers in DEPTH_LAYER_COUNTS
    dof = n * 0.5 / na**2
    assert t / layers <= 0.5 * dof + 1e-9 or layers == DEPTH_LAYER_COUNTS[-1]
    # a given count is used as it is
    assert depth_layers(scenario.with_values({"scintillator.depth_layers": 7})) == 7


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO)


def test_thin_screen_reaches_the_diffraction_limit(scenario, tmp_path):
    """A 0.5 um screen is thin against the depth of field: R = 0.310 lambda / NA (MTF = 0.1 of the
    aberration-free incoherent OTF at 0.805 of the cut-off 2 NA / lambda)."""
    r = compute_point("scintillator", scenario.raw, {"scintillator.thickness": "0.5 um", "optics.na": 0.42},
                      quick=False, work_dir=str(tmp_path))
    assert r["resolution_um"] * r["na"] / r["emission_um"] == pytest.approx(0.3103, rel=0.02)
    # Airy LSF FWHM ~ 0.5 lambda / NA (0.514 for the line spread function of a circular pupil)
    assert r["fwhm_um"] * r["na"] / r["emission_um"] == pytest.approx(0.514, rel=0.05)
    # energy-weighted absorption is below the quanta-weighted one (mu_en < mu, hard quanta escape)
    assert 0 < r["eta_energy"] < r["eta_quanta"] < 0.1


@pytest.fixture(scope="module")
def reduced_run(scintillator_quick_run):
    return scintillator_quick_run[1]


def _points(out):
    pts = read_json(out / "results.json")["points"]
    return {(m, float(t), float(na)): v for m, by_t in pts.items() for t, by_na in by_t.items()
            for na, v in by_na.items()}


def test_report_tables_match_results_json(reduced_run):
    assert verify_report(reduced_run) > 50
    for name in ("resolution_vs_thickness.png", "absorption_vs_thickness.png", "tradeoff.png"):
        assert (reduced_run / "figures" / name).stat().st_size > 1000


def test_physics_trends_of_the_sweep(reduced_run):
    p = _points(reduced_run)
    THIN, THICK = min(t for _, t, _ in p), max(t for _, t, _ in p)  # noqa: N806
    for mat in ("ZnWO4", "CsI:Tl"):
        for na in (0.2, 0.75):
            thin, thick = p[(mat, THIN, na)], p[(mat, THICK, na)]
            assert thick["eta_quanta"] > thin["eta_quanta"]          # Beer-Lambert
            assert thick["resolution"]["value"] >= thin["resolution"]["value"] * 0.999
            assert thin["resolution"]["value"] < thin["koch"]["value"] * 1.1
        # a thick screen blurs far more at high NA (defocus ~ z NA / n), little at low NA
        grow_hi = p[(mat, THICK, 0.75)]["resolution"]["value"] / p[(mat, THIN, 0.75)]["resolution"]["value"]
        grow_lo = p[(mat, THICK, 0.2)]["resolution"]["value"] / p[(mat, THIN, 0.2)]["resolution"]["value"]
        assert grow_hi > 2 * grow_lo
        # photoelectrons per quantum scale with the collected solid angle, ~ (NA/n)^2
        g_hi = p[(mat, THIN, 0.75)]["electrons_per_quantum"]["value"]
        g_lo = p[(mat, THIN, 0.2)]["electrons_per_quantum"]["value"]
        assert g_hi / g_lo == pytest.approx((0.75 / 0.2) ** 2, rel=0.25)
        # the optical quantum sink: DQE(0) = eta g / (1 + g) < eta
        for v in p.values():
            g = v["electrons_per_quantum"]["value"]
            assert v["dqe0"] == pytest.approx(v["eta_quanta"] * g / (1 + g), rel=1e-6)
    # CsI:Tl has ~5.7x the light yield of ZnWO4 (54 vs 9.5 photons/keV)
    assert p[("CsI:Tl", THIN, 0.2)]["electrons_per_quantum"]["value"] > \
        3 * p[("ZnWO4", THIN, 0.2)]["electrons_per_quantum"]["value"]


# -- the numbers the study gave before the refactor (issue 11) ---------------------------------

@pytest.mark.slow
def test_scintillator_matches_its_baseline(scintillator_quick_run):
    from baselines import BASELINES, compare

    assert compare(scintillator_quick_run[2], read_json(BASELINES / "scintillator_thickness.json")) > 100
