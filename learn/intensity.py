"""Reading user images and the product's one intensity normalisation.

The normalisation (lo/hi = 0.5th/99.5th percentiles of the whole image, normalised =
(x - lo) / (hi - lo)) is defined once, in :func:`physics.measure.noise.normalization_range`;
the noise sigma in ``noise.json`` is in these units, so training images and images
to enhance go through the same function.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from physics.imageio import IMAGE_SUFFIXES, ImageFileError, read_image


def normalization_range(image) -> tuple[float, float]:
    """(lo, hi) of ``image`` by the product convention (refuses NaN and flat images)."""
    from physics.measure.noise import normalization_range as _range  # the single definition

    return _range(image)


def normalize(image):
    """Return ``((image - lo) / (hi - lo), (lo, hi))``, float32, by the product convention."""
    from physics.measure.noise import normalize as _normalize

    lo, hi = normalization_range(image)
    return _normalize(image, (lo, hi)).astype(np.float32), (lo, hi)


def read_grey(path: str | os.PathLike) -> np.ndarray:
    """Read a 2D TIFF, PNG or JPEG as a float32 grey image (:func:`physics.imageio.read_image`:
    colour -> grey by the BT.601 luma weights, the product's one conversion)."""
    data = read_image(path).data
    if data.ndim != 2:
        raise ImageFileError(f"{path}: expected a 2D grey or RGB image, got shape {data.shape}")
    return np.asarray(data, dtype=np.float32)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (so data sets are reproducible)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageFileError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageFileError(f"{folder}: holds no {'/'.join(IMAGE_SUFFIXES)} images")
    return files
