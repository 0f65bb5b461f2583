"""Validation shared by the measurement routines: images, ROIs, slices.

ROIs are ``(x0, y0, x1, y1)`` in pixels with x along columns and y along rows;
``x1`` and ``y1`` are exclusive, as in the chart layout's ``bbox_px``.
"""

from __future__ import annotations

import numpy as np

from physics.errors import InputFileError, OptionError


def as_image(image, *, name: str = "image", min_rows: int = 1, min_cols: int = 1) -> np.ndarray:
    """Return ``image`` as a finite 2D float64 array, or raise naming ``name``."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputFileError(f"{name}: expected a 2D image (rows, cols), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
        raise InputFileError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputFileError(f"{name}: contains {int(bad.sum())} NaN/inf pixel(s), first at "
                         f"row {r}, col {c}")
    if arr.shape[0] < min_rows or arr.shape[1] < min_cols:
        raise InputFileError(f"{name}: too small ({arr.shape[0]} x {arr.shape[1]} pixels); "
                         f"need at least {min_rows} x {min_cols}")
    return arr


def check_roi(roi, shape: tuple[int, int], *, name: str = "roi") -> tuple[int, int, int, int]:
    """Validate ``(x0, y0, x1, y1)`` against an image of ``shape`` (rows, cols)."""
    try:
        values = tuple(roi)
    except TypeError:
        raise InputFileError(f"{name}: expected (x0, y0, x1, y1), got {roi!r}") from None
    if len(values) != 4:
        raise InputFileError(f"{name}: expected 4 values (x0, y0, x1, y1), got {roi!r}")
    ints = []
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer():
            raise OptionError(f"{name}: pixel coordinates must be integers, got {roi!r}")
        ints.append(int(v))
    x0, y0, x1, y1 = ints
    rows, cols = shape
    if not (x0 < x1 and y0 < y1):
        raise OptionError(f"{name}: need x0 < x1 and y0 < y1 (x1, y1 exclusive), got {roi!r}")
    if x0 < 0 or y0 < 0 or x1 > cols or y1 > rows:
        raise OptionError(f"{name}: {roi!r} lies outside the image of {cols} columns x "
                         f"{rows} rows (x = column, x1/y1 exclusive)")
    return x0, y0, x1, y1


def parse_roi(text: str, *, name: str = "--roi") -> tuple[int, int, int, int]:
    """Parse ``"x0,y0,x1,y1"`` into four integers."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise InputFileError(f"{name}: expected x0,y0,x1,y1 (4 integers), got {text!r}")
    try:
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    except ValueError:
        raise InputFileError(f"{name}: expected x0,y0,x1,y1 (4 integers), got {text!r}") from None


def crop(image: np.ndarray, roi, *, name: str = "roi") -> np.ndarray:
    """Return ``image[y0:y1, x0:x1]`` after validating ``roi``."""
    x0, y0, x1, y1 = check_roi(roi, image.shape, name=name)
    return image[y0:y1, x0:x1]


def select_slice(data, index: int | None, *, name: str = "--slice") -> np.ndarray:
    """Return a 2D image from a 2D image or a 3D stack (planes, rows, cols)."""
    arr = np.asarray(data)
    if arr.ndim == 2:
        if index not in (None, 0):
            raise OptionError(f"{name}: the image is 2D, so only slice 0 exists, got {index}")
        return arr
    if arr.ndim != 3:
        raise InputFileError(f"image: expected a 2D image or 3D stack, got shape {arr.shape}")
    if index is None:
        if arr.shape[0] == 1:
            return arr[0]
        raise OptionError(f"{name}: the image is a stack of {arr.shape[0]} planes; "
                         f"choose one with --slice N (0..{arr.shape[0] - 1})")
    if not 0 <= index < arr.shape[0]:
        raise OptionError(f"{name}: {index} is out of range for a stack of "
                         f"{arr.shape[0]} planes (0..{arr.shape[0] - 1})")
    return arr[index]
