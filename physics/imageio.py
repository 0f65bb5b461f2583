"""Reading and writing the files that cross part boundaries (TIFF stacks, JSON).

Every writer writes to a temporary file in the destination folder and renames it
when complete, so a killed run never leaves a half-written file under the final
name. TIFFs are written in ImageJ hyperstack format with the pixel size in
micrometres, so Fiji/ImageJ and tifffile both read the calibration.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile


_UMASK = os.umask(0)
os.umask(_UMASK)


class ImageFileError(ValueError):
    """A file is missing, unreadable, or holds data of the wrong shape or content."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file normal permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    return path


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON file with a clear error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ImageFileError(f"{path}: not valid JSON ({exc})") from None


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "tolist"):  # jax arrays
        return np.asarray(o).tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


@dataclass(frozen=True)
class TiffImage:
    """An image or stack with its calibration.

    Attributes
    ----------
    data : np.ndarray
        2D (rows, cols) or 3D (planes, rows, cols).
    pixel_size_um : float or None
        Size of one pixel in micrometres (None when the file carries no calibration).
    metadata : dict
        Everything else stored with the image (e.g. ``slice_heights_um``).
    """

    data: np.ndarray
    pixel_size_um: float | None
    metadata: dict = field(default_factory=dict)


def write_tiff(
    path: str | os.PathLike,
    data,
    *,
    pixel_size_um: float,
    dtype=np.float32,
    metadata: dict | None = None,
) -> Path:
    """Write a 2D image or 3D stack as an ImageJ TIFF with pixel size in um, atomically.

    Parameters
    ----------
    path : path-like
        Destination.
    data : array-like
        2D or 3D array; NaNs are refused.
    pixel_size_um : float
        Pixel size (same in x and y), written as the ImageJ resolution with unit "um".
    dtype : numpy dtype
        Stored dtype (float32 by default; uint16/uint8 for camera frames).
    metadata : dict, optional
        Extra JSON-serialisable metadata, stored in the ImageJ ``Info`` property and
        read back by :func:`read_tiff`.
    """
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise ImageFileError(f"{path}: expected a 2D image or 3D stack, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ImageFileError(f"{path}: refusing to write an image containing NaN or inf")
    if not (pixel_size_um > 0 and np.isfinite(pixel_size_um)):
        raise ImageFileError(f"{path}: pixel_size_um must be positive, got {pixel_size_um!r}")
    arr = arr.astype(dtype, copy=False)
    info = json.dumps({"pixel_size_um": float(pixel_size_um), **(metadata or {})},
                      default=_json_default)
    ij_meta = {"unit": "um", "spacing": float(pixel_size_um), "Info": info}
    if arr.ndim == 3:
        ij_meta["axes"] = "ZYX"
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            arr,
            imagej=arr.dtype in (np.uint8, np.uint16, np.float32),
            resolution=(1.0 / pixel_size_um, 1.0 / pixel_size_um),
            metadata=ij_meta,
        )
    return Path(path)


def read_tiff(path: str | os.PathLike) -> TiffImage:
    """Read a TIFF (ImageJ or plain) with its pixel size in um when present.

    The pixel size is taken from the product's own metadata, else from the ImageJ
    resolution tags when the unit is micron/um/mm; otherwise it is None.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    try:
        with tifffile.TiffFile(path) as tf:
            data = tf.asarray()
            ij = tf.imagej_metadata or {}
            page = tf.pages[0]
            res = page.tags.get("XResolution")
            xres = res.value if res is not None else None
    except Exception as exc:  # tifffile raises many types for broken files
        raise ImageFileError(f"{path}: not a readable TIFF ({exc})") from None
    meta: dict = {}
    info = ij.get("Info")
    if isinstance(info, str):
        with contextlib.suppress(json.JSONDecodeError):
            parsed = json.loads(info)
            if isinstance(parsed, dict):
                meta = parsed
    pixel = meta.pop("pixel_size_um", None)
    if pixel is None and xres is not None:
        unit = str(ij.get("unit", "")).lower().replace("\\u00b5", "u")
        num, den = xres if isinstance(xres, tuple) else (xres, 1)
        if num and unit in ("um", "micron", "microns", "µm", "mm", "nm"):
            size = den / num
            pixel = {"mm": size * 1000.0, "nm": size / 1000.0}.get(unit, size)
    return TiffImage(data=data, pixel_size_um=None if pixel is None else float(pixel), metadata=meta)
