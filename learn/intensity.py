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

from physics.imageio import ImageFileError, read_tiff

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")


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
    """Read a 2D TIFF (8/16-bit or float) or PNG as a float32 grey image.

    RGB(A) is converted to grey with the ITU-R BT.601 luma weights (0.299, 0.587, 0.114).
    """
    data = read_raw(path)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        data = data[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if data.ndim != 2:
        raise ImageFileError(f"{path}: expected a 2D grey or RGB image, got shape {data.shape}")
    return data.astype(np.float32)


def read_unit_grey(path: str | os.PathLike) -> np.ndarray:
    """:func:`read_grey` in 0..1 units: integer images divided by their dtype's maximum."""
    raw = read_raw(path)
    full = np.iinfo(raw.dtype).max if np.issubdtype(raw.dtype, np.integer) else 1.0
    return (read_grey(path) / np.float32(full)).astype(np.float32)


def read_raw(path: str | os.PathLike) -> np.ndarray:
    """The pixels of a TIFF or PNG as stored (dtype and channels kept)."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        data = read_tiff(path).data
    elif suffix == ".png":
        from PIL import Image

        try:
            with Image.open(path) as im:
                data = np.asarray(im)
        except Exception as exc:  # PIL raises several types for broken files
            raise ImageFileError(f"{path}: not a readable PNG ({exc})") from None
    else:
        raise ImageFileError(f"{path}: unsupported image type {suffix!r}; use {IMAGE_SUFFIXES}")
    return np.asarray(data)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (so data sets are reproducible)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageFileError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageFileError(f"{folder}: holds no {'/'.join(IMAGE_SUFFIXES)} images")
    return files
