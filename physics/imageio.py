"""Reading and writing the files that cross part boundaries (images, TIFF stacks, JSON).

Images are read from TIFF, PNG and JPEG by one function, :func:`read_image`: colour is
turned into grey one way (ITU-R BT.601 luma), a single plane or a region can be read
without decoding the rest of a large TIFF (only the strips or tiles that hold it), and
:func:`image_info` gives the dimensions from the header alone, so callers can size
their work before decoding anything. A TIFF whose pages or data end before the file
does is refused rather than read in part.

Every writer writes to a temporary file in the destination folder and renames it
when complete, so a killed run never leaves a half-written file under the final
name. TIFFs are written in ImageJ hyperstack format with the pixel size in
micrometres, so Fiji/ImageJ and tifffile both read the calibration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from physics.errors import InputFileError, OptionError


_UMASK = os.umask(0)
os.umask(_UMASK)


#: Historical name of :class:`physics.errors.InputFileError`, used across the product.
ImageFileError = InputFileError

#: ITU-R BT.601 luma weights: the one RGB -> grey conversion of the product.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES


def member_path(folder: str | os.PathLike, name, *, key: str) -> Path:
    """``folder / name`` for a file name read from a file (manifest, checkpoint, scenario).

    ``name`` must be a relative path that stays inside ``folder`` (no ``..``, no
    absolute path, no symbolic link leading out), so a file can never make the
    product read or delete something outside the folder it describes.

    Raises
    ------
    InputFileError
        Naming ``key`` (e.g. ``"checkpoint.json: state_file"``), never the target.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InputFileError(f"{key}: expected a file name, got {type(name).__name__}")
    rel = Path(name)
    if rel.is_absolute() or rel.drive or ".." in rel.parts or "\\" in name:
        raise InputFileError(f"{key}: {name!r} is not a plain name inside {os.fspath(folder)}")
    folder = Path(folder)
    path = folder / rel
    try:
        inside = path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # symlink loops
        inside = False
    if not inside:
        raise InputFileError(f"{key}: {name!r} leads outside {os.fspath(folder)}")
    return path


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
    pixel_size_um: float | None,
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
    pixel_size_um : float or None
        Pixel size (same in x and y), written as the ImageJ resolution with unit "um";
        None writes an uncalibrated image (read back with ``pixel_size_um`` None).
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
        raise ValueError(f"{path}: refusing to write an image containing NaN or inf")
    if pixel_size_um is not None and not (pixel_size_um > 0 and np.isfinite(pixel_size_um)):
        raise ValueError(f"{path}: pixel_size_um must be positive, got {pixel_size_um!r}")
    arr = arr.astype(dtype, copy=False)
    calibration = {} if pixel_size_um is None else {"pixel_size_um": float(pixel_size_um)}
    info = json.dumps({**calibration, **(metadata or {})}, default=_json_default)
    ij_meta = {"Info": info}
    if pixel_size_um is not None:
        ij_meta.update(unit="um", spacing=float(pixel_size_um))
    if arr.ndim == 3:
        ij_meta["axes"] = "ZYX"
    resolution = None if pixel_size_um is None else (1.0 / pixel_size_um, 1.0 / pixel_size_um)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, arr, imagej=arr.dtype in (np.uint8, np.uint16, np.float32),
                         resolution=resolution, metadata=ij_meta)
    return Path(path)



@dataclass(frozen=True)
class ImageInfo:
    """What an image file holds, from its header alone (nothing decoded).

    Attributes
    ----------
    shape : tuple of int
        Grey shape as :func:`read_image` returns it: (rows, cols) or (planes, rows, cols).
    dtype : np.dtype
        Stored sample type (colour images are returned as float32 grey).
    colour : bool
        Whether the file holds RGB(A) samples (converted to grey on reading).
    segment : (int, int)
        Rows and columns of the smallest unit that can be decoded alone (a TIFF strip
        or tile; the whole plane for PNG/JPEG or uncompressed contiguous TIFF planes).
    samples : int
        Samples per pixel as stored (3 or 4 for colour).
    """

    shape: tuple
    dtype: np.dtype
    colour: bool
    segment: tuple
    samples: int = 1

    @property
    def planes(self) -> int:
        return self.shape[0] if len(self.shape) == 3 else 1

    def read_bytes(self, *, plane: int | None = None, region=None) -> int:
        """Bytes decoded and returned when reading ``plane`` (None: all) and ``region``.

        Counts the decoded segments that hold the region, the region itself and its
        float32 grey copy: an upper bound of what :func:`read_image` keeps at once.
        """
        rows, cols = self.shape[-2:]
        planes = self.planes if plane is None else 1
        if region is None:
            x0, y0, x1, y1 = 0, 0, cols, rows
        else:
            x0, y0, x1, y1 = (max(int(v), 0) for v in region)
        seg_r, seg_c = self.segment
        # Segments touched by the region, clipped to the image.
        r_lo, r_hi = (y0 // seg_r) * seg_r, min(math.ceil(max(y1, y0 + 1) / seg_r) * seg_r, rows)
        c_lo, c_hi = (x0 // seg_c) * seg_c, min(math.ceil(max(x1, x0 + 1) / seg_c) * seg_c, cols)
        item = np.dtype(self.dtype).itemsize
        decoded = max(r_hi - r_lo, 0) * max(c_hi - c_lo, 0) * self.samples * item
        out = max(min(y1, rows) - y0, 0) * max(min(x1, cols) - x0, 0)
        return planes * (decoded + out * (self.samples * item + 4))


def image_info(path: str | os.PathLike) -> ImageInfo:
    """Dimensions of a TIFF, PNG or JPEG image from its header, without decoding pixels.

    Raises
    ------
    InputFileError
        When the file is missing, of another type, or its header is unreadable.
    """
    path = _existing_image(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        with _open_tiff(path) as tf:
            return _tiff_info(path, tf)
    with _open_pil(path) as im:
        cols, rows = im.size
        frames = getattr(im, "n_frames", 1)
        colour = im.mode not in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")
        dtype = {"I;16": np.uint16, "I;16B": np.uint16, "I;16L": np.uint16, "I": np.int32,
                 "F": np.float32}.get(im.mode, np.uint8)
        samples = len(im.getbands())
    if frames != 1:
        raise InputFileError(f"{path}: holds {frames} frames; only single-frame PNG/JPEG "
                             "images are read (use a TIFF for stacks)")
    return ImageInfo(shape=(rows, cols), dtype=np.dtype(dtype), colour=colour,
                     segment=(rows, cols), samples=samples)


def read_image(path: str | os.PathLike, *, plane: int | None = None, region=None) -> TiffImage:
    """Read a TIFF, PNG or JPEG image as grey, with its pixel size in um when the file has one.

    Parameters
    ----------
    path : path-like
        ``.tif``/``.tiff`` (2D image or 3D stack, ImageJ or plain), ``.png``, ``.jpg``/``.jpeg``.
    plane : int, optional
        Read only this plane of a stack (0-based); a 2D image has plane 0 only.
    region : (x0, y0, x1, y1), optional
        Read only this region (x = column; x1, y1 exclusive); for a TIFF only the strips
        or tiles that hold it are decoded.

    Returns
    -------
    TiffImage
        ``data`` is 2D (rows, cols) or 3D (planes, rows, cols); RGB(A) becomes float32
        grey with the BT.601 luma weights :data:`LUMA_WEIGHTS` (alpha ignored).
        ``metadata["region"]`` holds the region read, when one was given.

    Raises
    ------
    InputFileError
        For a missing, truncated or unreadable file, or a plane/region outside the image.
    """
    path = _existing_image(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        with _open_tiff(path) as tf:
            info = _tiff_info(path, tf)
            region = _check_region(path, info, region)
            plane = _check_plane(path, info, plane)
            try:
                data = _read_tiff_data(tf, info, plane, region)
            except InputFileError:
                raise
            except Exception as exc:  # tifffile/codecs raise many types for broken data
                raise InputFileError(f"{path}: unreadable TIFF data ({type(exc).__name__})") from None
            meta, pixel = _tiff_calibration(tf)
    else:
        info = image_info(path)
        region = _check_region(path, info, region)
        _check_plane(path, info, plane)
        with _open_pil(path) as im:
            try:
                if im.mode == "P" or im.mode == "CMYK" or im.mode.startswith("YCbCr"):
                    im = im.convert("RGB")
                data = np.asarray(im)
            except Exception as exc:  # truncated or corrupt data
                raise InputFileError(f"{path}: unreadable image data ({type(exc).__name__})") from None
        if info.colour and data.ndim == 3:
            data = to_grey(data)
        elif data.ndim == 3:  # grey + alpha
            data = data[..., 0]
        if region is not None:
            x0, y0, x1, y1 = region
            data = data[y0:y1, x0:x1]
        meta, pixel = {}, None
    if region is not None:
        meta = {**meta, "region": list(region)}
    return TiffImage(data=data, pixel_size_um=pixel, metadata=meta)


def read_tiff(path: str | os.PathLike) -> TiffImage:
    """Read a whole image (see :func:`read_image`; kept under its historical name)."""
    return read_image(path)


def to_grey(rgb) -> np.ndarray:
    """(..., 3 or 4) colour samples -> float32 grey by the BT.601 luma weights (alpha ignored)."""
    rgb = np.asarray(rgb)
    return (rgb[..., :3].astype(np.float32) @ np.asarray(LUMA_WEIGHTS, dtype=np.float32))


# ----------------------------------------------------------------------------- internals
def _existing_image(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputFileError(f"{path}: unsupported image type {path.suffix!r}; "
                             f"expected one of {', '.join(IMAGE_SUFFIXES)}")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, expected an image file")
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    return path


@contextlib.contextmanager
def _open_tiff(path: Path):
    # tifffile logs its own warnings about damaged files; the product reports them once.
    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        try:
            tf = tifffile.TiffFile(path)
        except Exception as exc:  # tifffile raises many types for broken files
            raise InputFileError(f"{path}: not a readable TIFF ({type(exc).__name__})") from None
        try:
            yield tf
        finally:
            tf.close()
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _open_pil(path: Path):
    from PIL import Image

    try:
        im = Image.open(path)
    except Exception as exc:  # PIL raises several types for broken or unknown files
        raise InputFileError(f"{path}: not a readable PNG/JPEG ({type(exc).__name__})") from None
    try:
        yield im
    finally:
        im.close()


def _tiff_info(path: Path, tf) -> ImageInfo:
    try:
        series = tf.series[0]
        page = series.keyframe
        axes, shape = series.axes, tuple(int(n) for n in series.shape)
        photometric = int(page.photometric)
        samples = int(page.samplesperpixel)
        dtype = np.dtype(page.dtype) if page.dtype is not None else None
        if page.is_tiled:
            segment = (int(page.tilelength), int(page.tilewidth))
        elif page.compression == 1 and page.is_contiguous:
            segment = (int(page.imagelength), int(page.imagewidth))
        else:
            segment = (min(int(page.rowsperstrip), int(page.imagelength)), int(page.imagewidth))
        n_pages = len(tf.pages)
        ij = tf.imagej_metadata or {}
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"{path}: not a readable TIFF ({type(exc).__name__})") from None
    if dtype is None:
        raise InputFileError(f"{path}: unsupported TIFF sample format")
    if photometric == 3:  # palette
        raise InputFileError(f"{path}: palette-colour TIFF is not supported; save it as grey or RGB")
    colour = photometric in (2, 6) and samples >= 3  # RGB, YCbCr
    if "S" in axes:
        if not colour and samples != 1:
            raise InputFileError(f"{path}: {samples} samples per pixel that are not RGB are not supported")
        shape = tuple(n for n, a in zip(shape, axes) if a != "S")
    shape = tuple(n for n in shape if n != 1) if len(shape) > 3 else shape
    if len(shape) not in (2, 3):
        raise InputFileError(f"{path}: expected a 2D image or 3D stack, got dimensions "
                             f"{'x'.join(map(str, shape))} ({axes})")
    expected = int(ij.get("images", 0) or 0)
    planes = shape[0] if len(shape) == 3 else 1
    if expected and planes != expected:
        raise InputFileError(f"{path}: truncated or damaged; the header announces {expected} "
                             f"planes but {planes} are readable")
    size = path.stat().st_size
    try:
        ends = [o + c for p in tf.pages[:n_pages] for o, c in zip(p.dataoffsets, p.databytecounts)
                if c]
    except Exception as exc:  # an IFD that points past the end or into garbage
        raise InputFileError(f"{path}: truncated or damaged TIFF ({type(exc).__name__})") from None
    if ends and max(ends) > size:
        raise InputFileError(f"{path}: truncated; image data ends beyond the file's {size} bytes")
    return ImageInfo(shape=shape, dtype=dtype,
                     colour=colour, segment=segment, samples=samples)


def _check_plane(path, info: ImageInfo, plane):
    if plane is None:
        return None
    if isinstance(plane, bool) or not isinstance(plane, (int, np.integer)) or not 0 <= plane < info.planes:
        raise OptionError(f"--slice: {plane!r} is not a plane of {path} "
                          f"({info.planes} plane{'s' if info.planes != 1 else ''}, 0-based)")
    return int(plane)


def _check_region(path, info: ImageInfo, region):
    if region is None:
        return None
    rows, cols = info.shape[-2:]
    x0, y0, x1, y1 = (int(v) for v in region)
    if not (0 <= x0 < x1 <= cols and 0 <= y0 < y1 <= rows):
        raise OptionError(f"--roi: {list(region)} lies outside {path} ({cols} columns x {rows} rows; "
                          "x0 < x1, y0 < y1, x1 and y1 exclusive)")
    return (x0, y0, x1, y1)


def _read_tiff_data(tf, info: ImageInfo, plane, region) -> np.ndarray:
    """Pixels of the TIFF's first series: all, one plane, and/or one region; colour -> grey."""
    stack = len(info.shape) == 3
    if region is None:
        data = tf.asarray(series=0) if plane is None else tf.asarray(series=0, key=plane)
        data = np.asarray(data)
        if info.colour:
            data = to_grey(data)
        data = data.reshape(info.shape if plane is None else info.shape[-2:])
        return data
    planes = range(info.planes) if plane is None else [plane]
    out = np.stack([_read_region(tf, info, k if stack else 0, region) for k in planes])
    return out if (plane is None and stack) else out[0]


def _read_region(tf, info: ImageInfo, index: int, region) -> np.ndarray:
    """Decode only the strips/tiles of page ``index`` that intersect ``region``."""
    x0, y0, x1, y1 = region
    page = tf.pages[index] if index < len(tf.pages) else None
    if not isinstance(page, tifffile.TiffPage) or page.is_contiguous and page.compression == 1:
        # Uncompressed contiguous data: a memory map reads only the pages touched.
        whole = tf.asarray(series=0, key=index, out="memmap") if page is not None else \
            tf.asarray(series=0, key=index)
        part = np.array(whole[y0:y1, x0:x1])
        return to_grey(part) if info.colour else part
    out = np.zeros((y1 - y0, x1 - x0) + ((info.samples,) if info.samples > 1 else ()), page.dtype)
    fh = tf.filehandle
    for i, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts)):
        _, (_, _, sy, sx, _), (_, sh, sw, _) = page.decode(None, i, jpegtables=page.jpegtables)
        if sy >= y1 or sy + sh <= y0 or sx >= x1 or sx + sw <= x0 or not count:
            continue
        fh.seek(offset)
        seg, _, _ = page.decode(fh.read(count), i, jpegtables=page.jpegtables)
        seg = seg[0]  # (rows, cols, samples)
        ry0, ry1 = max(sy, y0), min(sy + sh, y1)
        rx0, rx1 = max(sx, x0), min(sx + sw, x1)
        block = seg[ry0 - sy:ry1 - sy, rx0 - sx:rx1 - sx]
        out[ry0 - y0:ry1 - y0, rx0 - x0:rx1 - x0] = block if info.samples > 1 else block[..., 0]
    return to_grey(out) if info.colour else out


def _tiff_calibration(tf) -> tuple[dict, float | None]:
    """(metadata, pixel size in um or None) from the product's Info JSON or the resolution tags."""
    ij = tf.imagej_metadata or {}
    meta: dict = {}
    info = ij.get("Info")
    if isinstance(info, str):
        with contextlib.suppress(json.JSONDecodeError):
            parsed = json.loads(info)
            if isinstance(parsed, dict):
                meta = parsed
    pixel = meta.pop("pixel_size_um", None)
    if pixel is not None:
        # Our own key; a damaged or hand-edited value is ignored rather than trusted.
        ok = isinstance(pixel, (int, float)) and not isinstance(pixel, bool) \
            and math.isfinite(pixel) and pixel > 0
        return meta, float(pixel) if ok else None
    res = tf.pages[0].tags.get("XResolution")
    xres = res.value if res is not None else None
    if isinstance(xres, tuple) and len(xres) == 2 and all(isinstance(v, (int, np.integer)) for v in xres):
        num, den = (int(v) for v in xres)
    elif isinstance(xres, (int, float, np.number)) and not isinstance(xres, bool):
        num, den = float(xres), 1
    else:
        return meta, None  # absent, or not a resolution (e.g. a list of values)
    unit = str(ij.get("unit", "")).lower().replace("\\u00b5", "u")
    if num and den and unit in ("um", "micron", "microns", "µm", "mm", "nm"):
        size = den / num
        pixel = {"mm": size * 1000.0, "nm": size / 1000.0}.get(unit, size)
        if math.isfinite(pixel) and pixel > 0:
            return meta, float(pixel)
    return meta, None
