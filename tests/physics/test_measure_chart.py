"""Line-pair chart layout and measurement."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from physics.measure.chart import RAYLEIGH_DIP, ChartLayout, measure_chart

PIXEL = 0.5  # um


def make_chart(widths=(2.0, 4.0), n_lines=4, shape=(120, 160), transmission=0.6):
    """Dark absorber lines (transmission T) on a background of 1, exact area coverage.

    Returns the image and its layout dict (same schema the phantom writes): one
    vertical group per width, placed side by side on pixel boundaries.
    """
    rows, cols = shape
    img = np.ones(shape)
    groups, x0_px = [], 10
    for w in widths:
        wp = w / PIXEL
        extent = (2 * n_lines - 1) * wp
        for k in range(n_lines):
            a, b = x0_px + 2 * k * wp, x0_px + 2 * k * wp + wp
            cols_idx = np.arange(cols)
            cover = np.clip(np.minimum(cols_idx + 1, b) - np.maximum(cols_idx, a), 0, 1)
            img[20:100, :] *= 1 - (1 - transmission) * cover[None, :]
        groups.append({
            "name": f"{w:g}um", "line_width_um": w, "n_lines": n_lines,
            "orientation": "vertical",
            "bbox_px": [x0_px, 20, x0_px + int(np.ceil(extent)), 100],
            "bbox_um": [(x0_px - cols / 2) * PIXEL, (20 - rows / 2) * PIXEL,
                        (x0_px - cols / 2) * PIXEL + (2 * n_lines - 1) * w,
                        (100 - rows / 2) * PIXEL],
            "height_um": 0.0,
        })
        x0_px += int(np.ceil(extent)) + 20
    return img, {"pixel_size_um": PIXEL, "image_shape": list(shape), "groups": groups}


def test_sharp_chart_contrast_is_absorber_contrast():
    """Unblurred: all lines found, resolved, Michelson contrast (1 - T) / (1 + T)."""
    img, lay = make_chart(transmission=0.6)
    res = measure_chart(img, ChartLayout.from_json(lay))
    for r in res:
        assert r.peaks_found == r.peaks_expected == 4
        assert r.resolved and r.lines_dark
        assert r.contrast == pytest.approx(0.4 / 1.6, rel=1e-6)


def test_blur_unresolves_fine_group_first():
    """Gaussian blur of 3 px. A square wave of depth a keeps its mean a/2 and its
    fundamental (4/pi)(a/2) MTF(f); the dip is 2m / (1/2 + m) with m = (2/pi) MTF(f).
    2 um group (8 px period): MTF = exp(-2 pi^2 9 / 64) = 0.062, dip ~ 0.15 < 0.265;
    4 um group (16 px period): MTF = 0.50, dip ~ 0.78 -> resolved."""
    img, lay = make_chart()
    res = {r.name: r for r in measure_chart(gaussian_filter(img, 3.0), ChartLayout.from_json(lay))}
    assert not res["2um"].resolved
    assert res["4um"].resolved and res["4um"].min_dip >= RAYLEIGH_DIP
    assert res["2um"].contrast < res["4um"].contrast


def test_bright_lines_in_attenuation_image():
    img, lay = make_chart()
    att = -np.log(img) + 0.05
    res = measure_chart(gaussian_filter(att, 1.0), ChartLayout.from_json(lay))
    assert all(not r.lines_dark and r.resolved and r.peaks_found == 4 for r in res)


def test_noise_does_not_create_peaks():
    img, lay = make_chart()
    rng = np.random.default_rng(0)
    flat = np.ones_like(img) + 0.01 * rng.standard_normal(img.shape)
    res = measure_chart(flat, ChartLayout.from_json(lay))
    assert all(not r.resolved for r in res)


def test_enhanced_image_uses_bbox_um():
    """A 2x upsampled image with half the pixel size gives the same calls via bbox_um."""
    img, lay = make_chart()
    layout = ChartLayout.from_json(lay)
    blurred = gaussian_filter(img, 1.0)
    up = np.kron(blurred, np.ones((2, 2)))
    a = measure_chart(blurred, layout)
    b = measure_chart(up, layout, pixel_size_um=PIXEL / 2)
    for ra, rb in zip(a, b):
        assert ra.resolved == rb.resolved and ra.peaks_found == rb.peaks_found
        assert rb.contrast == pytest.approx(ra.contrast, rel=0.05)
    g = layout.groups[0]
    x0, y0, x1, y1 = g.bbox_px_for((240, 320), PIXEL / 2)
    assert (x0, y0) == (2 * g.bbox_px[0], 2 * g.bbox_px[1])
    assert g.bbox_px_for((120, 160), PIXEL) == g.bbox_px
    with pytest.raises(ValueError, match="pixel_size_um"):
        measure_chart(up, layout)


def test_layout_round_trip_and_phantom_layout():
    _, lay = make_chart()
    layout = ChartLayout.from_json(lay)
    assert ChartLayout.from_json(layout.to_json()) == layout
    from physics.phantoms import line_pair_chart

    tmap, plan = line_pair_chart(line_widths_um=(1.0, 3.0), n_lines=5, pixel_size_um=0.40625)
    playout = ChartLayout.from_json(plan)
    assert len(playout.groups) == 4
    res = measure_chart(np.exp(-0.1 * np.asarray(tmap)), playout)
    assert all(r.resolved and r.peaks_found == 5 for r in res)


@pytest.mark.parametrize("path, value, match", [
    (("pixel_size_um",), -1.0, "pixel_size_um: must be > 0"),
    (("image_shape",), [10], "image_shape"),
    (("groups",), [], "groups: expected a non-empty list"),
    (("groups", 0, "n_lines"), 1, r"groups\[0\].n_lines"),
    (("groups", 0, "orientation"), "diagonal", r"groups\[0\].orientation"),
    (("groups", 1, "bbox_px"), [0, 0, 10], r"groups\[1\].bbox_px"),
    (("groups", 1, "bbox_px"), [0, 0, 500, 10], r"groups\[1\].bbox_px: .* outside"),
    (("groups", 0, "line_width_um"), "2 um", r"groups\[0\].line_width_um"),
    (("groups", 0, "bbox_um"), [5.0, 0.0, 1.0, 4.0], r"groups\[0\].bbox_um"),
    (("groups", 0, "colour"), "red", r"groups\[0\]: unknown field"),
    (("extra",), 1, "unknown field"),
])
def test_layout_validation_names_the_field(path, value, match):
    _, lay = make_chart()
    bad = copy.deepcopy(lay)
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError, match=match):
        ChartLayout.from_json(bad)


def test_missing_group_field():
    _, lay = make_chart()
    del lay["groups"][0]["height_um"]
    with pytest.raises(ValueError, match=r"groups\[0\]: missing field\(s\) height_um"):
        ChartLayout.from_json(lay)
