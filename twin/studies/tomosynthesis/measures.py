"""Tomosynthesis measures: line-pair modulation of a chart group through a slice stack, and
the clutter left in the chart-free background."""

from __future__ import annotations

import math

import numpy as np

from physics.errors import ScenarioError


def group_modulation(stack, group, pixel_um: float) -> np.ndarray:
    """Line-pair modulation of one chart group in every slice of ``stack`` (heights, rows, cols).

    The group's profile across its lines (averaged along them over ``bbox_px``) is
    interpolated at the line and space centres placed as in
    :func:`physics.measure.measure_chart`; modulation = mean on lines - mean on spaces.
    """
    x0, y0, x1, y1 = group["bbox_px"]
    stack = np.asarray(stack, dtype=float)
    if group["orientation"] == "vertical":          # lines along y: profile along x
        profiles = stack[:, y0:y1, :].mean(axis=1)
        u0, u1, size = group["bbox_um"][0], group["bbox_um"][2], stack.shape[2]
    else:
        profiles = stack[:, :, x0:x1].mean(axis=2)
        u0, u1, size = group["bbox_um"][1], group["bbox_um"][3], stack.shape[1]
    w = group["line_width_um"] / pixel_um
    n = group["n_lines"]
    centre = ((u0 + u1) / 2.0) / pixel_um + size / 2.0
    lines = centre - (2 * n - 1) * w / 2.0 + w / 2.0 + 2.0 * w * np.arange(n)
    spaces = lines[:-1] + w
    x = np.arange(size) + 0.5
    at = lambda c: np.stack([np.interp(c, x, prof) for prof in profiles])  # noqa: E731
    return at(lines).mean(axis=1) - at(spaces).mean(axis=1)


#: Background mask: pixels farther than this from every group's box (in its periods) and
#: from the image border (pixels), so neither the chart's edge response nor the
#: truncation at the border counts as clutter (assumed margins).
MASK_PERIODS = 1.5
MASK_BORDER_PX = 6
MIN_BACKGROUND_PX = 400


def background_mask(layout: dict, shape) -> np.ndarray:
    """Pixels of a ``shape`` image free of chart groups (boxes grown by 1.5 periods)."""
    rows, cols = shape
    mask = np.zeros((rows, cols), bool)
    mask[MASK_BORDER_PX:rows - MASK_BORDER_PX, MASK_BORDER_PX:cols - MASK_BORDER_PX] = True
    pixel = layout["pixel_size_um"]
    for g in layout["groups"]:
        m = int(math.ceil(MASK_PERIODS * 2 * g["line_width_um"] / pixel))
        x0, y0, x1, y1 = g["bbox_px"]
        mask[max(y0 - m, 0):y1 + m, max(x0 - m, 0):x1 + m] = False
    if mask.sum() < MIN_BACKGROUND_PX:
        raise ScenarioError(f"camera.roi_rows/roi_cols: only {int(mask.sum())} chart-free pixels in the "
                         f"{rows}x{cols} ROI (need {MIN_BACKGROUND_PX}); enlarge the ROI")
    return mask


def background_rms(image, mask) -> float:
    """RMS about the mean of ``image`` over the background ``mask``."""
    values = np.asarray(image, dtype=float)[mask]
    return float(np.sqrt(np.mean((values - values.mean()) ** 2)))
