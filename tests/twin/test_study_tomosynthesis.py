"""Tomosynthesis study: the geometric SSP model, the measures, and a reduced sweep end to end."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from physics.imageio import read_json
from twin.report import verify_report
from twin.studies.tomosynthesis.measures import group_modulation
from twin.studies.tomosynthesis.theory import (continuous_fwhm_um, ghost_offset_um, main_lobe, predicted_fwhm_um,
                                               predicted_ssp)


def arc_angles(n, arc):
    return np.linspace(-arc / 2, arc / 2, n)


@settings(max_examples=20, deadline=None)
@given(w=st.floats(0.4, 5.0), arc=st.floats(10.0, 60.0))
def test_many_views_approach_the_continuous_sinc_fwhm(w, arc):
    # views evenly spread in angle put tan(theta) a little denser near 0 than a uniform spread,
    # so 1.207 w / tan(arc/2) holds to a few per cent up to 60 deg arcs
    fwhm = predicted_fwhm_um(w, arc_angles(401, arc))
    assert fwhm == pytest.approx(continuous_fwhm_um(w, arc), rel=0.06)


@settings(max_examples=20, deadline=None)
@given(w=st.floats(0.5, 3.0), n=st.integers(3, 9), arc=st.floats(5.0, 30.0))
def test_ssp_is_one_in_plane_and_a_ghost_returns_near_the_predicted_offset(w, n, arc):
    angles = arc_angles(n, arc)
    assert predicted_ssp(0.0, w, angles) == pytest.approx(1.0)
    # small arcs: tan(theta) nearly evenly spaced, so the grating ghost is nearly complete
    # (contrast-reversed for an even number of views: no view at 0, phases at odd multiples of pi)
    ghost = predicted_ssp(ghost_offset_um(w, angles), w, angles)
    assert abs(ghost) > 0.95
    assert np.sign(ghost) == (1 if n % 2 else -1)


def test_main_lobe_of_a_triangle():
    h = np.linspace(-10, 10, 201)
    fwhm, zeros = main_lobe(np.clip(1 - np.abs(h) / 4, -0.2, None), h, 100)
    assert fwhm == pytest.approx(4.0, abs=1e-9)
    assert h[zeros[0]] == pytest.approx(-4.1) and h[zeros[1]] == pytest.approx(4.1)
    assert main_lobe(np.ones_like(h), h, 100) == (None, None)


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_group_modulation_of_an_ideal_grating(orientation):
    pixel, w, n = 0.25, 1.0, 5                      # 4 px per line
    rows = cols = 64
    bbox_um = [-(2 * n - 1) * w / 2, -8.0, (2 * n - 1) * w / 2, 8.0]
    if orientation == "horizontal":
        bbox_um = [bbox_um[1], bbox_um[0], bbox_um[3], bbox_um[2]]
    x = (np.arange(cols) + 0.5 - cols / 2) * pixel  # pixel centres, um
    across = ((np.abs(x) <= (2 * n - 1) * w / 2) & (np.floor((x + (2 * n - 1) * w / 2) / w) % 2 == 0))
    img = np.tile(across.astype(float), (rows, 1)) if orientation == "vertical" else \
        np.tile(across.astype(float)[:, None], (1, cols))
    to_px = lambda u: int(math.floor(u / pixel + cols / 2))  # noqa: E731
    group = {"orientation": orientation, "line_width_um": w, "n_lines": n, "bbox_um": bbox_um,
             "bbox_px": [to_px(bbox_um[0]), to_px(bbox_um[1]), to_px(bbox_um[2]), to_px(bbox_um[3])]}
    stack = np.stack([img, 0.5 * img, np.full_like(img, 3.0)])
    m = group_modulation(stack, group, pixel)
    assert m == pytest.approx([1.0, 0.5, 0.0], abs=1e-9)


@pytest.fixture(scope="module")
def reduced_run(tomosynthesis_quick_run):
    return tomosynthesis_quick_run[1]


def test_report_tables_match_results_json(reduced_run):
    assert verify_report(reduced_run) > 30
    for name in ("fwhm_vs_arc_and_views.png", "ssp.png", "sharpness_and_clutter.png", "xz_sections.png"):
        assert (reduced_run / "figures" / name).stat().st_size > 1000


def test_depth_resolution_follows_the_geometry(reduced_run):
    pts = read_json(reduced_run / "results.json")["points"]["5 views"]
    narrow, wide = pts["20 deg"], pts["60 deg"]
    for g in ("1um_vertical", "2um_vertical"):
        # measured SSP FWHM against the discrete-view prediction (not fitted: pure geometry)
        for p in (narrow, wide):
            assert p[g]["fwhm"]["value"] == pytest.approx(p[g]["predicted_fwhm"]["value"], rel=0.2)
        # a wider arc resolves depth better, ~ 1 / tan(arc/2): 3.3x from 20 to 60 deg
        ratio = narrow[g]["fwhm"]["value"] / wide[g]["fwhm"]["value"]
        assert ratio == pytest.approx(math.tan(math.radians(30)) / math.tan(math.radians(10)), rel=0.25)
    # the finer grating is localised better in depth (FWHM ~ w)
    assert wide["1um_vertical"]["fwhm"]["value"] < 0.7 * wide["2um_vertical"]["fwhm"]["value"]
    # 5 views over 60 deg: the 2 um grating's ghost lies inside the +-25 um stack and is strong
    assert wide["2um_vertical"]["ghost_offset"]["value"] < 25
    assert wide["2um_vertical"]["ghost_level"] > 0.5
    # the slice separates the chart from the out-of-plane clutter better than a radiograph
    assert wide["clutter_suppression"] > 1 and narrow["clutter_suppression"] > 1
    # lines along the tube motion get no depth resolution
    assert wide["2um_horizontal"]["fwhm"]["value"] is None


# -- the numbers the study gave before the refactor (issue 11) ---------------------------------

@pytest.mark.slow
def test_tomosynthesis_matches_its_baseline(tomosynthesis_quick_run):
    from baselines import BASELINES, compare

    assert compare(tomosynthesis_quick_run[2], read_json(BASELINES / "tomosynthesis_arc.json")) > 20
