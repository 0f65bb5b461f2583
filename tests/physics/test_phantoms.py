"""Phantoms: chart geometry vs layout, exact area/volume conservation, determinism."""

import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics.materials import linear_attenuation_per_um
from physics.phantoms import (
    EDGE_THICKNESS_UM,
    chart_stack_3d,
    line_pair_chart,
    random_microstructure,
    siemens_star,
    slanted_edge,
)
from physics.projection import LayeredObject

GROUP_KEYS = {"name", "line_width_um", "n_lines", "orientation", "bbox_px", "bbox_um", "height_um"}


def test_layout_schema_and_json_round_trip():
    tmap, layout = line_pair_chart(pixel_size_um=0.40625, height_um=12.5)
    assert set(layout) == {"pixel_size_um", "image_shape", "groups", "material", "thickness_um"}
    assert layout["image_shape"] == list(tmap.shape)
    assert json.loads(json.dumps(layout)) == layout
    assert {(g["line_width_um"], g["orientation"]) for g in layout["groups"]} == {
        (w, o) for w in (1.0, 2.0, 3.0) for o in ("vertical", "horizontal")}
    for g in layout["groups"]:
        assert set(g) == GROUP_KEYS
        assert g["height_um"] == 12.5 and g["n_lines"] == 5
        assert all(isinstance(v, int) for v in g["bbox_px"])
        x0, y0, x1, y1 = g["bbox_px"]
        assert 0 <= x0 < x1 <= tmap.shape[1] and 0 <= y0 < y1 <= tmap.shape[0]


@settings(max_examples=20, deadline=None)
@given(w=st.floats(0.4, 15.0), p=st.floats(0.1, 1.0), n=st.integers(2, 7),
       orientation=st.sampled_from(["vertical", "horizontal"]), t=st.floats(0.1, 5.0))
def test_group_geometry_matches_map(w, p, n, orientation, t):
    if (2 * n - 1) * w / p > 300:  # keep maps small
        p = (2 * n - 1) * w / 300
    tmap, layout = line_pair_chart(line_widths_um=(w,), n_lines=n, pixel_size_um=p,
                                   orientations=(orientation,), thickness_um=t)
    tmap = np.asarray(tmap, np.float64)
    rows, cols = tmap.shape
    (g,) = layout["groups"]
    x0, y0, x1, y1 = g["bbox_um"]
    extent, length = (x1 - x0, y1 - y0) if orientation == "vertical" else (y1 - y0, x1 - x0)
    assert extent == pytest.approx((2 * n - 1) * w, rel=1e-9)
    # bbox_px and bbox_um describe the same place
    px = g["bbox_px"]
    assert px[0] == pytest.approx(x0 / p + cols / 2, abs=1e-6)
    assert px[1] == pytest.approx(y0 / p + rows / 2, abs=1e-6)
    assert px[2] == math.ceil(x1 / p + cols / 2 - 1e-6) and px[3] == math.ceil(y1 / p + rows / 2 - 1e-6)
    # all absorber is inside the bbox, and the mean over bbox_um is t * n w / extent
    inside = tmap[px[1]:px[3], px[0]:px[2]].sum() * p * p
    assert inside == pytest.approx(tmap.sum() * p * p, rel=1e-5)
    assert inside / ((x1 - x0) * (y1 - y0)) == pytest.approx(t * n * w / extent, rel=1e-4)
    assert tmap.max() <= t * (1 + 1e-5) and tmap.min() >= 0
    # the profile across the lines has n runs with period 2w: centroids of the runs
    prof = tmap[px[1]:px[3], px[0]:px[2]].mean(axis=0 if orientation == "vertical" else 1)
    start = x0 if orientation == "vertical" else y0
    pos = start + (np.arange(prof.size) + 0.5) * p
    for k in range(n):
        lo, hi = start + 2 * k * w, start + (2 * k + 1) * w
        sel = (pos + p / 2 > lo) & (pos - p / 2 < hi)
        centroid = (prof[sel] * pos[sel]).sum() / prof[sel].sum()
        assert centroid == pytest.approx((lo + hi) / 2, abs=0.51 * p)


def test_chart_area_conservation_multigroup():
    p, t = 0.3, 1.0
    tmap, layout = line_pair_chart(line_widths_um=(0.4, 1.0, 2.5), n_lines=6, pixel_size_um=p, thickness_um=t)
    expected = 0.0
    for g in layout["groups"]:
        x0, y0, x1, y1 = g["bbox_um"]
        length = (y1 - y0) if g["orientation"] == "vertical" else (x1 - x0)
        expected += g["n_lines"] * g["line_width_um"] * length * t
    assert float(np.asarray(tmap, np.float64).sum()) * p * p == pytest.approx(expected, rel=1e-5)


def _halfplane_rect_area(angle_deg, offset, width, height):
    """Area of {x cos a + y sin a > offset} inside the centred rectangle (polygon clipping)."""
    a = math.radians(angle_deg)
    n = np.array([math.cos(a), math.sin(a)])
    poly = [np.array(v) for v in [(-width / 2, -height / 2), (width / 2, -height / 2),
                                  (width / 2, height / 2), (-width / 2, height / 2)]]
    out = []
    for i in range(4):
        p, q = poly[i], poly[(i + 1) % 4]
        dp, dq = p @ n - offset, q @ n - offset
        if dp >= 0:
            out.append(p)
        if dp * dq < 0:
            out.append(p + (q - p) * dp / (dp - dq))
    if len(out) < 3:
        return 0.0
    xy = np.array(out)
    return 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], -1)))


@settings(max_examples=20, deadline=None)
@given(angle=st.floats(-180.0, 180.0), offset=st.floats(-5.0, 5.0), p=st.floats(0.2, 1.0))
def test_slanted_edge_area_is_exact(angle, offset, p):
    shape = (24, 36)
    tmap, material = slanted_edge(angle_deg=angle, pixel_size_um=p, shape=shape, thickness_um=2.0,
                                  offset_um=offset)
    assert material == "W"
    tmap = np.asarray(tmap, np.float64)
    assert tmap.min() >= 0 and tmap.max() <= 2.0 + 1e-6
    area = _halfplane_rect_area(angle, offset, shape[1] * p, shape[0] * p)
    assert tmap.sum() * p * p / 2.0 == pytest.approx(area, rel=1e-4, abs=1e-4 * p * p)


def test_edge_default_is_opaque_at_50_kvp():
    """The default W edge passes < 1 % even at the 50 keV end point (xraylib attenuation)."""
    mu = linear_attenuation_per_um("W", np.array([30.0, 40.0, 50.0]))
    assert np.all(np.exp(-mu * EDGE_THICKNESS_UM) < 0.01)


@settings(max_examples=6, deadline=None)
@given(n_spokes=st.integers(8, 48), radius_px=st.floats(15.0, 30.0))
def test_siemens_star_half_fills_its_disc(n_spokes, radius_px):
    p = 0.5
    tmap, _ = siemens_star(n_spokes=n_spokes, pixel_size_um=p, shape=(64, 64), thickness_um=1.0,
                           radius_um=radius_px * p)
    tmap = np.asarray(tmap, np.float64)
    assert tmap.min() >= 0 and tmap.max() <= 1.0 + 1e-6
    assert tmap.sum() * p * p == pytest.approx(0.5 * math.pi * (radius_px * p) ** 2, rel=0.01)


@settings(max_examples=6, deadline=None)
@given(r=st.floats(1.0, 4.0), length=st.floats(5.0, 20.0), kind=st.sampled_from(["cells", "pores", "fibres"]))
def test_microstructure_volume_is_conserved(r, length, kind):
    """One feature of known size: pixel sum x area = analytic volume (removed volume for pores)."""
    p, shape, matrix = 0.25, (128, 128), 10.0
    tmap = random_microstructure(jax.random.PRNGKey(3), shape=shape, pixel_size_um=p, kind=kind, n_features=1,
                                 radius_range_um=(r, r), fibre_length_range_um=(length, length),
                                 matrix_thickness_um=matrix)
    volume = float(np.asarray(tmap, np.float64).sum()) * p * p
    sphere = 4.0 / 3.0 * math.pi * r**3
    expected = {"cells": sphere, "fibres": math.pi * r**2 * length + sphere,
                "pores": matrix * shape[0] * shape[1] * p * p - sphere}[kind]
    assert volume == pytest.approx(expected, rel=0.01)


def test_microstructure_deterministic_in_key():
    kw = dict(shape=(64, 64), pixel_size_um=0.5, kind="cells", n_features=10)
    a = np.asarray(random_microstructure(jax.random.PRNGKey(7), **kw))
    b = np.asarray(random_microstructure(jax.random.PRNGKey(7), **kw))
    c = np.asarray(random_microstructure(jax.random.PRNGKey(8), **kw))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    assert a.min() >= 0


def test_chart_stack_3d_layers_and_layout():
    obj, layout = chart_stack_3d(jax.random.PRNGKey(0), pixel_size_um=0.5, shape=(200, 280),
                                 chart_height_um=150.0, clutter_heights_um=(40.0, 300.0))
    assert isinstance(obj, LayeredObject) and obj.materials == ("W",)
    assert [layer.height_um for layer in obj.layers] == [40.0, 150.0, 300.0]
    assert all(g["height_um"] == 150.0 for g in layout["groups"])
    chart = np.asarray(obj.layers[1].thickness_um[0], np.float64)
    expected = sum(g["n_lines"] * g["line_width_um"]
                   * ((g["bbox_um"][3] - g["bbox_um"][1]) if g["orientation"] == "vertical"
                      else (g["bbox_um"][2] - g["bbox_um"][0])) for g in layout["groups"]) * layout["thickness_um"]
    assert chart.sum() * 0.25 == pytest.approx(expected, rel=1e-5)
    for k in (0, 2):
        assert float(obj.layers[k].thickness_um.max()) > 0  # clutter present


def test_bad_input_names_the_key():
    with pytest.raises(ValueError, match="line_widths_um"):
        line_pair_chart(line_widths_um=(0.2,), pixel_size_um=0.1)
    with pytest.raises(ValueError, match="pixel_size_um"):
        line_pair_chart(pixel_size_um=-1.0)
    with pytest.raises(ValueError, match="shape"):
        line_pair_chart(pixel_size_um=0.4, shape=(10, 10))
    with pytest.raises(ValueError, match="orientations"):
        line_pair_chart(pixel_size_um=0.4, orientations=("diagonal",))
    with pytest.raises(ValueError, match="thickness_um"):
        slanted_edge(pixel_size_um=0.4, shape=(8, 8), thickness_um=float("nan"))
    with pytest.raises(ValueError, match="kind"):
        random_microstructure(jax.random.PRNGKey(0), shape=(8, 8), pixel_size_um=1.0, kind="foam")
    with pytest.raises(ValueError, match="radius_range_um"):
        random_microstructure(jax.random.PRNGKey(0), shape=(64, 64), pixel_size_um=1.0, kind="pores",
                              radius_range_um=(1.0, 8.0), matrix_thickness_um=10.0)
    with pytest.raises(ValueError, match="clutter_kinds"):
        chart_stack_3d(jax.random.PRNGKey(0), pixel_size_um=0.5, shape=(200, 280), clutter_kinds=("cells",))
